package node_test

// Tests on real loop devices, mkfs and mount. They skip without root or
// without the filesystem's tools; nodetest's cleanups unmount and detach
// everything, also when a test fails.

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/node"
	"github.com/openblock-csi/openblock-csi/pkg/node/nodetest"
	"golang.org/x/sys/unix"
)

const (
	mib = int64(1) << 20
	// 512 MiB: xfsprogs refuses filesystems under 300 MB; sparse, so cheap.
	fsDiskSize = 512 * mib
)

func rootHost(t *testing.T, byID string) *node.Host {
	t.Helper()
	return node.NewHost(node.HostConfig{
		ByIDDir:             byID,
		FindTimeout:         5 * time.Second,
		PollInterval:        50 * time.Millisecond,
		UdevTriggerInterval: -1, // tests must not poke the host's udev
	})
}

// mountTarget returns a not-yet-existing path under a temp dir, with a
// cleanup that unmounts whatever a failing test leaves there.
func mountTarget(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	nodetest.CleanupMount(t, p)
	return p
}

func mkfsTool(fs string) string { return "mkfs." + fs }

func fsUUID(t *testing.T, dev string) string {
	t.Helper()
	out, err := exec.Command("blkid", "-p", "-s", "UUID", "-o", "value", dev).CombinedOutput()
	if err != nil {
		t.Fatalf("blkid UUID of %s: %v: %s", dev, err, out)
	}
	return strings.TrimSpace(string(out))
}

func mountOptions(t *testing.T, target string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 3 && f[1] == target {
			return f[3]
		}
	}
	t.Fatalf("%s not in /proc/self/mounts", target)
	return ""
}

func TestRootFindDeviceOnLoop(t *testing.T) {
	dev, backing := nodetest.NewLoopDevice(t, 64*mib)
	byID := t.TempDir()
	nodetest.LinkByID(t, byID, "virtio-"+testSerial[:20], dev)
	h := rootHost(t, byID)

	got, err := h.FindDevice(context.Background(), testSerial, 20)
	if err != nil {
		t.Fatalf("FindDevice: %v", err)
	}
	if got != dev {
		t.Fatalf("FindDevice = %q, want %q", got, dev)
	}
	size, err := h.DeviceSize(got)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(backing)
	if err != nil {
		t.Fatal(err)
	}
	if size != fi.Size() || size != 64*mib {
		t.Fatalf("DeviceSize = %d, backing file %d, want %d", size, fi.Size(), 64*mib)
	}
	if ok, err := h.IsBlockDevice(got); err != nil || !ok {
		t.Fatalf("IsBlockDevice(%s) = %v, %v", got, ok, err)
	}
}

func TestRootFormatMountNeverReformats(t *testing.T) {
	for _, fs := range []string{"ext4", "xfs", "btrfs"} {
		t.Run(fs, func(t *testing.T) {
			nodetest.RequireRoot(t)
			nodetest.RequireTools(t, mkfsTool(fs), "blkid")
			dev, _ := nodetest.NewLoopDevice(t, fsDiskSize)
			h := rootHost(t, t.TempDir())
			target := mountTarget(t, "staging")
			ctx := context.Background()

			if formatted, err := h.FormatAndMount(ctx, dev, target, fs, nil, nil); err != nil || !formatted {
				t.Fatalf("first FormatAndMount of a blank disk: formatted=%v, %v; want a format", formatted, err)
			}
			if got, err := h.DiskFormat(dev); err != nil || got != fs {
				t.Fatalf("DiskFormat after format = %q, %v", got, err)
			}
			uuid := fsUUID(t, dev)
			if fs == "xfs" && !strings.Contains(mountOptions(t, target), "nouuid") {
				t.Fatalf("xfs mounted without nouuid: %s", mountOptions(t, target))
			}
			st, err := h.MountState(target)
			if err != nil || !st.Mounted || st.Device != dev || st.ReadOnly {
				t.Fatalf("MountState = %+v, %v; want rw mount of %s", st, err, dev)
			}
			if d, err := h.DeviceForMount(target); err != nil || d != dev {
				t.Fatalf("DeviceForMount = %q, %v", d, err)
			}
			// Staging twice is a no-op, not a second mount layer.
			if _, err := h.FormatAndMount(ctx, dev, target, fs, nil, nil); err != nil {
				t.Fatalf("repeated FormatAndMount: %v", err)
			}

			data := []byte("written before unmount: " + fs)
			if err := os.WriteFile(filepath.Join(target, "keep.txt"), data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := h.Unmount(target); err != nil {
				t.Fatalf("Unmount: %v", err)
			}
			if _, err := os.Stat(target); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("target left after Unmount: %v", err)
			}

			if formatted, err := h.FormatAndMount(ctx, dev, target, fs, nil, nil); err != nil || formatted {
				t.Fatalf("second FormatAndMount: formatted=%v, %v; want a mount of the existing filesystem", formatted, err)
			}
			got, err := os.ReadFile(filepath.Join(target, "keep.txt"))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("data after remount = %q, %v; want %q (reformatted?)", got, err, data)
			}
			if u := fsUUID(t, dev); u != uuid {
				t.Fatalf("filesystem UUID changed %s -> %s: reformatted", uuid, u)
			}
			if err := h.Unmount(target); err != nil {
				t.Fatalf("final Unmount: %v", err)
			}
		})
	}
}

