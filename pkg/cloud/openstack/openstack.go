// Package openstack implements cloud.Cloud for OpenStack clouds: Keystone
// v2.0 and v3 authentication, Cinder v1, v2 and v3 for volumes, snapshots
// and backups, and Nova's os-volume_attachments for attach and detach. It
// serves NHN Cloud (Keystone v2.0 + Cinder v2), HP Helion (Cinder v1, 1
// call/s) and any current OpenStack.
package openstack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
	gopenstack "github.com/gophercloud/gophercloud/v2/openstack"
	"k8s.io/klog/v2"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// Cloud is one OpenStack project's block storage. It is safe for
// concurrent use.
type Cloud struct {
	// zones are the configured zones, the only ones volumes may go to.
	zones     []string
	provider  *gophercloud.ProviderClient
	transport *transport
	volume    blockStorage
	compute   *gophercloud.ServiceClient
	version   int
	caps      cloud.Capabilities
	// VolumeEndpoint and ComputeEndpoint as discovered, for logs.
	volumeURL, computeURL string
}

var _ cloud.Cloud = (*Cloud)(nil)

// Option changes how New builds the client.
type Option func(*options)

type options struct {
	base      http.RoundTripper
	observer  cloud.Observer
	retry     RetryPolicy
	userAgent string
	zones     bool
}

// WithTransport sets the HTTP transport under the provider's own layer
// (rate limit, retries); TLS settings of the config are then not applied.
func WithTransport(rt http.RoundTripper) Option { return func(o *options) { o.base = rt } }

// WithObserver receives per-request metrics.
func WithObserver(obs cloud.Observer) Option { return func(o *options) { o.observer = obs } }

// WithRetryPolicy replaces DefaultRetryPolicy.
func WithRetryPolicy(p RetryPolicy) Option { return func(o *options) { o.retry = p } }

// WithUserAgent prepends to gophercloud's User-Agent.
func WithUserAgent(ua string) Option { return func(o *options) { o.userAgent = ua } }

// WithoutZoneDiscovery skips listing availability zones at start when the
// config names none.
func WithoutZoneDiscovery() Option { return func(o *options) { o.zones = false } }

// New authenticates against Keystone and finds the block storage and
// compute endpoints.
func New(ctx context.Context, cfg Config, opts ...Option) (*Cloud, error) {
	o := options{observer: cloud.NopObserver{}, retry: DefaultRetryPolicy, zones: true}
	for _, opt := range opts {
		opt(&o)
	}
	if o.retry.MaxAttempts < 1 {
		o.retry.MaxAttempts = 1
	}
	if o.base == nil {
		base, err := baseTransport(cfg)
		if err != nil {
			return nil, fmt.Errorf("openstack: %w", err)
		}
		o.base = base
	}
	tr := &transport{base: o.base, observer: o.observer, retry: o.retry}
	if cfg.RateLimit > 0 {
		tr.limiter = newAdaptiveLimiter(cfg.RateLimit, cfg.RateBurst)
	}

	pc, err := gopenstack.NewClient(cfg.AuthURL)
	if err != nil {
		return nil, fmt.Errorf("openstack: [Global] auth-url: %w", err)
	}
	pc.HTTPClient = http.Client{Transport: tr}
	if o.userAgent != "" {
		pc.UserAgent.Prepend(o.userAgent)
	}
	tr.addService(pc.IdentityBase, "identity")
	if err := authenticate(ctx, pc, cfg); err != nil {
		return nil, fmt.Errorf("openstack: %w", mapError("authenticate at "+cfg.AuthURL, err))
	}
	cat, err := catalogOf(pc.GetAuthResult())
	if err != nil {
		return nil, fmt.Errorf("openstack: %w", err)
	}

	c := &Cloud{zones: slices.Clone(cfg.Capabilities.Zones), provider: pc, transport: tr}
	if err := c.findEndpoints(cfg, cat); err != nil {
		return nil, fmt.Errorf("openstack: %w", err)
	}
	c.volumeURL = gophercloud.NormalizeURL(c.volumeURL)
	c.computeURL = gophercloud.NormalizeURL(c.computeURL)
	tr.addService(c.volumeURL, "volume")
	tr.addService(c.computeURL, "compute")

	volSC := &gophercloud.ServiceClient{ProviderClient: pc, Endpoint: c.volumeURL, Type: "block-storage"}
	if c.version == 1 {
		volSC.Type = "volume"
		c.volume = &cinderV1{sc: volSC}
	} else {
		c.volume = &cinder{sc: volSC, version: c.version}
	}
	c.compute = &gophercloud.ServiceClient{ProviderClient: pc, Endpoint: c.computeURL, Type: "compute"}

	c.caps = capabilities(cfg, c.version)
	if len(c.caps.Zones) == 0 && o.zones {
		// Best effort: topology works without it, from the volumes' zones.
		if zs, err := c.volume.availabilityZones(ctx); err != nil {
			klog.V(2).InfoS("Listing availability zones failed; continuing without", "err", mapError("list availability zones", err))
		} else {
			c.caps.Zones = zs
		}
	}
	klog.V(2).InfoS("OpenStack block storage ready", "backend", c.Name(), "volumeEndpoint", c.volumeURL,
		"computeEndpoint", c.computeURL, "zones", c.caps.Zones, "rateLimit", cfg.RateLimit)
	return c, nil
}

