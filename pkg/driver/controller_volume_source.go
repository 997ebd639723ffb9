package driver

import (
	"context"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
)

// MetaRestored marks a volume into which the driver restored a backup
// itself (clouds without native create-from-backup).
const MetaRestored = "block.csi.openblock.io/restored-backup"

func (c *Controller) restoreInto(ctx context.Context, vol *cloud.Volume, backupID string) (*cloud.Volume, error) {
	if err := c.cloud.RestoreBackup(ctx, backupID, vol.ID); err != nil {
		return nil, err
	}
	got, err := c.waiter.WaitVolumeOp(ctx, waiter.OpRestore, vol.ID, func(v *cloud.Volume) (bool, error) {
		return v.Status == cloud.StatusAvailable, nil
	})
	if err != nil {
		return nil, err
	}
	if err := c.cloud.SetVolumeMetadata(ctx, vol.ID, map[string]string{MetaRestored: backupID}); err != nil {
		return nil, err
	}
	return got, nil
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
