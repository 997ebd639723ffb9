package fake

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

func (c *Cloud) CreateVolume(ctx context.Context, req cloud.CreateVolumeRequest) (*cloud.Volume, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "CreateVolume"); err != nil {
		return nil, err
	}
	if req.SizeGiB <= 0 || (c.caps.MinSizeGiB > 0 && req.SizeGiB < c.caps.MinSizeGiB) || (c.caps.MaxSizeGiB > 0 && req.SizeGiB > c.caps.MaxSizeGiB) {
		return nil, cloud.Errorf(cloud.ErrOutOfRange, "size %d GiB is outside %d..%d GiB", req.SizeGiB, c.caps.MinSizeGiB, c.caps.MaxSizeGiB)
	}
	if req.Zone != "" && len(c.caps.Zones) > 0 && !slices.Contains(c.caps.Zones, req.Zone) {
		return nil, cloud.Errorf(cloud.ErrInvalid, "availability zone %q is not one of %v", req.Zone, c.caps.Zones)
	}
	sources := 0
	for _, s := range []string{req.SnapshotID, req.SourceVolumeID, req.BackupID} {
		if s != "" {
			sources++
		}
	}
	if sources > 1 {
		return nil, cloud.Errorf(cloud.ErrInvalid, "at most one source may be given")
	}
	if err := c.checkSource(req); err != nil {
		return nil, err
	}
	used, count := c.usage()
	if c.limits.MaxVolumes >= 0 && count+1 > c.limits.MaxVolumes {
		return nil, &cloud.Error{Kind: cloud.ErrQuotaExceeded, Message: "maximum number of volumes exceeded", HTTPStatus: 413}
	}
	if c.limits.MaxTotalGiB >= 0 && used+req.SizeGiB > c.limits.MaxTotalGiB {
		return nil, &cloud.Error{Kind: cloud.ErrQuotaExceeded, Message: "requested volume exceeds the gigabytes quota", HTTPStatus: 413}
	}
	zone := req.Zone
	if zone == "" {
		zone = c.caps.DefaultZone
	}
	id := newID()
	v := cloud.Volume{
		ID: id, Name: req.Name, Description: req.Description, SizeGiB: req.SizeGiB,
		Zone: zone, VolumeType: req.VolumeType, SourceSnapshotID: req.SnapshotID,
		SourceVolumeID: req.SourceVolumeID, SourceBackupID: req.BackupID,
		Metadata: maps.Clone(req.Metadata), Serial: id, CreatedAt: time.Now(),
		Encrypted:   req.VolumeType != "" && slices.Contains(c.encryptedTypes, req.VolumeType),
		Multiattach: req.VolumeType != "" && slices.Contains(c.multiattachTypes, req.VolumeType),
	}
	if v.Metadata == nil {
		v.Metadata = map[string]string{}
	}
	setVolStatus(&v, cloud.StatusCreating)
	c.volumes[id] = &entry[cloud.Volume]{seq: c.nextSeq(), obj: v}
	fail := c.failNext > 0
	if fail {
		c.failNext--
	}
	c.later(id, func() {
		if e, ok := c.volumes[id]; ok && e.obj.Status == cloud.StatusCreating {
			if fail {
				e.obj.Status, e.obj.RawStatus, e.obj.CreateFailed = cloud.StatusError, "error", true
				return
			}
			setVolStatus(&e.obj, cloud.StatusAvailable)
		}
	})
	out := copyOf(v)
	return &out, nil
}

// checkSource checks the snapshot, volume or backup a new volume is to be
// created from; callers hold c.mu.
func (c *Cloud) checkSource(req cloud.CreateVolumeRequest) error {
	if req.SnapshotID != "" {
		s, ok := c.snapshots[req.SnapshotID]
		if !ok {
			return notFound("snapshot", req.SnapshotID)
		}
		if s.obj.Status != cloud.StatusAvailable {
			return wrongState("snapshot %s is %s, not available", req.SnapshotID, s.obj.Status)
		}
		if req.SizeGiB < s.obj.SizeGiB {
			return cloud.Errorf(cloud.ErrInvalid, "volume size %d GiB is smaller than the snapshot's %d GiB", req.SizeGiB, s.obj.SizeGiB)
		}
	}
	if req.SourceVolumeID != "" {
		if !c.caps.Clone {
			return cloud.Errorf(cloud.ErrUnsupported, "cloning is not supported")
		}
		v, ok := c.volumes[req.SourceVolumeID]
		if !ok {
			return notFound("volume", req.SourceVolumeID)
		}
		if v.obj.Status != cloud.StatusAvailable && v.obj.Status != cloud.StatusInUse {
			return wrongState("source volume %s is %s", req.SourceVolumeID, v.obj.Status)
		}
		if req.SizeGiB < v.obj.SizeGiB {
			return cloud.Errorf(cloud.ErrInvalid, "volume size %d GiB is smaller than the source's %d GiB", req.SizeGiB, v.obj.SizeGiB)
		}
	}
	if req.BackupID != "" {
		if !c.caps.Backups {
			return cloud.Errorf(cloud.ErrUnsupported, "backups are not supported")
		}
		b, ok := c.backups[req.BackupID]
		if !ok {
			return notFound("backup", req.BackupID)
		}
		if b.obj.Status != cloud.StatusAvailable {
			return wrongState("backup %s is %s, not available", req.BackupID, b.obj.Status)
		}
		if req.SizeGiB < b.obj.SizeGiB {
			return cloud.Errorf(cloud.ErrInvalid, "volume size %d GiB is smaller than the backup's %d GiB", req.SizeGiB, b.obj.SizeGiB)
		}
	}
	return nil
}

