package lunanode

import (
	"slices"
	"strconv"

	"github.com/google/uuid"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/disk"
)

func (h *Handler) snapshotCreate(p params) (map[string]any, error) {
	v, err := h.volumeIn(p)
	if err != nil {
		return nil, err
	}
	switch v.Status {
	case stAvailable, stInUse:
	default:
		return nil, notAvailable(v.Status)
	}
	s := Snapshot{
		ID:       uuid.NewString(),
		Name:     p["label"],
		Region:   v.Region,
		VolumeID: v.ID,
		SizeGiB:  v.SizeGiB,
		Created:  h.cfg.Now().UTC(),
	}
	if st := h.cfg.Store; st != nil {
		// The copy is taken now: a snapshot is the data at the time of the call.
		if err := st.Copy(disk.KindVolumes, volumeDisk(v.ID), disk.KindSnapshots, snapshotDisk(s.ID), int64(v.SizeGiB)*gib); err != nil {
			return nil, err
		}
	}
	s.Status, s.Next, s.ReadyAt = h.transition(stCreating, stAvailable, h.cfg.Durations.Snapshot)
	h.st.Snapshots = append(h.st.Snapshots, s)
	h.dirty = true
	return map[string]any{"snapshot_id": s.ID}, nil
}

func (h *Handler) snapshotList(p params) (map[string]any, error) {
	region := p["region"]
	if !validRegion(region) {
		return nil, errorf("invalid region %q", region)
	}
	out := []map[string]any{}
	for _, s := range h.st.Snapshots {
		if s.Region != region {
			continue
		}
		e := map[string]any{
			"id":      s.ID,
			"name":    s.Name,
			"region":  s.Region,
			"size":    strconv.Itoa(s.SizeGiB),
			"status":  s.Status,
			"user_id": h.cfg.UserID,
		}
		if i := slices.IndexFunc(h.st.Volumes, func(v Volume) bool { return v.ID == s.VolumeID }); i >= 0 {
			e["volume"] = h.listEntry(&h.st.Volumes[i])
		}
		out = append(out, e)
	}
	return map[string]any{"snapshots": out}, nil
}

func (h *Handler) snapshotReplicate(p params) (map[string]any, error) {
	if !validRegion(p["region"]) || !validRegion(p["dst_region"]) {
		return nil, apiError("invalid region")
	}
	if h.snapshot(p["region"], p["snapshot_id"]) == nil {
		return nil, apiError("snapshot not found")
	}
	return nil, apiError("snapshot-replicate creates images, which this simulator does not keep")
}

func (h *Handler) snapshotDelete(p params) (map[string]any, error) {
	region := p["region"]
	if !validRegion(region) {
		return nil, errorf("invalid region %q", region)
	}
	s := h.snapshot(region, p["snapshot_id"])
	if s == nil {
		return nil, apiError("snapshot not found")
	}
	switch s.Status {
	case stDeleting:
		return nil, nil
	case stAvailable, stError:
	default:
		return nil, errorf("snapshot is not available (status %s)", s.Status)
	}
	if st := h.cfg.Store; st != nil {
		if err := st.Delete(disk.KindSnapshots, snapshotDisk(s.ID)); err != nil {
			return nil, err
		}
	}
	h.dirty = true
	status, next, at := h.transition(stDeleting, stGone, h.cfg.Durations.Delete)
	if status == stGone {
		id := s.ID
		h.st.Snapshots = slices.DeleteFunc(h.st.Snapshots, func(o Snapshot) bool { return o.ID == id })
		return nil, nil
	}
	s.Status, s.Next, s.ReadyAt = status, next, at
	return nil, nil
}
