package node

import (
	"fmt"
	"regexp"
	"strconv"

	"k8s.io/klog/v2"
)

// resizeSlack: growth smaller than this is not worth a resize (ext and xfs
// may leave a too-small tail unused, which must not ask for a resize on
// every stage forever).
const resizeSlack = 1 << 20

var (
	extBlockCount = regexp.MustCompile(`(?m)^Block count:\s+(\d+)`)
	extBlockSize  = regexp.MustCompile(`(?m)^Block size:\s+(\d+)`)
	xfsData       = regexp.MustCompile(`(?m)^data\s+=\s+bsize=(\d+)\s+blocks=(\d+)`)
)

// NeedResize implements Ops. For ext and xfs it compares the filesystem's
// size (dumpe2fs, xfs_info) with the device's; btrfs, and any output it
// cannot read, go to mount-utils, which answers true for ext/xfs and lets
// the resize tool decide. A read-only device never needs a resize.
func (h *Host) NeedResize(device, mountPath string) (bool, error) {
	ro, err := deviceReadOnly(device)
	if err != nil {
		return false, err
	}
	if ro {
		return false, nil
	}
	format, err := h.DiskFormat(device)
	if err != nil {
		return false, err
	}
	var fsSize int64
	var ok bool
	switch format {
	case "":
		return false, nil
	case "ext3", "ext4":
		fsSize, ok = h.extSize(device)
	case "xfs":
		fsSize, ok = h.xfsSize(mountPath)
	}
	if !ok {
		return h.resizer.NeedResize(device, mountPath)
	}
	devSize, err := h.DeviceSize(device)
	if err != nil {
		return false, err
	}
	klog.V(4).InfoS("Resize check", "device", device, "deviceBytes", devSize, "filesystemBytes", fsSize)
	return devSize-fsSize >= resizeSlack, nil
}

// Resize implements Ops: resize2fs, xfs_growfs or btrfs resize via
// mount-utils.
func (h *Host) Resize(device, mountPath string) error {
	if _, err := h.resizer.Resize(device, mountPath); err != nil {
		return fmt.Errorf("resize filesystem on %s: %w", device, err)
	}
	return nil
}

func (h *Host) extSize(device string) (int64, bool) {
	out, err := h.exec.Command("dumpe2fs", "-h", device).CombinedOutput()
	if err != nil {
		klog.V(4).InfoS("dumpe2fs failed", "device", device, "err", err)
		return 0, false
	}
	count := extBlockCount.FindSubmatch(out)
	size := extBlockSize.FindSubmatch(out)
	if count == nil || size == nil {
		return 0, false
	}
	return product(string(count[1]), string(size[1]))
}

func (h *Host) xfsSize(mountPath string) (int64, bool) {
	out, err := h.exec.Command("xfs_info", mountPath).CombinedOutput()
	if err != nil {
		klog.V(4).InfoS("xfs_info failed", "mountPath", mountPath, "err", err)
		return 0, false
	}
	m := xfsData.FindSubmatch(out)
	if m == nil {
		return 0, false
	}
	return product(string(m[1]), string(m[2]))
}

func product(a, b string) (int64, bool) {
	x, err1 := strconv.ParseInt(a, 10, 64)
	y, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return x * y, true
}
