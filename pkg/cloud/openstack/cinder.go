package openstack

import (
	"context"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/availabilityzones"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/backups"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/limits"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/snapshots"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/pagination"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// Cinder microversions used on v3 only.
const (
	// 3.42: extend an in-use volume.
	mvExtendInUse = "3.42"
	// 3.47: create a volume from a backup.
	mvVolumeFromBackup = "3.47"
	// 3.51: backup create takes metadata (3.43) and availability_zone.
	mvBackupZone = "3.51"
)

// cinder speaks Cinder v2 and v3 through gophercloud's v3 packages: for the
// calls used here the two versions share paths and bodies; v3 features are
// only asked for by microversion, which a v2 endpoint is never sent.
type cinder struct {
	sc      *gophercloud.ServiceClient
	version int
}

// mv returns the client with a microversion header for one call.
func (c *cinder) mv(version string) *gophercloud.ServiceClient {
	sc := *c.sc
	sc.Microversion = version
	return &sc
}

func (c *cinder) createVolume(ctx context.Context, req cloud.CreateVolumeRequest) (*cloud.Volume, error) {
	opts := volumes.CreateOpts{
		Size:             req.SizeGiB,
		AvailabilityZone: req.Zone,
		Description:      req.Description,
		Metadata:         req.Metadata,
		Name:             req.Name,
		SnapshotID:       req.SnapshotID,
		SourceVolID:      req.SourceVolumeID,
		VolumeType:       req.VolumeType,
	}
	sc := c.sc
	if req.BackupID != "" {
		if c.version < 3 {
			return nil, cloud.Errorf(cloud.ErrUnsupported,
				"Cinder v%d cannot create a volume from a backup; create an empty volume and restore the backup into it", c.version)
		}
		opts.BackupID = req.BackupID
		sc = c.mv(mvVolumeFromBackup)
	}
	v, err := volumes.Create(ctx, sc, opts, nil).Extract()
	if err != nil {
		return nil, err
	}
	return toVolume(v), nil
}

func (c *cinder) getVolume(ctx context.Context, id string) (*cloud.Volume, error) {
	v, err := volumes.Get(ctx, c.sc, id).Extract()
	if err != nil {
		return nil, err
	}
	return toVolume(v), nil
}

// listVolumes asks for one page of the detail listing and decodes it as
// it arrives (getList), converting only the volumes o.Keep wants.
// gophercloud's pager decoded a page four times over (generic map,
// emptiness, next link, volumes); in a project of thousands of volumes,
// which the waiter and the name lookups list page by page, that was most
// of the controller's CPU and memory.
func (c *cinder) listVolumes(ctx context.Context, o cloud.ListOptions) (cloud.Page[cloud.Volume], error) {
	q, err := volumes.ListOpts{Name: o.Name, Limit: o.Limit, Marker: o.Marker}.ToVolumeListQuery()
	if err != nil {
		return cloud.Page[cloud.Volume]{}, err
	}
	var page cloud.Page[cloud.Volume]
	last := ""
	links, n, err := getList(ctx, c.sc, c.sc.ServiceURL("volumes", "detail")+q, "volumes", func(v *listedVolume) {
		last = v.ID
		// Some clouds match names by substring; the port promises exact.
		if (o.Name == "" || v.Name == o.Name) && (o.Keep == nil || o.Keep(v.ID, v.Name)) {
			page.Items = append(page.Items, *toVolume(v.volume()))
		}
	})
	if err != nil {
		return cloud.Page[cloud.Volume]{}, err
	}
	next, _ := gophercloud.ExtractNextURL(links)
	if n > 0 && (next != "" || (o.Limit > 0 && n >= o.Limit)) {
		page.NextMarker = last
	}
	return page, nil
}

func (c *cinder) deleteVolume(ctx context.Context, id string) error {
	return volumes.Delete(ctx, c.sc, id, nil).ExtractErr()
}

func (c *cinder) extendVolume(ctx context.Context, id string, newSizeGiB int) error {
	sc := c.sc
	if c.version >= 3 {
		sc = c.mv(mvExtendInUse)
	}
	return volumes.ExtendSize(ctx, sc, id, volumes.ExtendSizeOpts{NewSize: newSizeGiB}).ExtractErr()
}

func (c *cinder) retypeVolume(ctx context.Context, id, newType string, migration cloud.MigrationPolicy) error {
	return volumes.ChangeType(ctx, c.sc, id, volumes.ChangeTypeOpts{
		NewType: newType, MigrationPolicy: volumes.MigrationPolicy(migration),
	}).ExtractErr()
}

// setVolumeMetadata uses POST /volumes/{id}/metadata, which merges (PUT
// would replace all keys).
func (c *cinder) setVolumeMetadata(ctx context.Context, id string, md map[string]string) error {
	_, err := c.sc.Post(ctx, c.sc.ServiceURL("volumes", id, "metadata"), map[string]any{"metadata": md}, nil,
		&gophercloud.RequestOpts{OkCodes: []int{200}})
	return err
}

func (c *cinder) createSnapshot(ctx context.Context, req cloud.CreateSnapshotRequest) (*cloud.Snapshot, error) {
	s, err := snapshots.Create(ctx, c.sc, snapshots.CreateOpts{
		VolumeID:    req.VolumeID,
		Force:       req.Force,
		Name:        req.Name,
		Description: req.Description,
		Metadata:    req.Metadata,
	}).Extract()
	if err != nil {
		return nil, err
	}
	return toSnapshot(s), nil
}

func (c *cinder) getSnapshot(ctx context.Context, id string) (*cloud.Snapshot, error) {
	s, err := snapshots.Get(ctx, c.sc, id).Extract()
	if err != nil {
		return nil, err
	}
	return toSnapshot(s), nil
}

func (c *cinder) listSnapshots(ctx context.Context, o cloud.ListOptions) (cloud.Page[cloud.Snapshot], error) {
	pager := snapshots.ListDetail(c.sc, snapshots.ListOpts{Name: o.Name, VolumeID: o.VolumeID, Limit: o.Limit, Marker: o.Marker})
	var page cloud.Page[cloud.Snapshot]
	next, err := onePage(ctx, pager, o.Limit, func(p pagination.Page) (int, string, error) {
		ss, err := snapshots.ExtractSnapshots(p)
		if err != nil {
			return 0, "", err
		}
		for i := range ss {
			if (o.Name == "" || ss[i].Name == o.Name) && (o.VolumeID == "" || ss[i].VolumeID == o.VolumeID) {
				page.Items = append(page.Items, *toSnapshot(&ss[i]))
			}
		}
		last := ""
		if len(ss) > 0 {
			last = ss[len(ss)-1].ID
		}
		return len(ss), last, nil
	})
	if err != nil {
		return cloud.Page[cloud.Snapshot]{}, err
	}
	page.NextMarker = next
	return page, nil
}

func (c *cinder) deleteSnapshot(ctx context.Context, id string) error {
	return snapshots.Delete(ctx, c.sc, id).ExtractErr()
}

func (c *cinder) createBackup(ctx context.Context, req cloud.CreateBackupRequest) (*cloud.Backup, error) {
	opts := backups.CreateOpts{
		VolumeID:    req.VolumeID,
		Force:       req.Force,
		Name:        req.Name,
		Description: req.Description,
		Incremental: req.Incremental,
	}
	sc := c.sc
	// Metadata and zone exist from microversions 3.43/3.51 on; v2 has
	// neither, and the backup is found by its name.
	if c.version >= 3 && (len(req.Metadata) > 0 || req.Zone != "") {
		opts.Metadata, opts.AvailabilityZone = req.Metadata, req.Zone
		sc = c.mv(mvBackupZone)
	}
	b, err := backups.Create(ctx, sc, opts).Extract()
	if err != nil {
		return nil, err
	}
	// The create answer holds only id and name.
	out := toBackup(b)
	if out.VolumeID == "" {
		out.VolumeID = req.VolumeID
	}
	if out.Name == "" {
		out.Name = req.Name
	}
	if out.RawStatus == "" {
		out.RawStatus, out.Status = "creating", cloud.StatusCreating
	}
	return out, nil
}

func (c *cinder) getBackup(ctx context.Context, id string) (*cloud.Backup, error) {
	b, err := backups.Get(ctx, c.sc, id).Extract()
	if err != nil {
		return nil, err
	}
	return toBackup(b), nil
}

// backupListOpts adds the name and volume_id filters gophercloud's
// ListDetailOpts lacks.
type backupListOpts struct {
	Name     string `q:"name"`
	VolumeID string `q:"volume_id"`
	Limit    int    `q:"limit"`
	Marker   string `q:"marker"`
}

func (o backupListOpts) ToBackupListDetailQuery() (string, error) {
	q, err := gophercloud.BuildQueryString(o)
	return q.String(), err
}

func (c *cinder) listBackups(ctx context.Context, o cloud.ListOptions) (cloud.Page[cloud.Backup], error) {
	pager := backups.ListDetail(c.sc, backupListOpts{Name: o.Name, VolumeID: o.VolumeID, Limit: o.Limit, Marker: o.Marker})
	var page cloud.Page[cloud.Backup]
	next, err := onePage(ctx, pager, o.Limit, func(p pagination.Page) (int, string, error) {
		bs, err := backups.ExtractBackups(p)
		if err != nil {
			return 0, "", err
		}
		for i := range bs {
			if (o.Name == "" || bs[i].Name == o.Name) && (o.VolumeID == "" || bs[i].VolumeID == o.VolumeID) {
				page.Items = append(page.Items, *toBackup(&bs[i]))
			}
		}
		last := ""
		if len(bs) > 0 {
			last = bs[len(bs)-1].ID
		}
		return len(bs), last, nil
	})
	if err != nil {
		return cloud.Page[cloud.Backup]{}, err
	}
	page.NextMarker = next
	return page, nil
}

func (c *cinder) deleteBackup(ctx context.Context, id string) error {
	return backups.Delete(ctx, c.sc, id).ExtractErr()
}

func (c *cinder) restoreBackup(ctx context.Context, backupID, volumeID string) error {
	_, err := backups.RestoreFromBackup(ctx, c.sc, backupID, backups.RestoreOpts{VolumeID: volumeID}).Extract()
	return err
}

func (c *cinder) getLimits(ctx context.Context) (*cloud.Limits, error) {
	l, err := limits.Get(ctx, c.sc).Extract()
	if err != nil {
		return nil, err
	}
	a := l.Absolute
	return &cloud.Limits{
		MaxTotalGiB: a.MaxTotalVolumeGigabytes, UsedGiB: a.TotalGigabytesUsed,
		MaxVolumes: a.MaxTotalVolumes, UsedVolumes: a.TotalVolumesUsed,
		MaxSnapshots: a.MaxTotalSnapshots, UsedSnapshots: a.TotalSnapshotsUsed,
		MaxBackups: a.MaxTotalBackups, UsedBackups: a.TotalBackupsUsed,
		MaxBackupGiB: a.MaxTotalBackupGigabytes, UsedBackupGiB: a.TotalBackupGigabytesUsed,
	}, nil
}

func (c *cinder) availabilityZones(ctx context.Context) ([]string, error) {
	pages, err := availabilityzones.List(c.sc).AllPages(ctx)
	if err != nil {
		return nil, err
	}
	zs, err := availabilityzones.ExtractAvailabilityZones(pages)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, z := range zs {
		if z.ZoneState.Available {
			out = append(out, z.ZoneName)
		}
	}
	return out, nil
}

// onePage fetches only the first page of pager. handle returns how many
// items the page held and the last id. The next marker is that id when the
// cloud links a next page, or when a full page came back without links
// (some clouds only link when asked for offset).
func onePage(ctx context.Context, pager pagination.Pager, limit int, handle func(pagination.Page) (int, string, error)) (string, error) {
	next := ""
	err := pager.EachPage(ctx, func(_ context.Context, p pagination.Page) (bool, error) {
		n, last, err := handle(p)
		if err != nil {
			return false, err
		}
		if n > 0 && (hasNext(p) || (limit > 0 && n >= limit)) {
			next = last
		}
		return false, nil
	})
	return next, err
}

// hasNext reports whether a page carries a next link.
func hasNext(p pagination.Page) bool {
	n, ok := p.(interface{ NextPageURL() (string, error) })
	if !ok {
		return false
	}
	u, err := n.NextPageURL()
	return err == nil && u != ""
}
