package openstack

import (
	"k8s.io/klog/v2"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/disk"
)

// The volume's part of the state machine: create (empty or from a
// snapshot, volume, backup or image), delete, extend and upload.

// Statuses a volume can be deleted from (Cinder's list).
var deletableVolume = map[string]bool{"available": true, "error": true, "error_restoring": true, "error_extending": true, "error_managing": true}

const msgDeleteVolume = "Invalid volume: Volume status must be available or error or error_restoring or error_extending or error_managing and must not be migrating, attached, belong to a group, have snapshots, awaiting a transfer, or be disassociated from snapshots after volume transfer."

func (s *Handler) validZone(z string) bool {
	for _, x := range s.prof.zones {
		if x == z {
			return true
		}
	}
	return false
}

func (s *Handler) checkSize(size int) *apiError {
	r := s.prof.rules
	min := r.MinSizeGB
	if min < 1 {
		min = 1
	}
	if size < min {
		return errBadRequest("Invalid input received: Volume size '%d' must be an integer and greater than %d", size, min-1)
	}
	if r.MaxSizeGB > 0 && size > r.MaxSizeGB {
		return errBadRequest("Invalid input received: Volume size '%d' must be an integer and less than or equal to %d", size, r.MaxSizeGB)
	}
	return nil
}

type volumeRequest struct {
	Size        *int
	Name        string
	Description string
	Zone        string
	VolumeType  string
	SnapshotID  string
	SourceVolID string
	ImageRef    string
	BackupID    string
	Metadata    map[string]string
	Multiattach bool
}

// volumeSource is what a new volume is made from: nothing (kind ""), a
// snapshot, a volume, a backup or an image.
type volumeSource struct {
	kind, id string
	size     int
	zone     string
}

func (s *Handler) createVolume(c *call, req volumeRequest) (*Volume, *apiError) {
	n := 0
	for _, src := range []string{req.SnapshotID, req.SourceVolID, req.ImageRef, req.BackupID} {
		if src != "" {
			n++
		}
	}
	if n > 1 {
		return nil, errBadRequest("Invalid input received: May specify only one of snapshot, imageRef or source volume")
	}
	v := &Volume{
		ID: newID(), ProjectID: c.project, UserID: c.tok.UserID, Name: req.Name, Description: req.Description,
		Status: "creating", Zone: req.Zone, Metadata: copyMeta(req.Metadata), Multiattach: req.Multiattach,
		SnapshotID: req.SnapshotID, SourceVolID: req.SourceVolID, ImageRef: req.ImageRef, BackupID: req.BackupID,
		Attachments: []*Attachment{},
	}
	src, e := s.volumeSource(c, req, v)
	if e != nil {
		return nil, e
	}
	if e := s.placeVolume(c, req, v, src); e != nil {
		return nil, e
	}
	var err error
	if src.kind != "" {
		err = s.store.Copy(src.kind, src.id, disk.KindVolumes, v.ID, int64(v.Size)*gib)
	} else {
		err = s.store.Create(disk.KindVolumes, v.ID, int64(v.Size)*gib)
	}
	v.CreatedAt = now()
	v.UpdatedAt = v.CreatedAt
	s.st.putVolume(v)
	if err != nil {
		// The host cannot hold it (a file-size limit, a full disk): a
		// cloud takes the request and the volume ends in error, as when
		// no backend has the capacity. The host's error stays here.
		klog.ErrorS(err, "cloudsim: no room for volume image", "volume", v.ID, "size", v.Size)
		_ = s.store.Delete(disk.KindVolumes, v.ID)
		s.failCreate(v.ID)
		return v, nil
	}
	s.scheduleVolumeCreate(v.ID)
	return v, nil
}

