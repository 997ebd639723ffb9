package lunanode

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// CreateVolume creates an empty volume or one from a snapshot (volume/create).
// Name becomes the label; Description and Metadata are dropped (LunaNode
// has neither). LunaNode has no volume types, so a type asked for is
// refused rather than silently ignored. A volume from a snapshot is created in the
// snapshot's region. The returned volume is "creating"; its serial
// (identification) is known once GetVolume reports it.
func (c *Cloud) CreateVolume(ctx context.Context, req cloud.CreateVolumeRequest) (*cloud.Volume, error) {
	if req.Name == "" {
		return nil, cloud.Errorf(cloud.ErrInvalid, "a volume needs a name (it becomes the LunaNode label)")
	}
	if req.SizeGiB <= 0 {
		return nil, cloud.Errorf(cloud.ErrOutOfRange, "volume size must be at least 1 GiB, got %d", req.SizeGiB)
	}
	if req.SourceVolumeID != "" {
		return nil, cloud.Errorf(cloud.ErrUnsupported, "LunaNode cannot clone a volume")
	}
	if req.BackupID != "" {
		return nil, cloud.Errorf(cloud.ErrUnsupported, "LunaNode has no backups")
	}
	if req.VolumeType != "" {
		return nil, cloud.Errorf(cloud.ErrInvalid, "volume type %q: LunaNode volumes have no types; leave the StorageClass's type parameter out", req.VolumeType)
	}
	region := req.Zone
	params := map[string]string{
		"label": req.Name,
		"size":  strconv.Itoa(req.SizeGiB),
	}
	if req.SnapshotID != "" {
		snap, err := c.parseSnapshotID(req.SnapshotID)
		if err != nil {
			return nil, err
		}
		if region != "" && region != snap.region {
			return nil, cloud.Errorf(cloud.ErrInvalid, "snapshot %s is in region %s, not %s", req.SnapshotID, snap.region, region)
		}
		region = snap.region
		params["snapshot_id"] = snap.id
	}
	if region == "" {
		region = c.defRegion
	}
	if !slices.Contains(c.regions, region) {
		return nil, cloud.Errorf(cloud.ErrInvalid, "unknown region %q (have %v)", region, c.regions)
	}
	params["region"] = region
	var resp createVolumeResponse
	if err := c.write(ctx, "volume", "create", params, &resp); err != nil {
		return nil, err
	}
	ref, err := c.parseVolumeID(region + "/" + string(resp.VolumeID))
	if err != nil {
		return nil, &cloud.Error{Kind: cloud.ErrFailed, Message: "volume/create returned an unusable volume_id", Cause: err}
	}
	return &cloud.Volume{
		ID:               ref.String(),
		Name:             req.Name,
		SizeGiB:          req.SizeGiB,
		Status:           cloud.StatusCreating,
		RawStatus:        "creating",
		Zone:             region,
		SourceSnapshotID: req.SnapshotID,
	}, nil
}

// info calls volume/info. The region is sent along as LunaNode's own client
// does; the response does not carry it.
func (c *Cloud) info(ctx context.Context, ref volumeRef) (*cloud.Volume, error) {
	var resp volumeInfoResponse
	err := c.read(ctx, "volume", "info", map[string]string{"region": ref.region, "volume_id": ref.id}, &resp)
	if err != nil {
		return nil, err
	}
	if resp.Volume == nil {
		return nil, cloud.Errorf(cloud.ErrNotFound, "volume %s: volume/info returned no volume", ref)
	}
	v := toVolume(ref, resp.Volume)
	return &v, nil
}

// GetVolume implements cloud.Cloud (volume/info).
func (c *Cloud) GetVolume(ctx context.Context, id string) (*cloud.Volume, error) {
	ref, err := c.parseVolumeID(id)
	if err != nil {
		return nil, err
	}
	return c.info(ctx, ref)
}

// infoConcurrency bounds the volume/info calls one listing makes at once.
const infoConcurrency = 8

// ListVolumes implements cloud.Cloud. volume/list returns every volume of
// the account at once; this filters to the configured regions and
// opts.Name, orders by region then id, and pages client-side with the last
// id as marker. Its items lack the attachment and report "active" rather
// than the real state, so each volume of the returned page is completed
// with volume/info (a volume deleted in between is left out): a page of N
// volumes costs 1+N calls, which callers should bound with opts.Limit.
func (c *Cloud) ListVolumes(ctx context.Context, opts cloud.ListOptions) (cloud.Page[cloud.Volume], error) {
	var after *volumeRef
	if opts.Marker != "" {
		m, err := c.parseVolumeID(opts.Marker)
		if err != nil {
			return cloud.Page[cloud.Volume]{}, cloud.Errorf(cloud.ErrInvalid, "invalid marker %q", opts.Marker)
		}
		after = &m
	}
	var resp listVolumesResponse
	if err := c.read(ctx, "volume", "list", nil, &resp); err != nil {
		return cloud.Page[cloud.Volume]{}, err
	}
	type item struct {
		ref volumeRef
		w   wireVolume
	}
	var items []item
	for _, w := range resp.Volumes {
		if opts.Name != "" && w.Name != opts.Name {
			continue
		}
		ref, err := c.parseVolumeID(w.Region + "/" + string(w.ID))
		if err != nil {
			continue // another region, or not a volume we can address
		}
		if after != nil && compareVolumeRefs(ref, *after) <= 0 {
			continue
		}
		items = append(items, item{ref, w})
	}
	slices.SortFunc(items, func(a, b item) int { return compareVolumeRefs(a.ref, b.ref) })
	var page cloud.Page[cloud.Volume]
	if opts.Limit > 0 && len(items) > opts.Limit {
		items = items[:opts.Limit]
		page.NextMarker = items[len(items)-1].ref.String()
	}
	vols := make([]*cloud.Volume, len(items))
	errs := make([]error, len(items))
	var wg sync.WaitGroup
	sem := make(chan struct{}, infoConcurrency)
	for i, it := range items {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			vols[i], errs[i] = c.info(ctx, it.ref)
		}()
	}
	wg.Wait()
	for i, it := range items {
		if cloud.IsNotFound(errs[i]) {
			continue
		}
		if errs[i] != nil {
			return cloud.Page[cloud.Volume]{}, errs[i]
		}
		v := vols[i]
		if v.Name == "" {
			v.Name = it.w.Name
		}
		if v.CreatedAt.IsZero() {
			v.CreatedAt = parseTime(it.w.TimeCreated)
		}
		page.Items = append(page.Items, *v)
	}
	return page, nil
}