func TestRootMkfsOptionsPassedAsArgs(t *testing.T) {
	nodetest.RequireRoot(t)
	nodetest.RequireTools(t, "mkfs.ext4", "blkid")
	dev, _ := nodetest.NewLoopDevice(t, 64*mib)
	h := rootHost(t, t.TempDir())
	target := mountTarget(t, "staging")
	if _, err := h.FormatAndMount(context.Background(), dev, target, "ext4", []string{"-L", "my label"}, nil); err != nil {
		t.Fatalf("FormatAndMount: %v", err)
	}
	out, err := exec.Command("blkid", "-p", "-s", "LABEL", "-o", "value", dev).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "my label" {
		t.Fatalf("label = %q, %v; want the option as one argv entry", out, err)
	}
	if err := h.Unmount(target); err != nil {
		t.Fatal(err)
	}
}

// A device already holding a filesystem of another type is refused
// (ErrFilesystemMismatch): not reformatted, not mounted.
func TestRootOtherFilesystemNotReformatted(t *testing.T) {
	nodetest.RequireRoot(t)
	nodetest.RequireTools(t, "mkfs.ext4", "blkid")
	dev, _ := nodetest.NewLoopDevice(t, fsDiskSize)
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", dev).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v: %s", err, out)
	}
	uuid := fsUUID(t, dev)
	h := rootHost(t, t.TempDir())
	target := mountTarget(t, "staging")
	for _, want := range []string{"xfs", "btrfs"} {
		_, err := h.FormatAndMount(context.Background(), dev, target, want, nil, nil)
		if !errors.Is(err, node.ErrFilesystemMismatch) {
			t.Fatalf("FormatAndMount as %s: err = %v, want ErrFilesystemMismatch", want, err)
		}
	}
	if got, err := h.DiskFormat(dev); err != nil || got != "ext4" {
		t.Fatalf("DiskFormat = %q, %v; want ext4 untouched", got, err)
	}
	if u := fsUUID(t, dev); u != uuid {
		t.Fatalf("UUID changed %s -> %s", uuid, u)
	}
	if nodetest.IsMounted(target) {
		t.Fatal("refused device was mounted")
	}
}