// volumeSource checks the source the request names and takes from it what
// the new volume inherits (type, bootable).
func (s *Handler) volumeSource(c *call, req volumeRequest, v *Volume) (volumeSource, *apiError) {
	var src volumeSource
	switch {
	case req.SnapshotID != "":
		sn, e := s.snapshot(c.scope(), req.SnapshotID)
		if e != nil {
			return src, e
		}
		if sn.Status != "available" {
			return src, errBadRequest("Invalid snapshot: Originating snapshot status must be one of 'available' values")
		}
		src = volumeSource{kind: disk.KindSnapshots, id: sn.ID, size: sn.Size}
		if ov := s.st.Volumes[sn.VolumeID]; ov != nil {
			src.zone = ov.Zone
			v.VolumeType = ov.VolumeType
		}
	case req.SourceVolID != "":
		sv, e := s.volume(c.scope(), req.SourceVolID)
		if e != nil {
			return src, e
		}
		ok := sv.Status == "available" || (sv.Status == "in-use" && s.prof.name != "helion")
		if !ok {
			return src, errBadRequest("Invalid volume: Source volume %s status must be available, but current status is: %s.", sv.ID, sv.Status)
		}
		src = volumeSource{kind: disk.KindVolumes, id: sv.ID, size: sv.Size, zone: sv.Zone}
		v.VolumeType = sv.VolumeType
	case req.BackupID != "":
		b, e := s.backup(c.scope(), req.BackupID)
		if e != nil {
			return src, e
		}
		if b.Status != "available" {
			return src, errBadRequest("Invalid backup: Backup status must be available")
		}
		src = volumeSource{kind: disk.KindBackups, id: b.ID, size: b.Size}
		// Cinder restores into the new volume as os-restore does: the
		// source's metadata replaces the request's once the data is in
		// (see scheduleVolumeCreate).
	case req.ImageRef != "":
		img := s.st.Images[req.ImageRef]
		if img == nil {
			return src, errNotFound("Image %s could not be found.", req.ImageRef)
		}
		src.size = img.Size
		v.Bootable = true
	}
	return src, nil
}

// placeVolume settles the new volume's size, zone and type against the
// rules and the quota.
func (s *Handler) placeVolume(c *call, req volumeRequest, v *Volume, src volumeSource) *apiError {
	size := src.size
	if req.Size != nil {
		size = *req.Size
	} else if src.kind == "" && req.ImageRef == "" {
		return errBadRequest("Invalid input received: Volume size must be specified")
	}
	if e := s.checkSize(size); e != nil {
		return e
	}
	if size < src.size {
		what := map[string]string{disk.KindSnapshots: "snapshot", disk.KindVolumes: "original volume", disk.KindBackups: "backup", "": "image"}[src.kind]
		return errBadRequest("Invalid input received: Volume size '%d'GB cannot be smaller than the %s size %dGB. They must be >= original %s size.", size, what, src.size, what)
	}
	v.Size = size
	if v.Zone == "" {
		v.Zone = src.zone
	}
	if v.Zone == "" {
		v.Zone = s.prof.defaultZone
	}
	if !s.validZone(v.Zone) {
		return errBadRequest("Invalid input received: Availability zone '%s' is invalid.", v.Zone)
	}
	if req.VolumeType != "" || v.VolumeType == "" {
		t, e := s.visibleType(c, req.VolumeType)
		if e != nil {
			return errNotFound("Volume type with name %s could not be found.", req.VolumeType)
		}
		v.VolumeType = t.Name
	}
	v.Multiattach = v.Multiattach || s.multiattachType(v.VolumeType)
	if e := s.perVolumeLimit(c.project, size); e != nil {
		return e
	}
	return s.checkQuota(c.project, 1, 0, size)
}

const msgNoCapacity = "schedule allocate volume:Could not find any available weighted backend. Insufficient free space for volume creation."

// failCreate ends a volume's creation in error with a user message.
func (s *Handler) failCreate(id string) {
	s.later(OpCreate, s.durs.Create, func() {
		if v := s.st.Volumes[id]; v != nil && v.Status == "creating" {
			v.Status, v.UpdatedAt = "error", now()
			s.addMessage(v, msgNoCapacity)
		}
	})
}

func (s *Handler) scheduleVolumeCreate(id string) {
	s.later(OpCreate, s.durs.Create, func() {
		v := s.st.Volumes[id]
		if v == nil || v.Status != "creating" {
			return
		}
		switch {
		case !s.backendFits(v.VolumeType):
			v.Status = "error"
			s.addMessage(v, msgNoValidBackend)
		case s.faults.TakeFailure(OpCreate):
			v.Status = "error"
		default:
			if v.BackupID != "" {
				s.restoreMetadata(v, v.BackupID)
			}
			v.Status = "available"
		}
		v.UpdatedAt = now()
	})
}