// findEndpoints sets the block storage and compute URLs and the Cinder
// version: the configured endpoints, else the service catalog's.
func (c *Cloud) findEndpoints(cfg Config, cat []catalogEndpoint) error {
	var err error
	iface := cfg.EndpointType
	if iface == "" {
		iface = endpointPublic
	}
	if cfg.VolumeEndpoint != "" {
		c.volumeURL, c.version = cfg.VolumeEndpoint, cfg.APIVersion
		if c.version == 0 {
			c.version = versionFromURL(cfg.VolumeEndpoint)
		}
		if c.version < 1 || c.version > 3 {
			return fmt.Errorf("[BlockStorage] volume-endpoint %s: cannot tell the API version; set api-version", cfg.VolumeEndpoint)
		}
	} else if c.volumeURL, c.version, err = selectVolumeEndpoint(cat, cfg.Region, iface, cfg.APIVersion); err != nil {
		return err
	}
	c.computeURL = cfg.ComputeEndpoint
	if c.computeURL == "" {
		u, ok := find(cat, "compute", cfg.Region, iface)
		if !ok {
			return fmt.Errorf("the service catalog has no compute endpoint for region %q, interface %q (offers: %s); set [BlockStorage] compute-endpoint",
				cfg.Region, iface, describe(cat))
		}
		c.computeURL = u
	}
	return nil
}

// capabilities narrows the configured capabilities to what the API
// version can do: v1 has no os-extend; v2 extends only detached volumes
// (in-use extend needs microversion 3.42).
func capabilities(cfg Config, version int) cloud.Capabilities {
	caps := cfg.Capabilities
	caps.Zones = slices.Clone(cfg.Capabilities.Zones)
	// Cinder v2 and v3 volume views carry "encrypted"; v1's does not.
	caps.Encryption = version >= 2
	// Cinder v1 has no os-retype.
	caps.Retype = caps.Retype && version >= 2
	// Multi-attach volumes came with Cinder v3 types; v2 clients see and
	// attach them the same way (the type decides, not the API).
	caps.MultiAttach = caps.MultiAttach && version >= 2
	caps.CallsPerSecond = max(cfg.RateLimit, 0)
	switch version {
	case 1:
		caps.Expansion = cloud.ExpansionNone
	case 2:
		if caps.Expansion == cloud.ExpansionOnline {
			caps.Expansion = cloud.ExpansionOffline
		}
	}
	return caps
}

