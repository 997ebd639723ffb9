package node

import "errors"

var (
	// ErrDeviceNotFound: no disk with the serial appeared in time.
	ErrDeviceNotFound = errors.New("device not found")
	// ErrUnsupportedFS: the filesystem type is not one the node formats.
	ErrUnsupportedFS = errors.New("unsupported filesystem type")
	// ErrFilesystemMismatch: the device already holds a filesystem (or a
	// partition table) other than the one asked for. It is neither
	// reformatted nor mounted.
	ErrFilesystemMismatch = errors.New("device holds a different filesystem")
	// ErrBlankReadOnly: a read-only mount of a device with no filesystem;
	// making one would write to it.
	ErrBlankReadOnly = errors.New("device has no filesystem and is to be mounted read-only")
	// ErrMountedElsewhere: the target is already a mount point of another
	// device or mode.
	ErrMountedElsewhere = errors.New("target already mounted differently")
)
