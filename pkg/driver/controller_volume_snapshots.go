package driver

import (
	"context"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// clearFailedSnapshots removes the failed snapshots of volID that this
// driver made and waits until they are gone: the cloud refuses to delete
// a volume that has snapshots, and a snapshot that failed after its
// CreateSnapshot gave up is never handed to DeleteSnapshot by the CO. It
// answers FailedPrecondition when a snapshot remains that is not a failed
// one of this driver's.
func (c *Controller) clearFailedSnapshots(ctx context.Context, volID string) error {
	snaps, _, err := collect(ctx, c.cloud.ListSnapshots, cloud.ListOptions{VolumeID: volID}, 0)
	if err != nil {
		return failed(err, "deleting volume %s: listing its snapshots", volID)
	}
	var clearing []*cloud.Snapshot
	for i := range snaps {
		s := &snaps[i]
		if s.VolumeID != volID {
			continue
		}
		if !ownSnapshot(s) || !gone(s.Status) {
			return precondition("volume %s still has snapshot %s (%s, %s); delete it first", volID, s.ID, s.Name, s.RawStatus)
		}
		clearing = append(clearing, s)
	}
	for _, s := range clearing {
		if err := c.clearFailed(ctx, c.snapshotKind(), s.Name, s.ID, s.Status, s.RawStatus, c.waiter.WaitSnapshotGone); err != nil {
			return err
		}
	}
	return nil
}
