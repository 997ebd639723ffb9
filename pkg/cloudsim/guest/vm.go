// Package guest runs a QEMU guest (TCG, no KVM) that stands for a server of
// the simulated cloud, and hot-plugs disks into it through QMP the way Nova
// does: a raw file as virtio-blk with the volume id as serial, or as
// scsi-hd on a virtio-scsi controller. The guest is built by
// hack/guest/build.sh; the run adds its own files (the node plugin, a test
// agent) as a second initramfs archive.
package guest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Bus is how a disk is attached to the guest.
type Bus string

const (
	VirtioBlk  Bus = "virtio-blk"
	VirtioSCSI Bus = "virtio-scsi"
)

// DefaultCache is where hack/guest/build.sh keeps the guest.
const DefaultCache = "/var/cache/openblock-csi-guest"

// readyMark is what the guest's init prints once udev has settled.
const readyMark = "guest: userspace ready"

// Config describes one guest.
type Config struct {
	// Dir holds vmlinuz and initrd.img (default: $GUEST_CACHE/current).
	Dir string
	// RunDir holds the sockets, pid file, serial log and the run's
	// initramfs; it is created if needed and removed by Stop.
	RunDir string
	// Files are added to the guest's root; a Start script at
	// /etc/guest/start is run by init once udev has settled.
	Files []File
	// Forward lists guest TCP ports reachable from the host's 127.0.0.1;
	// Start waits until each in Ready (default: all of them) answers.
	Forward []int
	Ready   []int
	// MemoryMB defaults to 512.
	MemoryMB int
	// BootTimeout defaults to 3 minutes (TCG on shared cores).
	BootTimeout time.Duration
}

// Dir finds the built guest: $GUEST_DIR, else $GUEST_CACHE/current.
// reason says what is missing when ok is false.
func Dir() (dir string, reason string, ok bool) {
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		return "", "qemu-system-x86_64 is not installed (hack/guest/build.sh installs it)", false
	}
	dir = os.Getenv("GUEST_DIR")
	if dir == "" {
		cache := os.Getenv("GUEST_CACHE")
		if cache == "" {
			cache = DefaultCache
		}
		dir = filepath.Join(cache, "current")
	}
	for _, f := range []string{"vmlinuz", "initrd.img"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return "", fmt.Sprintf("no built guest in %s (run hack/guest/build.sh): %v", dir, err), false
		}
	}
	return dir, "", true
}

// VM is a running guest.
type VM struct {
	cfg    Config
	cmd    *exec.Cmd
	qmp    *qmp
	ports  map[int]int // guest port -> host port
	exited chan struct{}

	mu    sync.Mutex
	seq   int
	disks map[string]plugged // by serial (the volume id)
}

type plugged struct {
	node, dev string
	bus       Bus
}

// Start boots the guest and returns once its userspace is ready and every
// forwarded port accepts connections. On failure nothing is left running.
func Start(ctx context.Context, cfg Config) (vm *VM, err error) {
	if cfg.Dir == "" {
		dir, reason, ok := Dir()
		if !ok {
			return nil, errors.New(reason)
		}
		cfg.Dir = dir
	}
	if cfg.RunDir == "" {
		return nil, errors.New("guest: RunDir is required")
	}
	if cfg.MemoryMB == 0 {
		cfg.MemoryMB = 512
	}
	if cfg.BootTimeout == 0 {
		cfg.BootTimeout = 3 * time.Minute
	}
	if err := os.MkdirAll(cfg.RunDir, 0o700); err != nil {
		return nil, err
	}
	vm = &VM{cfg: cfg, ports: map[int]int{}, disks: map[string]plugged{}, exited: make(chan struct{})}
	defer func() {
		if err != nil {
			_ = vm.Stop()
		}
	}()
	initrd, err := vm.writeInitrd()
	if err != nil {
		return vm, err
	}
	args, err := vm.qemuArgs(initrd)
	if err != nil {
		return vm, err
	}
	vm.cmd = exec.Command("qemu-system-x86_64", args...)
	var stderr bytes.Buffer
	vm.cmd.Stderr = &stderr
	// QEMU dies with the process that started it, whatever happens to it.
	vm.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := vm.cmd.Start(); err != nil {
		return vm, fmt.Errorf("guest: start qemu: %w", err)
	}
	go func() { _ = vm.cmd.Wait(); close(vm.exited) }()
	return vm, vm.waitReady(ctx, &stderr)
}

