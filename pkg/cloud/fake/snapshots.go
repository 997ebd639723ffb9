package fake

import (
	"context"
	"maps"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

func (c *Cloud) CreateSnapshot(ctx context.Context, req cloud.CreateSnapshotRequest) (*cloud.Snapshot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "CreateSnapshot"); err != nil {
		return nil, err
	}
	if !c.caps.Snapshots {
		return nil, cloud.Errorf(cloud.ErrUnsupported, "snapshots are not supported")
	}
	v, ok := c.volumes[req.VolumeID]
	if !ok {
		return nil, notFound("volume", req.VolumeID)
	}
	switch v.obj.Status {
	case cloud.StatusAvailable:
	case cloud.StatusInUse:
		switch c.caps.SnapshotAttached {
		case cloud.SnapshotAttachedForbidden:
			return nil, wrongState("volume %s is attached; snapshots of attached volumes are not allowed", req.VolumeID)
		case cloud.SnapshotAttachedForce:
			if !req.Force {
				return nil, wrongState("volume %s is in-use; use force to snapshot it", req.VolumeID)
			}
		}
	default:
		return nil, wrongState("volume %s is %s; cannot snapshot", req.VolumeID, v.obj.RawStatus)
	}
	if c.limits.MaxSnapshots >= 0 && len(c.snapshots)+1 > c.limits.MaxSnapshots {
		return nil, &cloud.Error{Kind: cloud.ErrQuotaExceeded, Message: "maximum number of snapshots exceeded", HTTPStatus: 413}
	}
	id := newID()
	s := cloud.Snapshot{
		ID: id, Name: req.Name, Description: req.Description, VolumeID: req.VolumeID,
		SizeGiB: v.obj.SizeGiB, Status: cloud.StatusCreating, RawStatus: "creating",
		Metadata: maps.Clone(req.Metadata), CreatedAt: time.Now(),
	}
	c.snapshots[id] = &entry[cloud.Snapshot]{seq: c.nextSeq(), obj: s}
	c.later("", func() {
		if e, ok := c.snapshots[id]; ok && e.obj.Status == cloud.StatusCreating {
			e.obj.Status, e.obj.RawStatus = cloud.StatusAvailable, "available"
		}
	})
	out := copyOf(s)
	return &out, nil
}

func (c *Cloud) GetSnapshot(ctx context.Context, id string) (*cloud.Snapshot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "GetSnapshot"); err != nil {
		return nil, err
	}
	e, ok := c.snapshots[id]
	if !ok {
		return nil, notFound("snapshot", id)
	}
	out := copyOf(e.obj)
	return &out, nil
}

func (c *Cloud) ListSnapshots(ctx context.Context, opts cloud.ListOptions) (cloud.Page[cloud.Snapshot], error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "ListSnapshots"); err != nil {
		return cloud.Page[cloud.Snapshot]{}, err
	}
	keep := func(s *cloud.Snapshot) bool {
		return (opts.Name == "" || s.Name == opts.Name) && (opts.VolumeID == "" || s.VolumeID == opts.VolumeID)
	}
	return page(c, c.snapshots, func(s *cloud.Snapshot) string { return s.ID }, keep, opts)
}

func (c *Cloud) DeleteSnapshot(ctx context.Context, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "DeleteSnapshot"); err != nil {
		return err
	}
	e, ok := c.snapshots[id]
	if !ok {
		return notFound("snapshot", id)
	}
	if e.obj.Status != cloud.StatusAvailable && e.obj.Status != cloud.StatusError {
		return wrongState("snapshot status must be available or error, but is %s", e.obj.RawStatus)
	}
	e.obj.Status, e.obj.RawStatus = cloud.StatusDeleting, "deleting"
	c.later("", func() { delete(c.snapshots, id) })
	return nil
}