// DeleteVolume implements cloud.Cloud (volume/delete). A volume that does not
// exist is ErrNotFound; an attached one ErrWrongState.
func (c *Cloud) DeleteVolume(ctx context.Context, id string) error {
	ref, err := c.parseVolumeID(id)
	if err != nil {
		return err
	}
	return c.write(ctx, "volume", "delete", map[string]string{"region": ref.region, "volume_id": ref.id}, nil)
}

// ExtendVolume implements cloud.Cloud (volume/extend). LunaNode extends
// unattached volumes only; an attached volume is ErrWrongState.
// RetypeVolume is ErrUnsupported: LunaNode volumes have no types.
func (c *Cloud) RetypeVolume(context.Context, string, string, cloud.MigrationPolicy) error {
	return cloud.Errorf(cloud.ErrUnsupported, "LunaNode volumes have no types to change")
}

func (c *Cloud) ExtendVolume(ctx context.Context, id string, newSizeGiB int) error {
	ref, err := c.parseVolumeID(id)
	if err != nil {
		return err
	}
	if newSizeGiB <= 0 {
		return cloud.Errorf(cloud.ErrOutOfRange, "invalid size %d GiB", newSizeGiB)
	}
	return c.write(ctx, "volume", "extend", map[string]string{
		"region": ref.region, "volume_id": ref.id, "size": strconv.Itoa(newSizeGiB),
	}, nil)
}

// RenameVolume changes a volume's label (volume/rename). It is not part of
// cloud.Cloud; the label is the idempotency key, so renaming is for tools.
func (c *Cloud) RenameVolume(ctx context.Context, id, name string) error {
	ref, err := c.parseVolumeID(id)
	if err != nil {
		return err
	}
	if name == "" {
		return cloud.Errorf(cloud.ErrInvalid, "a volume needs a name")
	}
	return c.write(ctx, "volume", "rename", map[string]string{"region": ref.region, "volume_id": ref.id, "name": name}, nil)
}

// SetVolumeMetadata implements cloud.Cloud. LunaNode volumes have no
// metadata, so md is dropped; the call still reports a missing volume.
func (c *Cloud) SetVolumeMetadata(ctx context.Context, id string, md map[string]string) error {
	ref, err := c.parseVolumeID(id)
	if err != nil {
		return err
	}
	_, err = c.info(ctx, ref)
	return err
}

// AttachVolume implements cloud.Cloud (volume/attach with target=auto; the
// guest finds the disk by serial, never by the target name). Attaching a
// volume already attached to serverID succeeds.
func (c *Cloud) AttachVolume(ctx context.Context, serverID, volumeID string) (*cloud.Attachment, error) {
	ref, err := c.parseVolumeID(volumeID)
	if err != nil {
		return nil, err
	}
	if serverID == "" {
		return nil, cloud.Errorf(cloud.ErrNotFound, "no server id")
	}
	err = c.write(ctx, "volume", "attach", map[string]string{
		"region": ref.region, "volume_id": ref.id, "vm_id": serverID, "target": "auto",
	}, nil)
	if errors.Is(err, cloud.ErrWrongState) {
		// The API refuses to attach an attached volume; if it is attached
		// where we want it, a retried attach has nothing left to do.
		if v, gerr := c.info(ctx, ref); gerr == nil && v.AttachedTo(serverID) {
			err = nil
		}
	}
	if err != nil {
		return nil, err
	}
	return &cloud.Attachment{ID: serverID + "/" + ref.String(), ServerID: serverID, VolumeID: ref.String()}, nil
}

// DetachVolume implements cloud.Cloud. volume/detach takes no server, so the
// volume is first looked up: detaching it from another server than serverID
// would pull a disk from under someone else, and is ErrNotFound instead.
func (c *Cloud) DetachVolume(ctx context.Context, serverID, volumeID string) error {
	ref, err := c.parseVolumeID(volumeID)
	if err != nil {
		return err
	}
	v, err := c.info(ctx, ref)
	if err != nil {
		return err
	}
	if !v.AttachedTo(serverID) {
		return cloud.Errorf(cloud.ErrNotFound, "volume %s is not attached to server %s", ref, serverID)
	}
	if v.Status == cloud.StatusDetaching {
		return nil
	}
	return c.write(ctx, "volume", "detach", map[string]string{"region": ref.region, "volume_id": ref.id}, nil)
}
