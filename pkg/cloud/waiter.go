package cloud

import (
	"context"
	"sync"
	"time"
)

// WaiterMode selects how the Waiter polls.
type WaiterMode string

const (
	// WaitBatched answers all pending waits of one kind with one call per
	// tick: a single Get when one wait is pending, a full listing when more
	// are (a Get each where listing costs a call per item). This is what
	// keeps a busy controller under a cloud's rate limit. At the end of a
	// burst the last check is timed to when the newest wait is expected to
	// be done, from how long recent waits took.
	WaitBatched WaiterMode = "batched"
	// WaitPerVolume polls each resource on its own with exponential backoff
	// (1 s, ×1.2), as most drivers do. Kept for comparison in benchmarks.
	WaitPerVolume WaiterMode = "per-volume"
)

// Defaults sized for a real cloud: operations take seconds, so checking
// sooner than a second after the call only burns rate-limit budget.
const (
	DefaultWaitInitialDelay = time.Second
	DefaultWaitInterval     = 1500 * time.Millisecond
	DefaultWaitMaxBackoff   = 30 * time.Second
	DefaultWaitPageLimit    = 1000
	perVolumeBackoffFactor  = 1.2
	maxListPages            = 10000
)

// WaiterOptions tunes a Waiter. Zero values take the defaults above.
type WaiterOptions struct {
	Mode WaiterMode
	// InitialDelay is how long after a wait starts its resource is first
	// checked (per-volume mode: the first backoff step).
	InitialDelay time.Duration
	// Interval is the tick between batched checks.
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
	Observer func(BatchEvent)
}

// BatchEvent describes one poll: which kind, how many waits or lookups it
// answered, how many API calls (pages) it took, and its error if any.
type BatchEvent struct {
	// Kind is "volume", "snapshot", "backup", or the same with a "-name"
	// suffix for name lookups.
	Kind    string
	Waiters int
	Calls   int
	Err     error
}

// Waiter waits for asynchronous state changes of one cloud's resources and
// looks resources up by name. Create one per cloud and share it: its value
// comes from coalescing the waits of concurrent requests.
type Waiter struct {
	cloud Cloud
	opts  WaiterOptions

	volumes   *poller[Volume]
	snapshots *poller[Snapshot]
	backups   *poller[Backup]

	volumeNames   *namer[Volume]
	snapshotNames *namer[Snapshot]
	backupNames   *namer[Backup]

	gate pollGate
}

// pollGate spaces the polls of every kind by PollGap.
type pollGate struct {
	mu   sync.Mutex
	next time.Time
}

// wait blocks until the next poll may go and books the slot after it.
func (g *pollGate) wait(gap time.Duration) {
	if gap <= 0 {
		return
	}
	g.mu.Lock()
	at := maxTime(time.Now(), g.next)
	g.next = at.Add(gap)
	g.mu.Unlock()
	time.Sleep(time.Until(at))
}

// NewWaiter returns a Waiter for c.
func NewWaiter(c Cloud, opts WaiterOptions) *Waiter {
	if opts.Mode == "" {
		opts.Mode = WaitBatched
	}
	if opts.InitialDelay <= 0 {
		opts.InitialDelay = DefaultWaitInitialDelay
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultWaitInterval
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultWaitMaxBackoff
	}
	if opts.MaxBackoff < opts.Interval {
		opts.MaxBackoff = opts.Interval
	}
	if opts.PageLimit <= 0 {
		opts.PageLimit = DefaultWaitPageLimit
	}
	if rate := c.Capabilities().CallsPerSecond; opts.PollGap == 0 && rate > 0 {
		opts.PollGap = time.Duration(2 * float64(time.Second) / rate)
	}
	w := &Waiter{cloud: c, opts: opts}
	volOps := kindOps[Volume]{
		kind: "volume", get: c.GetVolume, list: c.ListVolumes,
		getEach: c.Capabilities().ListVolumesPerItem,
		id:      func(v *Volume) string { return v.ID },
		name:    func(v *Volume) string { return v.Name },
		status:  func(v *Volume) (Status, string) { return v.Status, v.RawStatus },
	}
	snapOps := kindOps[Snapshot]{
		kind: "snapshot", get: c.GetSnapshot, list: c.ListSnapshots,
		id:     func(s *Snapshot) string { return s.ID },
		name:   func(s *Snapshot) string { return s.Name },
		status: func(s *Snapshot) (Status, string) { return s.Status, s.RawStatus },
	}
	backupOps := kindOps[Backup]{
		kind: "backup", get: c.GetBackup, list: c.ListBackups,
		id:     func(b *Backup) string { return b.ID },
		name:   func(b *Backup) string { return b.Name },
		status: func(b *Backup) (Status, string) { return b.Status, b.RawStatus },
	}
	w.volumes = newPoller(w, volOps)
	w.snapshots = newPoller(w, snapOps)
	w.backups = newPoller(w, backupOps)
	w.volumeNames = newNamer(w, volOps)
	w.snapshotNames = newNamer(w, snapOps)
	w.backupNames = newNamer(w, backupOps)
	return w
}

