package hostile

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/openblock-csi/openblock-csi/pkg/csicap"
	"github.com/openblock-csi/openblock-csi/pkg/driver"
	"github.com/openblock-csi/openblock-csi/pkg/node/mountpath"
	"github.com/openblock-csi/openblock-csi/test/harness"
)

const (
	envBackend  = "OPENBLOCK_HOSTILE_BACKEND"
	envParentNS = "OPENBLOCK_HOSTILE_PARENT_NS"
	// HOSTILE_BACKENDS (comma-separated) limits which backends run.
	envOnly = "HOSTILE_BACKENDS"
)

func TestMain(m *testing.M) {
	code := m.Run()
	harness.RemoveSharedDriver()
	os.Exit(code)
}

// TestHostile runs TestHostileBackend once per backend in a child process
// that has its own mount namespace (CLONE_NEWNS; Go makes / rprivate in
// the child before exec), so no mount made there reaches the host.
func TestHostile(t *testing.T) {
	if os.Getenv(envBackend) != "" {
		t.Skip("inside a backend child process")
	}
	if why := skipReason(); why != "" {
		t.Skip(why)
	}
	bin := harness.MustSharedDriver(t)
	ns, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	only := map[string]bool{}
	for _, n := range strings.Split(os.Getenv(envOnly), ",") {
		if n = strings.TrimSpace(n); n != "" {
			only[n] = true
		}
	}
	for _, name := range harness.Names() {
		if len(only) > 0 && !only[name] {
			continue
		}
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
			defer cancel()
			args := []string{"-test.run=^TestHostileBackend$", "-test.v", "-test.timeout=7m"}
			cmd := exec.CommandContext(ctx, os.Args[0], args...)
			cmd.Env = append(os.Environ(), envBackend+"="+name, envParentNS+"="+ns, "OPENBLOCK_CSI_BINARY="+bin)
			cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("hostile %s: %v\n%s", name, err, out)
			}
			if testing.Verbose() {
				t.Logf("%s", out)
			}
		})
	}
}

func skipReason() string {
	if os.Geteuid() != 0 {
		return "needs root: the suite mounts overlays and loop devices in a private mount namespace"
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		return "needs loop devices: /dev/loop-control is missing"
	}
	for _, tool := range []string{"losetup", "mkfs.ext4", "blkid", "mount", "umount"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "needs " + tool
		}
	}
	return ""
}

// world is one backend's driver and its legitimately made volumes.
type world struct {
	sb    *sandbox
	ctrl  csi.ControllerClient
	node  csi.NodeClient
	zone  string
	state string // the driver's node-state directory
	// a: staged and published as a filesystem with a file in it; b:
	// published as a raw block device; c: attached, never staged (blank).
	a, b, c *vol
}

type vol struct {
	id      string
	pc      map[string]string
	staging string
	target  string
}

// TestHostileBackend is the child: one backend, inside the namespace.
func TestHostileBackend(t *testing.T) {
	name := os.Getenv(envBackend)
	if name == "" {
		t.Skip("run by TestHostile in a child process")
	}
	w := setup(t, name)
	before, mountsBefore := w.sb.fingerprint(t), mountTable(t)
	for _, c := range cases(w) {
		t.Run(c.name, func(t *testing.T) { c.check(t, w) })
	}
	if d := diffFingerprints(before, w.sb.fingerprint(t)); len(d) > 0 {
		t.Errorf("files outside the driver's own mounts changed:\n%s", strings.Join(d, "\n"))
	}
	if d := w.sb.diffMounts(mountsBefore, mountTable(t)); len(d) > 0 {
		t.Errorf("the mount table changed:\n%s", strings.Join(d, "\n"))
	}
	w.checkVolumeAIntact(t)
	w.teardown(t)
}

