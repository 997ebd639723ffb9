package driver

import (
	"context"
	"errors"
	"sync"
	"time"

	"k8s.io/klog/v2"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
)

// The janitor removes resources this driver created that ended in an error
// state when no request is left to do it: the CO's attempt timed out before
// the cloud failed the resource, or the CO gave up on it (a VolumeSnapshot
// or PVC deleted before it got a handle is never passed to a Delete call).
// Within a process it keeps watching what a request stopped waiting for;
// across restarts a sweep of the project finds what a killed controller
// left. On a slow cloud (1 call/s) without it, failed snapshots pile up
// and their source volumes can never be deleted.

const (
	// watchFor bounds how long a resource is watched after its request
	// stopped waiting; the sweep covers anything slower.
	watchFor = 30 * time.Minute
	// removeFor bounds the retries of one removal.
	removeFor = 10 * time.Minute
	// DefaultSweepDelay lets the CO's retries after a restart go first;
	// DefaultSweepInterval catches what failed while nobody watched.
	DefaultSweepDelay    = 15 * time.Second
	DefaultSweepInterval = 10 * time.Minute
)

// restoreRetryWindow is how long after it was made a volume whose restore
// is unfinished is left to the CO's retries of its CreateVolume, which
// pick it up by name and finish the restore. A controller restarted
// between two retries sees no CreateVolume for it in flight; removing it
// then would make the next retry start over, which at 1 call/s costs
// most of a minute. The external-provisioner retries at least every 5
// minutes while the PVC exists; a volume older than three such intervals
// is taken as abandoned (its PVC deleted before it got a handle).
const restoreRetryWindow = 15 * time.Minute

// holdUnfinishedFor bounds how long the sweep holds a request name while
// it removes that name's unfinished restore (a variable for tests).
var holdUnfinishedFor = 10 * time.Second

// kind is one resource kind as the janitor handles it.
type kind struct {
	name string
	wait func(ctx context.Context, id string) error
	del  func(ctx context.Context, id string) error
}

func (c *Controller) volumeKind() kind {
	return kind{name: "volume",
		wait: func(ctx context.Context, id string) error {
			_, err := c.waiter.WaitVolume(ctx, id, waiter.VolumeReady(cloud.StatusAvailable, cloud.StatusInUse))
			return err
		},
		del: c.cloud.DeleteVolume}
}

func (c *Controller) snapshotKind() kind {
	return kind{name: "snapshot",
		wait: func(ctx context.Context, id string) error {
			_, err := c.waiter.WaitSnapshot(ctx, id, waiter.SnapshotReady)
			return err
		},
		del: c.cloud.DeleteSnapshot}
}

func (c *Controller) backupKind() kind {
	return kind{name: "backup",
		wait: func(ctx context.Context, id string) error {
			_, err := c.waiter.WaitBackup(ctx, id, waiter.BackupReady)
			return err
		},
		del: c.cloud.DeleteBackup}
}

// janitor holds the resources being watched or removed in the background.
type janitor struct {
	mu   sync.Mutex
	busy map[string]bool
}

func (j *janitor) claim(key string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.busy == nil {
		j.busy = map[string]bool{}
	}
	if j.busy[key] {
		return false
	}
	j.busy[key] = true
	return true
}

func (j *janitor) release(key string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	delete(j.busy, key)
}

// watchCreated keeps waiting, detached from any request, for a resource
// this driver created until it is ready or gone, and removes it if it
// fails. Called when the request that created it stops waiting first.
func (c *Controller) watchCreated(ctx context.Context, k kind, id string) {
	c.janitor.run(ctx, k.name+"/"+id, watchFor, func(ctx context.Context) {
		if err := k.wait(ctx, id); errors.Is(err, cloud.ErrFailed) {
			c.remove(ctx, k, id)
		}
	})
}

// removeLater removes a failed resource in the background, so that the
// request that found it failed answers at once.
func (c *Controller) removeLater(ctx context.Context, k kind, id string) {
	c.janitor.run(ctx, k.name+"/"+id, removeFor, func(ctx context.Context) { c.remove(ctx, k, id) })
}

