package openstack

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Volume is the simulator's record of a Cinder volume.
type Volume struct {
	ID          string            `json:"id"`
	ProjectID   string            `json:"project_id"`
	UserID      string            `json:"user_id"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Status      string            `json:"status"`
	Size        int               `json:"size"`
	Zone        string            `json:"availability_zone"`
	VolumeType  string            `json:"volume_type"`
	SnapshotID  string            `json:"snapshot_id,omitempty"`
	SourceVolID string            `json:"source_volid,omitempty"`
	BackupID    string            `json:"backup_id,omitempty"`
	ImageRef    string            `json:"image_ref,omitempty"`
	Metadata    map[string]string `json:"metadata"`
	// ImageMetadata is volume_image_metadata (os-set_image_metadata).
	ImageMetadata map[string]string `json:"image_metadata,omitempty"`
	Attachments   []*Attachment     `json:"attachments"`
	Multiattach   bool              `json:"multiattach"`
	Bootable      bool              `json:"bootable"`
	// ReadOnly is os-update_readonly_flag's admin metadata (nil: never set).
	ReadOnly  *bool     `json:"readonly,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// PrevStatus is where a temporary state (backing-up, uploading) returns to.
	PrevStatus string `json:"prev_status,omitempty"`
	// NewSize is the target of an extend in progress.
	NewSize int `json:"new_size,omitempty"`
	// RestoreFrom is the backup being restored into this volume.
	RestoreFrom string `json:"restore_from,omitempty"`
}

// Attachment of a volume to a server.
type Attachment struct {
	ID         string    `json:"attachment_id"`
	ServerID   string    `json:"server_id"`
	Device     string    `json:"device"`
	HostName   string    `json:"host_name"`
	AttachedAt time.Time `json:"attached_at"`
	// Status: attaching, attached, detaching.
	Status string `json:"status"`
	// Tag and DeleteOnTermination are what Nova's attach was given
	// (microversions 2.49 and 2.79); Nova shows them back.
	Tag                 string `json:"tag,omitempty"`
	DeleteOnTermination bool   `json:"delete_on_termination,omitempty"`
}

