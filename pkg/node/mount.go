package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"
	mount "k8s.io/mount-utils"

	"github.com/openblock-csi/openblock-csi/pkg/node/mountpath"
)

// unmountAttempts bounds how many layers Unmount peels off one path.
const unmountAttempts = 3

// BindMount implements Ops. A directory source gets a directory target, a
// device (or file) source a file target created with mode 0660. readOnly is
// applied by mount-utils with a remount, since a bind ignores "ro" on the
// first mount.
func (h *Host) BindMount(source, target string, readOnly bool, options []string) error {
	fi, err := os.Stat(source)
	if err != nil {
		return fmt.Errorf("bind source %s: %w", source, err)
	}
	created, err := makeTarget(target, fi.IsDir())
	if err != nil {
		return err
	}

	st, err := h.MountState(target)
	if err != nil {
		return err
	}
	if st.Mounted {
		if st.Corrupted {
			return fmt.Errorf("%w: %s is a corrupted mount; unmount it first", ErrMountedElsewhere, target)
		}
		want := source
		if !isBlock(fi) {
			src, err := h.MountState(source)
			if err != nil {
				return err
			}
			want = src.Device
		}
		if want == "" || !sameFile(st.Device, want) {
			return fmt.Errorf("%w: %s has %s mounted, not %s", ErrMountedElsewhere, target, st.Device, source)
		}
		if readOnly && !st.ReadOnly {
			return fmt.Errorf("%w: %s is mounted read-write, read-only requested", ErrMountedElsewhere, target)
		}
		return nil
	}

	opts := append([]string{"bind"}, options...)
	if readOnly && !slices.Contains(opts, "ro") {
		opts = append(opts, "ro")
	}
	if err := h.mounter.Mount(source, target, "", opts); err != nil {
		if created {
			_ = os.Remove(target)
		}
		return fmt.Errorf("bind mount %s at %s: %w", source, target, err)
	}
	return nil
}

// makeTarget creates a directory or an empty file at target; created says
// whether it did.
func makeTarget(target string, dir bool) (bool, error) {
	if _, err := os.Lstat(target); err == nil {
		return false, nil
	}
	if dir {
		if err := os.MkdirAll(target, 0o750); err != nil {
			return false, fmt.Errorf("create target dir %s: %w", target, err)
		}
		return true, nil
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
		return false, fmt.Errorf("create parent of %s: %w", target, err)
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_RDONLY, 0o660)
	if err != nil {
		return false, fmt.Errorf("create target file %s: %w", target, err)
	}
	return true, f.Close()
}

// UnmountTop implements Ops: one umount of target, also of a corrupted
// mount, which is never stat'ed first. Nothing is removed.
func (h *Host) UnmountTop(target string) error {
	if err := h.mounter.Unmount(target); err != nil {
		return fmt.Errorf("unmount %s: %w", target, err)
	}
	return nil
}

