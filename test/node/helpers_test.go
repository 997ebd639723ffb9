package node_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/openblock-csi/openblock-csi/pkg/driver"
	"github.com/openblock-csi/openblock-csi/pkg/node"
	"github.com/openblock-csi/openblock-csi/pkg/node/nodetest"
)

const (
	mib = int64(1) << 20
	// fsDiskSize fits every filesystem here (mkfs.xfs refuses less than
	// 300 MB); the backing files are sparse, so it costs nothing.
	fsDiskSize = 512 * mib
	serialLen  = 20
	// mountRootParent holds every mount point of this package; its name
	// makes the package's mounts findable in /proc/self/mountinfo.
	mountRootParent = "openblock-csi-test"
)

// env is one driver in node mode, served on a unix socket, and a client.
type env struct {
	node csi.NodeClient
	// root holds the socket, the by-id directory and the mount points.
	root string
	byID string
}

// newEnv serves a node-mode driver over the real node.Host on a unix
// socket under a fresh root directory and connects a client to it.
func newEnv(t *testing.T) *env {
	t.Helper()
	nodetest.RequireRoot(t)
	nodetest.RequireTools(t, "losetup", "blkid", "mount", "umount")
	root := mountRoot(t)
	e := &env{root: root, byID: filepath.Join(root, "by-id")}
	if err := os.Mkdir(e.byID, 0o755); err != nil {
		t.Fatal(err)
	}
	host := node.NewHost(node.HostConfig{
		ByIDDir:             e.byID,
		FindTimeout:         3 * time.Second,
		PollInterval:        50 * time.Millisecond,
		UdevTriggerInterval: -1, // the host's udev is not ours to poke
	})
	d, err := driver.New(driver.Config{Mode: driver.ModeNode, NodeOps: host, NodeID: "node-test", KubeletDirs: []string{root}})
	if err != nil {
		t.Fatalf("driver.New: %v", err)
	}
	sock := filepath.Join(root, "csi.sock")
	lis, err := driver.Listen("unix://" + sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("driver Serve: %v", err)
		}
		_ = os.Remove(sock)
	})
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	e.node = csi.NewNodeClient(conn)
	return e
}

// mountRoot creates $TMPDIR/openblock-csi-test/node-<test>-* and removes
// it last, refusing while anything below it is still mounted: a recursive
// remove through a live mount would delete the volume's files.
func mountRoot(t *testing.T) string {
	t.Helper()
	parent := filepath.Join(os.TempDir(), mountRootParent)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	name := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	if len(name) > 40 { // keep the socket path under the 108-byte limit
		name = name[:40]
	}
	root, err := os.MkdirTemp(parent, "node-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	if root, err = filepath.EvalSymlinks(root); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if m := mountsUnder(root); len(m) > 0 {
			t.Errorf("not removing %s: still mounted below it: %v", root, m)
			return
		}
		if err := os.RemoveAll(root); err != nil {
			t.Errorf("remove %s: %v", root, err)
		}
		_ = os.Remove(parent) // only if no other test still uses it
	})
	return root
}

// volume is one made-up cloud volume: a loop device with the by-id link
// the hypervisor's udev would create for its serial, and the paths
// kubelet would use for it.
type volume struct {
	id      string // also the serial, as for Cinder
	dev     string
	backing string
	size    int64
	staging string
	target  string
	// readOnly: ControllerPublish was asked for a read-only volume.
	readOnly bool
}

// newVolume attaches a fresh sparse loop device of size bytes and links
// virtio-<id[:20]> to it. Mount cleanups for both paths are registered
// after the loop device's, so they run first.
func (e *env) newVolume(t *testing.T, size int64) *volume {
	t.Helper()
	dev, backing := nodetest.NewLoopDevice(t, size)
	return e.volumeOn(t, dev, backing, size)
}