// deleteVolume deletes a volume; with cascade its snapshots too, when
// none of them is busy.
func (s *Handler) deleteVolume(c *call, id string, cascade bool) *apiError {
	v, e := s.volume(c.scope(), id)
	if e != nil {
		return e
	}
	if !deletableVolume[v.Status] || len(v.Attachments) > 0 || (!cascade && s.hasSnapshots(v.ID)) {
		return errBadRequest(msgDeleteVolume)
	}
	if cascade {
		for _, sn := range s.st.Snapshots {
			if sn.VolumeID == v.ID && sn.Status != "available" && sn.Status != "error" {
				return errBadRequest("Invalid volume: Snapshot %s cannot be deleted when its status is %s.", sn.ID, sn.Status)
			}
		}
		for _, sn := range s.st.Snapshots {
			if sn.VolumeID == v.ID {
				sn.Status, sn.UpdatedAt = "deleting", now()
				s.scheduleSnapshotDelete(sn.ID)
			}
		}
	}
	v.Status = "deleting"
	v.UpdatedAt = now()
	s.scheduleVolumeDelete(id)
	return nil
}

func (s *Handler) hasSnapshots(volID string) bool {
	for _, sn := range s.st.Snapshots {
		if sn.VolumeID == volID {
			return true
		}
	}
	return false
}

func (s *Handler) scheduleVolumeDelete(id string) {
	s.later(OpDelete, s.durs.Delete, func() {
		v := s.st.Volumes[id]
		if v == nil || v.Status != "deleting" {
			return
		}
		if s.faults.TakeFailure(OpDelete) {
			v.Status = "error_deleting"
			v.UpdatedAt = now()
			return
		}
		if err := s.store.Delete(disk.KindVolumes, id); err != nil {
			klog.ErrorS(err, "cloudsim: deleting volume image", "volume", id)
			v.Status = "error_deleting"
			return
		}
		s.st.dropVolume(id)
	})
}

func (s *Handler) extendVolume(c *call, v *Volume, newSize int) *apiError {
	r := s.prof.rules
	if !r.Extend {
		return errBadRequest("There is no such action: os-extend")
	}
	inUseOK := r.ExtendInUse && c.ver == 3 && microAtLeast(c.micro, 3, 42)
	if v.Status != "available" && !(v.Status == "in-use" && inUseOK) {
		return errBadRequest("Invalid volume: Volume %s status must be 'available' to extend, currently %s.", v.ID, v.Status)
	}
	if newSize <= v.Size {
		return errBadRequest("Invalid input received: New size for extend must be greater than current size. (current: %d, extended: %d).", v.Size, newSize)
	}
	if e := s.checkSize(newSize); e != nil {
		return e
	}
	if e := s.perVolumeLimit(v.ProjectID, newSize); e != nil {
		return e
	}
	if e := s.checkQuota(v.ProjectID, 0, 0, newSize-v.Size); e != nil {
		return e
	}
	v.PrevStatus, v.Status, v.NewSize = v.Status, "extending", newSize
	v.UpdatedAt = now()
	s.scheduleExtend(v.ID)
	return nil
}

func (s *Handler) scheduleExtend(id string) {
	s.later(OpExtend, s.durs.Extend, func() {
		v := s.st.Volumes[id]
		if v == nil || v.Status != "extending" {
			return
		}
		v.UpdatedAt = now()
		if s.faults.TakeFailure(OpExtend) {
			v.Status, v.NewSize = "error_extending", 0
			return
		}
		if err := s.store.Resize(disk.KindVolumes, id, int64(v.NewSize)*gib); err != nil {
			klog.ErrorS(err, "cloudsim: extending volume image", "volume", id)
			v.Status, v.NewSize = "error_extending", 0
			return
		}
		if err := s.store.Refresh(id); err != nil {
			klog.ErrorS(err, "cloudsim: refreshing loop device", "volume", id)
		}
		v.Size, v.NewSize = v.NewSize, 0
		v.Status = restingStatus(v)
	})
}

func (s *Handler) scheduleUpload(id string) {
	s.later("upload", s.durs.Snapshot, func() {
		v := s.st.Volumes[id]
		if v == nil || v.Status != "uploading" {
			return
		}
		v.Status, v.PrevStatus, v.UpdatedAt = restingStatus(v), "", now()
	})
}
