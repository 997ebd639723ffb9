package openstack

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// cinderV1 speaks the Cinder v1 API (HP Helion Block Storage API 1.7),
// which gophercloud no longer has: display_name/display_description,
// /v1/{project}/volumes, /snapshots, /backups, /limits; no extend, no
// marker paging.
type cinderV1 struct {
	sc *gophercloud.ServiceClient
}

// v1Volume is a volume as Cinder v1 returns it.
type v1Volume struct {
	ID               string            `json:"id"`
	DisplayName      string            `json:"display_name"`
	DisplayDesc      string            `json:"display_description"`
	Size             int               `json:"size"`
	Status           string            `json:"status"`
	AvailabilityZone string            `json:"availability_zone"`
	VolumeType       string            `json:"volume_type"`
	SnapshotID       string            `json:"snapshot_id"`
	SourceVolID      string            `json:"source_volid"`
	Metadata         map[string]string `json:"metadata"`
	Bootable         flexBool          `json:"bootable"`
	CreatedAt        flexTime          `json:"created_at"`
	Attachments      []struct {
		ID       string `json:"id"`
		ServerID string `json:"server_id"`
		VolumeID string `json:"volume_id"`
		Device   string `json:"device"`
	} `json:"attachments"`
}

type v1Snapshot struct {
	ID          string            `json:"id"`
	DisplayName string            `json:"display_name"`
	DisplayDesc string            `json:"display_description"`
	VolumeID    string            `json:"volume_id"`
	Size        int               `json:"size"`
	Status      string            `json:"status"`
	Metadata    map[string]string `json:"metadata"`
	CreatedAt   flexTime          `json:"created_at"`
}

// v1Backup: backups already use name/description in v1 (API 1.7).
type v1Backup struct {
	ID               string   `json:"id"`
	Name             string   `json:"name"`
	Description      string   `json:"description"`
	VolumeID         string   `json:"volume_id"`
	Size             int      `json:"size"`
	Status           string   `json:"status"`
	AvailabilityZone string   `json:"availability_zone"`
	CreatedAt        flexTime `json:"created_at"`
}

// flexBool accepts true, "true", "True", "false", null.
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	s := strings.Trim(strings.ToLower(string(data)), `"`)
	*b = flexBool(s == "true")
	return nil
}

// flexTime accepts the timestamps Cinder has used over the years; an
// unreadable one is left zero rather than failing the whole answer.
type flexTime time.Time

func (t *flexTime) UnmarshalJSON(data []byte) error {
	var s string
	if json.Unmarshal(data, &s) != nil || s == "" {
		return nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05.999999", time.RFC3339Nano, "2006-01-02 15:04:05.999999"} {
		if p, err := time.Parse(layout, s); err == nil {
			*t = flexTime(p)
			return nil
		}
	}
	return nil
}

func (v *v1Volume) toVolume() *cloud.Volume {
	out := &cloud.Volume{
		ID: v.ID, Name: v.DisplayName, Description: v.DisplayDesc, SizeGiB: v.Size,
		Status: mapStatus(v.Status), RawStatus: v.Status, Zone: v.AvailabilityZone,
		VolumeType: v.VolumeType, SourceSnapshotID: v.SnapshotID, SourceVolumeID: v.SourceVolID,
		Metadata: copyMap(v.Metadata), Serial: v.ID, Bootable: bool(v.Bootable),
		CreatedAt: time.Time(v.CreatedAt), CreateFailed: createFailed(v.Status),
	}
	for _, a := range v.Attachments {
		out.Attachments = append(out.Attachments, cloud.Attachment{
			ID: a.ID, ServerID: a.ServerID, VolumeID: first(a.VolumeID, v.ID), Device: a.Device,
		})
	}
	return out
}

func (s *v1Snapshot) toSnapshot() *cloud.Snapshot {
	return &cloud.Snapshot{
		ID: s.ID, Name: s.DisplayName, Description: s.DisplayDesc, VolumeID: s.VolumeID,
		SizeGiB: s.Size, Status: mapStatus(s.Status), RawStatus: s.Status,
		Metadata: copyMap(s.Metadata), CreatedAt: time.Time(s.CreatedAt),
	}
}

func (b *v1Backup) toBackup() *cloud.Backup {
	out := &cloud.Backup{
		ID: b.ID, Name: b.Name, Description: b.Description, VolumeID: b.VolumeID,
		SizeGiB: b.Size, Zone: b.AvailabilityZone, RawStatus: b.Status,
		Metadata: map[string]string{}, CreatedAt: time.Time(b.CreatedAt),
	}
	if b.Status != "" {
		out.Status = mapStatus(b.Status)
	}
	return out
}

// ok accepts the 200 the Helion document gives and the 202 of later Cinder.
var ok = []int{200, 201, 202}