// Name implements cloud.Cloud: cinder-v1, cinder-v2 or cinder-v3.
func (c *Cloud) Name() string { return fmt.Sprintf("cinder-v%d", c.version) }

// Capabilities implements cloud.Cloud.
func (c *Cloud) Capabilities() cloud.Capabilities {
	caps := c.caps
	caps.Zones = append([]string(nil), c.caps.Zones...)
	return caps
}

// APIVersion is the Cinder major version in use (1, 2 or 3).
func (c *Cloud) APIVersion() int { return c.version }

// Endpoints returns the block storage and compute base URLs in use.
func (c *Cloud) Endpoints() (volume, compute string) { return c.volumeURL, c.computeURL }

// AvailabilityZones lists the block storage service's available zones
// (os-availability-zone); Cinder v1 has none and returns the configured.
func (c *Cloud) AvailabilityZones(ctx context.Context) ([]string, error) {
	zs, err := c.volume.availabilityZones(ctx)
	if err != nil {
		return nil, mapError("list availability zones", err)
	}
	if len(zs) == 0 {
		zs = append([]string(nil), c.zones...)
	}
	return zs, nil
}

// CreateVolume implements cloud.Cloud.
func (c *Cloud) CreateVolume(ctx context.Context, req cloud.CreateVolumeRequest) (*cloud.Volume, error) {
	op := fmt.Sprintf("create volume %q", req.Name)
	if err := c.checkCreate(op, &req); err != nil {
		return nil, err
	}
	v, err := c.volume.createVolume(ctx, req)
	return v, unknownTypeIsInvalid(req.VolumeType, mapError(op, err))
}

// unknownTypeIsInvalid: Cinder answers a create naming a type it does not
// have with 404, like a missing source; but the type is a parameter the
// user wrote, not a resource the request refers to, so it is invalid input.
func unknownTypeIsInvalid(volumeType string, err error) error {
	var ce *cloud.Error
	if volumeType == "" || !errors.As(err, &ce) || !errors.Is(ce.Kind, cloud.ErrNotFound) ||
		!strings.Contains(strings.ToLower(strings.ReplaceAll(ce.Message, " ", "")), "volumetype") {
		return err
	}
	return cloud.Errorf(cloud.ErrInvalid, "volume type %q is not offered by the cloud: %s", volumeType, ce.Message)
}

func (c *Cloud) checkCreate(op string, req *cloud.CreateVolumeRequest) error {
	sources := 0
	for _, s := range []string{req.SnapshotID, req.SourceVolumeID, req.BackupID} {
		if s != "" {
			sources++
			if err := checkIDs(op, s); err != nil {
				return err
			}
		}
	}
	if sources > 1 {
		return cloud.Errorf(cloud.ErrInvalid, "%s: at most one of snapshot, source volume and backup may be given", op)
	}
	caps := c.caps
	if req.SizeGiB > 0 && ((caps.MinSizeGiB > 0 && req.SizeGiB < caps.MinSizeGiB) || (caps.MaxSizeGiB > 0 && req.SizeGiB > caps.MaxSizeGiB)) {
		return &cloud.Error{Kind: cloud.ErrOutOfRange, Message: fmt.Sprintf("%s: size %d GiB is outside %s", op, req.SizeGiB, sizeRange(caps))}
	}
	if req.Zone != "" && len(c.zones) > 0 && !slices.Contains(c.zones, req.Zone) {
		return cloud.Errorf(cloud.ErrInvalid, "%s: zone %q is not one of %s", op, req.Zone, strings.Join(c.zones, ", "))
	}
	// A copy lands where its source is; only an empty volume gets the
	// default zone.
	if req.Zone == "" && sources == 0 {
		req.Zone = caps.DefaultZone
	}
	return nil
}

