package driver

import (
	"context"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
)

// MetaRestored marks a volume into which the driver restores a backup
// itself (clouds without native create-from-backup). It is written as soon
// as the cloud has accepted the restore, which moves the volume to
// restoring-backup before it answers: so the mark on an available volume
// means the restore finished, and on a restoring one that it is under
// way. A retry (the CO's deadline passed, the controller was killed) thus
// picks up the restore an earlier attempt started instead of starting it
// again; a restore outlasting one attempt would otherwise never finish.
const MetaRestored = "block.csi.openblock.io/restored-backup"

// restoreInto brings vol, an empty volume made for src's backup (maybe by
// an earlier attempt), to available with the backup's data in it. Each
// step already done is skipped, so a retry costs only what is left.
func (c *Controller) restoreInto(ctx context.Context, vol *cloud.Volume, src source) (*cloud.Volume, error) {
	switch {
	case vol.Metadata[MetaRestored] == src.backupID:
		// Started by an earlier attempt; done if available.
	case vol.Status == cloud.StatusRestoring:
		// An earlier attempt started the restore but did not live to mark
		// it: only the driver restores into its own volumes.
		if err := c.markRestored(ctx, vol, src); err != nil {
			return nil, err
		}
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
		if err := c.markRestored(ctx, vol, src); err != nil {
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

// markRestored writes MetaRestored on a volume being restored, and again
// the request name and source: Cinder's restore copies the backed-up
// volume's metadata over the target's, which would otherwise carry the
// source volume's name and so no longer be known as this request's.
func (c *Controller) markRestored(ctx context.Context, vol *cloud.Volume, src source) error {
	md := map[string]string{MetaRestored: src.backupID, MetaRequestName: vol.Name, MetaSource: src.String()}
	return c.cloud.SetVolumeMetadata(ctx, vol.ID, md)
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
