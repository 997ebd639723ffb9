package openstack

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/klog/v2"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/disk"
)

// The state machine: every function here runs with s.mu held, validates a
// request against the business rules, changes the state, does the disk work
// and schedules the end of the transitional state.

const gib = int64(1) << 30

// Statuses a volume can be deleted from (Cinder's list).
var deletableVolume = map[string]bool{"available": true, "error": true, "error_restoring": true, "error_extending": true, "error_managing": true}

const msgDeleteVolume = "Invalid volume: Volume status must be available or error or error_restoring or error_extending or error_managing and must not be migrating, attached, belong to a group, have snapshots, awaiting a transfer, or be disassociated from snapshots after volume transfer."

type usage struct{ volumes, snapshots, gigabytes, backups, backupGB int }

func (s *Handler) usage(project string) usage {
	var u usage
	for _, v := range s.st.Volumes {
		if v.ProjectID == project {
			u.volumes++
			u.gigabytes += v.Size
		}
	}
	for _, sn := range s.st.Snapshots {
		if sn.ProjectID == project {
			u.snapshots++
			u.gigabytes += sn.Size
		}
	}
	for _, b := range s.st.Backups {
		if b.ProjectID == project {
			u.backups++
			u.backupGB += b.Size
		}
	}
	return u
}

// checkQuota answers 413 the way Cinder's quota engine does.
func (s *Handler) checkQuota(project string, addVolumes, addSnapshots, addGB int) *apiError {
	q, u := s.quotaOf(project), s.usage(project)
	if addVolumes > 0 && q.Volumes >= 0 && u.volumes+addVolumes > q.Volumes {
		return errOverLimit(fmt.Sprintf("VolumeLimitExceeded: Maximum number of volumes allowed (%d) exceeded for quota 'volumes'.", q.Volumes))
	}
	if addSnapshots > 0 && q.Snapshots >= 0 && u.snapshots+addSnapshots > q.Snapshots {
		return errOverLimit(fmt.Sprintf("SnapshotLimitExceeded: Maximum number of snapshots allowed (%d) exceeded", q.Snapshots))
	}
	if q.VolumesAndSnapshots > 0 && (addVolumes+addSnapshots) > 0 && u.volumes+u.snapshots+addVolumes+addSnapshots > q.VolumesAndSnapshots {
		if addSnapshots > 0 {
			return errOverLimit(fmt.Sprintf("SnapshotLimitExceeded: Maximum number of volumes and snapshots allowed (%d) exceeded", q.VolumesAndSnapshots))
		}
		return errOverLimit(fmt.Sprintf("VolumeLimitExceeded: Maximum number of volumes allowed (%d) exceeded", q.VolumesAndSnapshots))
	}
	if addGB > 0 && q.Gigabytes >= 0 && u.gigabytes+addGB > q.Gigabytes {
		return errOverLimit(fmt.Sprintf("VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed gigabytes quota. Requested %dG, quota is %dG and %dG has been consumed.", addGB, q.Gigabytes, u.gigabytes))
	}
	return nil
}

func (s *Handler) checkBackupQuota(project string, addGB int) *apiError {
	q, u := s.quotaOf(project), s.usage(project)
	if q.Backups >= 0 && u.backups+1 > q.Backups {
		return errOverLimit(fmt.Sprintf("BackupLimitExceeded: Maximum number of backups allowed (%d) exceeded", q.Backups))
	}
	if q.BackupGigabytes >= 0 && u.backupGB+addGB > q.BackupGigabytes {
		return errOverLimit(fmt.Sprintf("VolumeBackupSizeExceedsAvailableQuota: Requested backup exceeds allowed Backup gigabytes quota. Requested %dG, quota is %dG and %dG has been consumed.", addGB, q.BackupGigabytes, u.backupGB))
	}
	return nil
}

// volume, snapshot and backup find a resource of project, or of any project
// when project is "" (an admin's scope, see call.scope).
func (s *Handler) volume(project, id string) (*Volume, *apiError) {
	v := s.st.Volumes[id]
	if v == nil || (project != "" && v.ProjectID != project) {
		return nil, errNotFound("Volume %s could not be found.", id)
	}
	return v, nil
}

func (s *Handler) snapshot(project, id string) (*Snapshot, *apiError) {
	sn := s.st.Snapshots[id]
	if sn == nil || (project != "" && sn.ProjectID != project) {
		return nil, errNotFound("Snapshot %s could not be found.", id)
	}
	return sn, nil
}