func sizeRange(caps cloud.Capabilities) string {
	if caps.MaxSizeGiB > 0 {
		return fmt.Sprintf("%d-%d GiB", caps.MinSizeGiB, caps.MaxSizeGiB)
	}
	return fmt.Sprintf("at least %d GiB", caps.MinSizeGiB)
}

// GetVolume implements cloud.Cloud.
func (c *Cloud) GetVolume(ctx context.Context, id string) (*cloud.Volume, error) {
	op := "get volume " + id
	if err := checkIDs(op, id); err != nil {
		return nil, err
	}
	v, err := c.volume.getVolume(ctx, id)
	return v, mapError(op, err)
}

// ListVolumes implements cloud.Cloud.
func (c *Cloud) ListVolumes(ctx context.Context, opts cloud.ListOptions) (cloud.Page[cloud.Volume], error) {
	if opts.Marker != "" {
		if err := checkID(opts.Marker); err != nil {
			return cloud.Page[cloud.Volume]{}, cloud.Errorf(cloud.ErrInvalid, "list volumes: marker: %v", err)
		}
	}
	p, err := c.volume.listVolumes(ctx, opts)
	return p, mapError("list volumes", err)
}

// DeleteVolume implements cloud.Cloud.
func (c *Cloud) DeleteVolume(ctx context.Context, id string) error {
	op := "delete volume " + id
	if err := checkIDs(op, id); err != nil {
		return err
	}
	return mapError(op, c.volume.deleteVolume(ctx, id))
}

// RetypeVolume implements cloud.Cloud.
func (c *Cloud) RetypeVolume(ctx context.Context, id, newType string, migration cloud.MigrationPolicy) error {
	op := fmt.Sprintf("retype volume %s to %q", id, newType)
	if !c.caps.Retype {
		return cloud.Errorf(cloud.ErrUnsupported, "%s: this cloud does not offer changing a volume's type", op)
	}
	if err := checkIDs(op, id); err != nil {
		return err
	}
	return unknownTypeIsInvalid(newType, mapError(op, c.volume.retypeVolume(ctx, id, newType, migration)))
}

// ExtendVolume implements cloud.Cloud.
func (c *Cloud) ExtendVolume(ctx context.Context, id string, newSizeGiB int) error {
	op := fmt.Sprintf("extend volume %s to %d GiB", id, newSizeGiB)
	if c.caps.Expansion == cloud.ExpansionNone {
		return cloud.Errorf(cloud.ErrUnsupported, "%s: this cloud does not resize volumes", op)
	}
	if err := checkIDs(op, id); err != nil {
		return err
	}
	if c.caps.MaxSizeGiB > 0 && newSizeGiB > c.caps.MaxSizeGiB {
		return &cloud.Error{Kind: cloud.ErrOutOfRange, Message: fmt.Sprintf("%s: larger than %d GiB", op, c.caps.MaxSizeGiB)}
	}
	return mapError(op, c.volume.extendVolume(ctx, id, newSizeGiB))
}

// SetVolumeMetadata implements cloud.Cloud.
func (c *Cloud) SetVolumeMetadata(ctx context.Context, id string, md map[string]string) error {
	op := "set metadata of volume " + id
	if err := checkIDs(op, id); err != nil {
		return err
	}
	return mapError(op, c.volume.setVolumeMetadata(ctx, id, md))
}

// CreateSnapshot implements cloud.Cloud.
func (c *Cloud) CreateSnapshot(ctx context.Context, req cloud.CreateSnapshotRequest) (*cloud.Snapshot, error) {
	op := fmt.Sprintf("create snapshot %q of volume %s", req.Name, req.VolumeID)
	if err := checkIDs(op, req.VolumeID); err != nil {
		return nil, err
	}
	s, err := c.volume.createSnapshot(ctx, req)
	return s, mapError(op, err)
}

// GetSnapshot implements cloud.Cloud.
func (c *Cloud) GetSnapshot(ctx context.Context, id string) (*cloud.Snapshot, error) {
	op := "get snapshot " + id
	if err := checkIDs(op, id); err != nil {
		return nil, err
	}
	s, err := c.volume.getSnapshot(ctx, id)
	return s, mapError(op, err)
}