func TestRootBindMountDirectory(t *testing.T) {
	nodetest.RequireRoot(t)
	nodetest.RequireTools(t, "mkfs.ext4", "blkid")
	dev, _ := nodetest.NewLoopDevice(t, 64*mib)
	h := rootHost(t, t.TempDir())
	staging := mountTarget(t, "staging")
	rw := mountTarget(t, "pod-rw")
	ro := mountTarget(t, "pod-ro")
	if _, err := h.FormatAndMount(context.Background(), dev, staging, "ext4", nil, nil); err != nil {
		t.Fatal(err)
	}

	if err := h.BindMount(staging, rw, false, nil); err != nil {
		t.Fatalf("BindMount rw: %v", err)
	}
	if err := h.BindMount(staging, rw, false, nil); err != nil {
		t.Fatalf("repeated BindMount: %v", err)
	}
	if err := os.WriteFile(filepath.Join(rw, "f"), []byte("via bind"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(staging, "f")); err != nil || string(got) != "via bind" {
		t.Fatalf("staging sees %q, %v", got, err)
	}

	if err := h.BindMount(staging, ro, true, nil); err != nil {
		t.Fatalf("BindMount ro: %v", err)
	}
	if st, err := h.MountState(ro); err != nil || !st.Mounted || !st.ReadOnly || st.Device != dev {
		t.Fatalf("MountState(ro) = %+v, %v", st, err)
	}
	err := os.WriteFile(filepath.Join(ro, "g"), []byte("x"), 0o600)
	if !errors.Is(err, syscall.EROFS) {
		t.Fatalf("write on read-only bind: %v, want EROFS", err)
	}
	// Asking read-only of a read-write mount is refused, not ignored.
	if err := h.BindMount(staging, rw, true, nil); !errors.Is(err, node.ErrMountedElsewhere) {
		t.Fatalf("ro over rw: %v, want ErrMountedElsewhere", err)
	}

	for _, p := range []string{ro, rw, staging} {
		if err := h.Unmount(p); err != nil {
			t.Fatalf("Unmount %s: %v", p, err)
		}
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s left behind: %v", p, err)
		}
	}
}

func TestRootBindMountRawBlock(t *testing.T) {
	dev, _ := nodetest.NewLoopDevice(t, 16*mib)
	pattern := make([]byte, 8192)
	if _, err := rand.Read(pattern); err != nil {
		t.Fatal(err)
	}
	const off = 3 << 20
	f, err := os.OpenFile(dev, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(pattern, off); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	h := rootHost(t, t.TempDir())
	target := mountTarget(t, filepath.Join("publish", "pv", "dev")) // parent dirs created
	if err := h.BindMount(dev, target, false, nil); err != nil {
		t.Fatalf("BindMount: %v", err)
	}
	if ok, err := h.IsBlockDevice(target); err != nil || !ok {
		t.Fatalf("IsBlockDevice(target) = %v, %v", ok, err)
	}
	if d, err := h.DeviceForMount(target); err != nil || d != dev {
		t.Fatalf("DeviceForMount = %q, %v; want %s", d, err, dev)
	}
	if size, err := h.DeviceSize(target); err != nil || size != 16*mib {
		t.Fatalf("DeviceSize(target) = %d, %v", size, err)
	}
	g, err := os.Open(target)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(pattern))
	_, err = g.ReadAt(got, off)
	g.Close()
	if err != nil || !bytes.Equal(got, pattern) {
		t.Fatalf("bytes read through the bind target differ (err %v)", err)
	}

	if err := h.Unmount(target); err != nil {
		t.Fatalf("Unmount: %v", err)
	}
	if _, err := os.Stat(target); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("target file left behind: %v", err)
	}
	if ok, err := h.IsBlockDevice(dev); err != nil || !ok {
		t.Fatalf("device itself harmed by unmount: %v, %v", ok, err)
	}
}

func TestRootBindMountRawBlockReadOnly(t *testing.T) {
	dev, _ := nodetest.NewLoopDevice(t, 16*mib)
	h := rootHost(t, t.TempDir())
	target := mountTarget(t, "blk")
	if err := h.BindMount(dev, target, true, nil); err != nil {
		t.Fatalf("BindMount: %v", err)
	}
	fi, err := os.Lstat(target)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := h.MountState(target); err != nil || !st.Mounted || !st.ReadOnly || st.Device != dev {
		t.Fatalf("MountState = %+v, %v (mode %v)", st, err, fi.Mode())
	}
	if err := h.Unmount(target); err != nil {
		t.Fatal(err)
	}
}