// run runs fn in the background, detached from the request ctx belongs
// to and bounded by d, unless work under key is running already.
func (j *janitor) run(ctx context.Context, key string, d time.Duration, fn func(context.Context)) {
	if !j.claim(key) {
		return
	}
	go func() {
		defer j.release(key)
		ctx, cancel := context.WithTimeout(background(ctx), d)
		defer cancel()
		fn(ctx)
	}()
}

// background is a context for work that outlives the request that
// started it: no deadline or cancel of the request's, but its logger, so
// the lines still say which call handed the resource over.
func background(ctx context.Context) context.Context {
	return klog.NewContext(context.Background(), klog.FromContext(ctx))
}

// remove deletes a resource this driver made that no request holds (a
// failed one, or a late twin), retrying what a retry can fix (rate
// limits, 5xx, a state the cloud is still leaving) until ctx ends.
func (c *Controller) remove(ctx context.Context, k kind, id string) {
	delay := 2 * time.Second
	// A few refusals for state: one still leaving a transition is deletable
	// soon; error_deleting and the like need an operator.
	refusals := 0
	for {
		err := k.del(ctx, id)
		if err == nil || cloud.IsNotFound(err) {
			klog.FromContext(ctx).Info("Removed a resource this driver created that no request holds", "kind", k.name, "id", id)
			return
		}
		if errors.Is(err, cloud.ErrWrongState) {
			refusals++
		}
		if (!cloud.IsRetryable(err) && !errors.Is(err, cloud.ErrWrongState)) || refusals > 3 {
			klog.FromContext(ctx).Error(err, "Could not remove a resource this driver created that no request holds; delete it by hand", "kind", k.name, "id", id)
			return
		}
		select {
		case <-ctx.Done():
			klog.FromContext(ctx).Error(err, "Gave up removing a resource this driver created that no request holds; delete it by hand", "kind", k.name, "id", id)
			return
		case <-time.After(max(delay, cloud.RetryAfterOf(err))):
		}
		delay = min(delay*2, 30*time.Second)
	}
}

// sweepLoop sweeps the project after a delay and then now and then, until
// ctx ends.
func (c *Controller) sweepLoop(ctx context.Context) {
	if c.sweepInterval < 0 {
		return
	}
	ctx = klog.NewContext(ctx, klog.FromContext(ctx).WithName("sweep"))
	t := time.NewTimer(c.sweepDelay)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := c.sweep(ctx); err != nil && ctx.Err() == nil {
			klog.FromContext(ctx).V(2).Info("Sweep for failed resources did not finish; trying again later", "err", err)
			t.Reset(c.sweepDelay)
			continue
		}
		t.Reset(c.sweepInterval)
	}
}

