package lunanode

import (
	"slices"
	"strconv"
	"time"
)

// Status words. volume/info reports these; volume/list says "active" for a
// usable volume.
const (
	stCreating  = "creating"
	stAvailable = "available"
	stAttaching = "attaching"
	stInUse     = "in-use"
	stDetaching = "detaching"
	stDeleting  = "deleting"
	stError     = "error"
	stGone      = "gone" // Next value: removed when due
)

// State is everything the simulator holds; it is also the persisted form.
type State struct {
	Volumes      []Volume   `json:"volumes"`
	Snapshots    []Snapshot `json:"snapshots"`
	NextVolumeID int        `json:"next_volume_id"`
	// Attachments is derived from Volumes (not persisted).
	Attachments []Attachment `json:"-"`
}

// Volume is a simulated LunaNode volume.
type Volume struct {
	ID             int       `json:"id"`
	Identification string    `json:"identification"`
	Name           string    `json:"name"`
	Region         string    `json:"region"`
	SizeGiB        int       `json:"size_gib"`
	Status         string    `json:"status"`
	AttachedTo     string    `json:"attached_to,omitempty"`
	Target         string    `json:"target,omitempty"`
	SnapshotID     string    `json:"snapshot_id,omitempty"`
	Created        time.Time `json:"created"`
	// Next is the status the volume takes at ReadyAt ("gone": removed).
	Next    string    `json:"next,omitempty"`
	ReadyAt time.Time `json:"ready_at,omitzero"`
}

// Snapshot is a simulated volume snapshot.
type Snapshot struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Region   string    `json:"region"`
	VolumeID int       `json:"volume_id"`
	SizeGiB  int       `json:"size_gib"`
	Status   string    `json:"status"`
	Created  time.Time `json:"created"`
	Next     string    `json:"next,omitempty"`
	ReadyAt  time.Time `json:"ready_at,omitzero"`
}

// Attachment is a volume attached (or attaching/detaching) to a VM.
type Attachment struct {
	VolumeID int
	VMID     string
	Status   string
	// Local is true for the VM that is this machine.
	Local bool
}

// State returns a copy of the current state (due changes applied).
func (h *Handler) State() State {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.settle()
	st := State{
		Volumes:      slices.Clone(h.st.Volumes),
		Snapshots:    slices.Clone(h.st.Snapshots),
		NextVolumeID: h.st.NextVolumeID,
	}
	for _, v := range st.Volumes {
		if v.AttachedTo != "" {
			st.Attachments = append(st.Attachments, Attachment{
				VolumeID: v.ID, VMID: v.AttachedTo, Status: v.Status, Local: v.AttachedTo == h.cfg.LocalVMID,
			})
		}
	}
	return st
}

// settle applies every state change that is due, and has it written
// without anyone waiting: the changes follow from the saved state and
// the clock, so a restart makes them again. Caller holds h.mu.
func (h *Handler) settle() {
	now := h.cfg.Now()
	changed := false
	defer func() {
		if changed {
			h.markDirty()
		}
	}()
	vols := h.st.Volumes[:0]
	for _, v := range h.st.Volumes {
		if v.Next != "" && !now.Before(v.ReadyAt) {
			changed = true
			if v.Next == stGone {
				continue
			}
			if v.Status == stDetaching {
				v.AttachedTo, v.Target = "", ""
			}
			v.Status, v.Next, v.ReadyAt = v.Next, "", time.Time{}
		}
		vols = append(vols, v)
	}
	h.st.Volumes = vols
	snaps := h.st.Snapshots[:0]
	for _, s := range h.st.Snapshots {
		if s.Next != "" && !now.Before(s.ReadyAt) {
			changed = true
			if s.Next == stGone {
				continue
			}
			s.Status, s.Next, s.ReadyAt = s.Next, "", time.Time{}
		}
		snaps = append(snaps, s)
	}
	h.st.Snapshots = snaps
}

// transition moves v to status now and to next after d (scaled); with no
// delay it goes to next at once.
func (h *Handler) transition(status, next string, d time.Duration) (string, string, time.Time) {
	if d <= 0 || next == "" {
		return next, "", time.Time{}
	}
	return status, next, h.after(d)
}

func (h *Handler) volume(idText string) (*Volume, error) {
	id, err := strconv.Atoi(idText)
	if err != nil || id <= 0 {
		return nil, apiError("volume not found")
	}
	for i := range h.st.Volumes {
		if h.st.Volumes[i].ID == id {
			return &h.st.Volumes[i], nil
		}
	}
	return nil, apiError("volume not found")
}

// volumeIn finds a volume; the region LunaNode's own client sends along
// with a volume_id must match when given.
func (h *Handler) volumeIn(p params) (*Volume, error) {
	if r, ok := p["region"]; ok && r != "" && !validRegion(r) {
		return nil, errorf("invalid region %q", r)
	}
	v, err := h.volume(p["volume_id"])
	if err != nil {
		return nil, err
	}
	if r := p["region"]; r != "" && r != v.Region {
		return nil, apiError("volume not found")
	}
	return v, nil
}

func (h *Handler) snapshot(region, id string) *Snapshot {
	for i := range h.st.Snapshots {
		s := &h.st.Snapshots[i]
		if s.ID == id && s.Region == region {
			return s
		}
	}
	return nil
}

// volumeDisk and snapshotDisk name the files in the disk.Store.
func volumeDisk(id int) string      { return "lunanode-" + strconv.Itoa(id) }
func snapshotDisk(id string) string { return "lunanode-" + id }

const gib = int64(1) << 30