// Snapshot is a point-in-time copy of a volume.
type Snapshot struct {
	ID          string            `json:"id"`
	ProjectID   string            `json:"project_id"`
	VolumeID    string            `json:"volume_id"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Status      string            `json:"status"`
	Size        int               `json:"size"`
	Metadata    map[string]string `json:"metadata"`
	// Progress is what os-update_snapshot_status last set ("" : by status).
	Progress  string    `json:"progress,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Backup is a full copy of a volume, independent of it once created.
type Backup struct {
	ID          string `json:"id"`
	ProjectID   string `json:"project_id"`
	VolumeID    string `json:"volume_id"`
	SnapshotID  string `json:"snapshot_id,omitempty"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Status      string `json:"status"`
	Size        int    `json:"size"`
	Zone        string `json:"availability_zone"`
	Container   string `json:"container"`
	FailReason  string `json:"fail_reason,omitempty"`
	// Metadata is the backup's own (3.43).
	Metadata map[string]string `json:"metadata,omitempty"`
	// ParentID is the backup an incremental one builds on.
	ParentID    string `json:"parent_id,omitempty"`
	Incremental bool   `json:"incremental,omitempty"`
	// VolumeMetadata is the source volume's metadata, which a restore
	// puts back (Cinder's backup drivers keep it with the data).
	VolumeMetadata map[string]string `json:"volume_metadata,omitempty"`
	CreatedAt      time.Time         `json:"created_at"`
	UpdatedAt      time.Time         `json:"updated_at"`
	// RestoreTo is the volume a restore in progress writes to.
	RestoreTo string `json:"restore_to,omitempty"`
}

// Image is what os-volume_upload_image leaves behind.
type Image struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	ProjectID string    `json:"project_id"`
	VolumeID  string    `json:"volume_id"`
	Size      int       `json:"size"`
	CreatedAt time.Time `json:"created_at"`
}

// Message is a user message: why an asynchronous operation failed.
type Message struct {
	ID           string    `json:"id"`
	ProjectID    string    `json:"project_id"`
	ResourceType string    `json:"resource_type"`
	ResourceUUID string    `json:"resource_uuid"`
	EventID      string    `json:"event_id"`
	UserMessage  string    `json:"user_message"`
	RequestID    string    `json:"request_id"`
	CreatedAt    time.Time `json:"created_at"`
}

// state is everything the simulator persists.
type state struct {
	// Volumes gains and loses volumes through putVolume and dropVolume
	// only: the state file's encoder relies on volumesGen.
	Volumes   map[string]*Volume   `json:"volumes"`
	Snapshots map[string]*Snapshot `json:"snapshots"`
	Backups   map[string]*Backup   `json:"backups"`
	Images    map[string]*Image    `json:"images"`
	// Types are the volume types made or changed through the API; they
	// shadow the profile's of the same id.
	Types map[string]*VolumeType `json:"types,omitempty"`
	// Messages are Cinder's user messages (3.3), by id.
	Messages map[string]*Message `json:"messages,omitempty"`
	// Quotas are projects' own limits; QuotaClass changes the defaults.
	Quotas     map[string]map[string]int `json:"quotas,omitempty"`
	QuotaClass map[string]int            `json:"quota_class,omitempty"`
	// DeletedTypes are profile types deleted through the API.
	DeletedTypes map[string]bool `json:"deleted_types,omitempty"`
	// TokenKey signs tokens so they stay valid across restarts.
	TokenKey []byte `json:"token_key"`

	// volumesGen counts changes of which records Volumes holds, and
	// volumeLog holds the latest of them (up to maxVolumeLog): an index
	// of Volumes a few changes behind (the state file's order, the list
	// order) applies them instead of sorting 11,000 volumes again.
	volumesGen uint64
	volumeLog  []volumeChange
}

// volumeChange is one putVolume or dropVolume.
type volumeChange struct {
	id  string
	v   *Volume // the record put; nil when dropped
	old *Volume // the record replaced or dropped; nil when the id was new
}

// maxVolumeLog bounds volumeLog; an index further behind rebuilds.
const maxVolumeLog = 4096

// putVolume adds v to Volumes, or replaces the record of its id.
func (st *state) putVolume(v *Volume) {
	st.logVolume(volumeChange{id: v.ID, v: v, old: st.Volumes[v.ID]})
	st.Volumes[v.ID] = v
}

// dropVolume removes a volume from Volumes.
func (st *state) dropVolume(id string) {
	old, ok := st.Volumes[id]
	if !ok {
		return
	}
	st.logVolume(volumeChange{id: id, old: old})
	delete(st.Volumes, id)
}

func (st *state) logVolume(c volumeChange) {
	if len(st.volumeLog) >= maxVolumeLog {
		st.volumeLog = slices.Delete(st.volumeLog, 0, maxVolumeLog/2)
	}
	st.volumeLog = append(st.volumeLog, c)
	st.volumesGen++
}

// volumeChangesSince returns the changes made after generation gen, and
// false when the log no longer reaches back that far.
func (st *state) volumeChangesSince(gen uint64) ([]volumeChange, bool) {
	if gen > st.volumesGen {
		return nil, false
	}
	n := st.volumesGen - gen
	if n > uint64(len(st.volumeLog)) {
		return nil, false
	}
	return st.volumeLog[len(st.volumeLog)-int(n):], true
}

func newState() *state {
	return &state{
		Volumes:   map[string]*Volume{},
		Snapshots: map[string]*Snapshot{},
		Backups:   map[string]*Backup{},
		Images:    map[string]*Image{},
	}
}

const stateFile = "state.json"

func loadState(dir string) (*state, error) {
	st := newState()
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if os.IsNotExist(err) {
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("cloudsim: corrupt %s: %w", stateFile, err)
	}
	if st.Volumes == nil {
		st.Volumes = map[string]*Volume{}
	}
	if st.Snapshots == nil {
		st.Snapshots = map[string]*Snapshot{}
	}
	if st.Backups == nil {
		st.Backups = map[string]*Backup{}
	}
	if st.Images == nil {
		st.Images = map[string]*Image{}
	}
	return st, nil
}

// AttachmentDump is one attachment with its volume.
type AttachmentDump struct {
	VolumeID  string `json:"volume_id"`
	ProjectID string `json:"project_id"`
	Attachment
}

func copyMeta(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (v *Volume) clone() Volume {
	c := *v
	c.Metadata = copyMeta(v.Metadata)
	if v.ImageMetadata != nil {
		c.ImageMetadata = copyMeta(v.ImageMetadata)
	}
	c.Attachments = nil
	for _, a := range v.Attachments {
		ac := *a
		c.Attachments = append(c.Attachments, &ac)
	}
	return c
}