func (c *Cloud) CreateBackup(ctx context.Context, req cloud.CreateBackupRequest) (*cloud.Backup, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "CreateBackup"); err != nil {
		return nil, err
	}
	if !c.caps.Backups {
		return nil, cloud.Errorf(cloud.ErrUnsupported, "backups are not supported")
	}
	v, ok := c.volumes[req.VolumeID]
	if !ok {
		return nil, notFound("volume", req.VolumeID)
	}
	back := v.obj.Status
	switch {
	case back == cloud.StatusAvailable:
	case back == cloud.StatusInUse && req.Force:
	default:
		return nil, wrongState("volume %s is %s; cannot back it up", req.VolumeID, v.obj.RawStatus)
	}
	if c.limits.MaxBackups >= 0 && len(c.backups)+1 > c.limits.MaxBackups {
		return nil, &cloud.Error{Kind: cloud.ErrQuotaExceeded, Message: "maximum number of backups exceeded", HTTPStatus: 413}
	}
	id := newID()
	b := cloud.Backup{
		ID: id, Name: req.Name, Description: req.Description, VolumeID: req.VolumeID,
		SizeGiB: v.obj.SizeGiB, Zone: v.obj.Zone, Status: cloud.StatusCreating, RawStatus: "creating",
		Metadata: maps.Clone(req.Metadata), CreatedAt: time.Now(),
	}
	c.backups[id] = &entry[cloud.Backup]{seq: c.nextSeq(), obj: b}
	setVolStatus(&v.obj, cloud.StatusBackingUp)
	c.later("", func() {
		if e, ok := c.backups[id]; ok && e.obj.Status == cloud.StatusCreating {
			e.obj.Status, e.obj.RawStatus = cloud.StatusAvailable, "available"
		}
		if e, ok := c.volumes[req.VolumeID]; ok && e.obj.Status == cloud.StatusBackingUp {
			setVolStatus(&e.obj, back)
		}
	})
	out := copyOf(b)
	return &out, nil
}

func (c *Cloud) GetBackup(ctx context.Context, id string) (*cloud.Backup, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "GetBackup"); err != nil {
		return nil, err
	}
	if !c.caps.Backups {
		return nil, cloud.Errorf(cloud.ErrUnsupported, "backups are not supported")
	}
	e, ok := c.backups[id]
	if !ok {
		return nil, notFound("backup", id)
	}
	out := copyOf(e.obj)
	return &out, nil
}

func (c *Cloud) ListBackups(ctx context.Context, opts cloud.ListOptions) (cloud.Page[cloud.Backup], error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "ListBackups"); err != nil {
		return cloud.Page[cloud.Backup]{}, err
	}
	if !c.caps.Backups {
		return cloud.Page[cloud.Backup]{}, cloud.Errorf(cloud.ErrUnsupported, "backups are not supported")
	}
	keep := func(b *cloud.Backup) bool {
		return (opts.Name == "" || b.Name == opts.Name) && (opts.VolumeID == "" || b.VolumeID == opts.VolumeID)
	}
	return page(c, c.backups, func(b *cloud.Backup) string { return b.ID }, keep, opts)
}

func (c *Cloud) DeleteBackup(ctx context.Context, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "DeleteBackup"); err != nil {
		return err
	}
	if !c.caps.Backups {
		return cloud.Errorf(cloud.ErrUnsupported, "backups are not supported")
	}
	e, ok := c.backups[id]
	if !ok {
		return notFound("backup", id)
	}
	if e.obj.Status != cloud.StatusAvailable && e.obj.Status != cloud.StatusError {
		return wrongState("backup status must be available or error, but is %s", e.obj.RawStatus)
	}
	e.obj.Status, e.obj.RawStatus = cloud.StatusDeleting, "deleting"
	c.later("", func() { delete(c.backups, id) })
	return nil
}

func (c *Cloud) RestoreBackup(ctx context.Context, backupID, volumeID string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "RestoreBackup"); err != nil {
		return err
	}
	if !c.caps.Backups {
		return cloud.Errorf(cloud.ErrUnsupported, "backups are not supported")
	}
	b, ok := c.backups[backupID]
	if !ok {
		return notFound("backup", backupID)
	}
	v, ok := c.volumes[volumeID]
	if !ok {
		return notFound("volume", volumeID)
	}
	if b.obj.Status != cloud.StatusAvailable {
		return wrongState("backup %s is %s", backupID, b.obj.RawStatus)
	}
	if v.obj.Status != cloud.StatusAvailable {
		return wrongState("volume %s is %s; it must be available", volumeID, v.obj.RawStatus)
	}
	if v.obj.SizeGiB < b.obj.SizeGiB {
		return cloud.Errorf(cloud.ErrInvalid, "volume %s is smaller than backup %s", volumeID, backupID)
	}
	setVolStatus(&v.obj, cloud.StatusRestoring)
	c.later(volumeID, func() {
		if e, ok := c.volumes[volumeID]; ok && e.obj.Status == cloud.StatusRestoring {
			setVolStatus(&e.obj, cloud.StatusAvailable)
		}
	})
	return nil
}
