// Package fake is an in-memory cloud.Cloud for unit tests of the driver and
// the waiter. It keeps the rules the real providers enforce: operations are
// asynchronous (creating → available, attaching → in-use, ...), attached
// volumes and volumes with snapshots cannot be deleted, attach needs a known
// server, and errors are *cloud.Error values of the same kinds. It counts
// calls per method so tests can assert on API budgets.
package fake

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// Config sets up a fake cloud. Zero values get usable defaults.
type Config struct {
	Name         string
	Capabilities *cloud.Capabilities
	// Delay is how long every asynchronous transition takes (default 5ms).
	Delay  time.Duration
	Limits *cloud.Limits
	// Servers are the server ids AttachVolume accepts.
	Servers []string
	// MaxPage caps page sizes (default 1000, Cinder's osapi_max_limit).
	MaxPage int
	// Latency is added to every call, as a network round trip would be.
	Latency time.Duration
	// EncryptedTypes are the volume types whose volumes are encrypted.
	EncryptedTypes []string
	// MultiattachTypes are the volume types whose volumes attach to
	// several servers at once.
	MultiattachTypes []string
	// MigratingTypes are volume types on another backend: a retype to
	// one needs migration.
	MigratingTypes []string
}

// DefaultCapabilities is an OpenStack-like cloud that supports everything.
func DefaultCapabilities() cloud.Capabilities {
	return cloud.Capabilities{
		Expansion:         cloud.ExpansionOnline,
		Snapshots:         true,
		SnapshotAttached:  cloud.SnapshotAttachedForce,
		Backups:           true,
		Clone:             true,
		Encryption:        true,
		Retype:            true,
		VolumeMetadata:    true,
		MaxVolumesPerNode: 25,
		MinSizeGiB:        1,
		MaxSizeGiB:        2048,
		Zones:             []string{"nova", "az2"},
		DefaultZone:       "nova",
		SerialLength:      20,
	}
}

// Cloud is the fake. All methods are safe for concurrent use.
type Cloud struct {
	name    string
	caps    cloud.Capabilities
	delay   time.Duration
	maxPage int
	latency time.Duration
	// encryptedTypes: volume types whose volumes report encrypted.
	encryptedTypes []string
	// multiattachTypes: volume types whose volumes are multiattach.
	multiattachTypes []string
	migratingTypes   []string

	mu        sync.Mutex
	seq       int64
	volumes   map[string]*entry[cloud.Volume]
	snapshots map[string]*entry[cloud.Snapshot]
	backups   map[string]*entry[cloud.Backup]
	servers   map[string]bool
	limits    cloud.Limits
	calls     map[string]int
	inject    map[string][]error
	// failNext makes the next n volume creations end in status error.
	failNext int
	// stuck: volume ids whose next transition never completes.
	stuck map[string]bool
	// attaching: volume id → server id while an attach is under way.
	attaching map[string]string
}

// entry keeps a resource with its creation sequence for stable listing.
type entry[T any] struct {
	seq int64
	obj T
}

// New returns an empty fake cloud.
func New(cfg Config) *Cloud {
	caps := DefaultCapabilities()
	if cfg.Capabilities != nil {
		caps = *cfg.Capabilities
	}
	if cfg.Name == "" {
		cfg.Name = "fake"
	}
	if cfg.Delay <= 0 {
		cfg.Delay = 5 * time.Millisecond
	}
	if cfg.MaxPage <= 0 {
		cfg.MaxPage = 1000
	}
	limits := cloud.Limits{MaxTotalGiB: 1000, MaxVolumes: 100, MaxSnapshots: 100, MaxBackups: 100, MaxBackupGiB: 1000}
	if cfg.Limits != nil {
		limits = *cfg.Limits
	}
	c := &Cloud{
		name: cfg.Name, caps: caps, delay: cfg.Delay, maxPage: cfg.MaxPage, latency: cfg.Latency,
		encryptedTypes: cfg.EncryptedTypes, migratingTypes: cfg.MigratingTypes, multiattachTypes: cfg.MultiattachTypes,
		volumes:   map[string]*entry[cloud.Volume]{},
		snapshots: map[string]*entry[cloud.Snapshot]{},
		backups:   map[string]*entry[cloud.Backup]{},
		servers:   map[string]bool{},
		limits:    limits,
		calls:     map[string]int{},
		inject:    map[string][]error{},
		stuck:     map[string]bool{},
		attaching: map[string]string{},
	}
	for _, s := range cfg.Servers {
		c.servers[s] = true
	}
	return c
}

// AddServer makes serverID known to AttachVolume.
func (c *Cloud) AddServer(serverID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.servers[serverID] = true
}

// RemoveServer forgets a server, dropping its attachments as a deleted
// instance does.
func (c *Cloud) RemoveServer(serverID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.servers, serverID)
	for _, e := range c.volumes {
		e.obj.Attachments = slices.DeleteFunc(e.obj.Attachments, func(a cloud.Attachment) bool { return a.ServerID == serverID })
		if len(e.obj.Attachments) == 0 && e.obj.Status == cloud.StatusInUse {
			setVolStatus(&e.obj, cloud.StatusAvailable)
		}
	}
}

// SetLatency changes the per-call latency.
func (c *Cloud) SetLatency(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.latency = d
}

// InjectError makes the next calls of method (e.g. "ListVolumes") return
// errs, one per call, before the method works again.
func (c *Cloud) InjectError(method string, errs ...error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inject[method] = append(c.inject[method], errs...)
}

// FailNextCreates makes the next n volume creations end in status error.
func (c *Cloud) FailNextCreates(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failNext = n
}

// Stick makes the volume's next transition (e.g. attaching → in-use) never
// complete, as a stuck provider does.
func (c *Cloud) Stick(volumeID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stuck[volumeID] = true
}