// usage is the GiB and count of volumes; callers hold c.mu.
func (c *Cloud) usage() (gib, count int) {
	for _, e := range c.volumes {
		gib += e.obj.SizeGiB
		count++
	}
	return gib, count
}

func (c *Cloud) GetVolume(ctx context.Context, id string) (*cloud.Volume, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "GetVolume"); err != nil {
		return nil, err
	}
	e, ok := c.volumes[id]
	if !ok {
		return nil, notFound("volume", id)
	}
	out := copyOf(e.obj)
	return &out, nil
}

func (c *Cloud) ListVolumes(ctx context.Context, opts cloud.ListOptions) (cloud.Page[cloud.Volume], error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "ListVolumes"); err != nil {
		return cloud.Page[cloud.Volume]{}, err
	}
	var keep func(*cloud.Volume) bool
	if opts.Name != "" {
		keep = func(v *cloud.Volume) bool { return v.Name == opts.Name }
	}
	return page(c, c.volumes, func(v *cloud.Volume) string { return v.ID }, keep, opts)
}

func (c *Cloud) DeleteVolume(ctx context.Context, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "DeleteVolume"); err != nil {
		return err
	}
	e, ok := c.volumes[id]
	if !ok {
		return notFound("volume", id)
	}
	if len(e.obj.Attachments) > 0 {
		return wrongState("volume %s is attached", id)
	}
	if e.obj.Status != cloud.StatusAvailable && e.obj.Status != cloud.StatusError {
		return wrongState("volume status must be available or error, but current status is: %s", e.obj.RawStatus)
	}
	for _, s := range c.snapshots {
		if s.obj.VolumeID == id {
			return wrongState("volume %s has dependent snapshots", id)
		}
	}
	setVolStatus(&e.obj, cloud.StatusDeleting)
	c.later(id, func() { delete(c.volumes, id) })
	return nil
}

// RetypeVolume goes through "retyping" (StatusBusy) to the new type. A
// type the fake was told is on another backend needs migration: with
// MigrationNever the volume goes back to its status with its old type, as
// Cinder's scheduler refuses it.
func (c *Cloud) RetypeVolume(ctx context.Context, id, newType string, migration cloud.MigrationPolicy) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "RetypeVolume"); err != nil {
		return err
	}
	if !c.caps.Retype {
		return cloud.Errorf(cloud.ErrUnsupported, "volumes cannot be retyped")
	}
	e, ok := c.volumes[id]
	if !ok {
		return notFound("volume", id)
	}
	back := e.obj.Status
	if back != cloud.StatusAvailable && back != cloud.StatusInUse {
		return wrongState("volume %s is %s; cannot retype", id, e.obj.RawStatus)
	}
	if newType == e.obj.VolumeType {
		return cloud.Errorf(cloud.ErrInvalid, "retype cannot change to the same volume type")
	}
	moves := slices.Contains(c.migratingTypes, newType)
	e.obj.Status, e.obj.RawStatus = cloud.StatusBusy, "retyping"
	c.later(id, func() {
		if e, ok := c.volumes[id]; ok && e.obj.RawStatus == "retyping" {
			if !moves || migration == cloud.MigrationOnDemand {
				e.obj.VolumeType = newType
				e.obj.Encrypted = slices.Contains(c.encryptedTypes, newType)
			}
			setVolStatus(&e.obj, back)
		}
	})
	return nil
}