func (c *cinderV1) createVolume(ctx context.Context, req cloud.CreateVolumeRequest) (*cloud.Volume, error) {
	if req.BackupID != "" {
		return nil, cloud.Errorf(cloud.ErrUnsupported,
			"Cinder v1 cannot create a volume from a backup; create an empty volume and restore the backup into it")
	}
	body := map[string]any{"size": req.SizeGiB}
	put := func(k, v string) {
		if v != "" {
			body[k] = v
		}
	}
	put("availability_zone", req.Zone)
	put("display_name", req.Name)
	put("display_description", req.Description)
	put("snapshot_id", req.SnapshotID)
	put("source_volid", req.SourceVolumeID)
	put("volume_type", req.VolumeType)
	if len(req.Metadata) > 0 {
		body["metadata"] = req.Metadata
	}
	var res struct {
		Volume v1Volume `json:"volume"`
	}
	if _, err := c.sc.Post(ctx, c.sc.ServiceURL("volumes"), map[string]any{"volume": body}, &res, &gophercloud.RequestOpts{OkCodes: ok}); err != nil {
		return nil, err
	}
	return res.Volume.toVolume(), nil
}

func (c *cinderV1) getVolume(ctx context.Context, id string) (*cloud.Volume, error) {
	var res struct {
		Volume v1Volume `json:"volume"`
	}
	if _, err := c.sc.Get(ctx, c.sc.ServiceURL("volumes", id), &res, nil); err != nil {
		return nil, err
	}
	return res.Volume.toVolume(), nil
}

// listVolumes reads the whole detail listing (v1 has no marker) and pages
// it here; with a name, the server-side display_name filter keeps it short.
func (c *cinderV1) listVolumes(ctx context.Context, o cloud.ListOptions) (cloud.Page[cloud.Volume], error) {
	u := c.sc.ServiceURL("volumes", "detail")
	if o.Name != "" {
		u += "?" + query("display_name", o.Name)
	}
	var res struct {
		Volumes []v1Volume `json:"volumes"`
	}
	if _, err := c.sc.Get(ctx, u, &res, nil); err != nil {
		return cloud.Page[cloud.Volume]{}, err
	}
	var all []cloud.Volume
	for i := range res.Volumes {
		if o.Name == "" || res.Volumes[i].DisplayName == o.Name {
			all = append(all, *res.Volumes[i].toVolume())
		}
	}
	return pageAfter(all, func(v cloud.Volume) string { return v.ID }, o.Marker, o.Limit)
}

func (c *cinderV1) deleteVolume(ctx context.Context, id string) error {
	_, err := c.sc.Delete(ctx, c.sc.ServiceURL("volumes", id), &gophercloud.RequestOpts{OkCodes: []int{202, 204}})
	return err
}

func (c *cinderV1) retypeVolume(context.Context, string, string, cloud.MigrationPolicy) error {
	return cloud.Errorf(cloud.ErrUnsupported, "Cinder v1 cannot change a volume's type")
}

func (c *cinderV1) extendVolume(context.Context, string, int) error {
	return cloud.Errorf(cloud.ErrUnsupported, "Cinder v1 volumes keep the size they were created with")
}

// setVolumeMetadata merges md into the volume's metadata with the one
// update call the v1 document has (PUT /volumes/{id}, which replaces the
// metadata it is given).
func (c *cinderV1) setVolumeMetadata(ctx context.Context, id string, md map[string]string) error {
	v, err := c.getVolume(ctx, id)
	if err != nil {
		return err
	}
	merged := copyMap(v.Metadata)
	for k, val := range md {
		merged[k] = val
	}
	_, err = c.sc.Put(ctx, c.sc.ServiceURL("volumes", id), map[string]any{"volume": map[string]any{"metadata": merged}}, nil,
		&gophercloud.RequestOpts{OkCodes: ok})
	return err
}

func (c *cinderV1) createSnapshot(ctx context.Context, req cloud.CreateSnapshotRequest) (*cloud.Snapshot, error) {
	body := map[string]any{"volume_id": req.VolumeID, "force": req.Force}
	if req.Name != "" {
		body["display_name"] = req.Name
	}
	if req.Description != "" {
		body["display_description"] = req.Description
	}
	var res struct {
		Snapshot v1Snapshot `json:"snapshot"`
	}
	if _, err := c.sc.Post(ctx, c.sc.ServiceURL("snapshots"), map[string]any{"snapshot": body}, &res, &gophercloud.RequestOpts{OkCodes: ok}); err != nil {
		return nil, err
	}
	return res.Snapshot.toSnapshot(), nil
}

func (c *cinderV1) getSnapshot(ctx context.Context, id string) (*cloud.Snapshot, error) {
	var res struct {
		Snapshot v1Snapshot `json:"snapshot"`
	}
	if _, err := c.sc.Get(ctx, c.sc.ServiceURL("snapshots", id), &res, nil); err != nil {
		return nil, err
	}
	return res.Snapshot.toSnapshot(), nil
}

func (c *cinderV1) listSnapshots(ctx context.Context, o cloud.ListOptions) (cloud.Page[cloud.Snapshot], error) {
	var res struct {
		Snapshots []v1Snapshot `json:"snapshots"`
	}
	if _, err := c.sc.Get(ctx, c.sc.ServiceURL("snapshots", "detail"), &res, nil); err != nil {
		return cloud.Page[cloud.Snapshot]{}, err
	}
	var all []cloud.Snapshot
	for i := range res.Snapshots {
		s := &res.Snapshots[i]
		if (o.Name == "" || s.DisplayName == o.Name) && (o.VolumeID == "" || s.VolumeID == o.VolumeID) {
			all = append(all, *s.toSnapshot())
		}
	}
	return pageAfter(all, func(s cloud.Snapshot) string { return s.ID }, o.Marker, o.Limit)
}

