package driver

import (
	"context"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

func (c *Controller) GetSnapshot(ctx context.Context, req *csi.GetSnapshotRequest) (*csi.GetSnapshotResponse, error) {
	id := req.GetSnapshotId()
	if id == "" {
		return nil, invalid("snapshot id is missing")
	}
	snap, err := c.lookupSnapshot(ctx, id)
	if err != nil {
		return nil, err
	}
	if snap == nil {
		return nil, notFound("snapshot %s not found", id)
	}
	return &csi.GetSnapshotResponse{Snapshot: snap}, nil
}

// lookupSnapshot returns the CSI snapshot with id (a snapshot or a
// backup), or nil when there is none.
func (c *Controller) lookupSnapshot(ctx context.Context, id string) (*csi.Snapshot, error) {
	if backupID, ok := strings.CutPrefix(id, BackupPrefix); ok {
		if !c.caps.Backups || !wellFormedID(backupID) {
			return nil, nil
		}
		b, err := c.cloud.GetBackup(ctx, backupID)
		if cloud.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, failed(err, "reading snapshot %s", id)
		}
		return csiBackup(b), nil
	}
	if !c.caps.Snapshots || !wellFormedID(id) {
		return nil, nil
	}
	s, err := c.cloud.GetSnapshot(ctx, id)
	if cloud.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, failed(err, "reading snapshot %s", id)
	}
	return csiSnapshot(s), nil
}
