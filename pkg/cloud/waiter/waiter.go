// Package waiter waits for a cloud's asynchronous state changes (a volume
// becoming available, a snapshot going away) on behalf of many requests
// at once. It is kept out of the port (pkg/cloud) because it is policy,
// not contract: how often to ask and how to share one answer among
// concurrent waits is what keeps a busy controller under a cloud's rate
// limit, and it works the same over every provider.
package waiter

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// Mode selects how the Waiter polls.
type Mode string

const (
	// Batched checks each wait when its operation is likely done, from
	// how long recent waits for the same operation took, and answers the
	// waits due at about the same time with one call: a Get each when
	// they are fewer than the pages a listing takes (or where listing
	// costs a call per item), else one listing. This is what keeps a busy
	// controller under a cloud's rate limit without making it wait.
	Batched Mode = "batched"
	// PerVolume polls each resource on its own with exponential backoff
	// (1 s, ×1.2), as most drivers do. Kept for comparison in benchmarks.
	PerVolume Mode = "per-volume"
)

// Defaults. Batched waits learn when to check from the cloud itself; the
// first operation of a kind is found by checks that start early and grow
// apart. Per-volume polling starts a second after the call, as most
// drivers do.
const (
	DefaultInitialDelay    = 100 * time.Millisecond
	DefaultPerVolumeDelay  = time.Second
	DefaultMinStep         = 50 * time.Millisecond
	DefaultCoalesce        = 100 * time.Millisecond
	DefaultInterval        = 1500 * time.Millisecond
	DefaultMaxBackoff      = 30 * time.Second
	DefaultPageLimit       = 1000
	perVolumeBackoffFactor = 1.2
)

// ErrClosed answers the waits pending when the Waiter is closed, and every
// wait after. It is cloud.ErrUnavailable: the caller may try again later.
var ErrClosed = cloud.Errorf(cloud.ErrUnavailable, "the waiter is closed")

// Options tunes a Waiter. Zero values take the defaults above.
type Options struct {
	Mode Mode
	// InitialDelay is how long after a wait starts its resource is first
	// checked when no wait of its kind has finished yet (per-volume mode:
	// always; the first backoff step).
	InitialDelay time.Duration
	// MinStep is the least time between two checks of one wait (batched).
	MinStep time.Duration
	// Coalesce is how much later than it is due a wait may be checked,
	// to share the call with waits due meanwhile (batched).
	Coalesce time.Duration
	// Interval is the most time between two checks of one wait (batched).
	Interval time.Duration
	// MaxBackoff caps the backoff after failed calls and the per-volume
	// poll interval.
	MaxBackoff time.Duration
	// PageLimit is the page size asked for in batched listings.
	PageLimit int
	// PollGap is the least time between two polls of any kind (batched
	// mode): on a cloud that allows few calls, polls must leave room for
	// the requests' own calls, or a snapshot, a backup and a volume waited
	// for at once starve every create and delete. 0 takes two calls' worth
	// of the cloud's CallsPerSecond, so polls use at most half of it; no
	// gap when the cloud has no known rate.
	PollGap time.Duration
	// Observer, if set, is told about every poll call the waiter makes.
	Observer func(Event)
}

// Event describes one poll: which kind, how many waits or lookups it
// answered, how many API calls (pages) it took, and its error if any.
type Event struct {
	// Kind is "volume", "snapshot", "backup", or the same with a "-name"
	// suffix for name lookups (package lookup).
	Kind    string
	Waiters int
	Calls   int
	Err     error
}

