package openstack

import (
	"encoding/json"
	"sort"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/disk"
)

// The volume actions a user calls: extend, upload to an image, the
// bootable and read-only flags, retype, revert to a snapshot (3.40) and
// the image metadata actions.

func (s *Handler) actExtend(c *call, v *Volume, a action) (int, any, *apiError) {
	var arg struct {
		NewSize json.Number `json:"new_size"`
	}
	if e := a.parse(&arg); e != nil {
		return 0, nil, e
	}
	n, err := arg.NewSize.Int64()
	if err != nil {
		return 0, nil, errBadRequest("Invalid input received: New size for extend must be specified as an integer.")
	}
	return 202, nil, s.extendVolume(c, v, int(n))
}

func (s *Handler) actUploadImage(c *call, v *Volume, a action) (int, any, *apiError) {
	var arg struct {
		ImageName       string   `json:"image_name"`
		Force           jsonBool `json:"force"`
		DiskFormat      string   `json:"disk_format"`
		ContainerFormat string   `json:"container_format"`
	}
	if e := a.parse(&arg); e != nil {
		return 0, nil, e
	}
	if !(v.Status == "available" || (v.Status == "in-use" && bool(arg.Force))) {
		return 0, nil, errBadRequest("Invalid volume: Volume %s status must be available or in-use, but current status is: %s.", v.ID, v.Status)
	}
	if arg.DiskFormat == "" {
		arg.DiskFormat = "raw"
	}
	if arg.ContainerFormat == "" {
		arg.ContainerFormat = "bare"
	}
	img := &Image{ID: newID(), Name: arg.ImageName, ProjectID: c.project, VolumeID: v.ID, Size: v.Size, CreatedAt: now()}
	s.st.Images[img.ID] = img
	v.PrevStatus, v.Status = v.Status, "uploading"
	s.scheduleUpload(v.ID)
	t, _ := s.volumeType(v.VolumeType)
	var vt any
	if t != nil {
		vt = map[string]any{"id": t.ID, "name": t.Name, "is_public": true, "deleted": false, "description": nullable(t.Description)}
	}
	return 202, map[string]any{"os-volume_upload_image": map[string]any{
		"id": v.ID, "status": "uploading", "image_id": img.ID, "image_name": img.Name,
		"disk_format": arg.DiskFormat, "container_format": arg.ContainerFormat, "size": v.Size,
		"updated_at": ts(v.UpdatedAt), "display_description": nullable(v.Description), "volume_type": vt,
	}}, nil
}

func (s *Handler) actSetBootable(c *call, v *Volume, a action) (int, any, *apiError) {
	var arg struct {
		Bootable jsonBool `json:"bootable"`
	}
	if e := a.parse(&arg); e != nil {
		return 0, nil, e
	}
	v.Bootable = bool(arg.Bootable)
	return 200, nil, nil
}

func (s *Handler) actReadonly(c *call, v *Volume, a action) (int, any, *apiError) {
	var arg struct {
		Readonly *jsonBool `json:"readonly"`
	}
	if e := a.parse(&arg); e != nil {
		return 0, nil, e
	}
	if arg.Readonly == nil {
		return 0, nil, errBadRequest("Invalid input received: Must specify readonly in request.")
	}
	ro := bool(*arg.Readonly)
	v.ReadOnly = &ro
	return 202, nil, nil
}

func (s *Handler) actRetype(c *call, v *Volume, a action) (int, any, *apiError) {
	var arg struct {
		NewType         string `json:"new_type"`
		MigrationPolicy string `json:"migration_policy"`
	}
	if e := a.parse(&arg); e != nil {
		return 0, nil, e
	}
	if arg.NewType == "" {
		return 0, nil, errBadRequest("Invalid input received: New volume type must be specified.")
	}
	if arg.MigrationPolicy != "" && arg.MigrationPolicy != "never" && arg.MigrationPolicy != "on-demand" {
		return 0, nil, errBadRequest("Invalid input received: Invalid migration policy")
	}
	t, e := s.volumeType(arg.NewType)
	if e != nil {
		return 0, nil, errNotFound("Volume type %s could not be found.", arg.NewType)
	}
	if v.Status != "available" && v.Status != "in-use" {
		return 0, nil, errBadRequest("Invalid volume: Volume %s status must be available or in-use, but current status is: %s.", v.ID, v.Status)
	}
	if t.Name == v.VolumeType {
		return 0, nil, errBadRequest("Invalid input received: Retype cannot change to the same volume type.")
	}
	v.VolumeType = t.Name
	return 202, nil, nil
}

// actRevert exists from microversion 3.40; below it is no action at all.
func (s *Handler) actRevert(c *call, v *Volume, a action) (int, any, *apiError) {
	if !c.microAtLeast(40) {
		return 0, nil, errNoSuchAction(a.name)
	}
	var arg struct {
		SnapshotID string `json:"snapshot_id"`
	}
	if e := a.parse(&arg); e != nil {
		return 0, nil, e
	}
	return 202, nil, s.revertVolume(c, v, arg.SnapshotID)
}

func (s *Handler) actSetImageMetadata(c *call, v *Volume, a action) (int, any, *apiError) {
	var arg struct {
		Metadata map[string]string `json:"metadata"`
	}
	if e := a.parse(&arg); e != nil {
		return 0, nil, e
	}
	if arg.Metadata == nil {
		return 0, nil, errBadRequest("Malformed request body")
	}
	if v.ImageMetadata == nil {
		v.ImageMetadata = map[string]string{}
	}
	for k, val := range arg.Metadata {
		v.ImageMetadata[k] = val
	}
	return 200, map[string]any{"metadata": copyMeta(v.ImageMetadata)}, nil
}

func (s *Handler) actUnsetImageMetadata(c *call, v *Volume, a action) (int, any, *apiError) {
	var arg struct {
		Key string `json:"key"`
	}
	if e := a.parse(&arg); e != nil {
		return 0, nil, e
	}
	if _, has := v.ImageMetadata[arg.Key]; !has {
		return 0, nil, errNotFound("Glance metadata for volume %s with key %s could not be found.", v.ID, arg.Key)
	}
	delete(v.ImageMetadata, arg.Key)
	return 200, nil, nil
}

func (s *Handler) actShowImageMetadata(c *call, v *Volume, a action) (int, any, *apiError) {
	return 200, map[string]any{"metadata": copyMeta(v.ImageMetadata)}, nil
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