// qemuArgs is the command line: TCG (KVM cannot run a stock guest kernel
// here), the serial console and QMP on unix sockets, user-mode networking
// restricted to the forwarded ports on the host's loopback, and a
// virtio-scsi controller for scsi-hd disks.
func (vm *VM) qemuArgs(initrd string) ([]string, error) {
	cfg := vm.cfg
	netdev := "user,id=net0,restrict=on"
	for _, p := range cfg.Forward {
		hp, err := freePort()
		if err != nil {
			return nil, err
		}
		vm.ports[p] = hp
		netdev += fmt.Sprintf(",hostfwd=tcp:127.0.0.1:%d-:%d", hp, p)
	}
	return []string{
		"-accel", "tcg", "-cpu", "max", "-M", "pc", "-m", strconv.Itoa(cfg.MemoryMB), "-smp", "1",
		"-display", "none", "-nodefaults", "-no-reboot",
		"-kernel", filepath.Join(cfg.Dir, "vmlinuz"), "-initrd", initrd,
		"-append", "console=ttyS0 panic=-1 rdinit=/init",
		"-chardev", "socket,id=ser0,path=" + vm.path("serial.sock") + ",server=on,wait=off,logfile=" + vm.path("serial.log"),
		"-serial", "chardev:ser0",
		"-qmp", "unix:" + vm.path("qmp.sock") + ",server=on,wait=off",
		"-pidfile", vm.path("qemu.pid"),
		"-netdev", netdev, "-device", "virtio-net-pci,netdev=net0",
		"-device", "virtio-scsi-pci,id=scsi0",
	}, nil
}

// waitReady waits, within the boot timeout, for QMP, the guest's ready
// mark on its console and every port that must answer.
func (vm *VM) waitReady(ctx context.Context, stderr *bytes.Buffer) error {
	cfg := vm.cfg
	bctx, cancel := context.WithTimeout(ctx, cfg.BootTimeout)
	defer cancel()
	if err := vm.waitFor(bctx, func() bool { _, err := os.Stat(vm.path("qmp.sock")); return err == nil }); err != nil {
		return fmt.Errorf("guest: qemu did not come up: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var err error
	if vm.qmp, err = dialQMP(bctx, vm.path("qmp.sock")); err != nil {
		return fmt.Errorf("guest: qmp: %w", err)
	}
	if err := vm.waitFor(bctx, func() bool { return bytes.Contains(vm.Console(), []byte(readyMark)) }); err != nil {
		return fmt.Errorf("guest: not ready after %s: %w; console ends:\n%s", cfg.BootTimeout, err, vm.consoleTail(20))
	}
	ready := cfg.Ready
	if ready == nil {
		ready = cfg.Forward
	}
	for _, gp := range ready {
		addr := vm.Addr(gp)
		if err := vm.waitFor(bctx, func() bool { return probe(addr) }); err != nil {
			return fmt.Errorf("guest: nothing answers on %s: %w; console ends:\n%s", addr, err, vm.consoleTail(20))
		}
	}
	return nil
}

func (vm *VM) path(name string) string { return filepath.Join(vm.cfg.RunDir, name) }

// writeInitrd is the cached initramfs followed by the run's own files.
func (vm *VM) writeInitrd() (string, error) {
	base, err := os.ReadFile(filepath.Join(vm.cfg.Dir, "initrd.img"))
	if err != nil {
		return "", err
	}
	out := vm.path("initrd.img")
	f, err := os.Create(out)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := f.Write(base); err != nil {
		return "", err
	}
	if err := writeOverlay(f, vm.cfg.Files); err != nil {
		return "", err
	}
	return out, f.Close()
}

func (vm *VM) waitFor(ctx context.Context, ok func() bool) error {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for !ok() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-vm.exited:
			return errors.New("qemu exited")
		case <-t.C:
		}
	}
	return nil
}

// WaitPort waits until something in the guest answers on the forwarded port.
func (vm *VM) WaitPort(ctx context.Context, guestPort int) error {
	addr := vm.Addr(guestPort)
	return vm.waitFor(ctx, func() bool { return probe(addr) })
}

