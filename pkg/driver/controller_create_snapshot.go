package driver

import (
	"context"
	"errors"
	"maps"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/protobuf/types/known/timestamppb"
	"k8s.io/klog/v2"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
)

// CreateSnapshot makes a cloud snapshot, or with `type: backup` a cloud
// backup whose CSI id carries BackupPrefix.
func (c *Controller) CreateSnapshot(ctx context.Context, req *csi.CreateSnapshotRequest) (*csi.CreateSnapshotResponse, error) {
	name, volID := req.GetName(), req.GetSourceVolumeId()
	if err := checkName("snapshot", name); err != nil {
		return nil, err
	}
	if volID == "" {
		return nil, invalid("source volume id is missing")
	}
	params, err := parseSnapshotParams(req.GetParameters())
	if err != nil {
		return nil, err
	}
	switch {
	case params.backup && !c.caps.Backups:
		return nil, invalid("this cloud has no backups; use a VolumeSnapshotClass without type: backup")
	case !params.backup && !c.caps.Snapshots:
		return nil, invalid("this cloud has no snapshots")
	}
	if !wellFormedID(volID) {
		return nil, notFound("source volume %s not found", volID)
	}
	release, err := hold(&c.inFlight, "snapshot-name/"+name, "snapshot "+name)
	if err != nil {
		return nil, err
	}
	defer release()

	c.probePredecessor(ctx)
	md := maps.Clone(params.metadata)
	md[MetaRequestName] = name
	if params.backup {
		return c.createBackup(ctx, name, volID, md)
	}

	snap, err := c.lookup.Snapshot(ctx, name)
	if err != nil {
		return nil, failed(err, "looking up snapshot %s", name)
	}
	if snap != nil && snap.VolumeID != volID {
		return nil, alreadyExists("snapshot %s exists for volume %s, not %s", name, snap.VolumeID, volID)
	}
	if snap != nil && gone(snap.Status) {
		if err := c.replaceFailed(ctx, c.snapshotKind(), name, snap.ID, snap.Status, snap.RawStatus); err != nil {
			return nil, err
		}
		snap = nil
	}
	madeHere := false
	for try := 1; ; try++ {
		if snap == nil {
			answered := c.twins.sending(c.snapshotTwins().name, name)
			snap, err = c.cloud.CreateSnapshot(ctx, cloud.CreateSnapshotRequest{
				Name: name, VolumeID: volID, Metadata: md, Description: snapshotDescription,
				Force: c.caps.SnapshotAttached == cloud.SnapshotAttachedForce,
			})
			answered(err)
			if err != nil {
				return nil, c.snapshotCreateError(ctx, err, name, volID)
			}
			klog.FromContext(ctx).V(2).Info("Snapshot created", "id", snap.ID)
			madeHere = true
		}
		ready, err := c.waiter.WaitSnapshot(ctx, snap.ID, waiter.SnapshotReady)
		if err == nil {
			if err := c.checkTwins(ctx, c.snapshotTwins(), name, ready.ID, ready.CreatedAt, madeHere); err != nil {
				return nil, err
			}
			return &csi.CreateSnapshotResponse{Snapshot: csiSnapshot(ready)}, nil
		}
		if !c.dropFailed(ctx, c.snapshotKind(), snap.ID, try, err) {
			return nil, c.notReady(ctx, err, c.snapshotKind(), name, snap.ID)
		}
		snap = nil
	}
}

func (c *Controller) createBackup(ctx context.Context, name, volID string, md map[string]string) (*csi.CreateSnapshotResponse, error) {
	b, err := c.lookup.Backup(ctx, name)
	if err != nil {
		return nil, failed(err, "looking up backup %s", name)
	}
	if b != nil && b.VolumeID != volID {
		return nil, alreadyExists("snapshot %s exists for volume %s, not %s", name, b.VolumeID, volID)
	}
	if b != nil && gone(b.Status) {
		if err := c.replaceFailed(ctx, c.backupKind(), name, b.ID, b.Status, b.RawStatus); err != nil {
			return nil, err
		}
		b = nil
	}
	madeHere := false
	for try := 1; ; try++ {
		if b == nil {
			answered := c.twins.sending(c.backupTwins().name, name)
			b, err = c.cloud.CreateBackup(ctx, cloud.CreateBackupRequest{
				Name: name, VolumeID: volID, Metadata: md, Description: backupDescription,
				// A backup of an attached volume is crash-consistent, as a
				// forced snapshot is; clouds that refuse it say so.
				Force: true,
			})
			answered(err)
			if err != nil {
				return nil, c.snapshotCreateError(ctx, err, name, volID)
			}
			klog.FromContext(ctx).V(2).Info("Backup created", "id", b.ID)
			madeHere = true
		}
		ready, err := c.waiter.WaitBackup(ctx, b.ID, waiter.BackupReady)
		if err == nil {
			if err := c.checkTwins(ctx, c.backupTwins(), name, ready.ID, ready.CreatedAt, madeHere); err != nil {
				return nil, err
			}
			return &csi.CreateSnapshotResponse{Snapshot: csiBackup(ready)}, nil
		}
		if !c.dropFailed(ctx, c.backupKind(), b.ID, try, err) {
			return nil, c.notReady(ctx, err, c.backupKind(), name, b.ID)
		}
		b = nil
	}
}

// snapshotCreateError explains a refused snapshot or backup, above all the
// attached-volume case the user can fix.
func (c *Controller) snapshotCreateError(ctx context.Context, err error, name, volID string) error {
	if cloud.IsNotFound(err) {
		return notFound("source volume %s not found", volID)
	}
	if errors.Is(err, cloud.ErrWrongState) {
		if vol, gerr := c.cloud.GetVolume(ctx, volID); gerr == nil && len(vol.Attachments) > 0 {
			hint := "detach the volume"
			if c.caps.Backups {
				hint += " or use a VolumeSnapshotClass with type: backup"
			}
			return precondition("volume %s is attached and this cloud cannot snapshot attached volumes: %s (%v)", volID, hint, err)
		}
	}
	return failed(err, "creating snapshot %s of volume %s", name, volID)
}

func csiSnapshot(s *cloud.Snapshot) *csi.Snapshot {
	return &csi.Snapshot{
		SnapshotId:     s.ID,
		SourceVolumeId: s.VolumeID,
		SizeBytes:      int64(s.SizeGiB) * GiB,
		CreationTime:   timestamp(s.CreatedAt),
		ReadyToUse:     s.Status == cloud.StatusAvailable,
	}
}

func csiBackup(b *cloud.Backup) *csi.Snapshot {
	return &csi.Snapshot{
		SnapshotId:     BackupPrefix + b.ID,
		SourceVolumeId: b.VolumeID,
		SizeBytes:      int64(b.SizeGiB) * GiB,
		CreationTime:   timestamp(b.CreatedAt),
		ReadyToUse:     b.Status == cloud.StatusAvailable,
	}
}

func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		// CreationTime is required; a cloud that does not report it gets
		// the Unix epoch rather than a misleading "now".
		return timestamppb.New(time.Unix(0, 0))
	}
	return timestamppb.New(t)
}