// ListSnapshots implements cloud.Cloud.
func (c *Cloud) ListSnapshots(ctx context.Context, opts cloud.ListOptions) (cloud.Page[cloud.Snapshot], error) {
	if opts.Marker != "" {
		if err := checkID(opts.Marker); err != nil {
			return cloud.Page[cloud.Snapshot]{}, cloud.Errorf(cloud.ErrInvalid, "list snapshots: marker: %v", err)
		}
	}
	p, err := c.volume.listSnapshots(ctx, opts)
	return p, mapError("list snapshots", err)
}

// DeleteSnapshot implements cloud.Cloud.
func (c *Cloud) DeleteSnapshot(ctx context.Context, id string) error {
	op := "delete snapshot " + id
	if err := checkIDs(op, id); err != nil {
		return err
	}
	return mapError(op, c.volume.deleteSnapshot(ctx, id))
}

func (c *Cloud) backups(op string) error {
	if !c.caps.Backups {
		return cloud.Errorf(cloud.ErrUnsupported, "%s: backups are disabled ([BlockStorage] backups = false)", op)
	}
	return nil
}

// CreateBackup implements cloud.Cloud.
func (c *Cloud) CreateBackup(ctx context.Context, req cloud.CreateBackupRequest) (*cloud.Backup, error) {
	op := fmt.Sprintf("create backup %q of volume %s", req.Name, req.VolumeID)
	if err := c.backups(op); err != nil {
		return nil, err
	}
	if err := checkIDs(op, req.VolumeID); err != nil {
		return nil, err
	}
	b, err := c.volume.createBackup(ctx, req)
	return b, mapError(op, err)
}

// GetBackup implements cloud.Cloud.
func (c *Cloud) GetBackup(ctx context.Context, id string) (*cloud.Backup, error) {
	op := "get backup " + id
	if err := c.backups(op); err != nil {
		return nil, err
	}
	if err := checkIDs(op, id); err != nil {
		return nil, err
	}
	b, err := c.volume.getBackup(ctx, id)
	return b, mapError(op, err)
}

// ListBackups implements cloud.Cloud.
func (c *Cloud) ListBackups(ctx context.Context, opts cloud.ListOptions) (cloud.Page[cloud.Backup], error) {
	if err := c.backups("list backups"); err != nil {
		return cloud.Page[cloud.Backup]{}, err
	}
	if opts.Marker != "" {
		if err := checkID(opts.Marker); err != nil {
			return cloud.Page[cloud.Backup]{}, cloud.Errorf(cloud.ErrInvalid, "list backups: marker: %v", err)
		}
	}
	p, err := c.volume.listBackups(ctx, opts)
	return p, mapError("list backups", err)
}

// DeleteBackup implements cloud.Cloud.
func (c *Cloud) DeleteBackup(ctx context.Context, id string) error {
	op := "delete backup " + id
	if err := c.backups(op); err != nil {
		return err
	}
	if err := checkIDs(op, id); err != nil {
		return err
	}
	return mapError(op, c.volume.deleteBackup(ctx, id))
}

// RestoreBackup implements cloud.Cloud.
func (c *Cloud) RestoreBackup(ctx context.Context, backupID, volumeID string) error {
	op := fmt.Sprintf("restore backup %s into volume %s", backupID, volumeID)
	if err := c.backups(op); err != nil {
		return err
	}
	if err := checkIDs(op, backupID, volumeID); err != nil {
		return err
	}
	return mapError(op, c.volume.restoreBackup(ctx, backupID, volumeID))
}

// GetLimits implements cloud.Cloud.
func (c *Cloud) GetLimits(ctx context.Context) (*cloud.Limits, error) {
	l, err := c.volume.getLimits(ctx)
	return l, mapError("get limits", err)
}
