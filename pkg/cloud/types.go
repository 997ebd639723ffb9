package cloud

import "time"

// Status is a provider-neutral lifecycle state. Providers map their own
// strings onto these and keep the original in RawStatus for messages.
type Status string

const (
	StatusCreating  Status = "creating"
	StatusAvailable Status = "available"
	StatusAttaching Status = "attaching"
	StatusInUse     Status = "in-use"
	StatusDetaching Status = "detaching"
	StatusDeleting  Status = "deleting"
	StatusExtending Status = "extending"
	StatusBackingUp Status = "backing-up"
	StatusRestoring Status = "restoring-backup"
	// StatusBusy covers transitional states that block most operations but
	// have no dedicated meaning to the driver (maintenance, uploading,
	// downloading, retyping, awaiting-transfer).
	StatusBusy Status = "busy"
	// StatusError covers every error* state (error, error_deleting,
	// error_extending, error_restoring, error_backing-up, ...).
	StatusError Status = "error"
	// StatusDeleted is never reported by a provider; the waiter uses it to
	// express "wait until the resource is gone".
	StatusDeleted Status = "deleted"
)

// IsError reports whether s is a terminal failure state.
func (s Status) IsError() bool { return s == StatusError }

// Volume is a block storage volume as the driver sees it.
type Volume struct {
	// ID is the identifier the driver hands to Kubernetes. It carries
	// whatever later calls need (for example a region prefix).
	ID          string
	Name        string
	Description string
	SizeGiB     int
	Status      Status
	RawStatus   string
	Zone        string
	VolumeType  string
	// SourceSnapshotID / SourceVolumeID / SourceBackupID record what the
	// volume was created from, when the cloud reports it.
	SourceSnapshotID string
	SourceVolumeID   string
	SourceBackupID   string
	Metadata         map[string]string
	Attachments      []Attachment
	// Serial is what the guest sees as the disk serial (the basis of
	// /dev/disk/by-id/virtio-<serial>). For OpenStack it is the volume UUID;
	// the node truncates as the hypervisor does.
	Serial      string
	Bootable    bool
	Multiattach bool
	// Encrypted: the cloud encrypts the volume (its type has an encryption
	// spec). Clouds that cannot say report false.
	Encrypted bool
	CreatedAt time.Time
	// CreateFailed: the volume is in the error state a failed creation
	// leaves (Cinder's plain "error"), as opposed to an error state an
	// operation on a volume in use can leave (error_extending, ...). Such
	// a volume never held data.
	CreateFailed bool
}

// AttachedTo reports whether the volume has an attachment to serverID.
func (v *Volume) AttachedTo(serverID string) bool {
	for _, a := range v.Attachments {
		if a.ServerID == serverID {
			return true
		}
	}
	return false
}

// Attachment is a volume's connection to a server.
type Attachment struct {
	ID       string
	ServerID string
	VolumeID string
	// Device is the hypervisor's advisory device name (e.g. /dev/vdb). The
	// node never trusts it; it is informational only.
	Device string
}

// Snapshot is a point-in-time copy of a volume kept on the block storage
// backend.
type Snapshot struct {
	ID          string
	Name        string
	Description string
	VolumeID    string
	SizeGiB     int
	Status      Status
	RawStatus   string
	Metadata    map[string]string
	CreatedAt   time.Time
}

// Backup is a copy of a volume kept off the block storage backend (Cinder
// backups, usually in object storage). The driver can expose backups as CSI
// snapshots.
type Backup struct {
	ID          string
	Name        string
	Description string
	VolumeID    string
	SnapshotID  string
	SizeGiB     int
	Zone        string
	Status      Status
	RawStatus   string
	Metadata    map[string]string
	CreatedAt   time.Time
}

// Limits is the project's quota and usage, as far as the cloud reports them.
// A negative Max means unlimited.
type Limits struct {
	MaxTotalGiB   int
	UsedGiB       int
	MaxVolumes    int
	UsedVolumes   int
	MaxSnapshots  int
	UsedSnapshots int
	MaxBackups    int
	UsedBackups   int
	MaxBackupGiB  int
	UsedBackupGiB int
}

// ExpansionMode says how a cloud can grow a volume.
type ExpansionMode int

const (
	// ExpansionNone: the size is fixed at creation.
	ExpansionNone ExpansionMode = iota
	// ExpansionOffline: only while the volume is detached.
	ExpansionOffline
	// ExpansionOnline: also while attached.
	ExpansionOnline
)

