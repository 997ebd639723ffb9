package driver

import (
	"context"
	"errors"
	"maps"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/protobuf/types/known/timestamppb"
	"k8s.io/klog/v2"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// CreateSnapshot makes a cloud snapshot, or with `type: backup` a cloud
// backup whose CSI id carries BackupPrefix.
func (d *Driver) CreateSnapshot(ctx context.Context, req *csi.CreateSnapshotRequest) (*csi.CreateSnapshotResponse, error) {
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
	case params.backup && !d.caps.Backups:
		return nil, invalid("this cloud has no backups; use a VolumeSnapshotClass without type: backup")
	case !params.backup && !d.caps.Snapshots:
		return nil, invalid("this cloud has no snapshots")
	}
	if !wellFormedID(volID) {
		return nil, notFound("source volume %s not found", volID)
	}
	if !d.inFlight.Insert("snapshot-name/" + name) {
		return nil, aborted("snapshot " + name)
	}
	defer d.inFlight.Delete("snapshot-name/" + name)

	md := maps.Clone(params.metadata)
	md[MetaRequestName] = name
	if params.backup {
		return d.createBackup(ctx, name, volID, md)
	}

	snap, err := d.waiter.FindSnapshotByName(ctx, name)
	if err != nil {
		return nil, failed(err, "looking up snapshot %s", name)
	}
	if snap != nil && snap.VolumeID != volID {
		return nil, alreadyExists("snapshot %s exists for volume %s, not %s", name, snap.VolumeID, volID)
	}
	if snap != nil && gone(snap.Status) {
		if err := d.replaceFailed(ctx, d.snapshotKind(), name, snap.ID, snap.Status, snap.RawStatus); err != nil {
			return nil, err
		}
		snap = nil
	}
	if snap == nil {
		snap, err = d.cloud.CreateSnapshot(ctx, cloud.CreateSnapshotRequest{
			Name: name, VolumeID: volID, Metadata: md, Description: snapshotDescription,
			Force: d.caps.SnapshotAttached == cloud.SnapshotAttachedForce,
		})
		if err != nil {
			return nil, d.snapshotCreateError(ctx, err, name, volID)
		}
		klog.V(2).InfoS("Snapshot created", "name", name, "id", snap.ID, "volume", volID)
	}
	ready, err := d.waiter.WaitSnapshot(ctx, snap.ID, cloud.SnapshotReady)
	if err != nil {
		return nil, d.notReady(err, d.snapshotKind(), name, snap.ID)
	}
	return &csi.CreateSnapshotResponse{Snapshot: csiSnapshot(ready)}, nil
}

func (d *Driver) createBackup(ctx context.Context, name, volID string, md map[string]string) (*csi.CreateSnapshotResponse, error) {
	b, err := d.waiter.FindBackupByName(ctx, name)
	if err != nil {
		return nil, failed(err, "looking up backup %s", name)
	}
	if b != nil && b.VolumeID != volID {
		return nil, alreadyExists("snapshot %s exists for volume %s, not %s", name, b.VolumeID, volID)
	}
	if b != nil && gone(b.Status) {
		if err := d.replaceFailed(ctx, d.backupKind(), name, b.ID, b.Status, b.RawStatus); err != nil {
			return nil, err
		}
		b = nil
	}
	if b == nil {
		b, err = d.cloud.CreateBackup(ctx, cloud.CreateBackupRequest{
			Name: name, VolumeID: volID, Metadata: md, Description: backupDescription,
			// A backup of an attached volume is crash-consistent, as a
			// forced snapshot is; clouds that refuse it say so.
			Force: true,
		})
		if err != nil {
			return nil, d.snapshotCreateError(ctx, err, name, volID)
		}
		klog.V(2).InfoS("Backup created", "name", name, "id", b.ID, "volume", volID)
	}
	ready, err := d.waiter.WaitBackup(ctx, b.ID, cloud.BackupReady)
	if err != nil {
		return nil, d.notReady(err, d.backupKind(), name, b.ID)
	}
	return &csi.CreateSnapshotResponse{Snapshot: csiBackup(ready)}, nil
}