func (c *cinderV1) deleteSnapshot(ctx context.Context, id string) error {
	_, err := c.sc.Delete(ctx, c.sc.ServiceURL("snapshots", id), &gophercloud.RequestOpts{OkCodes: []int{202, 204}})
	return err
}

// createBackup: v1 takes volume_id, name, description and container;
// metadata, zone and incremental do not exist there.
func (c *cinderV1) createBackup(ctx context.Context, req cloud.CreateBackupRequest) (*cloud.Backup, error) {
	body := map[string]any{"volume_id": req.VolumeID}
	if req.Name != "" {
		body["name"] = req.Name
	}
	if req.Description != "" {
		body["description"] = req.Description
	}
	var res struct {
		Backup v1Backup `json:"backup"`
	}
	if _, err := c.sc.Post(ctx, c.sc.ServiceURL("backups"), map[string]any{"backup": body}, &res, &gophercloud.RequestOpts{OkCodes: ok}); err != nil {
		return nil, err
	}
	out := res.Backup.toBackup()
	out.VolumeID = first(out.VolumeID, req.VolumeID)
	out.Name = first(out.Name, req.Name)
	if out.RawStatus == "" {
		out.RawStatus, out.Status = "creating", cloud.StatusCreating
	}
	return out, nil
}

func (c *cinderV1) getBackup(ctx context.Context, id string) (*cloud.Backup, error) {
	var res struct {
		Backup v1Backup `json:"backup"`
	}
	if _, err := c.sc.Get(ctx, c.sc.ServiceURL("backups", id), &res, nil); err != nil {
		return nil, err
	}
	return res.Backup.toBackup(), nil
}

func (c *cinderV1) listBackups(ctx context.Context, o cloud.ListOptions) (cloud.Page[cloud.Backup], error) {
	var res struct {
		Backups []v1Backup `json:"backups"`
	}
	if _, err := c.sc.Get(ctx, c.sc.ServiceURL("backups", "detail"), &res, nil); err != nil {
		return cloud.Page[cloud.Backup]{}, err
	}
	var all []cloud.Backup
	for i := range res.Backups {
		b := &res.Backups[i]
		if (o.Name == "" || b.Name == o.Name) && (o.VolumeID == "" || b.VolumeID == o.VolumeID) {
			all = append(all, *b.toBackup())
		}
	}
	return pageAfter(all, func(b cloud.Backup) string { return b.ID }, o.Marker, o.Limit)
}

func (c *cinderV1) deleteBackup(ctx context.Context, id string) error {
	_, err := c.sc.Delete(ctx, c.sc.ServiceURL("backups", id), &gophercloud.RequestOpts{OkCodes: []int{202, 204}})
	return err
}

func (c *cinderV1) restoreBackup(ctx context.Context, backupID, volumeID string) error {
	_, err := c.sc.Post(ctx, c.sc.ServiceURL("backups", backupID, "restore"),
		map[string]any{"restore": map[string]any{"volume_id": volumeID}}, nil, &gophercloud.RequestOpts{OkCodes: ok})
	return err
}

// getLimits: Helion reports only the maxima; a missing maximum is
// reported as unlimited (-1), a missing usage as 0.
func (c *cinderV1) getLimits(ctx context.Context) (*cloud.Limits, error) {
	var res struct {
		Limits struct {
			Absolute map[string]*int `json:"absolute"`
		} `json:"limits"`
	}
	if _, err := c.sc.Get(ctx, c.sc.ServiceURL("limits"), &res, nil); err != nil {
		return nil, err
	}
	a := res.Limits.Absolute
	maxOf := func(k string) int {
		if p := a[k]; p != nil {
			return *p
		}
		return -1
	}
	used := func(k string) int {
		if p := a[k]; p != nil {
			return *p
		}
		return 0
	}
	return &cloud.Limits{
		MaxTotalGiB: maxOf("maxTotalVolumeGigabytes"), UsedGiB: used("totalGigabytesUsed"),
		MaxVolumes: maxOf("maxTotalVolumes"), UsedVolumes: used("totalVolumesUsed"),
		MaxSnapshots: maxOf("maxTotalSnapshots"), UsedSnapshots: used("totalSnapshotsUsed"),
		MaxBackups: maxOf("maxTotalBackups"), UsedBackups: used("totalBackupsUsed"),
		MaxBackupGiB: maxOf("maxTotalBackupGigabytes"), UsedBackupGiB: used("totalBackupGigabytesUsed"),
	}, nil
}

// availabilityZones: the v1 document lists none; zones come from the
// config (profile helion: az1-az3).
func (c *cinderV1) availabilityZones(context.Context) ([]string, error) {
	return nil, nil
}

func query(k, v string) string {
	return url.Values{k: {v}}.Encode()
}