func (m ExpansionMode) String() string {
	switch m {
	case ExpansionOffline:
		return "offline"
	case ExpansionOnline:
		return "online"
	}
	return "none"
}

// SnapshotAttachedPolicy says whether a cloud snapshots an attached volume.
type SnapshotAttachedPolicy int

const (
	// SnapshotAttachedAllowed: snapshots of attached volumes just work.
	SnapshotAttachedAllowed SnapshotAttachedPolicy = iota
	// SnapshotAttachedForce: allowed when the request says force (Cinder's
	// `force: true`).
	SnapshotAttachedForce
	// SnapshotAttachedForbidden: the volume must be detached first.
	SnapshotAttachedForbidden
)

// MigrationPolicy says whether a retype may move a volume's data to
// another backend (Cinder's migration_policy).
type MigrationPolicy string

const (
	MigrationNever    MigrationPolicy = "never"
	MigrationOnDemand MigrationPolicy = "on-demand"
)

// Capabilities is what a provider supports; the driver advertises exactly
// this and nothing more.
type Capabilities struct {
	Expansion        ExpansionMode
	Snapshots        bool
	SnapshotAttached SnapshotAttachedPolicy
	Backups          bool
	Clone            bool
	MultiAttach      bool
	// Retype: a volume's type can be changed after creation.
	Retype bool
	// VolumeMetadata: volumes keep key/value metadata (Cinder; not
	// Lunanode), where the driver records how each node was published.
	VolumeMetadata bool
	// Encryption: volumes report whether they are encrypted (Cinder v2/v3),
	// so an encrypted StorageClass can be checked.
	Encryption bool
	// MaxVolumesPerNode is the number of data volumes a server can take
	// (boot disk already subtracted). 0 means unknown.
	MaxVolumesPerNode int
	// MinSizeGiB and MaxSizeGiB bound a new volume's size; 0 means no bound.
	MinSizeGiB int
	MaxSizeGiB int
	// Zones the cloud offers (availability zones, Lunanode regions) and the
	// one it uses when none is asked for. Empty when unknown.
	Zones       []string
	DefaultZone string
	// SerialLength is how many characters of Volume.Serial the guest sees
	// (virtio truncates to 20). 0 means the whole serial.
	SerialLength int
	// ListVolumesPerItem: listing volumes costs a call per volume (Lunanode:
	// volume/list lacks status and attachments), so the waiter checks
	// several pending volumes with one Get each instead of a listing.
	ListVolumesPerItem bool
	// CallsPerSecond is the API rate the project is allowed (HP Helion: 1);
	// 0 when the cloud sets none the driver knows of.
	CallsPerSecond float64
}

// CreateVolumeRequest asks for a new volume. At most one of SnapshotID,
// SourceVolumeID and BackupID is set.
type CreateVolumeRequest struct {
	Name           string
	Description    string
	SizeGiB        int
	VolumeType     string
	Zone           string
	SnapshotID     string
	SourceVolumeID string
	// BackupID asks the provider to create an empty volume and restore the
	// backup into it (or use the cloud's native create-from-backup).
	BackupID string
	Metadata map[string]string
}

// CreateSnapshotRequest asks for a new snapshot of VolumeID.
type CreateSnapshotRequest struct {
	Name        string
	Description string
	VolumeID    string
	// Force snapshots an attached volume where the cloud needs to be told
	// (SnapshotAttachedForce).
	Force    bool
	Metadata map[string]string
}

// CreateBackupRequest asks for a new backup of VolumeID.
type CreateBackupRequest struct {
	Name        string
	Description string
	VolumeID    string
	Zone        string
	Incremental bool
	Force       bool
	Metadata    map[string]string
}

// ListOptions pages through a listing. Marker is the last ID of the previous
// page (opaque to callers); Limit <= 0 means the provider's default page.
// Name filters on exact name where set. VolumeID filters snapshots and
// backups by their source volume.
type ListOptions struct {
	Name     string
	VolumeID string
	Marker   string
	Limit    int
	// Keep, when set, says which items the caller wants, by id and name:
	// a provider may leave the others out of Items (a poll of a project
	// of thousands of volumes wants the few it waits for, not all of
	// them converted and in memory) or return them anyway, so callers
	// still filter. It does not change paging: NextMarker follows the
	// page as the cloud returned it, even when Items is empty.
	Keep func(id, name string) bool
}

// Page is one page of a listing; NextMarker is empty on the last page.
type Page[T any] struct {
	Items      []T
	NextMarker string
}