func probe(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	// User-mode networking accepts on the host side before the guest
	// does, then closes at once when nobody listens in the guest; a
	// listener keeps the connection open (or greets, as HTTP/2 does).
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	n, err := c.Read(make([]byte, 1))
	c.Close()
	var ne net.Error
	return n > 0 || (errors.As(err, &ne) && ne.Timeout())
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Addr is the host's address for a forwarded guest port.
func (vm *VM) Addr(guestPort int) string {
	return fmt.Sprintf("127.0.0.1:%d", vm.ports[guestPort])
}

// Console is what the guest has written to its serial console so far.
func (vm *VM) Console() []byte {
	b, _ := os.ReadFile(vm.path("serial.log"))
	return b
}

func (vm *VM) consoleTail(n int) string {
	lines := strings.Split(strings.TrimRight(string(vm.Console()), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Plug hot-plugs the raw file as a disk with this serial, as Nova does on
// attach. Plugging a serial that is plugged is an error.
func (vm *VM) Plug(ctx context.Context, serial, file string, bus Bus) error {
	vm.mu.Lock()
	if _, ok := vm.disks[serial]; ok {
		vm.mu.Unlock()
		return fmt.Errorf("guest: a disk with serial %s is plugged already", serial)
	}
	vm.seq++
	p := plugged{node: fmt.Sprintf("blk%d", vm.seq), dev: fmt.Sprintf("disk%d", vm.seq), bus: bus}
	vm.mu.Unlock()
	if _, err := vm.qmp.call(ctx, "blockdev-add", map[string]any{
		"driver": "raw", "node-name": p.node,
		"file": map[string]any{"driver": "file", "filename": file},
	}); err != nil {
		return fmt.Errorf("guest: plug %s: %w", serial, err)
	}
	dev := map[string]any{"id": p.dev, "drive": p.node, "serial": serial}
	switch bus {
	case VirtioBlk, "":
		dev["driver"] = "virtio-blk-pci"
		p.bus = VirtioBlk
	case VirtioSCSI:
		dev["driver"] = "scsi-hd"
		dev["bus"] = "scsi0.0"
	default:
		_, _ = vm.qmp.call(ctx, "blockdev-del", map[string]any{"node-name": p.node})
		return fmt.Errorf("guest: plug %s: unknown bus %q", serial, bus)
	}
	if _, err := vm.qmp.call(ctx, "device_add", dev); err != nil {
		_, _ = vm.qmp.call(context.Background(), "blockdev-del", map[string]any{"node-name": p.node})
		return fmt.Errorf("guest: plug %s: %w", serial, err)
	}
	vm.mu.Lock()
	vm.disks[serial] = p
	vm.mu.Unlock()
	return nil
}

// Unplug removes the disk with this serial and waits until QEMU reports
// the device gone (the guest must accept a virtio-blk eject), then drops
// its backing node so the file is closed. Unplugging a serial that is not
// plugged is not an error.
func (vm *VM) Unplug(ctx context.Context, serial string) error {
	vm.mu.Lock()
	p, ok := vm.disks[serial]
	vm.mu.Unlock()
	if !ok {
		return nil
	}
	gone := vm.qmp.expect(func(name string, data json.RawMessage) bool {
		var d struct {
			Device string `json:"device"`
		}
		return name == "DEVICE_DELETED" && json.Unmarshal(data, &d) == nil && d.Device == p.dev
	})
	if _, err := vm.qmp.call(ctx, "device_del", map[string]any{"id": p.dev}); err != nil {
		return fmt.Errorf("guest: unplug %s: %w", serial, err)
	}
	select {
	case <-gone:
	case <-ctx.Done():
		return fmt.Errorf("guest: unplug %s: no DEVICE_DELETED: %w", serial, ctx.Err())
	}
	if _, err := vm.qmp.call(ctx, "blockdev-del", map[string]any{"node-name": p.node}); err != nil {
		return fmt.Errorf("guest: unplug %s: %w", serial, err)
	}
	vm.mu.Lock()
	delete(vm.disks, serial)
	vm.mu.Unlock()
	return nil
}

// Plugged lists the serials of the plugged disks.
func (vm *VM) Plugged() []string {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	var out []string
	for s := range vm.disks {
		out = append(out, s)
	}
	return out
}

// Stop ends QEMU (quit through QMP, then SIGKILL) and removes RunDir:
// sockets, pid file, logs and the run's initramfs. Backing files are the
// caller's. Safe to call more than once.
func (vm *VM) Stop() error {
	if vm.qmp != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = vm.qmp.call(ctx, "quit", nil)
		cancel()
		_ = vm.qmp.close()
		vm.qmp = nil
	}
	if vm.cmd != nil && vm.cmd.Process != nil {
		select {
		case <-vm.exited:
		case <-time.After(10 * time.Second):
			_ = vm.cmd.Process.Kill()
			<-vm.exited
		}
	}
	return os.RemoveAll(vm.cfg.RunDir)
}

// Resize makes the guest see the plugged disk's new size (QMP
// block_resize), as Nova does after Cinder extends an in-use volume.
func (vm *VM) Resize(ctx context.Context, serial string, size int64) error {
	vm.mu.Lock()
	p, ok := vm.disks[serial]
	vm.mu.Unlock()
	if !ok {
		return fmt.Errorf("guest: resize %s: not plugged", serial)
	}
	if _, err := vm.qmp.call(ctx, "block_resize", map[string]any{"node-name": p.node, "size": size}); err != nil {
		return fmt.Errorf("guest: resize %s: %w", serial, err)
	}
	return nil
}
