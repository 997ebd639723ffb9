package lunanode

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// CreateSnapshot implements cloud.Cloud (volume/snapshot-create). Name
// becomes the label; Description and Metadata are dropped. Force is not
// needed: LunaNode snapshots attached volumes.
func (c *Cloud) CreateSnapshot(ctx context.Context, req cloud.CreateSnapshotRequest) (*cloud.Snapshot, error) {
	ref, err := c.parseVolumeID(req.VolumeID)
	if err != nil {
		return nil, err
	}
	if req.Name == "" {
		return nil, cloud.Errorf(cloud.ErrInvalid, "a snapshot needs a name (it becomes the LunaNode label)")
	}
	var resp createSnapshotResponse
	if err := c.write(ctx, "volume", "snapshot-create", map[string]string{"region": ref.region, "volume_id": ref.id, "label": req.Name}, &resp); err != nil {
		return nil, err
	}
	if !isSnapshotUUID(string(resp.SnapshotID)) {
		return nil, cloud.Errorf(cloud.ErrFailed, "volume/snapshot-create returned an unusable snapshot_id")
	}
	return &cloud.Snapshot{
		ID:        snapshotRef{region: ref.region, id: string(resp.SnapshotID)}.String(),
		Name:      req.Name,
		VolumeID:  ref.String(),
		Status:    cloud.StatusCreating,
		RawStatus: "creating",
	}, nil
}

// listRegion returns the snapshots of one region (volume/snapshot-list).
func (c *Cloud) listRegion(ctx context.Context, region string) ([]cloud.Snapshot, error) {
	var resp listSnapshotsResponse
	if err := c.read(ctx, "volume", "snapshot-list", map[string]string{"region": region}, &resp); err != nil {
		return nil, err
	}
	out := make([]cloud.Snapshot, 0, len(resp.Snapshots))
	for _, w := range resp.Snapshots {
		s := cloud.Snapshot{
			ID:        snapshotRef{region: region, id: w.ID}.String(),
			Name:      w.Name,
			SizeGiB:   w.Size.gib(),
			Status:    snapshotStatus(w.Status),
			RawStatus: w.Status,
		}
		if w.Volume != nil && w.Volume.ID != "" {
			s.VolumeID = region + "/" + string(w.Volume.ID)
			if s.SizeGiB == 0 {
				s.SizeGiB = w.Volume.Size.gib()
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// GetSnapshot implements cloud.Cloud; LunaNode has no snapshot info call, so
// it lists the snapshot's region.
func (c *Cloud) GetSnapshot(ctx context.Context, id string) (*cloud.Snapshot, error) {
	ref, err := c.parseSnapshotID(id)
	if err != nil {
		return nil, err
	}
	snaps, err := c.listRegion(ctx, ref.region)
	if err != nil {
		return nil, err
	}
	for i := range snaps {
		if strings.EqualFold(snaps[i].ID, ref.String()) {
			return &snaps[i], nil
		}
	}
	return nil, cloud.Errorf(cloud.ErrNotFound, "snapshot %s not found", id)
}

// ListSnapshots implements cloud.Cloud: one snapshot-list per configured
// region (only the volume's region when opts.VolumeID is set), ordered by
// id, paged client-side with the last id as marker.
func (c *Cloud) ListSnapshots(ctx context.Context, opts cloud.ListOptions) (cloud.Page[cloud.Snapshot], error) {
	regions := c.regions
	if opts.VolumeID != "" {
		ref, err := c.parseVolumeID(opts.VolumeID)
		if err != nil {
			return cloud.Page[cloud.Snapshot]{}, nil // no such volume, so no snapshots of it
		}
		regions = []string{ref.region}
	}
	if opts.Marker != "" {
		if _, err := c.parseSnapshotID(opts.Marker); err != nil {
			return cloud.Page[cloud.Snapshot]{}, cloud.Errorf(cloud.ErrInvalid, "invalid marker %q", opts.Marker)
		}
	}
	var all []cloud.Snapshot
	for _, r := range regions {
		snaps, err := c.listRegion(ctx, r)
		if err != nil {
			return cloud.Page[cloud.Snapshot]{}, err
		}
		for _, s := range snaps {
			if opts.Name != "" && s.Name != opts.Name {
				continue
			}
			if opts.VolumeID != "" && s.VolumeID != opts.VolumeID {
				continue
			}
			if opts.Marker != "" && s.ID <= opts.Marker {
				continue
			}
			all = append(all, s)
		}
	}
	slices.SortFunc(all, func(a, b cloud.Snapshot) int { return cmp.Compare(a.ID, b.ID) })
	page := cloud.Page[cloud.Snapshot]{Items: all}
	if opts.Limit > 0 && len(all) > opts.Limit {
		page.Items = all[:opts.Limit]
		page.NextMarker = page.Items[opts.Limit-1].ID
	}
	return page, nil
}

// DeleteSnapshot implements cloud.Cloud (volume/snapshot-delete, which needs
// the region).
func (c *Cloud) DeleteSnapshot(ctx context.Context, id string) error {
	ref, err := c.parseSnapshotID(id)
	if err != nil {
		return err
	}
	return c.write(ctx, "volume", "snapshot-delete", map[string]string{"region": ref.region, "snapshot_id": ref.id}, nil)
}

func noBackups() error { return cloud.Errorf(cloud.ErrUnsupported, "LunaNode has no volume backups") }

// CreateBackup is ErrUnsupported: LunaNode has no volume backups.
func (c *Cloud) CreateBackup(context.Context, cloud.CreateBackupRequest) (*cloud.Backup, error) {
	return nil, noBackups()
}

// GetBackup is ErrUnsupported.
func (c *Cloud) GetBackup(context.Context, string) (*cloud.Backup, error) { return nil, noBackups() }

// ListBackups is ErrUnsupported.
func (c *Cloud) ListBackups(context.Context, cloud.ListOptions) (cloud.Page[cloud.Backup], error) {
	return cloud.Page[cloud.Backup]{}, noBackups()
}

// DeleteBackup is ErrUnsupported.
func (c *Cloud) DeleteBackup(context.Context, string) error { return noBackups() }

// RestoreBackup is ErrUnsupported.
func (c *Cloud) RestoreBackup(context.Context, string, string) error { return noBackups() }

// GetLimits is ErrUnsupported: the API has no quota call (LunaNode bills
// by credit rather than by quota).
func (c *Cloud) GetLimits(context.Context) (*cloud.Limits, error) {
	return nil, cloud.Errorf(cloud.ErrUnsupported, "LunaNode reports no quota")
}