// snapshotCreateError explains a refused snapshot or backup, above all the
// attached-volume case the user can fix.
func (d *Driver) snapshotCreateError(ctx context.Context, err error, name, volID string) error {
	if cloud.IsNotFound(err) {
		return notFound("source volume %s not found", volID)
	}
	if errors.Is(err, cloud.ErrWrongState) {
		if vol, gerr := d.cloud.GetVolume(ctx, volID); gerr == nil && len(vol.Attachments) > 0 {
			hint := "detach the volume"
			if d.caps.Backups {
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

func (d *Driver) DeleteSnapshot(ctx context.Context, req *csi.DeleteSnapshotRequest) (*csi.DeleteSnapshotResponse, error) {
	id := req.GetSnapshotId()
	if id == "" {
		return nil, invalid("snapshot id is missing")
	}
	backupID, isBackup := strings.CutPrefix(id, BackupPrefix)
	if (isBackup && (!d.caps.Backups || !wellFormedID(backupID))) || (!isBackup && !wellFormedID(id)) {
		return &csi.DeleteSnapshotResponse{}, nil
	}
	if !d.inFlight.Insert("snapshot/" + id) {
		return nil, aborted("snapshot " + id)
	}
	defer d.inFlight.Delete("snapshot/" + id)

	if isBackup {
		err := d.cloud.DeleteBackup(ctx, backupID)
		if cloud.IsNotFound(err) {
			return &csi.DeleteSnapshotResponse{}, nil
		}
		if errors.Is(err, cloud.ErrWrongState) {
			if b, gerr := d.cloud.GetBackup(ctx, backupID); cloud.IsNotFound(gerr) {
				return &csi.DeleteSnapshotResponse{}, nil
			} else if gerr == nil && b.Status == cloud.StatusDeleting {
				err = nil
			}
		}
		if err != nil {
			return nil, failed(err, "deleting snapshot %s", id)
		}
		if err := d.waiter.WaitBackupGone(ctx, backupID); err != nil {
			return nil, failed(err, "waiting for snapshot %s to be deleted", id)
		}
		return &csi.DeleteSnapshotResponse{}, nil
	}
	err := d.cloud.DeleteSnapshot(ctx, id)
	if cloud.IsNotFound(err) {
		return &csi.DeleteSnapshotResponse{}, nil
	}
	if errors.Is(err, cloud.ErrWrongState) {
		if s, gerr := d.cloud.GetSnapshot(ctx, id); cloud.IsNotFound(gerr) {
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
	if err := d.waiter.WaitSnapshotGone(ctx, id); err != nil {
		return nil, failed(err, "waiting for snapshot %s to be deleted", id)
	}
	klog.V(2).InfoS("Snapshot deleted", "id", id)
	return &csi.DeleteSnapshotResponse{}, nil
}

func (d *Driver) GetSnapshot(ctx context.Context, req *csi.GetSnapshotRequest) (*csi.GetSnapshotResponse, error) {
	id := req.GetSnapshotId()
	if id == "" {
		return nil, invalid("snapshot id is missing")
	}
	snap, err := d.lookupSnapshot(ctx, id)
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
func (d *Driver) lookupSnapshot(ctx context.Context, id string) (*csi.Snapshot, error) {
	if backupID, ok := strings.CutPrefix(id, BackupPrefix); ok {
		if !d.caps.Backups || !wellFormedID(backupID) {
			return nil, nil
		}
		b, err := d.cloud.GetBackup(ctx, backupID)
		if cloud.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, failed(err, "reading snapshot %s", id)
		}
		return csiBackup(b), nil
	}
	if !d.caps.Snapshots || !wellFormedID(id) {
		return nil, nil
	}
	s, err := d.cloud.GetSnapshot(ctx, id)
	if cloud.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, failed(err, "reading snapshot %s", id)
	}
	return csiSnapshot(s), nil
}
