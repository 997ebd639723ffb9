package cloud

import "context"

// Cloud is one project's block storage on one cloud. Every method is a
// single API call (or the smallest fixed sequence the API needs); waiting
// for asynchronous state changes is package waiter's job, not the provider's.
// Methods return *Error values (see errors.go).
type Cloud interface {
	// Name identifies the backend in logs and metrics ("cinder-v2", "lunanode").
	Name() string
	Capabilities() Capabilities

	CreateVolume(ctx context.Context, req CreateVolumeRequest) (*Volume, error)
	GetVolume(ctx context.Context, id string) (*Volume, error)
	// ListVolumes returns one page in a stable order (detail listing: with
	// status and attachments).
	ListVolumes(ctx context.Context, opts ListOptions) (Page[Volume], error)
	DeleteVolume(ctx context.Context, id string) error
	// ExtendVolume grows the volume to newSizeGiB.
	ExtendVolume(ctx context.Context, id string, newSizeGiB int) error
	// RetypeVolume changes the volume's type (Cinder os-retype); where the
	// change needs the data moved to another backend, migration says
	// whether that is allowed. ErrUnsupported where Capabilities().Retype
	// is false.
	RetypeVolume(ctx context.Context, id, newType string, migration MigrationPolicy) error
	// SetVolumeMetadata merges md into the volume's metadata.
	SetVolumeMetadata(ctx context.Context, id string, md map[string]string) error

	// AttachVolume asks the compute service to attach volumeID to serverID.
	// An unknown server is ErrNotFound.
	AttachVolume(ctx context.Context, serverID, volumeID string) (*Attachment, error)
	// DetachVolume asks to detach; a volume not attached to serverID, or a
	// server that no longer exists, is ErrNotFound.
	DetachVolume(ctx context.Context, serverID, volumeID string) error

	CreateSnapshot(ctx context.Context, req CreateSnapshotRequest) (*Snapshot, error)
	GetSnapshot(ctx context.Context, id string) (*Snapshot, error)
	ListSnapshots(ctx context.Context, opts ListOptions) (Page[Snapshot], error)
	DeleteSnapshot(ctx context.Context, id string) error

	// Backups are ErrUnsupported where Capabilities().Backups is false.
	CreateBackup(ctx context.Context, req CreateBackupRequest) (*Backup, error)
	GetBackup(ctx context.Context, id string) (*Backup, error)
	ListBackups(ctx context.Context, opts ListOptions) (Page[Backup], error)
	DeleteBackup(ctx context.Context, id string) error
	// RestoreBackup writes the backup's data into an existing available
	// volume at least as large as the backup.
	RestoreBackup(ctx context.Context, backupID, volumeID string) error

	GetLimits(ctx context.Context) (*Limits, error)
}
