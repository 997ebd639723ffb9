package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"
	mount "k8s.io/mount-utils"
	utilexec "k8s.io/utils/exec"
)

// growExtOffline grows an ext3/ext4 filesystem to fill its device before
// the device is mounted. A volume expanded while detached (the only
// expansion some clouds offer) comes back larger than its filesystem. Growing it unmounted needs no capability, where
// growing it mounted (the EXT4_IOC_RESIZE_FS ioctl) needs
// CAP_SYS_RESOURCE, which containers often lack even when privileged; it
// is also the path resize2fs has supported longest.
//
// Anything it cannot read, a read-only device, and a device mounted
// somewhere already are left to the mounted path (NeedResize and Resize).
func (h *Host) growExtOffline(ctx context.Context, device string) error {
	fsSize, ok := h.extSize(device)
	if !ok {
		return nil
	}
	devSize, err := h.DeviceSize(device)
	if err != nil || devSize-fsSize < resizeSlack {
		return err
	}
	if ro, err := deviceReadOnly(device); err != nil || ro {
		return err
	}
	if mounted, err := h.deviceMounted(device); err != nil || mounted {
		return err
	}
	// resize2fs refuses a filesystem mounted since its last full check.
	// -p repairs only what is safe without a person; exit status 1 means
	// it did so, 4 and above that the filesystem needs more than that.
	out, err := h.exec.CommandContext(ctx, "e2fsck", "-f", "-p", device).CombinedOutput()
	switch code := exitCode(err); {
	case code < 0:
		return fmt.Errorf("e2fsck -f -p %s before growing it: %w", device, err)
	case code > 1:
		return fmt.Errorf("e2fsck -f -p %s before growing it (exit %d): %s", device, code, lastLines(out, 5))
	}
	if out, err := h.exec.CommandContext(ctx, "resize2fs", device).CombinedOutput(); err != nil {
		return fmt.Errorf("resize2fs %s: %w: %s", device, err, lastLines(out, 5))
	}
	klog.V(2).InfoS("Grew filesystem before mounting", "device", device, "fromBytes", fsSize, "deviceBytes", devSize)
	return nil
}

// deviceMounted reports whether any mount in the mount table is of device.
func (h *Host) deviceMounted(device string) (bool, error) {
	fi, err := os.Stat(device)
	if err != nil {
		return false, fmt.Errorf("stat %s: %w", device, err)
	}
	if !isBlock(fi) {
		return false, nil
	}
	infos, err := mount.ParseMountInfo(h.cfg.MountInfoPath)
	if err != nil {
		return false, fmt.Errorf("read %s: %w", h.cfg.MountInfoPath, err)
	}
	dev := rdev(fi)
	for _, mi := range infos {
		if uint32(mi.Major) == unix.Major(dev) && uint32(mi.Minor) == unix.Minor(dev) {
			return true, nil
		}
	}
	return false, nil
}

// exitCode is a command's exit status: 0 for success, -1 when it did not run.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee utilexec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitStatus()
	}
	return -1
}

// lastLines keeps a tool's last n lines of output for an error message.
func lastLines(out []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
