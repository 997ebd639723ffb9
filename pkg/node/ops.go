// Package node does the node plugin's work on the host: find an attached
// disk by its serial, verify it, format it only when it is blank, mount,
// bind, resize, unmount and report usage. It knows nothing of CSI or of any
// cloud.
package node

import "context"

// FSStats is a mounted filesystem's usage.
type FSStats struct {
	TotalBytes, AvailableBytes, UsedBytes int64
	TotalInodes, FreeInodes, UsedInodes   int64
}

// MountState describes what is mounted at a path.
type MountState struct {
	Mounted  bool
	Device   string
	ReadOnly bool
	// Corrupted: the path exists in the mount table but stat fails
	// (ENOTCONN, EIO, ESTALE...).
	Corrupted bool
	// DeviceGone: the mount is of a block device the kernel no longer
	// has (the disk was unplugged under it). The filesystem often still
	// answers stat from its caches, so only this says so.
	DeviceGone bool
}

// Ops is what the CSI node service needs from the host. *Host implements it;
// unit tests of the driver may use a fake.
type Ops interface {
	// FindDevice waits (bounded by ctx and the finder's timeout) for the
	// disk whose serial matches serial (virtio truncation to serialLen
	// characters, 0 = 20) to appear, and returns its path (e.g. /dev/loop3
	// or /dev/vdb, resolved from the by-id symlink). It never guesses from
	// advisory device names. Not found within the bound is an error that
	// wraps ErrDeviceNotFound.
	FindDevice(ctx context.Context, serial string, serialLen int) (string, error)
	// DeviceSize returns the block device's size in bytes.
	DeviceSize(device string) (int64, error)
	// FormatAndMount mounts device at target with fsType, formatting it
	// first only if it holds no filesystem (blkid finds nothing). A
	// detection failure is an error, never a reason to format. formatted
	// says whether it ran mkfs (a fresh filesystem already fills the
	// device, so the caller can skip NeedResize).
	FormatAndMount(ctx context.Context, device, target, fsType string, mkfsOptions, mountOptions []string) (formatted bool, err error)
	// DiskFormat returns the filesystem type on device ("" when blank).
	DiskFormat(device string) (string, error)
	// BindMount bind-mounts source (a directory or a device file) onto
	// target, creating target (dir or file) as needed. A target that is
	// already a mount of the same device is left as it is; one of another
	// device is ErrMountedElsewhere.
	BindMount(source, target string, readOnly bool, options []string) error
	// SetDeviceReadOnly sets or clears the block device's read-only flag
	// (what `blockdev --setro` sets), which stops writes through every
	// opener of the device on this node; was is the flag before.
	SetDeviceReadOnly(device string, ro bool) (was bool, err error)
	// UnmountTop unmounts the topmost mount at target (also a corrupted
	// one) and removes nothing.
	UnmountTop(target string) error
	// RemoveIfEmpty removes path if it is an empty directory or an empty
	// regular file and not a mount point; anything else is left, and
	// removed says which happened.
	RemoveIfEmpty(path string) (removed bool, err error)
	// MountState inspects target.
	MountState(target string) (MountState, error)
	// DeviceForMount returns the device mounted at target.
	DeviceForMount(target string) (string, error)
	// NeedResize reports whether the filesystem on device (mounted at
	// mountPath) is smaller than the device.
	NeedResize(device, mountPath string) (bool, error)
	// Resize grows the filesystem on device mounted at mountPath to fill
	// the device.
	Resize(device, mountPath string) error
	// FSStats returns usage of the filesystem mounted at path.
	FSStats(path string) (FSStats, error)
	// PathExists reports whether path exists.
	PathExists(path string) (bool, error)
	// IsBlockDevice reports whether path is a block device (or a bind
	// mount of one).
	IsBlockDevice(path string) (bool, error)
}