func (c *Cloud) ExtendVolume(ctx context.Context, id string, newSizeGiB int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "ExtendVolume"); err != nil {
		return err
	}
	if c.caps.Expansion == cloud.ExpansionNone {
		return cloud.Errorf(cloud.ErrUnsupported, "volumes cannot be extended")
	}
	e, ok := c.volumes[id]
	if !ok {
		return notFound("volume", id)
	}
	back := e.obj.Status
	switch {
	case back == cloud.StatusAvailable:
	case back == cloud.StatusInUse && c.caps.Expansion == cloud.ExpansionOnline:
	default:
		return wrongState("volume %s is %s; cannot extend", id, e.obj.RawStatus)
	}
	if newSizeGiB <= e.obj.SizeGiB {
		return cloud.Errorf(cloud.ErrInvalid, "new size %d GiB must be greater than the current %d GiB", newSizeGiB, e.obj.SizeGiB)
	}
	if c.caps.MaxSizeGiB > 0 && newSizeGiB > c.caps.MaxSizeGiB {
		return cloud.Errorf(cloud.ErrOutOfRange, "size %d GiB exceeds %d GiB", newSizeGiB, c.caps.MaxSizeGiB)
	}
	setVolStatus(&e.obj, cloud.StatusExtending)
	c.later(id, func() {
		if e, ok := c.volumes[id]; ok && e.obj.Status == cloud.StatusExtending {
			e.obj.SizeGiB = newSizeGiB
			setVolStatus(&e.obj, back)
		}
	})
	return nil
}

func (c *Cloud) SetVolumeMetadata(ctx context.Context, id string, md map[string]string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "SetVolumeMetadata"); err != nil {
		return err
	}
	e, ok := c.volumes[id]
	if !ok {
		return notFound("volume", id)
	}
	if e.obj.Metadata == nil {
		e.obj.Metadata = map[string]string{}
	}
	maps.Copy(e.obj.Metadata, md)
	return nil
}

func (c *Cloud) AttachVolume(ctx context.Context, serverID, volumeID string) (*cloud.Attachment, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "AttachVolume"); err != nil {
		return nil, err
	}
	if !c.servers[serverID] {
		return nil, notFound("server", serverID)
	}
	e, ok := c.volumes[volumeID]
	if !ok {
		return nil, notFound("volume", volumeID)
	}
	v := &e.obj
	if v.AttachedTo(serverID) {
		return nil, wrongState("volume %s is already attached to server %s", volumeID, serverID)
	}
	switch {
	case v.Status == cloud.StatusAvailable:
	case v.Status == cloud.StatusInUse && v.Multiattach:
	default:
		return nil, wrongState("volume %s is %s; it must be available to attach", volumeID, v.RawStatus)
	}
	limit := c.caps.MaxVolumesPerNode
	if limit > 0 && c.attachedCount(serverID) >= limit {
		return nil, cloud.Errorf(cloud.ErrOutOfRange, "server %s has the maximum of %d volumes", serverID, limit)
	}
	att := cloud.Attachment{ID: newID(), ServerID: serverID, VolumeID: volumeID, Device: "/dev/vdb"}
	setVolStatus(v, cloud.StatusAttaching)
	c.attaching[volumeID] = serverID
	c.later(volumeID, func() {
		delete(c.attaching, volumeID)
		if e, ok := c.volumes[volumeID]; ok && e.obj.Status == cloud.StatusAttaching {
			e.obj.Attachments = append(e.obj.Attachments, att)
			setVolStatus(&e.obj, cloud.StatusInUse)
		}
	})
	return &att, nil
}

func (c *Cloud) attachedCount(serverID string) int {
	n := 0
	for _, e := range c.volumes {
		if e.obj.AttachedTo(serverID) || c.attaching[e.obj.ID] == serverID {
			n++
		}
	}
	return n
}

func (c *Cloud) DetachVolume(ctx context.Context, serverID, volumeID string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "DetachVolume"); err != nil {
		return err
	}
	if !c.servers[serverID] {
		return notFound("server", serverID)
	}
	e, ok := c.volumes[volumeID]
	if !ok {
		return notFound("volume", volumeID)
	}
	if !e.obj.AttachedTo(serverID) {
		return notFound("attachment of volume "+volumeID+" to server", serverID)
	}
	if e.obj.Status != cloud.StatusInUse {
		return wrongState("volume %s is %s; cannot detach", volumeID, e.obj.RawStatus)
	}
	setVolStatus(&e.obj, cloud.StatusDetaching)
	c.later(volumeID, func() {
		if e, ok := c.volumes[volumeID]; ok && e.obj.Status == cloud.StatusDetaching {
			e.obj.Attachments = slices.DeleteFunc(e.obj.Attachments, func(a cloud.Attachment) bool { return a.ServerID == serverID })
			if len(e.obj.Attachments) == 0 {
				setVolStatus(&e.obj, cloud.StatusAvailable)
			} else {
				setVolStatus(&e.obj, cloud.StatusInUse)
			}
		}
	})
	return nil
}

func (c *Cloud) GetLimits(ctx context.Context) (*cloud.Limits, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "GetLimits"); err != nil {
		return nil, err
	}
	l := c.limits
	l.UsedGiB, l.UsedVolumes = c.usage()
	l.UsedSnapshots = len(c.snapshots)
	l.UsedBackups = len(c.backups)
	for _, b := range c.backups {
		l.UsedBackupGiB += b.obj.SizeGiB
	}
	return &l, nil
}