// Options returns the effective options (defaults filled in).
func (w *Waiter) Options() WaiterOptions { return w.opts }

// WaitVolume polls volume id until cond returns true (success), cond
// returns an error, the volume enters an error state (an error wrapping
// ErrFailed), disappears (ErrNotFound) or ctx ends (an error wrapping
// ctx.Err()). It returns the last observed volume.
func (w *Waiter) WaitVolume(ctx context.Context, id string, cond func(*Volume) (bool, error)) (*Volume, error) {
	return w.volumes.wait(ctx, id, cond, false)
}

// WaitVolumeGone waits until volume id no longer exists.
func (w *Waiter) WaitVolumeGone(ctx context.Context, id string) error {
	_, err := w.volumes.wait(ctx, id, nil, true)
	return err
}

// WaitSnapshot is WaitVolume for snapshots.
func (w *Waiter) WaitSnapshot(ctx context.Context, id string, cond func(*Snapshot) (bool, error)) (*Snapshot, error) {
	return w.snapshots.wait(ctx, id, cond, false)
}

// WaitSnapshotGone waits until snapshot id no longer exists.
func (w *Waiter) WaitSnapshotGone(ctx context.Context, id string) error {
	_, err := w.snapshots.wait(ctx, id, nil, true)
	return err
}

// WaitBackup is WaitVolume for backups.
func (w *Waiter) WaitBackup(ctx context.Context, id string, cond func(*Backup) (bool, error)) (*Backup, error) {
	return w.backups.wait(ctx, id, cond, false)
}

// WaitBackupGone waits until backup id no longer exists.
func (w *Waiter) WaitBackupGone(ctx context.Context, id string) error {
	_, err := w.backups.wait(ctx, id, nil, true)
	return err
}

// FindVolumeByName returns the volume named name, or nil (and no error)
// when there is none. Concurrent lookups share listings.
func (w *Waiter) FindVolumeByName(ctx context.Context, name string) (*Volume, error) {
	return w.volumeNames.find(ctx, name)
}

// FindSnapshotByName is FindVolumeByName for snapshots.
func (w *Waiter) FindSnapshotByName(ctx context.Context, name string) (*Snapshot, error) {
	return w.snapshotNames.find(ctx, name)
}

// FindBackupByName is FindVolumeByName for backups.
func (w *Waiter) FindBackupByName(ctx context.Context, name string) (*Backup, error) {
	return w.backupNames.find(ctx, name)
}

// VolumeReady is a WaitVolume condition: the volume is in one of statuses.
func VolumeReady(statuses ...Status) func(*Volume) (bool, error) {
	return func(v *Volume) (bool, error) {
		for _, s := range statuses {
			if v.Status == s {
				return true, nil
			}
		}
		return false, nil
	}
}

// SnapshotReady is a WaitSnapshot condition: status available.
func SnapshotReady(s *Snapshot) (bool, error) { return s.Status == StatusAvailable, nil }

// BackupReady is a WaitBackup condition: status available.
func BackupReady(b *Backup) (bool, error) { return b.Status == StatusAvailable, nil }

func (w *Waiter) observe(ev BatchEvent) {
	if w.opts.Observer != nil {
		w.opts.Observer(ev)
	}
}

// backoff returns the delay before retrying after a failed call: the
// cloud's Retry-After when it gave one, else doubling from Interval.
func (w *Waiter) backoff(prev time.Duration, err error) time.Duration {
	next := prev * 2
	if next < w.opts.Interval {
		next = w.opts.Interval
	}
	if next > w.opts.MaxBackoff {
		next = w.opts.MaxBackoff
	}
	if ra := RetryAfterOf(err); ra > next {
		next = ra
	}
	return next
}