func (e *env) volumeOn(t *testing.T, dev, backing string, size int64) *volume {
	t.Helper()
	id := uuid.NewString()
	nodetest.LinkByID(t, e.byID, "virtio-"+id[:serialLen], dev)
	dir := filepath.Join(e.root, id[:8])
	v := &volume{
		id: id, dev: dev, backing: backing, size: size,
		staging: filepath.Join(dir, "globalmount"),
		target:  filepath.Join(dir, "pod", "mount"),
	}
	nodetest.CleanupMount(t, v.staging)
	nodetest.CleanupMount(t, v.target)
	// kubelet creates the staging directory and the target's parent; the
	// plugin creates the target itself.
	for _, p := range []string{v.staging, filepath.Dir(v.target)} {
		if err := os.MkdirAll(p, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

// publishContext is what ControllerPublishVolume returns for the volume.
func (v *volume) publishContext() map[string]string {
	pc := map[string]string{
		driver.PubSerial:       v.id,
		driver.PubSerialLength: strconv.Itoa(serialLen),
		driver.PubSizeBytes:    strconv.FormatInt(v.size, 10),
	}
	if v.readOnly {
		pc[driver.PubReadOnly] = "true"
	}
	return pc
}

func rpcCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (e *env) stage(t *testing.T, v *volume, vc *csi.VolumeCapability) error {
	t.Helper()
	_, err := e.node.NodeStageVolume(rpcCtx(t), &csi.NodeStageVolumeRequest{
		VolumeId: v.id, StagingTargetPath: v.staging, VolumeCapability: vc,
		PublishContext: v.publishContext(),
	})
	return err
}

func (e *env) publish(t *testing.T, v *volume, vc *csi.VolumeCapability) error {
	t.Helper()
	_, err := e.node.NodePublishVolume(rpcCtx(t), &csi.NodePublishVolumeRequest{
		VolumeId: v.id, StagingTargetPath: v.staging, TargetPath: v.target,
		VolumeCapability: vc, PublishContext: v.publishContext(),
	})
	return err
}

func (e *env) unpublish(t *testing.T, v *volume) error {
	t.Helper()
	_, err := e.node.NodeUnpublishVolume(rpcCtx(t), &csi.NodeUnpublishVolumeRequest{VolumeId: v.id, TargetPath: v.target})
	return err
}

func (e *env) unstage(t *testing.T, v *volume) error {
	t.Helper()
	_, err := e.node.NodeUnstageVolume(rpcCtx(t), &csi.NodeUnstageVolumeRequest{VolumeId: v.id, StagingTargetPath: v.staging})
	return err
}

// mustStagePublish stages and publishes v with vc, failing the test on
// any error.
func (e *env) mustStagePublish(t *testing.T, v *volume, vc *csi.VolumeCapability) {
	t.Helper()
	if err := e.stage(t, v, vc); err != nil {
		t.Fatalf("NodeStageVolume: %v", err)
	}
	if err := e.publish(t, v, vc); err != nil {
		t.Fatalf("NodePublishVolume: %v", err)
	}
}

// mustTeardown unpublishes and unstages v and checks both paths are gone.
func (e *env) mustTeardown(t *testing.T, v *volume) {
	t.Helper()
	if err := e.unpublish(t, v); err != nil {
		t.Fatalf("NodeUnpublishVolume: %v", err)
	}
	if err := e.unstage(t, v); err != nil {
		t.Fatalf("NodeUnstageVolume: %v", err)
	}
	checkReleased(t, v)
}

// checkReleased checks that nothing is mounted at v's paths any more, that
// the target the plugin created is gone, and that a staging directory
// kubelet created is still there, empty: the plugin removes only what it
// made. It then removes that directory, as kubelet does.
func checkReleased(t *testing.T, v *volume) {
	t.Helper()
	for _, p := range []string{v.target, v.staging} {
		if n := mountCount(t, p); n != 0 {
			t.Fatalf("%s still mounted %d times after teardown", p, n)
		}
	}
	if _, err := os.Lstat(v.target); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s left behind after teardown: %v", v.target, err)
	}
	// Absent when a second stage after a teardown created it: then the
	// plugin made it and removed it.
	entries, err := os.ReadDir(v.staging)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err != nil || len(entries) != 0 {
		t.Fatalf("staging directory: %v, %d entries; want it empty or gone", err, len(entries))
	}
	if err := os.Remove(v.staging); err != nil {
		t.Fatal(err)
	}
}

func (e *env) stats(t *testing.T, v *volume, path string) (bytesUsage, inodes *csi.VolumeUsage) {
	t.Helper()
	resp, err := e.node.NodeGetVolumeStats(rpcCtx(t), &csi.NodeGetVolumeStatsRequest{
		VolumeId: v.id, VolumePath: path, StagingTargetPath: v.staging,
	})
	if err != nil {
		t.Fatalf("NodeGetVolumeStats(%s): %v", path, err)
	}
	for _, u := range resp.GetUsage() {
		switch u.GetUnit() {
		case csi.VolumeUsage_BYTES:
			bytesUsage = u
		case csi.VolumeUsage_INODES:
			inodes = u
		}
	}
	if bytesUsage == nil {
		t.Fatalf("NodeGetVolumeStats(%s) has no BYTES usage: %v", path, resp)
	}
	return bytesUsage, inodes
}

func wantCode(t *testing.T, err error, want codes.Code, what string) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("%s: code %s (%v), want %s", what, got, err, want)
	}
}

