package driver

import (
	"strings"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// What the driver writes on what it creates, and so how it recognises its
// own resources: it removes failed resources on its own only when they
// carry these marks, never anything else in the project.
const (
	snapshotDescription = "Kubernetes volume snapshot"
	backupDescription   = "Kubernetes volume snapshot (backup)"
)

// ownVolume: the volume carries the request name the driver wrote.
func ownVolume(v *cloud.Volume) bool {
	return v.Name != "" && v.Metadata[MetaRequestName] == v.Name
}

// ownSnapshot: the request name in metadata, or (clouds that drop
// snapshot metadata) the driver's description.
func ownSnapshot(s *cloud.Snapshot) bool {
	return s.Name != "" && (s.Metadata[MetaRequestName] == s.Name || s.Description == snapshotDescription)
}

// ownBackup: as ownSnapshot; older block storage APIs keep no backup metadata,
// so there the description is the mark.
func ownBackup(b *cloud.Backup) bool {
	return b.Name != "" && (b.Metadata[MetaRequestName] == b.Name || b.Description == backupDescription)
}

// failedVolume: a volume of this driver whose creation failed, which holds
// no data and can go.
func failedVolume(v *cloud.Volume) bool {
	return ownVolume(v) && v.Status.IsError() && v.CreateFailed && len(v.Attachments) == 0
}

// unfinishedRestore: a volume this driver created empty to restore a
// backup into (clouds without native create-from-backup) whose restore
// never completed. CreateVolume answers such a volume only once the cloud
// reports its backup or MetaRestored is set, so this one was never handed
// out: its CreateVolume gave up, and the CO may never ask again.
func unfinishedRestore(v *cloud.Volume) bool {
	return ownVolume(v) && v.Status == cloud.StatusAvailable && len(v.Attachments) == 0 &&
		strings.HasPrefix(v.Metadata[MetaSource], "backup:") && v.SourceBackupID == "" && v.Metadata[MetaRestored] == ""
}

// unreclaimedRestore: a volume this driver made from a backup, restored,
// whose metadata the restore replaced with the backed-up volume's, and
// whose CreateVolume gave up or died before writing its own keys back.
// CreateVolume answers only a reclaimed one, so this was never handed out.
// The description, which a restore keeps, marks it.
func unreclaimedRestore(v *cloud.Volume) bool {
	return v.Name != "" && v.Status == cloud.StatusAvailable && len(v.Attachments) == 0 &&
		strings.HasPrefix(v.Description, "Kubernetes volume") && strings.Contains(v.Description, restoreNote) &&
		restoreReplacedMetadata(v)
}

// failedRestore: a volume this driver created empty to restore a backup
// into whose restore failed (Cinder: error_restoring). CreateVolume never
// answers it (it answers only an available one), so it holds nothing
// anyone uses; with the CreateVolume given up or its controller killed,
// only the sweep removes it. The request name may be gone from it: the
// restore copies the backed-up volume's metadata over the target's, and
// a failed one leaves it so. The source key (this driver's own, naming a
// backup the cloud did not restore natively) marks it instead.
func failedRestore(v *cloud.Volume) bool {
	return v.Name != "" && v.Status.IsError() && strings.EqualFold(v.RawStatus, "error_restoring") && len(v.Attachments) == 0 &&
		strings.HasPrefix(v.Metadata[MetaSource], "backup:") && v.SourceBackupID == ""
}