// WithDefaults fills in the zero fields of o for cloud c.
func (o Options) WithDefaults(c cloud.Cloud) Options {
	if o.Mode == "" {
		o.Mode = Batched
	}
	if o.InitialDelay <= 0 {
		o.InitialDelay = DefaultInitialDelay
		if o.Mode == PerVolume {
			o.InitialDelay = DefaultPerVolumeDelay
		}
	}
	if o.MinStep <= 0 {
		o.MinStep = min(DefaultMinStep, o.InitialDelay)
	}
	if o.Coalesce <= 0 {
		o.Coalesce = DefaultCoalesce
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.MaxBackoff < o.Interval {
		o.MaxBackoff = o.Interval
	}
	if o.PageLimit <= 0 {
		o.PageLimit = DefaultPageLimit
	}
	if rate := c.Capabilities().CallsPerSecond; o.PollGap == 0 && rate > 0 {
		o.PollGap = time.Duration(2 * float64(time.Second) / rate)
	}
	return o
}

// Observe passes ev to the Observer, if there is one.
func (o Options) Observe(ev Event) {
	if o.Observer != nil {
		o.Observer(ev)
	}
}

// Backoff returns the delay before retrying after a failed call: the
// cloud's Retry-After when it gave one, else doubling from Interval.
func (o Options) Backoff(prev time.Duration, err error) time.Duration {
	next := prev * 2
	if next < o.Interval {
		next = o.Interval
	}
	if next > o.MaxBackoff {
		next = o.MaxBackoff
	}
	if ra := cloud.RetryAfterOf(err); ra > next {
		next = ra
	}
	return next
}

// Waiter waits for asynchronous state changes of one cloud's resources.
// Create one per cloud and share it: its value comes from coalescing the
// waits of concurrent requests. Close it to stop its loops.
type Waiter struct {
	cloud cloud.Cloud
	opts  Options

	volumes   *poller[cloud.Volume]
	snapshots *poller[cloud.Snapshot]
	backups   *poller[cloud.Backup]

	gate pollGate

	// ctx ends at Close; every loop and every poll call runs under it.
	ctx    context.Context
	stop   context.CancelFunc
	mu     sync.Mutex // guards closed and adding to loops
	closed bool
	loops  sync.WaitGroup
}

// New returns a Waiter for c.
func New(c cloud.Cloud, opts Options) *Waiter {
	opts = opts.WithDefaults(c)
	w := &Waiter{cloud: c, opts: opts}
	w.ctx, w.stop = context.WithCancel(context.Background())
	w.volumes = newPoller(w, kindOps[cloud.Volume]{
		kind: "volume", get: c.GetVolume, list: c.ListVolumes,
		getEach: c.Capabilities().ListVolumesPerItem,
		id:      func(v *cloud.Volume) string { return v.ID },
		status:  func(v *cloud.Volume) (cloud.Status, string) { return v.Status, v.RawStatus },
	})
	w.snapshots = newPoller(w, kindOps[cloud.Snapshot]{
		kind: "snapshot", get: c.GetSnapshot, list: c.ListSnapshots,
		id:     func(s *cloud.Snapshot) string { return s.ID },
		status: func(s *cloud.Snapshot) (cloud.Status, string) { return s.Status, s.RawStatus },
	})
	w.backups = newPoller(w, kindOps[cloud.Backup]{
		kind: "backup", get: c.GetBackup, list: c.ListBackups,
		id:     func(b *cloud.Backup) string { return b.ID },
		status: func(b *cloud.Backup) (cloud.Status, string) { return b.Status, b.RawStatus },
	})
	return w
}

// Options returns the effective options (defaults filled in).
func (w *Waiter) Options() Options { return w.opts }

// Close stops the Waiter: pending waits end with ErrClosed, calls in
// flight are canceled, and Close returns once every background loop has
// exited. Later waits fail with ErrClosed. Close may be called more than
// once.
func (w *Waiter) Close() {
	w.mu.Lock()
	w.closed = true
	w.stop()
	w.mu.Unlock()
	w.loops.Wait()
}

// spawn runs loop in the background unless the Waiter is closed.
func (w *Waiter) spawn(loop func()) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return false
	}
	w.loops.Add(1)
	go func() {
		defer w.loops.Done()
		loop()
	}()
	return true
}

// Op names the operation a wait is for: waits for the same operation are
// timed alike (a create takes longer than an attach).
type Op string

