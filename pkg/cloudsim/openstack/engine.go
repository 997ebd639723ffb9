package openstack

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/klog/v2"
)

// The state machine, one file per resource (engine_volumes.go,
// engine_snapshots.go, engine_backups.go, engine_attachments.go) and the
// quota checks (engine_quota.go): every function there runs with s.mu held,
// validates a request against the business rules, changes the state, does
// the disk work and schedules the end of the transitional state. This file
// holds the lookups they share and recover, which resumes the transitions
// a restart interrupted.

const gib = int64(1) << 30

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

// restingStatus is available or in-use depending on the attachments.
func restingStatus(v *Volume) string {
	for _, a := range v.Attachments {
		if a.Status == "attached" {
			return "in-use"
		}
	}
	return "available"
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
