package driver

import (
	"context"
	"errors"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/klog/v2"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

func (c *Controller) DeleteSnapshot(ctx context.Context, req *csi.DeleteSnapshotRequest) (*csi.DeleteSnapshotResponse, error) {
	id := req.GetSnapshotId()
	if id == "" {
		return nil, invalid("snapshot id is missing")
	}
	backupID, isBackup := strings.CutPrefix(id, BackupPrefix)
	if (isBackup && (!c.caps.Backups || !wellFormedID(backupID))) || (!isBackup && !wellFormedID(id)) {
		return &csi.DeleteSnapshotResponse{}, nil
	}
	release, err := hold(&c.inFlight, "snapshot/"+id, "snapshot "+id)
	if err != nil {
		return nil, err
	}
	defer release()
	c.probePredecessor(ctx)

	if isBackup {
		err := c.cloud.DeleteBackup(ctx, backupID)
		if cloud.IsNotFound(err) {
			return &csi.DeleteSnapshotResponse{}, nil
		}
		if errors.Is(err, cloud.ErrWrongState) {
			if b, gerr := c.cloud.GetBackup(ctx, backupID); cloud.IsNotFound(gerr) {
				return &csi.DeleteSnapshotResponse{}, nil
			} else if gerr == nil && b.Status == cloud.StatusDeleting {
				err = nil
			}
		}
		if err != nil {
			return nil, failed(err, "deleting snapshot %s", id)
		}
		if err := c.waiter.WaitBackupGone(ctx, backupID); err != nil {
			return nil, failed(err, "waiting for snapshot %s to be deleted", id)
		}
		c.settleTwins(ctx, c.backupTwins(), backupID)
		return &csi.DeleteSnapshotResponse{}, nil
	}
	err = c.cloud.DeleteSnapshot(ctx, id)
	if cloud.IsNotFound(err) {
		return &csi.DeleteSnapshotResponse{}, nil
	}
	if errors.Is(err, cloud.ErrWrongState) {
		if s, gerr := c.cloud.GetSnapshot(ctx, id); cloud.IsNotFound(gerr) {
			return &csi.DeleteSnapshotResponse{}, nil
		} else if gerr == nil && s.Status == cloud.StatusDeleting {
			err = nil
		}
	}
	if err != nil {
		return nil, failed(err, "deleting snapshot %s", id)
	}
	// Wait it out: the cloud refuses to delete the source volume while
	// the snapshot exists, and the CO deletes that next.
	if err := c.waiter.WaitSnapshotGone(ctx, id); err != nil {
		return nil, failed(err, "waiting for snapshot %s to be deleted", id)
	}
	c.settleTwins(ctx, c.snapshotTwins(), id)
	klog.FromContext(ctx).V(2).Info("Snapshot deleted")
	return &csi.DeleteSnapshotResponse{}, nil
}
