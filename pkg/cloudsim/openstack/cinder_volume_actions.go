package openstack

import (
	"encoding/json"
	"sort"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/disk"
)

// moreVolumeActions serves the volume actions beyond attach, extend and the
// admin ones: read-only flag, retype, revert to a snapshot (3.40) and the
// image metadata actions. ok is false for an unknown action.
func (s *Handler) moreVolumeActions(c *call, v *Volume, name string, arg json.RawMessage) (code int, resp any, e *apiError, ok bool) {
	switch name {
	case "os-update_readonly_flag":
		var a struct {
			Readonly *jsonBool `json:"readonly"`
		}
		if e := parseArg(name, arg, &a); e != nil {
			return 0, nil, e, true
		}
		if a.Readonly == nil {
			return 0, nil, errBadRequest("Invalid input received: Must specify readonly in request."), true
		}
		ro := bool(*a.Readonly)
		v.ReadOnly = &ro
		return 202, nil, nil, true

	case "os-retype":
		var a struct {
			NewType         string `json:"new_type"`
			MigrationPolicy string `json:"migration_policy"`
		}
		if e := parseArg(name, arg, &a); e != nil {
			return 0, nil, e, true
		}
		if a.NewType == "" {
			return 0, nil, errBadRequest("Invalid input received: New volume type must be specified."), true
		}
		if a.MigrationPolicy != "" && a.MigrationPolicy != "never" && a.MigrationPolicy != "on-demand" {
			return 0, nil, errBadRequest("Invalid input received: Invalid migration policy"), true
		}
		t, e := s.volumeType(a.NewType)
		if e != nil {
			return 0, nil, errNotFound("Volume type %s could not be found.", a.NewType), true
		}
		if v.Status != "available" && v.Status != "in-use" {
			return 0, nil, errBadRequest("Invalid volume: Volume %s status must be available or in-use, but current status is: %s.", v.ID, v.Status), true
		}
		if t.Name == v.VolumeType {
			return 0, nil, errBadRequest("Invalid input received: Retype cannot change to the same volume type."), true
		}
		v.VolumeType = t.Name
		return 202, nil, nil, true

	case "revert":
		if !c.microAtLeast(40) {
			return 0, nil, nil, false
		}
		var a struct {
			SnapshotID string `json:"snapshot_id"`
		}
		if e := parseArg(name, arg, &a); e != nil {
			return 0, nil, e, true
		}
		return 202, nil, s.revertVolume(c, v, a.SnapshotID), true

	case "os-set_image_metadata":
		var a struct {
			Metadata map[string]string `json:"metadata"`
		}
		if e := parseArg(name, arg, &a); e != nil {
			return 0, nil, e, true
		}
		if a.Metadata == nil {
			return 0, nil, errBadRequest("Malformed request body"), true
		}
		if v.ImageMetadata == nil {
			v.ImageMetadata = map[string]string{}
		}
		for k, val := range a.Metadata {
			v.ImageMetadata[k] = val
		}
		return 200, map[string]any{"metadata": copyMeta(v.ImageMetadata)}, nil, true

	case "os-unset_image_metadata":
		var a struct {
			Key string `json:"key"`
		}
		if e := parseArg(name, arg, &a); e != nil {
			return 0, nil, e, true
		}
		if _, has := v.ImageMetadata[a.Key]; !has {
			return 0, nil, errNotFound("Glance metadata for volume %s with key %s could not be found.", v.ID, a.Key), true
		}
		delete(v.ImageMetadata, a.Key)
		return 200, nil, nil, true

	case "os-show_image_metadata":
		return 200, map[string]any{"metadata": copyMeta(v.ImageMetadata)}, nil, true
	}
	return 0, nil, nil, false
}

// revertVolume puts a volume back to its latest snapshot, as Cinder's
// generic revert does: only the latest, only when the sizes match.
func (s *Handler) revertVolume(c *call, v *Volume, snapID string) *apiError {
	sn, e := s.snapshot(c.scope(), snapID)
	if e != nil {
		return e
	}
	if sn.VolumeID != v.ID {
		return errBadRequest("Invalid input received: Snapshot %s is not a snapshot of volume %s.", sn.ID, v.ID)
	}
	var mine []*Snapshot
	for _, x := range s.st.Snapshots {
		if x.VolumeID == v.ID {
			mine = append(mine, x)
		}
	}
	sort.Slice(mine, func(i, j int) bool { return mine[i].CreatedAt.After(mine[j].CreatedAt) })
	if mine[0].ID != sn.ID {
		return errBadRequest("Invalid snapshot: Volume %s status must be available, and the snapshot %s must be the latest one.", v.ID, sn.ID)
	}
	if v.Status != "available" || sn.Status != "available" {
		return errConflict("Invalid volume: Volume %s status must be available, and the snapshot %s status must be available, but the current statuses are %s and %s.", v.ID, sn.ID, v.Status, sn.Status)
	}
	if v.Size != sn.Size {
		return errBadRequest("Invalid volume: Volume %s size %dGB must equal the snapshot size %dGB.", v.ID, v.Size, sn.Size)
	}
	if err := s.store.Copy(disk.KindSnapshots, sn.ID, disk.KindVolumes, v.ID, int64(v.Size)*gib); err != nil {
		return errInternal(err.Error())
	}
	v.Status, sn.Status = "reverting", "restoring"
	s.later(OpRestore, s.durs.Restore, func() {
		if v := s.st.Volumes[v.ID]; v != nil && v.Status == "reverting" {
			v.Status, v.UpdatedAt = "available", now()
		}
		if sn := s.st.Snapshots[sn.ID]; sn != nil && sn.Status == "restoring" {
			sn.Status, sn.UpdatedAt = "available", now()
		}
	})
	return nil
}
