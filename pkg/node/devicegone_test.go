package node_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/openblock-csi/openblock-csi/pkg/node"
	"github.com/openblock-csi/openblock-csi/pkg/node/nodetest"
)

// A disk pulled from under its mount leaves the mount in the table with
// the disk's number; MountState must say the device is gone, and must not
// say so of a disk that is there. The real removal happens in test/guest
// (a hot-unplugged virtio disk); here the kernel's view after it is
// played back: the loop mount's own line of the mount table, read with a
// /sys whose /sys/dev/block lacks the number.
func TestRootMountStateDeviceGone(t *testing.T) {
	nodetest.RequireRoot(t)
	nodetest.RequireTools(t, "mkfs.ext4", "blkid")
	dev, _ := nodetest.NewLoopDevice(t, 64*mib)
	h := rootHost(t, t.TempDir())
	target := mountTarget(t, "staging")
	if _, err := h.FormatAndMount(context.Background(), dev, target, "ext4", nil, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Unmount(target) })
	st, err := h.MountState(target)
	if err != nil || !st.Mounted || st.DeviceGone {
		t.Fatalf("MountState of a mounted loop device = %+v, %v; want mounted, device present", st, err)
	}

	line := mountInfoLine(t, target)
	dir := t.TempDir()
	info := filepath.Join(dir, "mountinfo")
	if err := os.WriteFile(info, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sysDevBlock := filepath.Join(dir, "sys", "dev", "block")
	if err := os.MkdirAll(sysDevBlock, 0o755); err != nil {
		t.Fatal(err)
	}
	played := node.NewHost(node.HostConfig{MountInfoPath: info, SysBlockDir: filepath.Join(dir, "sys", "block"), UdevTriggerInterval: -1})
	st, err = played.MountState(target)
	if err != nil || !st.Mounted || !st.DeviceGone {
		t.Fatalf("MountState with %s missing from /sys/dev/block = %+v, %v; want the device gone", majMin(line), st, err)
	}
	// The number back in /sys/dev/block: the device is there again.
	if err := os.Symlink("../../devices/virtual/block/"+filepath.Base(dev), filepath.Join(sysDevBlock, majMin(line))); err != nil {
		t.Fatal(err)
	}
	if st, err = played.MountState(target); err != nil || st.DeviceGone {
		t.Fatalf("MountState with %s listed = %+v, %v", majMin(line), st, err)
	}
}

// btrfs reports an anonymous device number; there the source's device
// node tells, and a mount of no device (proc) is never gone.
func TestMountStateDeviceGoneBySource(t *testing.T) {
	h := fileHost()
	if st, err := h.MountState("/proc"); err != nil || st.DeviceGone {
		t.Fatalf("MountState(/proc) = %+v, %v", st, err)
	}
	dir := t.TempDir()
	target := t.TempDir()
	devDir := filepath.Join(dir, "dev")
	if err := os.MkdirAll(devDir, 0o755); err != nil {
		t.Fatal(err)
	}
	info := filepath.Join(dir, "mountinfo")
	line := fmt.Sprintf("90 25 0:61 / %s rw,relatime shared:40 - btrfs %s/vdb rw,space_cache=v2", target, devDir)
	if err := os.WriteFile(info, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h = node.NewHost(node.HostConfig{MountInfoPath: info, DevDir: devDir, UdevTriggerInterval: -1})
	st, err := h.MountState(target)
	if err != nil || !st.Mounted || !st.DeviceGone {
		t.Fatalf("btrfs whose source %s/vdb does not exist: %+v, %v; want the device gone", devDir, st, err)
	}
	if os.Geteuid() != 0 {
		return // mknod needs root; the gone half is checked
	}
	if err := unix.Mknod(filepath.Join(devDir, "vdb"), unix.S_IFBLK|0o600, int(unix.Mkdev(7, 250))); err != nil {
		t.Skipf("mknod: %v", err)
	}
	if st, err = h.MountState(target); err != nil || st.DeviceGone {
		t.Fatalf("btrfs whose source is a block device: %+v, %v", st, err)
	}
}

// mountInfoLine is /proc/self/mountinfo's line for target.
func mountInfoLine(t *testing.T, target string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[4] == target {
			return l
		}
	}
	t.Fatalf("%s is not in the mount table", target)
	return ""
}

func majMin(line string) string { return strings.Fields(line)[2] }
