package openstack

import (
	"k8s.io/klog/v2"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/disk"
)

// Backups: create (from a volume or one of its snapshots, full or
// incremental), delete, restore. Every function runs with s.mu held.

// latestBackup is the newest available backup of a volume in a project,
// the parent of an incremental one ("" if there is none).
func (s *Handler) latestBackup(project, volID string) string {
	var best *Backup
	for _, b := range s.st.Backups {
		if b.ProjectID == project && b.VolumeID == volID && b.Status == "available" &&
			(best == nil || b.CreatedAt.After(best.CreatedAt)) {
			best = b
		}
	}
	if best == nil {
		return ""
	}
	return best.ID
}

func (s *Handler) hasDependentBackups(id string) bool {
	for _, b := range s.st.Backups {
		if b.ParentID == id {
			return true
		}
	}
	return false
}

type backupRequest struct {
	VolumeID, SnapshotID, Name, Description, Container string
	Force, Incremental                                 bool
}

func (s *Handler) createBackup(c *call, req backupRequest) (*Backup, *apiError) {
	v, e := s.volume(c.scope(), req.VolumeID)
	if e != nil {
		return nil, e
	}
	switch {
	case v.Status == "available":
	case v.Status == "in-use" && s.prof.rules.BackupInUse:
		if !req.Force {
			return nil, errBadRequest("Invalid volume: Backing up an in-use volume must use the force flag.")
		}
	default:
		return nil, errBadRequest("Invalid volume: Volume to be backed up must be available or in-use, but the current status is \"%s\".", v.Status)
	}
	srcKind, srcID := disk.KindVolumes, v.ID
	if req.SnapshotID != "" {
		sn, e := s.snapshot(c.scope(), req.SnapshotID)
		if e != nil {
			return nil, e
		}
		if sn.VolumeID != v.ID {
			return nil, errBadRequest("Invalid snapshot: Snapshot %s is not a snapshot of volume %s.", sn.ID, v.ID)
		}
		if sn.Status != "available" {
			return nil, errBadRequest("Invalid snapshot: Snapshot to be backed up must be available, but the current status is \"%s\".", sn.Status)
		}
		srcKind, srcID = disk.KindSnapshots, sn.ID
	}
	parent := ""
	if req.Incremental {
		parent = s.latestBackup(c.project, v.ID)
		if parent == "" {
			return nil, errBadRequest("Invalid backup: No backups available to do an incremental backup.")
		}
	}
	if e := s.checkBackupQuota(c.project, v.Size); e != nil {
		return nil, e
	}
	if req.Container == "" {
		req.Container = "volumebackups"
	}
	b := &Backup{ID: newID(), ProjectID: c.project, VolumeID: v.ID, SnapshotID: req.SnapshotID, Name: req.Name,
		Description: req.Description, Status: "creating", Size: v.Size, Zone: v.Zone, Container: req.Container,
		ParentID: parent, Incremental: parent != "", VolumeMetadata: copyMeta(v.Metadata), CreatedAt: now()}
	b.UpdatedAt = b.CreatedAt
	if err := s.store.Copy(srcKind, srcID, disk.KindBackups, b.ID, int64(v.Size)*gib); err != nil {
		return nil, errInternal(err.Error())
	}
	s.st.Backups[b.ID] = b
	v.PrevStatus, v.Status = v.Status, "backing-up"
	v.UpdatedAt = now()
	s.scheduleBackupCreate(b.ID)
	return b, nil
}

func (s *Handler) scheduleBackupCreate(id string) {
	s.later(OpBackup, s.durs.Backup, func() {
		b := s.st.Backups[id]
		if b == nil || b.Status != "creating" {
			return
		}
		b.UpdatedAt = now()
		v := s.st.Volumes[b.VolumeID]
		if s.faults.TakeFailure(OpBackup) {
			// Only the backup fails: Cinder's backup manager puts the
			// volume back to its previous status, so error_backing-up in
			// the seeds' status lists is not where a volume stays.
			b.Status, b.FailReason = "error", "injected backup failure"
			if v != nil && v.Status == "backing-up" {
				v.Status = restingStatus(v)
				v.PrevStatus = ""
			}
			return
		}
		b.Status = "available"
		if v != nil && v.Status == "backing-up" {
			v.Status = restingStatus(v)
			v.PrevStatus = ""
		}
	})
}