// The operations the driver waits for. Snapshot and backup waits are
// timed by their kind; a wait for a resource to go is OpDelete.
const (
	OpOther   Op = ""
	OpCreate  Op = "create"
	OpRestore Op = "restore"
	OpAttach  Op = "attach"
	OpDetach  Op = "detach"
	OpExtend  Op = "extend"
	OpRetype  Op = "retype"
	OpDelete  Op = "delete"
)

// WaitVolume polls volume id until cond returns true (success), cond
// returns an error, the volume enters an error state (an error wrapping
// cloud.ErrFailed), disappears (cloud.ErrNotFound) or ctx ends (an error
// wrapping ctx.Err()). It returns the last observed volume.
func (w *Waiter) WaitVolume(ctx context.Context, id string, cond func(*cloud.Volume) (bool, error)) (*cloud.Volume, error) {
	return w.volumes.wait(ctx, OpOther, id, cond, false)
}

// WaitVolumeOp is WaitVolume for a wait that follows op: it is first
// checked when recent waits for op were done.
func (w *Waiter) WaitVolumeOp(ctx context.Context, op Op, id string, cond func(*cloud.Volume) (bool, error)) (*cloud.Volume, error) {
	return w.volumes.wait(ctx, op, id, cond, false)
}

// WaitVolumeGone waits until volume id no longer exists.
func (w *Waiter) WaitVolumeGone(ctx context.Context, id string) error {
	_, err := w.volumes.wait(ctx, OpDelete, id, nil, true)
	return err
}

// WaitSnapshot is WaitVolume for snapshots.
func (w *Waiter) WaitSnapshot(ctx context.Context, id string, cond func(*cloud.Snapshot) (bool, error)) (*cloud.Snapshot, error) {
	return w.snapshots.wait(ctx, OpCreate, id, cond, false)
}

// WaitSnapshotGone waits until snapshot id no longer exists.
func (w *Waiter) WaitSnapshotGone(ctx context.Context, id string) error {
	_, err := w.snapshots.wait(ctx, OpDelete, id, nil, true)
	return err
}

// WaitBackup is WaitVolume for backups.
func (w *Waiter) WaitBackup(ctx context.Context, id string, cond func(*cloud.Backup) (bool, error)) (*cloud.Backup, error) {
	return w.backups.wait(ctx, OpCreate, id, cond, false)
}

// WaitBackupGone waits until backup id no longer exists.
func (w *Waiter) WaitBackupGone(ctx context.Context, id string) error {
	_, err := w.backups.wait(ctx, OpDelete, id, nil, true)
	return err
}

// VolumeReady is a WaitVolume condition: the volume is in one of statuses.
func VolumeReady(statuses ...cloud.Status) func(*cloud.Volume) (bool, error) {
	return func(v *cloud.Volume) (bool, error) {
		for _, s := range statuses {
			if v.Status == s {
				return true, nil
			}
		}
		return false, nil
	}
}

// SnapshotReady is a WaitSnapshot condition: status available.
func SnapshotReady(s *cloud.Snapshot) (bool, error) { return s.Status == cloud.StatusAvailable, nil }

// BackupReady is a WaitBackup condition: status available.
func BackupReady(b *cloud.Backup) (bool, error) { return b.Status == cloud.StatusAvailable, nil }

// pollGate spaces the polls of every kind by PollGap.
type pollGate struct {
	mu   sync.Mutex
	next time.Time
}

// wait blocks until the next poll may go (or ctx ends) and books the slot
// after it.
func (g *pollGate) wait(ctx context.Context, gap time.Duration) {
	if gap <= 0 {
		return
	}
	g.mu.Lock()
	at := maxTime(time.Now(), g.next)
	g.next = at.Add(gap)
	g.mu.Unlock()
	t := time.NewTimer(time.Until(at))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// ParseMode parses a mode's name (the --waiter-mode flag).
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Batched, PerVolume:
		return m, nil
	}
	return "", fmt.Errorf("waiter mode %q: want %s or %s", s, Batched, PerVolume)
}