// RemoveIfEmpty implements Ops. Only an empty directory or an empty
// regular file that is not a mount point goes; anything else stays.
func (h *Host) RemoveIfEmpty(path string) (bool, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	switch {
	case fi.IsDir():
	case fi.Mode().IsRegular() && fi.Size() == 0:
	default:
		return false, nil
	}
	st, err := h.MountState(path)
	if err != nil {
		return false, err
	}
	if st.Mounted {
		return false, nil
	}
	if err := os.Remove(path); err != nil {
		if errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// Unmount peels every mount off target and then removes it if it is
// empty; a missing target is success, one that keeps content is an error.
// The CSI service does not use it: it unmounts only what its records
// say is its own (UnmountTop, RemoveIfEmpty).
func (h *Host) Unmount(target string) error {
	for range unmountAttempts {
		st, err := h.MountState(target)
		if err != nil {
			return err
		}
		if !st.Mounted {
			break
		}
		if err := h.UnmountTop(target); err != nil {
			klog.V(4).InfoS("Unmount attempt failed", "target", target, "err", err)
		}
	}
	if st, err := h.MountState(target); err != nil || st.Mounted {
		return fmt.Errorf("unmount %s: still mounted (%v)", target, err)
	}
	removed, err := h.RemoveIfEmpty(target)
	if err != nil {
		return err
	}
	if !removed {
		if _, err := os.Lstat(target); err == nil {
			return fmt.Errorf("%s is not empty; left in place", target)
		}
	}
	return nil
}

// MountState implements Ops, from the mount table (MountInfoPath).
func (h *Host) MountState(target string) (MountState, error) {
	path := filepath.Clean(target)
	_, statErr := os.Stat(path)
	corrupted := mount.IsCorruptedMnt(statErr)
	switch {
	case statErr == nil:
		if resolved, err := filepath.EvalSymlinks(path); err == nil {
			path = resolved
		}
	case corrupted:
	case errors.Is(statErr, os.ErrNotExist):
		return MountState{}, nil
	default:
		return MountState{}, fmt.Errorf("stat %s: %w", target, statErr)
	}

	mi, ok, err := h.mountInfo(path)
	if err != nil {
		return MountState{}, err
	}
	if !ok {
		return MountState{}, nil
	}
	return MountState{
		Mounted:    true,
		Device:     h.mountDevice(path, mi, corrupted),
		ReadOnly:   slices.Contains(mi.MountOptions, "ro"),
		Corrupted:  corrupted,
		DeviceGone: h.mountDeviceGone(path, mi, corrupted),
	}, nil
}

// DeviceForMount implements Ops.
func (h *Host) DeviceForMount(target string) (string, error) {
	st, err := h.MountState(target)
	if err != nil {
		return "", err
	}
	if !st.Mounted {
		return "", fmt.Errorf("%s is not a mount point", target)
	}
	return st.Device, nil
}

// mountInfo returns the topmost mount at path.
func (h *Host) mountInfo(path string) (mount.MountInfo, bool, error) {
	infos, err := mount.ParseMountInfo(h.cfg.MountInfoPath)
	if err != nil {
		return mount.MountInfo{}, false, fmt.Errorf("read %s: %w", h.cfg.MountInfoPath, err)
	}
	for i := len(infos) - 1; i >= 0; i-- {
		if mountpath.Unescape(infos[i].MountPoint) == path {
			return infos[i], true, nil
		}
	}
	return mount.MountInfo{}, false, nil
}

// mountDevice names the device behind a mount. A raw block bind mount's
// source is the filesystem holding the device node (devtmpfs), so for a
// device-node target the device is found by its number instead.
func (h *Host) mountDevice(path string, mi mount.MountInfo, corrupted bool) string {
	if !corrupted {
		if fi, err := os.Stat(path); err == nil && isBlock(fi) {
			if dev, ok := h.deviceByNumber(rdev(fi)); ok {
				return dev
			}
		}
	}
	if mi.FsType == "devtmpfs" && mi.Root != "/" {
		return filepath.Join("/dev", mi.Root)
	}
	return mi.Source
}

// mountDeviceGone reports whether the block device behind a mount has
// left the kernel. A filesystem on a disk has the disk's number in the
// mount table, which /sys/dev/block lists while the disk exists; btrfs
// reports an anonymous number (major 0), so there the source's device
// node is what is looked at, as it is for a raw block bind mount (the
// node's own number). Mounts of no block device (tmpfs, proc) are never
// gone.
func (h *Host) mountDeviceGone(path string, mi mount.MountInfo, corrupted bool) bool {
	if !corrupted && mi.FsType == "devtmpfs" {
		if fi, err := os.Stat(path); err == nil && isBlock(fi) {
			return !h.blockNumberExists(rdev(fi))
		}
	}
	if mi.Major != 0 {
		return !h.blockNumberExists(unix.Mkdev(uint32(mi.Major), uint32(mi.Minor)))
	}
	if !filepath.IsAbs(mi.Source) || !strings.HasPrefix(mi.Source, h.cfg.DevDir+"/") {
		return false
	}
	fi, err := os.Stat(mi.Source)
	return err != nil || !isBlock(fi)
}

// blockNumberExists: /sys/dev/block/MAJ:MIN (a sibling of SysBlockDir).
func (h *Host) blockNumberExists(dev uint64) bool {
	_, err := os.Lstat(filepath.Join(filepath.Dir(h.cfg.SysBlockDir), "dev", "block",
		fmt.Sprintf("%d:%d", unix.Major(dev), unix.Minor(dev))))
	return err == nil
}

// deviceByNumber maps a device number to <DevDir>/<name> via
// /sys/dev/block/MAJ:MIN (a sibling of SysBlockDir).
func (h *Host) deviceByNumber(dev uint64) (string, bool) {
	sysDev := filepath.Join(filepath.Dir(h.cfg.SysBlockDir), "dev", "block",
		fmt.Sprintf("%d:%d", unix.Major(dev), unix.Minor(dev)))
	link, err := os.Readlink(sysDev)
	if err != nil {
		return "", false
	}
	name := filepath.Base(link)
	p := filepath.Join(h.cfg.DevDir, name)
	if fi, err := os.Stat(p); err == nil && isBlock(fi) && rdev(fi) == dev {
		return p, true
	}
	return "", false
}