// mountCount counts the mount layers at path in /proc/self/mountinfo.
func mountCount(t *testing.T, path string) int {
	t.Helper()
	n := 0
	for _, f := range mountInfo(t) {
		if f[4] == path {
			n++
		}
	}
	return n
}

// mountsUnder lists mount points at or below dir.
func mountsUnder(dir string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return []string{"(cannot read mountinfo: " + err.Error() + ")"}
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			out = append(out, f[4])
		}
	}
	return out
}

func mountInfo(t *testing.T) [][]string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 {
			out = append(out, f)
		}
	}
	return out
}

// mountOptions returns the options of the topmost mount at path, as
// /proc/self/mounts shows them (per-mount and superblock options).
func mountOptions(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	opts, found := "", false
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 3 && f[1] == path {
			opts, found = f[3], true
		}
	}
	if !found {
		t.Fatalf("%s is not in /proc/self/mounts", path)
	}
	return opts
}

// fsUUID is the filesystem UUID blkid reads from the device itself.
func fsUUID(t *testing.T, dev string) string {
	t.Helper()
	out, err := exec.Command("blkid", "-p", "-s", "UUID", "-o", "value", dev).CombinedOutput()
	if err != nil {
		t.Fatalf("blkid UUID of %s: %v: %s", dev, err, out)
	}
	u := strings.TrimSpace(string(out))
	if u == "" {
		t.Fatalf("blkid found no UUID on %s", dev)
	}
	return u
}

// blkidFindsNothing: blkid -p exits 2 when it finds no signature.
func blkidFindsNothing(t *testing.T, dev string) bool {
	t.Helper()
	out, err := exec.Command("blkid", "-p", dev).CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 2 {
		return true
	}
	if err != nil {
		t.Fatalf("blkid -p %s: %v: %s", dev, err, out)
	}
	t.Logf("blkid -p %s: %s", dev, bytes.TrimSpace(out))
	return false
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// writeSynced writes data to a new file and fsyncs it and its directory,
// so it is on the device, not only in the page cache.
func writeSynced(t *testing.T, path string, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		t.Fatalf("write %s: %v", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		t.Fatalf("fsync %s: %v", path, err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	syncDir(t, filepath.Dir(path))
}

func syncDir(t *testing.T, dir string) {
	t.Helper()
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		t.Fatalf("fsync %s: %v", dir, err)
	}
}

// requireMkfs skips unless mkfs.<fs> can run here: as root (every test
// that formats also mounts, see newEnv) and installed.
func requireMkfs(t *testing.T, fs string) {
	t.Helper()
	nodetest.RequireRoot(t)
	nodetest.RequireTools(t, "mkfs."+fs)
}

var filesystems = []string{"ext4", "xfs", "btrfs"}
