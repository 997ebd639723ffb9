// The methods of cloud.Cloud, each made through run.

package callpool

import (
	"context"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

func (p *Pool) CreateVolume(ctx context.Context, req cloud.CreateVolumeRequest) (*cloud.Volume, error) {
	return run(ctx, p, func(ctx context.Context) (*cloud.Volume, error) { return p.c.CreateVolume(ctx, req) })
}

func (p *Pool) GetVolume(ctx context.Context, id string) (*cloud.Volume, error) {
	return run(ctx, p, func(ctx context.Context) (*cloud.Volume, error) { return p.c.GetVolume(ctx, id) })
}

func (p *Pool) ListVolumes(ctx context.Context, opts cloud.ListOptions) (cloud.Page[cloud.Volume], error) {
	return run(ctx, p, func(ctx context.Context) (cloud.Page[cloud.Volume], error) { return p.c.ListVolumes(ctx, opts) })
}

func (p *Pool) DeleteVolume(ctx context.Context, id string) error {
	_, err := run(ctx, p, func(ctx context.Context) (struct{}, error) { return struct{}{}, p.c.DeleteVolume(ctx, id) })
	return err
}

func (p *Pool) ExtendVolume(ctx context.Context, id string, newSizeGiB int) error {
	_, err := run(ctx, p, func(ctx context.Context) (struct{}, error) { return struct{}{}, p.c.ExtendVolume(ctx, id, newSizeGiB) })
	return err
}

func (p *Pool) RetypeVolume(ctx context.Context, id, newType string, migration cloud.MigrationPolicy) error {
	_, err := run(ctx, p, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, p.c.RetypeVolume(ctx, id, newType, migration)
	})
	return err
}

func (p *Pool) SetVolumeMetadata(ctx context.Context, id string, md map[string]string) error {
	_, err := run(ctx, p, func(ctx context.Context) (struct{}, error) { return struct{}{}, p.c.SetVolumeMetadata(ctx, id, md) })
	return err
}

func (p *Pool) AttachVolume(ctx context.Context, serverID, volumeID string) (*cloud.Attachment, error) {
	return run(ctx, p, func(ctx context.Context) (*cloud.Attachment, error) { return p.c.AttachVolume(ctx, serverID, volumeID) })
}

func (p *Pool) DetachVolume(ctx context.Context, serverID, volumeID string) error {
	_, err := run(ctx, p, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, p.c.DetachVolume(ctx, serverID, volumeID)
	})
	return err
}

func (p *Pool) CreateSnapshot(ctx context.Context, req cloud.CreateSnapshotRequest) (*cloud.Snapshot, error) {
	return run(ctx, p, func(ctx context.Context) (*cloud.Snapshot, error) { return p.c.CreateSnapshot(ctx, req) })
}

func (p *Pool) GetSnapshot(ctx context.Context, id string) (*cloud.Snapshot, error) {
	return run(ctx, p, func(ctx context.Context) (*cloud.Snapshot, error) { return p.c.GetSnapshot(ctx, id) })
}

func (p *Pool) ListSnapshots(ctx context.Context, opts cloud.ListOptions) (cloud.Page[cloud.Snapshot], error) {
	return run(ctx, p, func(ctx context.Context) (cloud.Page[cloud.Snapshot], error) { return p.c.ListSnapshots(ctx, opts) })
}

func (p *Pool) DeleteSnapshot(ctx context.Context, id string) error {
	_, err := run(ctx, p, func(ctx context.Context) (struct{}, error) { return struct{}{}, p.c.DeleteSnapshot(ctx, id) })
	return err
}

func (p *Pool) CreateBackup(ctx context.Context, req cloud.CreateBackupRequest) (*cloud.Backup, error) {
	return run(ctx, p, func(ctx context.Context) (*cloud.Backup, error) { return p.c.CreateBackup(ctx, req) })
}

func (p *Pool) GetBackup(ctx context.Context, id string) (*cloud.Backup, error) {
	return run(ctx, p, func(ctx context.Context) (*cloud.Backup, error) { return p.c.GetBackup(ctx, id) })
}

func (p *Pool) ListBackups(ctx context.Context, opts cloud.ListOptions) (cloud.Page[cloud.Backup], error) {
	return run(ctx, p, func(ctx context.Context) (cloud.Page[cloud.Backup], error) { return p.c.ListBackups(ctx, opts) })
}

func (p *Pool) DeleteBackup(ctx context.Context, id string) error {
	_, err := run(ctx, p, func(ctx context.Context) (struct{}, error) { return struct{}{}, p.c.DeleteBackup(ctx, id) })
	return err
}

func (p *Pool) RestoreBackup(ctx context.Context, backupID, volumeID string) error {
	_, err := run(ctx, p, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, p.c.RestoreBackup(ctx, backupID, volumeID)
	})
	return err
}

func (p *Pool) GetLimits(ctx context.Context) (*cloud.Limits, error) {
	return run(ctx, p, func(ctx context.Context) (*cloud.Limits, error) { return p.c.GetLimits(ctx) })
}