func (s *Handler) backup(project, id string) (*Backup, *apiError) {
	b := s.st.Backups[id]
	if b == nil || (project != "" && b.ProjectID != project) {
		return nil, errNotFound("Backup %s could not be found.", id)
	}
	return b, nil
}

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
	srcKind, srcID, srcSize, srcZone := "", "", 0, ""
	switch {
	case req.SnapshotID != "":
		sn, e := s.snapshot(c.scope(), req.SnapshotID)
		if e != nil {
			return nil, e
		}
		if sn.Status != "available" {
			return nil, errBadRequest("Invalid snapshot: Originating snapshot status must be one of 'available' values")
		}
		srcKind, srcID, srcSize = disk.KindSnapshots, sn.ID, sn.Size
		if ov := s.st.Volumes[sn.VolumeID]; ov != nil {
			srcZone = ov.Zone
			v.VolumeType = ov.VolumeType
		}
	case req.SourceVolID != "":
		src, e := s.volume(c.scope(), req.SourceVolID)
		if e != nil {
			return nil, e
		}
		ok := src.Status == "available" || (src.Status == "in-use" && s.prof.name != "helion")
		if !ok {
			return nil, errBadRequest("Invalid volume: Source volume %s status must be available, but current status is: %s.", src.ID, src.Status)
		}
		srcKind, srcID, srcSize, srcZone = disk.KindVolumes, src.ID, src.Size, src.Zone
		v.VolumeType = src.VolumeType
	case req.BackupID != "":
		b, e := s.backup(c.scope(), req.BackupID)
		if e != nil {
			return nil, e
		}
		if b.Status != "available" {
			return nil, errBadRequest("Invalid backup: Backup status must be available")
		}
		srcKind, srcID, srcSize = disk.KindBackups, b.ID, b.Size
		// Cinder restores into the new volume as os-restore does, and the
		// backup driver puts back the source's metadata with the data.
		for k, val := range b.VolumeMetadata {
			v.Metadata[k] = val
		}
	case req.ImageRef != "":
		img := s.st.Images[req.ImageRef]
		if img == nil {
			return nil, errNotFound("Image %s could not be found.", req.ImageRef)
		}
		srcSize = img.Size
		v.Bootable = true
	}
	size := srcSize
	if req.Size != nil {
		size = *req.Size
	} else if srcKind == "" && req.ImageRef == "" {
		return nil, errBadRequest("Invalid input received: Volume size must be specified")
	}
	if e := s.checkSize(size); e != nil {
		return nil, e
	}
	if size < srcSize {
		what := map[string]string{disk.KindSnapshots: "snapshot", disk.KindVolumes: "original volume", disk.KindBackups: "backup", "": "image"}[srcKind]
		return nil, errBadRequest("Invalid input received: Volume size '%d'GB cannot be smaller than the %s size %dGB. They must be >= original %s size.", size, what, srcSize, what)
	}
	v.Size = size
	if v.Zone == "" {
		v.Zone = srcZone
	}
	if v.Zone == "" {
		v.Zone = s.prof.defaultZone
	}
	if !s.validZone(v.Zone) {
		return nil, errBadRequest("Invalid input received: Availability zone '%s' is invalid.", v.Zone)
	}
	if req.VolumeType != "" || v.VolumeType == "" {
		t, e := s.visibleType(c, req.VolumeType)
		if e != nil {
			return nil, errNotFound("Volume type with name %s could not be found.", req.VolumeType)
		}
		v.VolumeType = t.Name
	}
	v.Multiattach = v.Multiattach || s.multiattachType(v.VolumeType)
	if e := s.perVolumeLimit(c.project, size); e != nil {
		return nil, e
	}
	if e := s.checkQuota(c.project, 1, 0, size); e != nil {
		return nil, e
	}
	var err error
	if srcKind != "" {
		err = s.store.Copy(srcKind, srcID, disk.KindVolumes, v.ID, int64(size)*gib)
	} else {
		err = s.store.Create(disk.KindVolumes, v.ID, int64(size)*gib)
	}
	v.CreatedAt = now()
	v.UpdatedAt = v.CreatedAt
	s.st.Volumes[v.ID] = v
	if err != nil {
		// The host cannot hold it (a file-size limit, a full disk): a
		// cloud takes the request and the volume ends in error, as when
		// no backend has the capacity. The host's error stays here.
		klog.ErrorS(err, "cloudsim: no room for volume image", "volume", v.ID, "size", size)
		_ = s.store.Delete(disk.KindVolumes, v.ID)
		s.failCreate(v.ID)
		return v, nil
	}
	s.scheduleVolumeCreate(v.ID)
	return v, nil
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
		delete(s.st.Volumes, id)
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

// restingStatus is available or in-use depending on the attachments.
func restingStatus(v *Volume) string {
	for _, a := range v.Attachments {
		if a.Status == "attached" {
			return "in-use"
		}
	}
	return "available"
}

type snapshotRequest struct {
	VolumeID, Name, Description string
	Force                       *bool // nil: not given
	Metadata                    map[string]string
}