// SetVolumeStatus forces a volume's status (for tests of error handling).
func (c *Cloud) SetVolumeStatus(id string, st cloud.Status, raw string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.volumes[id]; ok {
		e.obj.Status, e.obj.RawStatus = st, raw
	}
}

// SetVolumeDescription forces a volume's description.
func (c *Cloud) SetVolumeDescription(id, desc string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.volumes[id]; ok {
		e.obj.Description = desc
	}
}

// SetVolumeCreatedAt forces when a volume was made (a volume made by an
// earlier controller, long ago).
func (c *Cloud) SetVolumeCreatedAt(id string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.volumes[id]; ok {
		e.obj.CreatedAt = at
	}
}

// SetSnapshotStatus forces a snapshot's status (a snapshot the cloud failed).
func (c *Cloud) SetSnapshotStatus(id string, st cloud.Status, raw string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.snapshots[id]; ok {
		e.obj.Status, e.obj.RawStatus = st, raw
	}
}

// SetBackupStatus forces a backup's status.
func (c *Cloud) SetBackupStatus(id string, st cloud.Status, raw string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.backups[id]; ok {
		e.obj.Status, e.obj.RawStatus = st, raw
	}
}

// Calls returns how often method was called.
func (c *Cloud) Calls(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[method]
}

// TotalCalls returns the number of API calls of all methods (Name and
// Capabilities are not API calls).
func (c *Cloud) TotalCalls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.calls {
		n += v
	}
	return n
}

// ResetCalls zeroes the counters.
func (c *Cloud) ResetCalls() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = map[string]int{}
}

// VolumeCount returns how many volumes exist (any status).
func (c *Cloud) VolumeCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.volumes)
}

func (c *Cloud) Name() string                     { return c.name }
func (c *Cloud) Capabilities() cloud.Capabilities { return c.caps }

// begin counts a call and returns an injected error, if any. Callers hold
// c.mu.
func (c *Cloud) begin(ctx context.Context, method string) error {
	c.calls[method]++
	if c.latency > 0 {
		c.mu.Unlock()
		time.Sleep(c.latency)
		c.mu.Lock()
	}
	if err := ctx.Err(); err != nil {
		return &cloud.Error{Kind: cloud.ErrUnavailable, Message: err.Error(), Cause: err}
	}
	if errs := c.inject[method]; len(errs) > 0 {
		c.inject[method] = errs[1:]
		return errs[0]
	}
	return nil
}

// later runs f under the lock after the fake's delay, unless the volume is
// stuck.
func (c *Cloud) later(volumeID string, f func()) {
	if volumeID != "" && c.stuck[volumeID] {
		delete(c.stuck, volumeID)
		return
	}
	time.AfterFunc(c.delay, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		f()
	})
}

func (c *Cloud) nextSeq() int64 {
	c.seq++
	return c.seq
}

func newID() string { return uuid.NewString() }

func notFound(kind, id string) error {
	return &cloud.Error{Kind: cloud.ErrNotFound, Message: fmt.Sprintf("%s %s could not be found", kind, id), HTTPStatus: 404}
}

func wrongState(format string, args ...any) error {
	return &cloud.Error{Kind: cloud.ErrWrongState, Message: fmt.Sprintf(format, args...), HTTPStatus: 400}
}

func setVolStatus(v *cloud.Volume, st cloud.Status) {
	v.Status = st
	v.RawStatus = string(st)
}

// page returns one page of ordered entries after marker.
func page[T any](c *Cloud, m map[string]*entry[T], idOf func(*T) string, keep func(*T) bool, opts cloud.ListOptions) (cloud.Page[T], error) {
	all := slices.Collect(maps.Values(m))
	slices.SortFunc(all, func(a, b *entry[T]) int { return int(a.seq - b.seq) })
	start := 0
	if opts.Marker != "" {
		start = -1
		for i, e := range all {
			if idOf(&e.obj) == opts.Marker {
				start = i + 1
				break
			}
		}
		if start < 0 {
			// Cinder's MarkerNotFound is a 404.
			return cloud.Page[T]{}, &cloud.Error{Kind: cloud.ErrNotFound, Message: fmt.Sprintf("Marker %s could not be found.", opts.Marker), HTTPStatus: 404}
		}
	}
	limit := opts.Limit
	if limit <= 0 || limit > c.maxPage {
		limit = c.maxPage
	}
	var out cloud.Page[T]
	for _, e := range all[start:] {
		if keep != nil && !keep(&e.obj) {
			continue
		}
		if len(out.Items) == limit {
			// More remain: say where to continue.
			out.NextMarker = idOf(&out.Items[len(out.Items)-1])
			break
		}
		out.Items = append(out.Items, copyOf(e.obj))
	}
	return out, nil
}

// copyOf deep-copies the maps and slices a caller could mutate.
func copyOf[T any](v T) T {
	switch x := any(&v).(type) {
	case *cloud.Volume:
		x.Metadata = maps.Clone(x.Metadata)
		x.Attachments = slices.Clone(x.Attachments)
	case *cloud.Snapshot:
		x.Metadata = maps.Clone(x.Metadata)
	case *cloud.Backup:
		x.Metadata = maps.Clone(x.Metadata)
	}
	return v
}

var _ cloud.Cloud = (*Cloud)(nil)

// ForgetSource drops a volume's metadata and source fields, as a cloud
// without metadata (Lunanode) reports it.
func (c *Cloud) ForgetSource(volumeID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.volumes[volumeID]; ok {
		e.obj.Metadata = map[string]string{}
		e.obj.SourceSnapshotID, e.obj.SourceVolumeID, e.obj.SourceBackupID = "", "", ""
	}
}
