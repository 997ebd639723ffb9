// Package lookup finds a cloud's volumes, snapshots and backups by name.
// It is what makes CreateVolume and CreateSnapshot idempotent: the CO
// names what it asks for, a retried request looks the name up first and
// adopts what an earlier attempt created instead of creating it twice.
//
// Lookups are coalesced the way the waiter coalesces waits (package
// waiter), and take the same options: a burst of creates costs one
// listing per round, not one per request.
package lookup

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
)

// Names looks resources up by name. Create one per cloud and share it;
// Close it to stop its loops.
type Names struct {
	volumes   *namer[cloud.Volume]
	snapshots *namer[cloud.Snapshot]
	backups   *namer[cloud.Backup]

	opts waiter.Options
	// ctx ends at Close; every loop and every listing runs under it.
	ctx    context.Context
	stop   context.CancelFunc
	mu     sync.Mutex // guards closed and adding to loops
	closed bool
	loops  sync.WaitGroup
}

// ErrClosed answers the lookups pending when Names is closed, and every
// lookup after. It is cloud.ErrUnavailable: the caller may try again.
var ErrClosed = cloud.Errorf(cloud.ErrUnavailable, "the name lookup is closed")

// New returns Names for c. Of opts it uses Mode (per-volume: each lookup
// lists on its own), PageLimit, Interval and MaxBackoff (the backoff after
// failed listings) and Observer (kinds "volume-name", "snapshot-name",
// "backup-name"); pass the waiter's options.
func New(c cloud.Cloud, opts waiter.Options) *Names {
	n := &Names{opts: opts.WithDefaults(c)}
	n.ctx, n.stop = context.WithCancel(context.Background())
	n.volumes = newNamer(n, kindOps[cloud.Volume]{
		kind: "volume", list: c.ListVolumes,
		name:    func(v *cloud.Volume) string { return v.Name },
		status:  func(v *cloud.Volume) cloud.Status { return v.Status },
		id:      func(v *cloud.Volume) string { return v.ID },
		created: func(v *cloud.Volume) time.Time { return v.CreatedAt },
	})
	n.snapshots = newNamer(n, kindOps[cloud.Snapshot]{
		kind: "snapshot", list: c.ListSnapshots,
		name:    func(s *cloud.Snapshot) string { return s.Name },
		status:  func(s *cloud.Snapshot) cloud.Status { return s.Status },
		id:      func(s *cloud.Snapshot) string { return s.ID },
		created: func(s *cloud.Snapshot) time.Time { return s.CreatedAt },
	})
	n.backups = newNamer(n, kindOps[cloud.Backup]{
		kind: "backup", list: c.ListBackups,
		name:    func(b *cloud.Backup) string { return b.Name },
		status:  func(b *cloud.Backup) cloud.Status { return b.Status },
		id:      func(b *cloud.Backup) string { return b.ID },
		created: func(b *cloud.Backup) time.Time { return b.CreatedAt },
	})
	return n
}

// Volume returns the volume named name, or nil (and no error) when there
// is none. Where a name holds several, it is the oldest live one: the
// choice must not change as twins come and go (see match). Concurrent
// lookups share listings.
func (n *Names) Volume(ctx context.Context, name string) (*cloud.Volume, error) {
	all, err := n.volumes.find(ctx, name)
	return n.volumes.match(all), err
}

// Snapshot is Volume for snapshots.
func (n *Names) Snapshot(ctx context.Context, name string) (*cloud.Snapshot, error) {
	all, err := n.snapshots.find(ctx, name)
	return n.snapshots.match(all), err
}

// Backup is Volume for backups.
func (n *Names) Backup(ctx context.Context, name string) (*cloud.Backup, error) {
	all, err := n.backups.find(ctx, name)
	return n.backups.match(all), err
}

// VolumesNamed returns every volume named name, in any state.
func (n *Names) VolumesNamed(ctx context.Context, name string) ([]cloud.Volume, error) {
	return n.volumes.find(ctx, name)
}