// sweep lists the project's volumes, snapshots and backups once: failed
// ones of this driver are removed, ones of this driver still being
// created are watched (their creator may be a killed controller). Each
// walk keeps only what it acts on: a project of ten thousand volumes is
// read a page at a time, never held whole.
func (c *Controller) sweep(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if c.caps.Snapshots {
		snaps, _, err := waiter.ListKeep(ctx, c.cloud.ListSnapshots, cloud.ListOptions{}, listPageLimit, ownSnapshot)
		if err != nil {
			return err
		}
		names := twinNames{}
		for i := range snaps {
			c.tend(ctx, c.snapshotKind(), snaps[i].ID, snaps[i].Status)
			names.add(snaps[i].Name, !gone(snaps[i].Status))
		}
		names.resolve(ctx, c, c.snapshotTwins())
	}
	if c.caps.Backups {
		backups, _, err := waiter.ListKeep(ctx, c.cloud.ListBackups, cloud.ListOptions{}, listPageLimit, ownBackup)
		if err != nil {
			return err
		}
		names := twinNames{}
		for i := range backups {
			c.tend(ctx, c.backupKind(), backups[i].ID, backups[i].Status)
			names.add(backups[i].Name, !gone(backups[i].Status))
		}
		names.resolve(ctx, c, c.backupTwins())
	}
	if c.caps.ListVolumesPerItem {
		// A call per volume is too dear for a sweep; such clouds keep no
		// metadata to know our volumes by anyway.
		return nil
	}
	// Twins are counted, not kept: recent volumes of ours by name, and an
	// older one when its name is counted already (listings are newest
	// first, so a twin's elder comes later).
	names := twinNames{}
	recent := time.Now().Add(-twinSweepWindow)
	vols, _, err := waiter.ListKeep(ctx, c.cloud.ListVolumes, cloud.ListOptions{}, listPageLimit, func(v *cloud.Volume) bool {
		if ownVolume(v) && !gone(v.Status) && (v.CreatedAt.After(recent) || names[v.Name] > 0) {
			names.add(v.Name, true)
		}
		return failedVolume(v) || failedRestore(v) || (ownVolume(v) && v.Status == cloud.StatusCreating) || unfinishedRestore(v) || unreclaimedRestore(v)
	})
	if err != nil {
		return err
	}
	names.resolve(ctx, c, c.volumeTwins())
	for i := range vols {
		v := &vols[i]
		switch {
		case failedVolume(v), failedRestore(v):
			c.tend(ctx, c.volumeKind(), v.ID, v.Status)
		case ownVolume(v) && v.Status == cloud.StatusCreating:
			c.tend(ctx, c.volumeKind(), v.ID, v.Status)
		case unfinishedRestore(v), unreclaimedRestore(v):
			if time.Since(v.CreatedAt) < restoreRetryWindow {
				klog.FromContext(ctx).V(2).Info("Leaving a volume whose restore is unfinished to its CreateVolume's retries", "name", v.Name, "id", v.ID)
				continue
			}
			c.removeUnfinished(ctx, v)
		}
	}
	return nil
}

// tend removes a failed resource and watches one being created.
func (c *Controller) tend(ctx context.Context, k kind, id string, st cloud.Status) {
	switch st {
	case cloud.StatusError:
		klog.FromContext(ctx).Info("Found a failed resource this driver created", "kind", k.name, "id", id)
		c.removeLater(ctx, k, id)
	case cloud.StatusCreating:
		c.watchCreated(ctx, k, id)
	}
}

// gone: a resource an earlier attempt left under the request's name that
// is no use to this one (failed, or on its way out).
func gone(st cloud.Status) bool { return st.IsError() || st == cloud.StatusDeleting }

// replaceFailed removes what an earlier attempt (maybe of a controller
// since killed) left failed under the request's name, so that the request
// can make a fresh one at once: a lookup by name prefers the live one, and
// waiting for the failed one to go would cost calls a 1 call/s cloud
// cannot spare within one attempt.
func (c *Controller) replaceFailed(ctx context.Context, k kind, name, id string, st cloud.Status, raw string) error {
	if st == cloud.StatusDeleting {
		return nil
	}
	// The request's logger names it already.
	klog.FromContext(ctx).Info("Replacing a failed resource left by an earlier attempt", "kind", k.name, "id", id, "status", raw)
	err := k.del(ctx, id)
	switch {
	case err == nil, cloud.IsNotFound(err):
		return nil
	case errors.Is(err, cloud.ErrWrongState):
		// Maybe the janitor deleted it already; if not, it stays for the
		// janitor and the sweep, and the fresh one is made anyway.
		c.removeLater(ctx, k, id)
		return nil
	}
	return failed(err, "%s %s (%s) from an earlier attempt is in status %s and could not be deleted", k.name, name, id, raw)
}

// clearFailed removes a failed resource of this driver's and waits until
// it is gone (the cloud refuses to delete a volume with snapshots).
func (c *Controller) clearFailed(ctx context.Context, k kind, name, id string, st cloud.Status, raw string, waitGone func(context.Context, string) error) error {
	if st != cloud.StatusDeleting {
		klog.FromContext(ctx).Info("Replacing a failed resource left by an earlier attempt", "kind", k.name, "name", name, "id", id, "status", raw)
		// Refused for its state: the janitor may be deleting it already;
		// the wait below tells.
		if err := k.del(ctx, id); err != nil && !cloud.IsNotFound(err) && !errors.Is(err, cloud.ErrWrongState) {
			return failed(err, "%s %s (%s) from an earlier attempt is in status %s and could not be deleted", k.name, name, id, raw)
		}
	}
	if err := waitGone(ctx, id); err != nil {
		return failed(err, "waiting for the failed %s %s (%s) from an earlier attempt to be deleted", k.name, name, id)
	}
	return nil
}

