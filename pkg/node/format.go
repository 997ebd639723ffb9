package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// DefaultFSType is used when FormatAndMount gets no fsType.
const DefaultFSType = "ext4"

// SupportedFSTypes are the filesystems FormatAndMount creates and mounts.
var SupportedFSTypes = []string{"ext4", "ext3", "xfs", "btrfs"}

// NormalizeFSType maps "" to DefaultFSType and rejects types the node does
// not handle with an error wrapping ErrUnsupportedFS.
func NormalizeFSType(fsType string) (string, error) {
	fs := strings.ToLower(strings.TrimSpace(fsType))
	if fs == "" {
		return DefaultFSType, nil
	}
	if !slices.Contains(SupportedFSTypes, fs) {
		return "", fmt.Errorf("%w %q (supported: %s)", ErrUnsupportedFS, fsType, strings.Join(SupportedFSTypes, ", "))
	}
	return fs, nil
}

// FormatAndMount implements Ops.
//
// A device holding another filesystem, or a partition table, is an error
// wrapping ErrFilesystemMismatch: it is neither reformatted nor mounted as
// what it holds, because the data on it was not made for this volume's
// StorageClass and a silent mount of some other filesystem hides that.
//
// mkfs gets mkfsOptions as separate argv entries (no shell), followed by
// mount-utils' defaults: -F -m0 for ext (no root reservation: the volume
// belongs to the pod, not to a system daemon) and -f for xfs, safe because
// the device was just found blank. xfs is always mounted with nouuid so a
// clone or restore can be mounted next to its source on one node. An ext
// filesystem smaller than its device (expanded while detached) is grown
// before it is mounted.
func (h *Host) FormatAndMount(ctx context.Context, device, target, fsType string, mkfsOptions, mountOptions []string) (bool, error) {
	fs, err := NormalizeFSType(fsType)
	if err != nil {
		return false, err
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	for _, o := range mkfsOptions {
		if o == "" || strings.ContainsRune(o, 0) {
			return false, fmt.Errorf("invalid mkfs option %q", o)
		}
	}
	existing, err := h.DiskFormat(device)
	if err != nil {
		return false, fmt.Errorf("not formatting %s: %w", device, err)
	}
	if existing != "" && existing != fs {
		return false, fmt.Errorf("%w: %s holds %q, volume asks for %q; refusing to format or mount it",
			ErrFilesystemMismatch, device, existing, fs)
	}
	readOnly := slices.Contains(mountOptions, "ro")
	if existing == "" && readOnly {
		return false, fmt.Errorf("%w: %s; write data to the volume read-write first", ErrBlankReadOnly, device)
	}

	if err := os.MkdirAll(target, 0o750); err != nil {
		return false, fmt.Errorf("create mount point %s: %w", target, err)
	}
	if done, err := h.alreadyMounted(device, target); done || err != nil {
		return false, err
	}

	if (existing == "ext3" || existing == "ext4") && !readOnly {
		if err := h.growExtOffline(ctx, device); err != nil {
			return false, fmt.Errorf("grow the filesystem on %s before mounting it: %w", device, err)
		}
	}

	opts := slices.Clone(mountOptions)
	if fs == "xfs" && !slices.Contains(opts, "nouuid") {
		opts = append(opts, "nouuid")
	}
	if err := h.mounter.FormatAndMountSensitiveWithFormatOptions(device, target, fs, opts, nil, slices.Clone(mkfsOptions)); err != nil {
		return false, fmt.Errorf("format and mount %s at %s as %s: %w", device, target, fs, err)
	}
	return existing == "", nil
}

// alreadyMounted makes a repeated stage idempotent: device already mounted
// at target is done; something else mounted there is an error.
func (h *Host) alreadyMounted(device, target string) (bool, error) {
	st, err := h.MountState(target)
	if err != nil {
		return false, err
	}
	if !st.Mounted {
		return false, nil
	}
	if st.Corrupted {
		return false, fmt.Errorf("%w: %s is a corrupted mount; unmount it first", ErrMountedElsewhere, target)
	}
	if sameFile(st.Device, device) {
		return true, nil
	}
	return false, fmt.Errorf("%w: %s has %s mounted, not %s", ErrMountedElsewhere, target, st.Device, device)
}

func sameFile(a, b string) bool {
	if a == b {
		return true
	}
	ra, errA := filepath.EvalSymlinks(a)
	rb, errB := filepath.EvalSymlinks(b)
	if errA != nil || errB != nil {
		return false
	}
	if ra == rb {
		return true
	}
	fa, errA := os.Stat(ra)
	fb, errB := os.Stat(rb)
	if errA != nil || errB != nil {
		return false
	}
	if isBlock(fa) && isBlock(fb) {
		// Two device nodes for one disk (e.g. in a container's /dev).
		return rdev(fa) == rdev(fb)
	}
	return os.SameFile(fa, fb)
}

func rdev(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Rdev
	}
	return 0
}

// SameDevice reports whether a and b name one device (or file): equal
// paths, one symlink target, or two device nodes of one device number.
func SameDevice(a, b string) bool { return a != "" && b != "" && sameFile(a, b) }
