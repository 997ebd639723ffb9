package lunanode

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// flexString takes a JSON string or number: the API sends ids and sizes as
// strings ("size": "100"), but nothing is lost by accepting numbers too.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*f = ""
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*f = flexString(n.String())
	return nil
}

// gib parses a size in GB ("100", "100.0"); 0 when unreadable.
func (f flexString) gib() int {
	s := strings.TrimSpace(string(f))
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	if x, err := strconv.ParseFloat(s, 64); err == nil && x >= 0 && x < math.MaxInt32 {
		return int(math.Ceil(x))
	}
	return 0
}

// wireVolume covers both shapes: volume/list items (with region and
// time_created) and volume/info (with attached and created, no region).
type wireVolume struct {
	ID             flexString `json:"id"`
	Identification string     `json:"identification"`
	Name           string     `json:"name"`
	Region         string     `json:"region"`
	Size           flexString `json:"size"`
	Status         string     `json:"status"`
	Attached       string     `json:"attached"`
	Created        string     `json:"created"`
	TimeCreated    string     `json:"time_created"`
}

type wireSnapshot struct {
	ID     string      `json:"id"`
	Name   string      `json:"name"`
	Region string      `json:"region"`
	Size   flexString  `json:"size"`
	Status string      `json:"status"`
	Volume *wireVolume `json:"volume"`
}

type createVolumeResponse struct {
	VolumeID flexString `json:"volume_id"`
}

type listVolumesResponse struct {
	Volumes []wireVolume `json:"volumes"`
}

type volumeInfoResponse struct {
	Volume *wireVolume `json:"volume"`
}

type createSnapshotResponse struct {
	SnapshotID flexString `json:"snapshot_id"`
}

type listSnapshotsResponse struct {
	Snapshots []wireSnapshot `json:"snapshots"`
}

// volumeStatus maps LunaNode's status words. volume/info speaks Cinder
// (available, in-use, creating, ...); volume/list says "active" for a volume
// that exists and is usable.
func volumeStatus(raw string) cloud.Status {
	s := strings.ToLower(strings.TrimSpace(raw))
	switch {
	case s == "available" || s == "active":
		return cloud.StatusAvailable
	case s == "in-use" || s == "in use" || s == "attached":
		return cloud.StatusInUse
	case s == "creating" || s == "building" || s == "build" || s == "downloading" || s == "pending" || s == "queued":
		return cloud.StatusCreating
	case s == "attaching" || s == "reserved":
		return cloud.StatusAttaching
	case s == "detaching":
		return cloud.StatusDetaching
	case s == "deleting":
		return cloud.StatusDeleting
	case s == "extending" || s == "resizing":
		return cloud.StatusExtending
	case strings.HasPrefix(s, "error") || s == "failed":
		return cloud.StatusError
	}
	return cloud.StatusBusy
}

// snapshotStatus maps snapshot status words (Cinder's, as for volumes).
func snapshotStatus(raw string) cloud.Status {
	s := strings.ToLower(strings.TrimSpace(raw))
	switch {
	case s == "available" || s == "active":
		return cloud.StatusAvailable
	case s == "creating" || s == "pending" || s == "queued":
		return cloud.StatusCreating
	case s == "deleting":
		return cloud.StatusDeleting
	case strings.HasPrefix(s, "error") || s == "failed":
		return cloud.StatusError
	}
	return cloud.StatusBusy
}

func parseTime(s string) time.Time {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}

// toVolume converts a wire volume; region comes from the id because
// volume/info does not report it.
func toVolume(ref volumeRef, w *wireVolume) cloud.Volume {
	v := cloud.Volume{
		ID:        ref.String(),
		Name:      w.Name,
		SizeGiB:   w.Size.gib(),
		Status:    volumeStatus(w.Status),
		RawStatus: w.Status,
		Zone:      ref.region,
		Serial:    w.Identification,
		CreatedAt: parseTime(w.Created),
	}
	if v.CreatedAt.IsZero() {
		v.CreatedAt = parseTime(w.TimeCreated)
	}
	if w.Attached != "" {
		v.Attachments = []cloud.Attachment{{ID: w.Attached + "/" + v.ID, ServerID: w.Attached, VolumeID: v.ID}}
	}
	return v
}