func (s *Handler) createSnapshot(c *call, req snapshotRequest) (*Snapshot, *apiError) {
	v, e := s.volume(c.scope(), req.VolumeID)
	if e != nil {
		return nil, e
	}
	// From 3.66 Cinder snapshots in-use volumes without force, and
	// refuses force=false.
	force := req.Force != nil && *req.Force
	if c.microAtLeast(66) {
		if req.Force != nil && !*req.Force {
			return nil, errBadRequest("Invalid input received: Setting the force flag to false is not supported since microversion 3.66.")
		}
		force = true
	}
	ok := v.Status == "available" ||
		(v.Status == "in-use" && force && s.prof.rules.SnapshotInUse == SnapshotInUseForce)
	if !ok {
		return nil, errBadRequest("Invalid volume: Volume %s status must be available, but current status is: %s.", v.ID, v.Status)
	}
	if e := s.checkQuota(c.project, 0, 1, v.Size); e != nil {
		return nil, e
	}
	sn := &Snapshot{ID: newID(), ProjectID: c.project, VolumeID: v.ID, Name: req.Name, Description: req.Description,
		Status: "creating", Size: v.Size, Metadata: copyMeta(req.Metadata), CreatedAt: now()}
	sn.UpdatedAt = sn.CreatedAt
	if err := s.store.Copy(disk.KindVolumes, v.ID, disk.KindSnapshots, sn.ID, int64(v.Size)*gib); err != nil {
		return nil, errInternal(err.Error())
	}
	s.st.Snapshots[sn.ID] = sn
	s.scheduleSnapshotCreate(sn.ID)
	return sn, nil
}

func (s *Handler) scheduleSnapshotCreate(id string) {
	s.later(OpSnapshot, s.durs.Snapshot, func() {
		sn := s.st.Snapshots[id]
		if sn == nil || sn.Status != "creating" {
			return
		}
		sn.Status = "available"
		if s.faults.TakeFailure(OpSnapshot) {
			sn.Status = "error"
		}
		sn.UpdatedAt = now()
	})
}

func (s *Handler) deleteSnapshot(c *call, id string) *apiError {
	sn, e := s.snapshot(c.scope(), id)
	if e != nil {
		return e
	}
	if sn.Status != "available" && sn.Status != "error" {
		return errBadRequest("Invalid snapshot: Volume Snapshot status must be available or error and must not be part of a group.")
	}
	sn.Status = "deleting"
	sn.UpdatedAt = now()
	s.scheduleSnapshotDelete(id)
	return nil
}

func (s *Handler) scheduleSnapshotDelete(id string) {
	s.later(OpSnapshotDelete, s.durs.Delete, func() {
		sn := s.st.Snapshots[id]
		if sn == nil || sn.Status != "deleting" {
			return
		}
		if s.faults.TakeFailure(OpSnapshotDelete) {
			sn.Status = "error_deleting"
			return
		}
		if err := s.store.Delete(disk.KindSnapshots, id); err != nil {
			klog.ErrorS(err, "cloudsim: deleting snapshot image", "snapshot", id)
		}
		delete(s.st.Snapshots, id)
	})
}

func (s *Handler) recover() {
	stale := s.store.Attached()
	for _, v := range sortedVolumes(s.st.Volumes) {
		for _, a := range v.Attachments {
			if s.localStore(a.ServerID) != nil && (a.Status == "attached" || a.Status == "detaching") {
				s.attachLocal(v, a.ServerID)
				if a.ServerID == s.cfg.LocalServerID {
					delete(stale, v.ID)
				}
			}
			switch a.Status {
			case "attaching":
				s.scheduleAttach(v.ID, a.ID)
			case "detaching":
				s.scheduleDetach(v.ID, a.ID)
			}
		}
		switch v.Status {
		case "creating":
			s.scheduleVolumeCreate(v.ID)
		case "deleting":
			s.scheduleVolumeDelete(v.ID)
		case "extending":
			s.scheduleExtend(v.ID)
		case "restoring-backup":
			s.scheduleRestore(v.ID)
		case "uploading":
			s.scheduleUpload(v.ID)
		}
	}
	for id := range stale {
		if s.st.Volumes[id] == nil {
			continue // not a Cinder volume: another face (Lunanode) owns it
		}
		if err := s.store.Detach(id, id); err != nil {
			klog.ErrorS(err, "cloudsim: removing stale local attachment", "volume", id)
		}
	}
	for _, sn := range sortedSnapshots(s.st.Snapshots) {
		switch sn.Status {
		case "creating":
			s.scheduleSnapshotCreate(sn.ID)
		case "deleting":
			s.scheduleSnapshotDelete(sn.ID)
		}
	}
	for _, b := range sortedBackups(s.st.Backups) {
		switch b.Status {
		case "creating":
			s.scheduleBackupCreate(b.ID)
		case "deleting":
			b.Status = "available"
			c := &call{project: b.ProjectID}
			_ = s.deleteBackup(c, b.ID)
		}
	}
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

func sortedVolumes(m map[string]*Volume) []*Volume {
	out := make([]*Volume, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func sortedSnapshots(m map[string]*Snapshot) []*Snapshot {
	out := make([]*Snapshot, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func sortedBackups(m map[string]*Backup) []*Backup {
	out := make([]*Backup, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// microAtLeast compares a "3.42"-style microversion.
func microAtLeast(v string, major, minor int) bool {
	var a, b int
	if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d.%d", &a, &b); err != nil {
		return false
	}
	return a > major || (a == major && b >= minor)
}