func (s *Handler) deleteBackup(c *call, id string) *apiError {
	b, e := s.backup(c.scope(), id)
	if e != nil {
		return e
	}
	if b.Status != "available" && b.Status != "error" {
		return errBadRequest("Invalid backup: Backup status must be available or error")
	}
	if s.hasDependentBackups(b.ID) {
		return errBadRequest("Invalid backup: Incremental backups exist for this backup.")
	}
	b.Status = "deleting"
	b.UpdatedAt = now()
	s.later(OpBackupDelete, s.durs.Delete, func() {
		b := s.st.Backups[id]
		if b == nil || b.Status != "deleting" {
			return
		}
		if s.faults.TakeFailure(OpBackupDelete) {
			b.Status = "error_deleting"
			return
		}
		if err := s.store.Delete(disk.KindBackups, id); err != nil {
			klog.ErrorS(err, "cloudsim: deleting backup image", "backup", id)
		}
		delete(s.st.Backups, id)
	})
	return nil
}

func (s *Handler) restoreBackup(c *call, backupID, volumeID, name string) (*Volume, *Backup, *apiError) {
	b, e := s.backup(c.scope(), backupID)
	if e != nil {
		return nil, nil, e
	}
	if b.Status != "available" {
		return nil, nil, errBadRequest("Invalid backup: Backup status must be available")
	}
	var v *Volume
	if volumeID != "" {
		if v, e = s.volume(c.scope(), volumeID); e != nil {
			return nil, nil, e
		}
		if v.Status != "available" {
			return nil, nil, errBadRequest("Invalid volume: Volume to be restored to must be available")
		}
		if v.Size < b.Size {
			return nil, nil, errBadRequest("Invalid volume: volume size %d is too small to restore backup of size %d.", v.Size, b.Size)
		}
	} else {
		if e := s.checkQuota(c.project, 1, 0, b.Size); e != nil {
			return nil, nil, e
		}
		if name == "" {
			name = "restore_backup_" + b.ID
		}
		v = &Volume{ID: newID(), ProjectID: c.project, UserID: c.tok.UserID, Name: name, Size: b.Size,
			Zone: s.prof.defaultZone, VolumeType: s.prof.defaultType, Metadata: map[string]string{},
			Attachments: []*Attachment{}, CreatedAt: now()}
		s.st.putVolume(v)
	}
	if err := s.store.Copy(disk.KindBackups, b.ID, disk.KindVolumes, v.ID, int64(v.Size)*gib); err != nil {
		if volumeID == "" {
			s.st.dropVolume(v.ID)
		}
		return nil, nil, errInternal(err.Error())
	}
	v.Status, v.RestoreFrom, v.UpdatedAt = "restoring-backup", b.ID, now()
	b.Status, b.RestoreTo, b.UpdatedAt = "restoring", v.ID, now()
	s.scheduleRestore(v.ID)
	return v, b, nil
}

// restoreMetadata gives v the backed-up volume's metadata, as Cinder's
// backup driver does once the data is in (put_metadata, last step of a
// restore): it replaces v's own, keys written during the restore too.
// The name and description stay the target's.
func (s *Handler) restoreMetadata(v *Volume, backupID string) {
	if b := s.st.Backups[backupID]; b != nil {
		v.Metadata = copyMeta(b.VolumeMetadata)
		if v.Metadata == nil {
			v.Metadata = map[string]string{}
		}
	}
}

func (s *Handler) scheduleRestore(volID string) {
	s.later(OpRestore, s.durs.Restore, func() {
		v := s.st.Volumes[volID]
		if v == nil || v.Status != "restoring-backup" {
			return
		}
		from := v.RestoreFrom
		if b := s.st.Backups[from]; b != nil && b.Status == "restoring" {
			b.Status, b.RestoreTo, b.UpdatedAt = "available", "", now()
		}
		v.RestoreFrom, v.UpdatedAt = "", now()
		if s.faults.TakeFailure(OpRestore) {
			v.Status = "error_restoring"
			return
		}
		s.restoreMetadata(v, from)
		v.Status = "available"
	})
}
