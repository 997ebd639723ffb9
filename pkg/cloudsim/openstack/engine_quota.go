package openstack

import "fmt"

// Quota usage as Cinder's quota engine counts it, and its 413 refusals.

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

// checkQuota answers 413 the way Cinder's quota engine does. Usage is
// counted only when a limit applies: it scans the whole state, which a
// project of 11,000 volumes without limits should not pay per create.
func (s *Handler) checkQuota(project string, addVolumes, addSnapshots, addGB int) *apiError {
	q := s.quotaOf(project)
	limited := (addVolumes > 0 && q.Volumes >= 0) || (addSnapshots > 0 && q.Snapshots >= 0) ||
		(q.VolumesAndSnapshots > 0 && addVolumes+addSnapshots > 0) || (addGB > 0 && q.Gigabytes >= 0)
	if !limited {
		return nil
	}
	u := s.usage(project)
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
