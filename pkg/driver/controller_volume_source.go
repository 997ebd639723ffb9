package driver

import (
	"context"
	"maps"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
)

// MetaRestored records on a volume the backup the driver restored into it
// (clouds without native create-from-backup), written with the request
// name and source once the restore is done.
const MetaRestored = "block.csi.openblock.io/restored-backup"

// restoreReplacedMetadata: vol's metadata is no longer what the driver
// wrote at create, request name first. Cinder's restore ends by giving the
// volume the backed-up volume's metadata in place of its own (the backup
// driver's put_metadata; name and description stay), so on a volume made
// for a backup this says the restore has run to its end.
func restoreReplacedMetadata(vol *cloud.Volume) bool {
	return vol.Metadata[MetaRequestName] != vol.Name
}

// restoreInto brings vol, an empty volume made for src's backup (maybe by
// an earlier attempt), to available with the backup's data in it. Each
// step already done is skipped, so a retry (the CO's deadline passed, the
// controller was killed) costs only what is left; a restore outlasting
// one attempt is picked up, not started again.
func (c *Controller) restoreInto(ctx context.Context, vol *cloud.Volume, src source) (*cloud.Volume, error) {
	switch {
	case vol.Metadata[MetaRestored] == src.backupID, restoreReplacedMetadata(vol):
		// Restored already, by an earlier attempt.
	case vol.Status == cloud.StatusRestoring:
		// Under way: only the driver restores into its own volumes.
	default:
		if vol.Status != cloud.StatusAvailable {
			// The empty create is quick: checked as a create, not a restore.
			got, err := c.waiter.WaitVolumeOp(ctx, waiter.OpCreate, vol.ID, waiter.VolumeReady(cloud.StatusAvailable))
			if err != nil {
				return nil, err
			}
			vol = got
		}
		if err := c.cloud.RestoreBackup(ctx, src.backupID, vol.ID); err != nil {
			return nil, err
		}
		vol.Status = cloud.StatusRestoring
	}
	// In use: restored and handed out already (this is a retry whose
	// answer was lost).
	ready := waiter.VolumeReady(cloud.StatusAvailable, cloud.StatusInUse)
	if ok, _ := ready(vol); ok {
		return vol, nil
	}
	return c.waiter.WaitVolumeOp(ctx, waiter.OpRestore, vol.ID, ready)
}

// reclaimRestored writes the request name and source back on a volume
// made from a backup (natively or by restoreInto) whose restore replaced
// its metadata with the backed-up volume's: left so, the volume would name
// another request as its own. A volume restoreInto filled gets
// MetaRestored too, so that a retry whose answer was lost does not take it
// for one still empty.
func (c *Controller) reclaimRestored(ctx context.Context, vol *cloud.Volume, src source) error {
	marked := vol.SourceBackupID != "" || vol.Metadata[MetaRestored] == src.backupID
	if marked && !restoreReplacedMetadata(vol) && vol.Metadata[MetaSource] == src.String() {
		return nil
	}
	md := map[string]string{MetaRequestName: vol.Name, MetaSource: src.String()}
	if vol.SourceBackupID == "" {
		md[MetaRestored] = src.backupID
	}
	if err := c.cloud.SetVolumeMetadata(ctx, vol.ID, md); err != nil {
		return failed(err, "marking volume %s (%s) restored from backup %s", vol.Name, vol.ID, src.backupID)
	}
	vol.Metadata = maps.Clone(vol.Metadata)
	if vol.Metadata == nil {
		vol.Metadata = map[string]string{}
	}
	maps.Copy(vol.Metadata, md)
	return nil
}

// parseSource reads a content source from the request alone: ids the
// cloud cannot hold are NotFound, kinds it does not offer InvalidArgument.
func (c *Controller) parseSource(cs *csi.VolumeContentSource) (source, error) {
	if cs == nil {
		return source{}, nil
	}
	if s := cs.GetSnapshot(); s != nil {
		id := s.GetSnapshotId()
		if id == "" {
			return source{}, invalid("content source snapshot id is missing")
		}
		if backupID, ok := strings.CutPrefix(id, BackupPrefix); ok {
			if !c.caps.Backups {
				return source{}, invalid("snapshot %s is a backup, but this cloud has no backups", id)
			}
			if !wellFormedID(backupID) {
				return source{}, notFound("snapshot %s not found", id)
			}
			return source{backupID: backupID}, nil
		}
		if !c.caps.Snapshots {
			return source{}, invalid("this cloud has no snapshots")
		}
		if !wellFormedID(id) {
			return source{}, notFound("snapshot %s not found", id)
		}
		return source{snapshotID: id}, nil
	}
	if v := cs.GetVolume(); v != nil {
		id := v.GetVolumeId()
		if id == "" {
			return source{}, invalid("content source volume id is missing")
		}
		if !c.caps.Clone {
			return source{}, invalid("this cloud cannot clone volumes")
		}
		if !wellFormedID(id) {
			return source{}, notFound("volume %s not found", id)
		}
		return source{volumeID: id}, nil
	}
	return source{}, invalid("unknown volume content source")
}

// checkSource asks the cloud about the source of a volume about to be
// created: it must exist (and a snapshot be ready); its size is the floor
// of the new volume's.
func (c *Controller) checkSource(ctx context.Context, src source) (int, error) {
	switch {
	case src.backupID != "":
		id := BackupPrefix + src.backupID
		b, err := c.cloud.GetBackup(ctx, src.backupID)
		if err != nil {
			return 0, failed(err, "source snapshot %s", id)
		}
		if b.Status != cloud.StatusAvailable {
			return 0, precondition("source snapshot %s is %s, not available", id, b.RawStatus)
		}
		return b.SizeGiB, nil
	case src.snapshotID != "":
		snap, err := c.cloud.GetSnapshot(ctx, src.snapshotID)
		if err != nil {
			return 0, failed(err, "source snapshot %s", src.snapshotID)
		}
		if snap.Status != cloud.StatusAvailable {
			return 0, precondition("source snapshot %s is %s, not available", src.snapshotID, snap.RawStatus)
		}
		return snap.SizeGiB, nil
	case src.volumeID != "":
		vol, err := c.cloud.GetVolume(ctx, src.volumeID)
		if err != nil {
			return 0, failed(err, "source volume %s", src.volumeID)
		}
		return vol.SizeGiB, nil
	}
	return 0, nil
}
