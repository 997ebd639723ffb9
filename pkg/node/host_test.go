package node_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/openblock-csi/openblock-csi/pkg/node"
	"github.com/openblock-csi/openblock-csi/pkg/node/nodetest"
)

func fileHost() *node.Host {
	return node.NewHost(node.HostConfig{AllowRegularFiles: true, UdevTriggerInterval: -1})
}

// imageFile makes a sparse regular file standing in for a disk.
func imageFile(t *testing.T, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, size); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNormalizeFSType(t *testing.T) {
	for in, want := range map[string]string{"": "ext4", "ext4": "ext4", "XFS": "xfs", "btrfs": "btrfs", "ext3": "ext3"} {
		got, err := node.NormalizeFSType(in)
		if err != nil || got != want {
			t.Errorf("NormalizeFSType(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"ntfs", "zfs", "vfat", "ext2", "nfs"} {
		if _, err := node.NormalizeFSType(in); !errors.Is(err, node.ErrUnsupportedFS) {
			t.Errorf("NormalizeFSType(%q) err = %v, want ErrUnsupportedFS", in, err)
		}
	}
}

func TestFormatAndMountUnsupportedFS(t *testing.T) {
	img := imageFile(t, 1<<20)
	target := filepath.Join(t.TempDir(), "mnt")
	_, err := fileHost().FormatAndMount(context.Background(), img, target, "ntfs", nil, nil)
	if !errors.Is(err, node.ErrUnsupportedFS) {
		t.Fatalf("err = %v, want ErrUnsupportedFS", err)
	}
	if _, err := os.Stat(target); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("target created for a refused request: %v", err)
	}
}

// A device holding another filesystem is refused before anything is
// written: its bytes stay as they were.
func TestFormatAndMountRefusesOtherFilesystem(t *testing.T) {
	nodetest.RequireTools(t, "blkid", "mkfs.ext4")
	img := imageFile(t, 16<<20)
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v: %s", err, out)
	}
	before, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "mnt")
	_, err = fileHost().FormatAndMount(context.Background(), img, target, "xfs", nil, nil)
	if !errors.Is(err, node.ErrFilesystemMismatch) {
		t.Fatalf("err = %v, want ErrFilesystemMismatch", err)
	}
	after, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Fatal("device content changed")
	}
}

func TestDiskFormat(t *testing.T) {
	nodetest.RequireTools(t, "blkid", "mkfs.ext4")
	h := fileHost()
	img := imageFile(t, 64<<20)
	if fs, err := h.DiskFormat(img); err != nil || fs != "" {
		t.Fatalf("blank image: DiskFormat = %q, %v; want \"\", nil", fs, err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v: %s", err, out)
	}
	if fs, err := h.DiskFormat(img); err != nil || fs != "ext4" {
		t.Fatalf("ext4 image: DiskFormat = %q, %v; want ext4", fs, err)
	}
}

// A device that cannot be read, or reads as empty, is an error, never
// "blank" (which would mean "format it").
func TestDiskFormatNeverBlankOnFailure(t *testing.T) {
	h := fileHost()
	for name, dev := range map[string]string{
		"missing": filepath.Join(t.TempDir(), "nope"),
		"empty":   imageFile(t, 0),
		"dir":     t.TempDir(),
	} {
		if fs, err := h.DiskFormat(dev); err == nil {
			t.Errorf("%s: DiskFormat = %q, nil; want an error", name, fs)
		}
	}
	// Without AllowRegularFiles a file is not a device at all.
	strict := node.NewHost(node.HostConfig{})
	if fs, err := strict.DiskFormat(imageFile(t, 1<<20)); err == nil {
		t.Errorf("regular file on a strict host: DiskFormat = %q, nil; want an error", fs)
	}
}

func TestDeviceSizeRegularFile(t *testing.T) {
	img := imageFile(t, 123456789)
	got, err := fileHost().DeviceSize(img)
	if err != nil || got != 123456789 {
		t.Fatalf("DeviceSize = %d, %v; want 123456789", got, err)
	}
	if _, err := fileHost().DeviceSize(t.TempDir()); err == nil {
		t.Fatal("DeviceSize of a directory succeeded")
	}
}

func TestPathExistsAndIsBlockDevice(t *testing.T) {
	h := fileHost()
	img := imageFile(t, 1024)
	if ok, err := h.PathExists(img); err != nil || !ok {
		t.Fatalf("PathExists(existing) = %v, %v", ok, err)
	}
	if ok, err := h.PathExists(img + ".missing"); err != nil || ok {
		t.Fatalf("PathExists(missing) = %v, %v", ok, err)
	}
	if ok, err := h.IsBlockDevice(img); err != nil || ok {
		t.Fatalf("IsBlockDevice(regular file) = %v, %v", ok, err)
	}
	if ok, err := h.IsBlockDevice("/dev/null"); err != nil || ok {
		t.Fatalf("IsBlockDevice(/dev/null) = %v, %v; a char device is not a block device", ok, err)
	}
}

func TestFSStatsTempDir(t *testing.T) {
	st, err := fileHost().FSStats(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if st.TotalBytes <= 0 || st.AvailableBytes < 0 || st.AvailableBytes > st.TotalBytes ||
		st.UsedBytes < 0 || st.UsedBytes > st.TotalBytes {
		t.Fatalf("implausible stats %+v", st)
	}
	if st.UsedInodes != st.TotalInodes-st.FreeInodes {
		t.Fatalf("inodes don't add up: %+v", st)
	}
	if _, err := fileHost().FSStats(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("FSStats of a missing path succeeded")
	}
}

func TestUnmountNotMounted(t *testing.T) {
	h := fileHost()
	if err := h.Unmount(filepath.Join(t.TempDir(), "never-existed")); err != nil {
		t.Fatalf("Unmount(missing) = %v, want success", err)
	}
	dir := filepath.Join(t.TempDir(), "target")
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := h.Unmount(dir); err != nil {
		t.Fatalf("Unmount(plain dir) = %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("target dir not removed: %v", err)
	}
	// A directory with data that is not a mount point is left alone.
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "data"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := h.Unmount(full); err == nil {
		t.Fatal("Unmount removed or accepted a non-empty, unmounted directory")
	}
	if _, err := os.Stat(filepath.Join(full, "data")); err != nil {
		t.Fatalf("data lost: %v", err)
	}
}

func TestMountStateFromMountTable(t *testing.T) {
	h := fileHost()
	st, err := h.MountState(t.TempDir())
	if err != nil || st.Mounted {
		t.Fatalf("MountState(plain dir) = %+v, %v", st, err)
	}
	st, err = h.MountState(filepath.Join(t.TempDir(), "missing"))
	if err != nil || st.Mounted {
		t.Fatalf("MountState(missing) = %+v, %v", st, err)
	}
	st, err = h.MountState("/proc")
	if err != nil || !st.Mounted || st.Device != "proc" || st.Corrupted {
		t.Fatalf("MountState(/proc) = %+v, %v", st, err)
	}
	if _, err := h.DeviceForMount(t.TempDir()); err == nil {
		t.Fatal("DeviceForMount of an unmounted dir succeeded")
	}
}
