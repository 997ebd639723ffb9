package node_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/node"
	utilexec "k8s.io/utils/exec"
	testingexec "k8s.io/utils/exec/testing"
)

const testSerial = "d1f3a8c2-5b7e-4c9a-9f21-3e4d5c6b7a80"

// fakeHost lays out an empty by-id dir, sysfs tree and /dev under one temp
// dir and returns a Host that accepts regular files as devices.
type fakeHost struct {
	byID, sys, dev string
}

func newFakeHost(t *testing.T) fakeHost {
	t.Helper()
	root := t.TempDir()
	f := fakeHost{
		byID: filepath.Join(root, "by-id"),
		sys:  filepath.Join(root, "sys", "block"),
		dev:  filepath.Join(root, "dev"),
	}
	for _, d := range []string{f.byID, f.sys, f.dev} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f fakeHost) host(timeout time.Duration) *node.Host {
	return node.NewHost(node.HostConfig{
		ByIDDir:             f.byID,
		SysBlockDir:         f.sys,
		DevDir:              f.dev,
		FindTimeout:         timeout,
		PollInterval:        20 * time.Millisecond,
		UdevTriggerInterval: -1,
		AllowRegularFiles:   true,
	})
}

// disk creates a fake device file <dev>/<name> and returns its real path.
func (f fakeHost) disk(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(f.dev, name)
	if err := os.WriteFile(p, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return real
}

func (f fakeHost) link(t *testing.T, name, target string) {
	t.Helper()
	if err := os.Symlink(target, filepath.Join(f.byID, name)); err != nil {
		t.Fatal(err)
	}
}

// sysSerial writes <sys>/<disk>/<rel> = serial (rel "serial" or "device/serial").
func (f fakeHost) sysSerial(t *testing.T, disk, rel, serial string) {
	t.Helper()
	p := filepath.Join(f.sys, disk, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(serial+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestByIDCandidatesOrder(t *testing.T) {
	want := []string{
		"virtio-d1f3a8c2-5b7e-4c9a-9",
		"virtio-" + testSerial,
		"scsi-0QEMU_QEMU_HARDDISK_d1f3a8c2-5b7e-4c9a-9",
		"scsi-0QEMU_QEMU_HARDDISK_" + testSerial,
		testSerial,
		"wwn-0xd1f3a8c25b7e4c9a9f213e4d5c6b7a80",
	}
	if got := node.ByIDCandidates(testSerial, 20); !slices.Equal(got, want) {
		t.Fatalf("candidates:\n got %q\nwant %q", got, want)
	}
	// A serial no longer than serialLen yields no duplicate names.
	if got := node.ByIDCandidates("short", 20); len(got) != 4 {
		t.Fatalf("short serial candidates %q, want 4 distinct", got)
	}
}

func TestFindDeviceEachLinkForm(t *testing.T) {
	for _, name := range []string{
		"virtio-d1f3a8c2-5b7e-4c9a-9",
		"virtio-" + testSerial,
		"scsi-0QEMU_QEMU_HARDDISK_d1f3a8c2-5b7e-4c9a-9",
		"scsi-0QEMU_QEMU_HARDDISK_" + testSerial,
		testSerial,
		"wwn-0xd1f3a8c25b7e4c9a9f213e4d5c6b7a80",
	} {
		t.Run(name, func(t *testing.T) {
			f := newFakeHost(t)
			want := f.disk(t, "vdq")
			f.link(t, name, "../dev/vdq") // relative, as udev makes them
			got, err := f.host(time.Second).FindDevice(context.Background(), testSerial, 20)
			if err != nil {
				t.Fatalf("FindDevice: %v", err)
			}
			if got != want {
				t.Fatalf("FindDevice = %q, want %q", got, want)
			}
		})
	}
}

func TestFindDevicePrefersVirtioShortLink(t *testing.T) {
	f := newFakeHost(t)
	virtio := f.disk(t, "vdb")
	scsi := f.disk(t, "sdb")
	f.link(t, "scsi-0QEMU_QEMU_HARDDISK_"+testSerial, scsi)
	f.link(t, "virtio-"+testSerial[:20], virtio)
	got, err := f.host(time.Second).FindDevice(context.Background(), testSerial, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got != virtio {
		t.Fatalf("FindDevice = %q, want the virtio link's %q", got, virtio)
	}
}

func TestFindDeviceSysfsFallback(t *testing.T) {
	for _, tc := range []struct{ rel, serial string }{
		{"serial", testSerial[:20]},
		{"device/serial", testSerial},
	} {
		t.Run(tc.rel, func(t *testing.T) {
			f := newFakeHost(t)
			f.disk(t, "vda")
			f.sysSerial(t, "vda", "serial", "rootdisk")
			want := f.disk(t, "vdc")
			f.sysSerial(t, "vdc", tc.rel, tc.serial)
			got, err := f.host(time.Second).FindDevice(context.Background(), testSerial, 20)
			if err != nil {
				t.Fatalf("FindDevice: %v", err)
			}
			if got != want {
				t.Fatalf("FindDevice = %q, want %q", got, want)
			}
		})
	}
}

func TestFindDeviceWaitsForLateLink(t *testing.T) {
	f := newFakeHost(t)
	want := f.disk(t, "vdd")
	go func() {
		time.Sleep(150 * time.Millisecond)
		_ = os.Symlink(want, filepath.Join(f.byID, "virtio-"+testSerial[:20]))
	}()
	start := time.Now()
	got, err := f.host(5*time.Second).FindDevice(context.Background(), testSerial, 20)
	if err != nil {
		t.Fatalf("FindDevice: %v", err)
	}
	if got != want {
		t.Fatalf("FindDevice = %q, want %q", got, want)
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > 2*time.Second {
		t.Fatalf("found after %s; want shortly after the link appeared at 150ms", d)
	}
}

func TestFindDeviceTimeout(t *testing.T) {
	f := newFakeHost(t)
	start := time.Now()
	_, err := f.host(300*time.Millisecond).FindDevice(context.Background(), testSerial, 20)
	elapsed := time.Since(start)
	if !errors.Is(err, node.ErrDeviceNotFound) {
		t.Fatalf("err = %v, want ErrDeviceNotFound", err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("own timeout must not look like the caller's context ending: %v", err)
	}
	if elapsed < 300*time.Millisecond || elapsed > 1500*time.Millisecond {
		t.Fatalf("returned after %s, want about 300ms", elapsed)
	}
}

func TestFindDeviceContextCanceled(t *testing.T) {
	f := newFakeHost(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := f.host(30*time.Second).FindDevice(ctx, testSerial, 20)
	if d := time.Since(start); d > time.Second {
		t.Fatalf("returned %s after cancel, want promptly", d)
	}
	if !errors.Is(err, context.Canceled) || !errors.Is(err, node.ErrDeviceNotFound) {
		t.Fatalf("err = %v, want both context.Canceled and ErrDeviceNotFound", err)
	}
}

// Nova's advisory /dev/vdX, links for other serials, and devices whose
// kernel serial names another volume are never returned.
func TestFindDeviceNeverGuesses(t *testing.T) {
	f := newFakeHost(t)
	advisory := f.disk(t, "vdb") // what Nova claims the attachment is
	f.sysSerial(t, "vdb", "serial", "0000aaaa-other-volum")
	f.link(t, "virtio-0000aaaa-other-volum", advisory)
	_, err := f.host(200*time.Millisecond).FindDevice(context.Background(), testSerial, 20)
	if !errors.Is(err, node.ErrDeviceNotFound) {
		t.Fatalf("err = %v, want ErrDeviceNotFound (advisory vdb must not be used)", err)
	}
}

func TestFindDeviceSkipsStaleLinkWithWrongKernelSerial(t *testing.T) {
	f := newFakeHost(t)
	stale := f.disk(t, "vdb")
	f.sysSerial(t, "vdb", "serial", "0000aaaa-other-volum")
	f.link(t, "virtio-"+testSerial[:20], stale) // left over from an old attach
	want := f.disk(t, "vdc")
	f.sysSerial(t, "vdc", "serial", testSerial[:20])
	got, err := f.host(time.Second).FindDevice(context.Background(), testSerial, 20)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("FindDevice = %q, want %q (not the stale link's %q)", got, want, stale)
	}
}

func TestFindDeviceRejectsNonBlockTargets(t *testing.T) {
	f := newFakeHost(t)
	dir := filepath.Join(f.dev, "notadisk")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f.link(t, "virtio-"+testSerial[:20], dir)
	f.link(t, "virtio-"+testSerial, "/dev/null") // a character device
	f.link(t, testSerial, f.disk(t, "plainfile"))
	h := node.NewHost(node.HostConfig{
		ByIDDir: f.byID, SysBlockDir: f.sys, DevDir: f.dev,
		FindTimeout: 200 * time.Millisecond, PollInterval: 20 * time.Millisecond,
		UdevTriggerInterval: -1, AllowRegularFiles: false,
	})
	if dev, err := h.FindDevice(context.Background(), testSerial, 20); !errors.Is(err, node.ErrDeviceNotFound) {
		t.Fatalf("FindDevice = %q, %v; want ErrDeviceNotFound", dev, err)
	}
}

func TestFindDeviceInvalidSerial(t *testing.T) {
	f := newFakeHost(t)
	for _, s := range []string{"", "..", "../../etc/passwd", "a/b"} {
		_, err := f.host(time.Second).FindDevice(context.Background(), s, 20)
		if err == nil || errors.Is(err, node.ErrDeviceNotFound) {
			t.Errorf("serial %q: err = %v, want an invalid-serial error", s, err)
		}
	}
}

// recordingExec runs nothing; it records commands and claims udevadm exists
// when haveUdevadm is set.
type recordingExec struct {
	utilexec.Interface
	haveUdevadm bool
	mu          sync.Mutex
	calls       [][]string
}

func (r *recordingExec) LookPath(file string) (string, error) {
	if file == "udevadm" && r.haveUdevadm {
		return "/usr/bin/udevadm", nil
	}
	return "", utilexec.ErrExecutableNotFound
}

func (r *recordingExec) CommandContext(_ context.Context, cmd string, args ...string) utilexec.Cmd {
	return r.Command(cmd, args...)
}

func (r *recordingExec) Command(cmd string, args ...string) utilexec.Cmd {
	r.mu.Lock()
	r.calls = append(r.calls, append([]string{cmd}, args...))
	r.mu.Unlock()
	return testingexec.InitFakeCmd(&testingexec.FakeCmd{DisableScripts: true}, cmd, args...)
}

func TestFindDeviceTriggersUdevBounded(t *testing.T) {
	f := newFakeHost(t)
	rec := &recordingExec{haveUdevadm: true}
	h := node.NewHost(node.HostConfig{
		ByIDDir: f.byID, SysBlockDir: f.sys, DevDir: f.dev,
		FindTimeout: 450 * time.Millisecond, PollInterval: 10 * time.Millisecond,
		UdevTriggerInterval: 200 * time.Millisecond, AllowRegularFiles: true, Exec: rec,
	})
	if _, err := h.FindDevice(context.Background(), testSerial, 20); !errors.Is(err, node.ErrDeviceNotFound) {
		t.Fatalf("err = %v", err)
	}
	want := []string{"/usr/bin/udevadm", "trigger", "--action=change", "--subsystem-match=block"}
	if len(rec.calls) < 2 || len(rec.calls) > 3 {
		t.Fatalf("udevadm ran %d times in 450ms at a 200ms interval, want 2-3: %q", len(rec.calls), rec.calls)
	}
	for _, c := range rec.calls {
		if !slices.Equal(c, want) {
			t.Fatalf("command %q, want %q", c, want)
		}
	}
}

func TestFindDeviceSkipsUdevWithoutUdevadm(t *testing.T) {
	f := newFakeHost(t)
	rec := &recordingExec{haveUdevadm: false}
	h := node.NewHost(node.HostConfig{
		ByIDDir: f.byID, SysBlockDir: f.sys, DevDir: f.dev,
		FindTimeout: 100 * time.Millisecond, PollInterval: 10 * time.Millisecond,
		UdevTriggerInterval: 10 * time.Millisecond, Exec: rec,
	})
	_, _ = h.FindDevice(context.Background(), testSerial, 20)
	if len(rec.calls) != 0 {
		t.Fatalf("ran %q without udevadm on PATH", rec.calls)
	}
}

// A disk whose link is there but whose capacity the kernel has not read
// yet (0 bytes: virtio-scsi under many hot-plugs) is waited for, not
// returned to be refused for its size.
func TestFindDeviceWaitsForASize(t *testing.T) {
	f := newFakeHost(t)
	dev := filepath.Join(f.dev, "sda")
	if err := os.WriteFile(dev, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f.link(t, "scsi-0QEMU_QEMU_HARDDISK_"+testSerial[:20], dev)
	time.AfterFunc(200*time.Millisecond, func() { _ = os.Truncate(dev, 1<<20) })
	began := time.Now()
	got, err := f.host(5*time.Second).FindDevice(context.Background(), testSerial, 20)
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(began); waited < 150*time.Millisecond {
		t.Fatalf("found %s after %s, before it had a size", got, waited)
	}
}
