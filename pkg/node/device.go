package node

import (
	"errors"
	"fmt"
	"io"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
	mount "k8s.io/mount-utils"
)

// probeBytes is how much of a device DiskFormat reads to prove it is
// readable before trusting blkid's "nothing found".
const probeBytes = 64 << 10

// DeviceSize implements Ops: BLKGETSIZE64 for block devices, the file size
// for regular files.
func (h *Host) DeviceSize(device string) (int64, error) {
	f, err := os.Open(device)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", device, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("stat %s: %w", device, err)
	}
	if !isBlock(fi) {
		if fi.Mode().IsRegular() {
			return fi.Size(), nil
		}
		return 0, fmt.Errorf("%s is neither a block device nor a regular file", device)
	}
	var size uint64
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.BLKGETSIZE64, uintptr(unsafe.Pointer(&size)))
	if errno != 0 {
		return 0, fmt.Errorf("BLKGETSIZE64 on %s: %w", device, errno)
	}
	return int64(size), nil
}

// DiskFormat implements Ops. Before asking blkid it reads the start of the
// device: a device that cannot be read must not look blank, because blank
// means "format it" to the caller.
func (h *Host) DiskFormat(device string) (string, error) {
	if err := h.probeReadable(device); err != nil {
		return "", err
	}
	fs, err := h.mounter.GetDiskFormat(device)
	if err != nil {
		return "", fmt.Errorf("detect filesystem on %s: %w", device, err)
	}
	return fs, nil
}

func (h *Host) probeReadable(device string) error {
	fi, err := os.Stat(device)
	if err != nil {
		return fmt.Errorf("device %s: %w", device, err)
	}
	if !isBlock(fi) && !(h.cfg.AllowRegularFiles && fi.Mode().IsRegular()) {
		return fmt.Errorf("%s is not a block device", device)
	}
	size, err := h.DeviceSize(device)
	if err != nil {
		return err
	}
	if size == 0 {
		return fmt.Errorf("device %s has size 0 (not ready?)", device)
	}
	f, err := os.Open(device)
	if err != nil {
		return fmt.Errorf("open %s: %w", device, err)
	}
	defer f.Close()
	buf := make([]byte, min(size, probeBytes))
	if _, err := io.ReadFull(f, buf); err != nil {
		return fmt.Errorf("read %s: %w", device, err)
	}
	return nil
}

// IsBlockDevice implements Ops. stat follows the path, so a bind mount of
// a device node (a raw block volume's target) counts.
func (h *Host) IsBlockDevice(path string) (bool, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return false, err
	}
	return isBlock(fi), nil
}

// PathExists implements Ops. A corrupted mount point (ENOTCONN, ESTALE...)
// exists: the caller should unmount it, which Unmount can.
func (h *Host) PathExists(path string) (bool, error) {
	ok, err := mount.PathExists(path)
	if err != nil && mount.IsCorruptedMnt(err) {
		return true, nil
	}
	if err != nil && errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return ok, err
}

// SetDeviceReadOnly implements Ops with BLKROSET; was is the flag before.
// A regular file (tests without root) has no such flag and is left as it
// is.
func (h *Host) SetDeviceReadOnly(device string, ro bool) (bool, error) {
	f, block, err := openDevice(device)
	if err != nil {
		return false, err
	}
	if !block {
		if h.cfg.AllowRegularFiles {
			return false, nil
		}
		return false, fmt.Errorf("%s is not a block device", device)
	}
	defer f.Close()
	was, err := unix.IoctlGetInt(int(f.Fd()), unix.BLKROGET)
	if err != nil {
		return false, fmt.Errorf("BLKROGET on %s: %w", device, err)
	}
	v := 0
	if ro {
		v = 1
	}
	if err := unix.IoctlSetPointerInt(int(f.Fd()), unix.BLKROSET, v); err != nil {
		return was != 0, fmt.Errorf("BLKROSET %d on %s: %w", v, device, err)
	}
	return was != 0, nil
}

// deviceReadOnly reports the block device's read-only flag; a regular
// file (tests without root) is not read-only.
func deviceReadOnly(device string) (bool, error) {
	f, block, err := openDevice(device)
	if err != nil || !block {
		return false, err
	}
	defer f.Close()
	ro, err := unix.IoctlGetInt(int(f.Fd()), unix.BLKROGET)
	if err != nil {
		return false, fmt.Errorf("BLKROGET on %s: %w", device, err)
	}
	return ro != 0, nil
}

// openDevice opens device for ioctls and says whether it is a block
// device; a regular file (tests without root) is closed and reported as
// not one.
func openDevice(device string) (*os.File, bool, error) {
	f, err := os.Open(device)
	if err != nil {
		return nil, false, fmt.Errorf("open %s: %w", device, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, false, err
	}
	if !isBlock(fi) {
		f.Close()
		return nil, false, nil
	}
	return f, true, nil
}
