package cloudsim

// latestBackup is the newest available backup of a volume in a project,
// the parent of an incremental one ("" if there is none).
func (s *Sim) latestBackup(project, volID string) string {
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

func (s *Sim) hasDependentBackups(id string) bool {
	for _, b := range s.st.Backups {
		if b.ParentID == id {
			return true
		}
	}
	return false
}