// maxRemakes bounds how often one request makes a resource again after
// the cloud failed it.
const maxRemakes = 3

// dropFailed deletes a resource the cloud failed while this request waited
// for it, so that the request makes a fresh one at once. Left to the CO's
// next attempt, the failure would cost a backoff, a lookup by name and a
// second delete of the same resource (the janitor's, then the retry's):
// on a 1 call/s cloud, seconds a request does not have. False when err is
// not such a failure, the request has remade it often enough, or the
// delete did not go through; the caller then answers with notReady, which
// hands the resource to the janitor.
func (c *Controller) dropFailed(ctx context.Context, k kind, id string, try int, err error) bool {
	if !errors.Is(err, cloud.ErrFailed) || try > maxRemakes || ctx.Err() != nil {
		return false
	}
	if derr := k.del(ctx, id); derr != nil && !cloud.IsNotFound(derr) {
		return false
	}
	klog.FromContext(ctx).Info("Deleted a resource the cloud failed; making it again", "kind", k.name, "id", id, "err", err)
	return true
}

// notReady explains a wait for a new resource that ended without it
// ready, and hands the resource to the janitor: removed at once if it
// failed, watched if the request ran out of time first.
func (c *Controller) notReady(ctx context.Context, err error, k kind, name, id string) error {
	switch {
	case errors.Is(err, cloud.ErrFailed):
		c.removeLater(ctx, k, id)
		return failed(err, "%s %s (%s) failed; it is being deleted and the next attempt makes a new one", k.name, name, id)
	case cloud.IsNotFound(err):
		return failed(err, "%s %s (%s) disappeared while being created", k.name, name, id)
	}
	c.watchCreated(ctx, k, id)
	return failed(err, "waiting for %s %s (%s)", k.name, name, id)
}

// removeUnfinished deletes a volume whose restore its CreateVolume never
// finished, unless a CreateVolume for its name is under way here (only
// the leader serves, so none runs elsewhere); the name is held meanwhile,
// so a retry arriving now gets Aborted and then makes a new one.
func (c *Controller) removeUnfinished(ctx context.Context, v *cloud.Volume) {
	release, err := hold(&c.inFlight, "volume-name/"+v.Name, "volume "+v.Name)
	if err != nil {
		return
	}
	defer release()
	// Bounded: the sweep's own deadline is minutes, and at 1 call/s a
	// delete can wait that long for rate-limit slots, all the while
	// answering the CO's retries for the name Aborted.
	ctx, cancel := context.WithTimeout(ctx, holdUnfinishedFor)
	defer cancel()
	if err := c.cloud.DeleteVolume(ctx, v.ID); err != nil && !cloud.IsNotFound(err) {
		klog.FromContext(ctx).V(2).Info("Could not remove a volume whose restore never finished; trying at the next sweep", "id", v.ID, "err", err)
		return
	}
	klog.FromContext(ctx).Info("Removed a volume whose restore its CreateVolume never finished", "name", v.Name, "id", v.ID)
}

// twinSweepWindow: the sweep looks for twins among volumes created this
// recently; a late create lands within twinHorizon of its request, and
// sweeps come every DefaultSweepInterval.
const twinSweepWindow = time.Hour

// twinNames counts live resources of this driver by request name, for the
// sweep to find names held twice.
type twinNames map[string]int

func (n twinNames) add(name string, live bool) {
	if live && name != "" {
		n[name]++
	}
}

// resolve removes the later twins of every name held more than once.
func (n twinNames) resolve(ctx context.Context, c *Controller, k twinKind) {
	for name, count := range n {
		if count > 1 && ctx.Err() == nil {
			c.removeLaterTwins(ctx, k, name)
		}
	}
}