func TestRootResizeAfterGrow(t *testing.T) {
	for _, fs := range []string{"ext4", "xfs", "btrfs"} {
		t.Run(fs, func(t *testing.T) {
			nodetest.RequireRoot(t)
			nodetest.RequireTools(t, mkfsTool(fs), "blkid", "blockdev")
			dev, backing := nodetest.NewLoopDevice(t, fsDiskSize)
			h := rootHost(t, t.TempDir())
			target := mountTarget(t, "staging")
			if _, err := h.FormatAndMount(context.Background(), dev, target, fs, nil, nil); err != nil {
				t.Fatal(err)
			}
			if need, err := h.NeedResize(dev, target); err != nil || need {
				t.Fatalf("NeedResize on a fresh filesystem = %v, %v; want false", need, err)
			}
			before, err := h.FSStats(target)
			if err != nil {
				t.Fatal(err)
			}

			nodetest.GrowLoopDevice(t, dev, backing, 2*fsDiskSize)
			if size, err := h.DeviceSize(dev); err != nil || size != 2*fsDiskSize {
				t.Fatalf("DeviceSize after grow = %d, %v", size, err)
			}
			if need, err := h.NeedResize(dev, target); err != nil || !need {
				t.Fatalf("NeedResize after grow = %v, %v; want true", need, err)
			}
			if strings.HasPrefix(fs, "ext") && !nodetest.HasCapability(unix.CAP_SYS_RESOURCE) {
				t.Skip("needs CAP_SYS_RESOURCE: ext4 online resize (resize2fs on a mounted fs) is refused without it")
			}
			if err := h.Resize(dev, target); err != nil {
				t.Fatalf("Resize: %v", err)
			}
			after, err := h.FSStats(target)
			if err != nil {
				t.Fatal(err)
			}
			if after.TotalBytes < before.TotalBytes+fsDiskSize*9/10 {
				t.Fatalf("total %d -> %d; want about %d more", before.TotalBytes, after.TotalBytes, fsDiskSize)
			}
			if need, err := h.NeedResize(dev, target); err != nil || need {
				t.Fatalf("NeedResize after Resize = %v, %v; want false", need, err)
			}
			if err := h.Unmount(target); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// An ext filesystem whose device grew while it was not mounted (a volume
// expanded while detached) is grown before it is mounted again: this needs
// no CAP_SYS_RESOURCE, and the data on it is kept. A device already
// mounted elsewhere is not checked or grown offline.
func TestRootExtGrownBeforeMount(t *testing.T) {
	for _, fs := range []string{"ext4", "ext3"} {
		t.Run(fs, func(t *testing.T) {
			nodetest.RequireRoot(t)
			nodetest.RequireTools(t, mkfsTool(fs), "blkid", "e2fsck", "resize2fs", "dumpe2fs")
			dev, backing := nodetest.NewLoopDevice(t, fsDiskSize)
			h := rootHost(t, t.TempDir())
			ctx := context.Background()
			target := mountTarget(t, "staging")
			if _, err := h.FormatAndMount(ctx, dev, target, fs, nil, nil); err != nil {
				t.Fatal(err)
			}
			data := make([]byte, 64<<10)
			rand.Read(data)
			if err := os.WriteFile(filepath.Join(target, "kept.bin"), data, 0o600); err != nil {
				t.Fatal(err)
			}
			before, err := h.FSStats(target)
			if err != nil {
				t.Fatal(err)
			}
			if err := h.Unmount(target); err != nil {
				t.Fatal(err)
			}

			nodetest.GrowLoopDevice(t, dev, backing, 2*fsDiskSize)
			formatted, err := h.FormatAndMount(ctx, dev, target, fs, nil, nil)
			if err != nil || formatted {
				t.Fatalf("FormatAndMount after the device grew = %v, %v; want no format, no error", formatted, err)
			}
			after, err := h.FSStats(target)
			if err != nil {
				t.Fatal(err)
			}
			if after.TotalBytes < before.TotalBytes+fsDiskSize*9/10 {
				t.Fatalf("total %d -> %d bytes; want about %d more", before.TotalBytes, after.TotalBytes, fsDiskSize)
			}
			if need, err := h.NeedResize(dev, target); err != nil || need {
				t.Fatalf("NeedResize after mounting = %v, %v; want false", need, err)
			}
			if got, err := os.ReadFile(filepath.Join(target, "kept.bin")); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("data after the grow: %v (equal %v)", err, bytes.Equal(got, data))
			}

			// Mounted at target, the device grows again: a second mount
			// of it must not run e2fsck or resize2fs under the first.
			nodetest.GrowLoopDevice(t, dev, backing, 3*fsDiskSize)
			second := mountTarget(t, "second")
			if _, err := h.FormatAndMount(ctx, dev, second, fs, nil, nil); err != nil {
				t.Fatalf("second mount: %v", err)
			}
			if need, err := h.NeedResize(dev, target); err != nil || !need {
				t.Fatalf("NeedResize with the device mounted twice = %v, %v; want true (not grown offline)", need, err)
			}
			for _, p := range []string{second, target} {
				if err := h.Unmount(p); err != nil {
					t.Fatal(err)
				}
			}
			if out, err := exec.Command("e2fsck", "-f", "-n", dev).CombinedOutput(); err != nil {
				t.Fatalf("e2fsck -f -n after the test: %v: %s", err, out)
			}
		})
	}
}

func TestRootFSStatsCountsWrites(t *testing.T) {
	nodetest.RequireRoot(t)
	nodetest.RequireTools(t, "mkfs.ext4", "blkid")
	dev, _ := nodetest.NewLoopDevice(t, 64*mib)
	h := rootHost(t, t.TempDir())
	target := mountTarget(t, "staging")
	if _, err := h.FormatAndMount(context.Background(), dev, target, "ext4", nil, nil); err != nil {
		t.Fatal(err)
	}
	before, err := h.FSStats(target)
	if err != nil {
		t.Fatal(err)
	}
	if before.TotalBytes <= 40*mib || before.TotalBytes > 64*mib || before.TotalInodes <= 0 {
		t.Fatalf("implausible stats for a 64 MiB ext4: %+v", before)
	}
	buf := make([]byte, mib)
	if _, err := rand.Read(buf); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(target, "blob"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(buf); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		t.Fatal(err)
	}
	f.Close()
	after, err := h.FSStats(target)
	if err != nil {
		t.Fatal(err)
	}
	if after.UsedBytes-before.UsedBytes < mib {
		t.Fatalf("used %d -> %d after writing 1 MiB", before.UsedBytes, after.UsedBytes)
	}
	if before.AvailableBytes-after.AvailableBytes < mib {
		t.Fatalf("available %d -> %d after writing 1 MiB", before.AvailableBytes, after.AvailableBytes)
	}
	if after.UsedInodes != before.UsedInodes+1 {
		t.Fatalf("used inodes %d -> %d, want +1", before.UsedInodes, after.UsedInodes)
	}
	if err := h.Unmount(target); err != nil {
		t.Fatal(err)
	}
}

func TestRootUnmountIdempotent(t *testing.T) {
	nodetest.RequireRoot(t)
	nodetest.RequireTools(t, "mkfs.ext4", "blkid")
	dev, _ := nodetest.NewLoopDevice(t, 64*mib)
	h := rootHost(t, t.TempDir())
	target := mountTarget(t, "staging")
	if _, err := h.FormatAndMount(context.Background(), dev, target, "ext4", nil, nil); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := h.Unmount(target); err != nil {
			t.Fatalf("Unmount #%d: %v", i+1, err)
		}
	}
	if nodetest.IsMounted(target) {
		t.Fatal("still mounted")
	}
	if st, err := h.MountState(target); err != nil || st.Mounted {
		t.Fatalf("MountState after unmount = %+v, %v", st, err)
	}
}

// Two layers at one target (two racing publishes) are both removed.
func TestRootUnmountStackedMounts(t *testing.T) {
	nodetest.RequireRoot(t)
	nodetest.RequireTools(t, "mkfs.ext4", "blkid")
	dev, _ := nodetest.NewLoopDevice(t, 64*mib)
	h := rootHost(t, t.TempDir())
	staging := mountTarget(t, "staging")
	pub := mountTarget(t, "pub")
	if _, err := h.FormatAndMount(context.Background(), dev, staging, "ext4", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(pub, 0o750); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if out, err := exec.Command("mount", "--bind", staging, pub).CombinedOutput(); err != nil {
			t.Fatalf("mount --bind: %v: %s", err, out)
		}
	}
	if err := h.Unmount(pub); err != nil {
		t.Fatalf("Unmount: %v", err)
	}
	if nodetest.IsMounted(pub) {
		t.Fatal("a layer is still mounted")
	}
	if err := h.Unmount(staging); err != nil {
		t.Fatal(err)
	}
}