func setup(t *testing.T, name string) *world {
	t.Helper()
	b, err := harness.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	sb := newSandbox(t)
	byID := filepath.Join(sb.scratch, "by-id")
	if err := os.MkdirAll(byID, 0o755); err != nil {
		t.Fatal(err)
	}
	simCfg := b.SimConfig(filepath.Join(sb.scratch, "sim"), byID)
	rateLimit := ""
	if b.Profile == "helion" {
		// 1 call/s, on a clock ten times faster, as test/sanity does.
		simCfg.TimeScale = 10
		rateLimit = "rate-limit = 10\n"
	}
	sim, err := harness.StartSim(simCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	cfgPath := filepath.Join(sb.scratch, "cloud.conf")
	if err := os.WriteFile(cfgPath, []byte(b.CloudConfig(sim.URL)+rateLimit), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(sb.scratch, "driver.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	drv, err := harness.StartDriver(ctx, harness.DriverOptions{
		Binary: os.Getenv("OPENBLOCK_CSI_BINARY"), Dir: sb.scratch, CloudConfig: cfgPath, ByIDDir: byID,
		KubeletDir: sb.kubelet, Zone: b.Zone, Stdout: logFile, Stderr: logFile,
	})
	if err != nil {
		t.Fatalf("start driver: %v", err)
	}
	t.Cleanup(func() {
		_ = drv.Stop()
		logFile.Close()
		if t.Failed() {
			if data, err := os.ReadFile(logPath); err == nil {
				t.Logf("driver log (last 4 KiB):\n%s", tail(data, 4096))
			}
		}
	})
	// Unmount whatever is left under the scratch directory before the
	// simulator releases its loop devices (cleanups run last-in first).
	t.Cleanup(func() { unmountUnder(sb.scratch) })

	w := &world{sb: sb, ctrl: csi.NewControllerClient(drv.Conn), node: csi.NewNodeClient(drv.Conn), zone: b.Zone,
		state: filepath.Join(sb.kubelet, "plugins", driver.DefaultName, "node-state")}
	w.a = w.newVolume(t, "a")
	w.b = w.newVolume(t, "b")
	w.c = w.newVolume(t, "c")
	// What kubelet does for a filesystem volume: it makes the staging
	// directory and the target's parent; the plugin makes the target.
	w.a.staging = filepath.Join(sb.kubelet, "plugins", "kubernetes.io", "csi", driver.DefaultName, "a", "globalmount")
	w.a.target = filepath.Join(sb.kubelet, "pods", "p1", "volumes", "kubernetes.io~csi", "a", "mount")
	w.b.staging = filepath.Join(sb.kubelet, "plugins", "kubernetes.io", "csi", "volumeDevices", "staging", "b")
	w.b.target = filepath.Join(sb.kubelet, "plugins", "kubernetes.io", "csi", "volumeDevices", "publish", "b", "pod1")
	w.c.staging = filepath.Join(sb.kubelet, "plugins", "kubernetes.io", "csi", driver.DefaultName, "c", "globalmount")
	w.c.target = filepath.Join(sb.kubelet, "pods", "p3", "volumes", "kubernetes.io~csi", "c", "mount")
	for _, d := range []string{w.a.staging, filepath.Dir(w.a.target), w.b.staging, filepath.Dir(w.b.target)} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	rpc := func(what string, err error) {
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	_, err = w.node.NodeStageVolume(ctxT(t), &csi.NodeStageVolumeRequest{VolumeId: w.a.id, StagingTargetPath: w.a.staging, VolumeCapability: csicap.Mount("ext4"), PublishContext: w.a.pc})
	rpc("stage a", err)
	_, err = w.node.NodePublishVolume(ctxT(t), &csi.NodePublishVolumeRequest{VolumeId: w.a.id, StagingTargetPath: w.a.staging, TargetPath: w.a.target, VolumeCapability: csicap.Mount("ext4"), PublishContext: w.a.pc})
	rpc("publish a", err)
	if err := os.WriteFile(filepath.Join(w.a.target, "data"), []byte("volume a's data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = w.node.NodePublishVolume(ctxT(t), &csi.NodePublishVolumeRequest{VolumeId: w.b.id, StagingTargetPath: w.b.staging, TargetPath: w.b.target, VolumeCapability: csicap.Block(), PublishContext: w.b.pc})
	rpc("publish b", err)
	return w
}

// newVolume creates and attaches a 1 GiB volume.
func (w *world) newVolume(t *testing.T, name string) *vol {
	t.Helper()
	cv, err := w.ctrl.CreateVolume(ctxT(t), &csi.CreateVolumeRequest{
		Name: "hostile-" + name, CapacityRange: &csi.CapacityRange{RequiredBytes: 1 << 30},
		VolumeCapabilities: []*csi.VolumeCapability{csicap.Mount("ext4")},
	})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	v := &vol{id: cv.GetVolume().GetVolumeId()}
	pub, err := w.ctrl.ControllerPublishVolume(ctxT(t), &csi.ControllerPublishVolumeRequest{
		VolumeId: v.id, NodeId: harness.LocalServerID, VolumeCapability: csicap.Mount("ext4"),
	})
	if err != nil {
		t.Fatalf("attach %s: %v", name, err)
	}
	v.pc = pub.GetPublishContext()
	return v
}

func (w *world) checkVolumeAIntact(t *testing.T) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(w.a.target, "data"))
	if err != nil || string(got) != "volume a's data\n" {
		t.Errorf("volume a's data at its target: %q, %v", got, err)
	}
}

// teardown undoes the legitimate work: the plugin removes the target it
// made, keeps the staging directory kubelet made, and the cloud ends empty.
func (w *world) teardown(t *testing.T) {
	t.Helper()
	_, err := w.node.NodeUnpublishVolume(ctxT(t), &csi.NodeUnpublishVolumeRequest{VolumeId: w.a.id, TargetPath: w.a.target})
	if err != nil {
		t.Errorf("unpublish a: %v", err)
	}
	if _, err = w.node.NodeUnstageVolume(ctxT(t), &csi.NodeUnstageVolumeRequest{VolumeId: w.a.id, StagingTargetPath: w.a.staging}); err != nil {
		t.Errorf("unstage a: %v", err)
	}
	if _, err = w.node.NodeUnpublishVolume(ctxT(t), &csi.NodeUnpublishVolumeRequest{VolumeId: w.b.id, TargetPath: w.b.target}); err != nil {
		t.Errorf("unpublish b: %v", err)
	}
	for _, p := range []string{w.a.target, w.b.target} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s, made by the plugin, left after unpublish", p)
		}
	}
	if _, err := os.Stat(w.a.staging); err != nil {
		t.Errorf("staging directory made by kubelet removed: %v", err)
	}
	for _, v := range []*vol{w.a, w.b, w.c} {
		if _, err := w.ctrl.ControllerUnpublishVolume(ctxT(t), &csi.ControllerUnpublishVolumeRequest{VolumeId: v.id, NodeId: harness.LocalServerID}); err != nil {
			t.Errorf("detach %s: %v", v.id, err)
		}
		if _, err := w.ctrl.DeleteVolume(ctxT(t), &csi.DeleteVolumeRequest{VolumeId: v.id}); err != nil {
			t.Errorf("delete %s: %v", v.id, err)
		}
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// unmountUnder lazily unmounts every mount below dir, deepest first.
func unmountUnder(dir string) {
	for range 5 {
		var left []string
		for _, l := range mountTableRaw() {
			if strings.HasPrefix(l, dir+"/") {
				left = append(left, l)
			}
		}
		if len(left) == 0 {
			return
		}
		for i := len(left) - 1; i >= 0; i-- {
			_ = syscall.Unmount(left[i], syscall.MNT_DETACH)
		}
	}
}

func mountTableRaw() []string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 {
			out = append(out, mountpath.Unescape(f[4]))
		}
	}
	return out
}

// serial is the part of the disk serial the guest sees, as the by-id link
// names it.
func (v *vol) serial() string {
	s, n := v.pc[driver.PubSerial], 20
	if l, err := strconv.Atoi(v.pc[driver.PubSerialLength]); err == nil && l > 0 {
		n = l
	}
	if len(s) > n {
		s = s[:n]
	}
	return s
}