// SnapshotsNamed is VolumesNamed for snapshots.
func (n *Names) SnapshotsNamed(ctx context.Context, name string) ([]cloud.Snapshot, error) {
	return n.snapshots.find(ctx, name)
}

// BackupsNamed is VolumesNamed for backups.
func (n *Names) BackupsNamed(ctx context.Context, name string) ([]cloud.Backup, error) {
	return n.backups.find(ctx, name)
}

// Close stops Names: pending lookups end with ErrClosed, listings in
// flight are canceled, and Close returns once every background loop has
// exited. It may be called more than once.
func (n *Names) Close() {
	n.mu.Lock()
	n.closed = true
	n.stop()
	n.mu.Unlock()
	n.loops.Wait()
}

// spawn runs loop in the background unless Names is closed.
func (n *Names) spawn(loop func()) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	n.loops.Add(1)
	go func() {
		defer n.loops.Done()
		loop()
	}()
	return true
}

// kindOps adapts one resource kind to the generic namer.
type kindOps[T any] struct {
	kind    string
	list    func(context.Context, cloud.ListOptions) (cloud.Page[T], error)
	name    func(*T) string
	status  func(*T) cloud.Status
	id      func(*T) string
	created func(*T) time.Time
}

type result[T any] struct {
	all []T // every item with the name
	err error
}

type nameReq[T any] struct {
	name string
	done chan result[T]
}

// namer coalesces lookups by name. There is no tick: a lookup that finds
// the namer idle is served at once (a listing filtered by its name);
// lookups arriving while a call is in flight queue up and are all answered
// in the next round: by one unfiltered listing, or, when fewer names are
// queued than that listing takes pages, by one filtered listing per name.
// Isolated lookups pay no latency; bursts cost at most one listing per
// round.
type namer[T any] struct {
	n   *Names
	ops kindOps[T]

	mu      sync.Mutex
	queue   map[*nameReq[T]]struct{}
	running bool

	// pages is how many calls the latest unfiltered listing took (run's
	// goroutine only). In a project of 10,000 volumes that is 10 or 11:
	// three names are cheaper looked up one call each.
	pages int
	// filterIgnored: a listing filtered by name took more than a page, so
	// the cloud does not filter by name; per-name listings would each
	// walk the whole kind (run's goroutine only).
	filterIgnored bool
}

func newNamer[T any](n *Names, ops kindOps[T]) *namer[T] {
	return &namer[T]{n: n, ops: ops, queue: map[*nameReq[T]]struct{}{}, pages: 1}
}

func (nm *namer[T]) find(ctx context.Context, name string) ([]T, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if nm.n.ctx.Err() != nil {
		return nil, ErrClosed
	}
	if nm.n.opts.Mode == waiter.PerVolume {
		items, calls, err := waiter.ListAll(ctx, nm.ops.list, cloud.ListOptions{Name: name}, nm.n.opts.PageLimit)
		nm.n.opts.Observe(waiter.Event{Kind: nm.ops.kind + "-name", Waiters: 1, Calls: calls, Err: err})
		if err != nil {
			return nil, err
		}
		return nm.named(items, name), nil
	}
	r := &nameReq[T]{name: name, done: make(chan result[T], 1)}
	nm.mu.Lock()
	nm.queue[r] = struct{}{}
	if !nm.running {
		if !nm.n.spawn(nm.run) {
			delete(nm.queue, r)
			nm.mu.Unlock()
			return nil, ErrClosed
		}
		nm.running = true
	}
	nm.mu.Unlock()
	select {
	case res := <-r.done:
		return res.all, res.err
	case <-ctx.Done():
		nm.mu.Lock()
		delete(nm.queue, r)
		nm.mu.Unlock()
		select {
		case res := <-r.done:
			return res.all, res.err
		default:
		}
		return nil, fmt.Errorf("looking up %s %q: %w", nm.ops.kind, name, ctx.Err())
	}
}
