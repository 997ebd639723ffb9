package driver

import (
	"context"
	"maps"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/lookup"
)

// Twins are two live resources under one request name. Nothing in Cinder's
// or Lunanode's API makes a create idempotent, and a create request can
// reach the cloud late: queued behind others while the CO's attempt timed
// out, or sent by a controller killed before the answer came. The retry
// finds no resource by the name and makes one; then the first lands.
// Neither can be prevented, so the driver converges instead:
//
//   - a lookup by name answers the oldest live resource (lookup.Names), so
//     every answer for a name is the same one once it exists;
//   - where a twin may be on its way, a create checks the name again once
//     its resource is ready and, if an older one is there, deletes its own
//     and has the CO retry into the older one (checkTwins);
//   - the later twin, never answered, is removed: watched for a while
//     after such a create, and found by the sweep after a restart.
//
// "May be on its way": a create of this name this process (or, by the
// journal, its predecessor in the pod) sent without an answer, or any
// create while this process is young, has no journal and the project
// shows a predecessor at work. Elsewhere the check would cost a listing
// per create for nothing.

// twinHorizon is how long after it was sent a create is taken to be able
// to reach the cloud still.
const twinHorizon = 2 * time.Minute

// maxTwinWait bounds the wait for a creation time's second to pass (a
// cloud whose clock runs ahead would have it wait longer).
const maxTwinWait = 2 * time.Second

// twinChecks are when, after a create a twin may follow, the name is
// looked up again for a later twin to remove (a variable for tests).
var twinChecks = []time.Duration{5 * time.Second, 20 * time.Second, time.Minute, twinHorizon + 10*time.Second}

// twinMemory is how long the controller remembers a resource a twin may
// follow: past twinHorizon, for the CO's delete of it (a twin that
// outlives the one answered is no longer told from a volume in use).
const twinMemory = 10 * time.Minute

// twinState is what the controller knows about creates that may still
// land.
type twinState struct {
	started time.Time

	mu         sync.Mutex
	unanswered map[string]time.Time // kind/name -> when a create went unanswered
	probed     bool
	successor  bool                   // the project showed a predecessor's recent creates
	records    map[string]*twinRecord // kind/name
	names      map[string]string      // kind/id -> name, of the records' resources
	journal    *twinJournal           // nil: none configured, or it failed
}

// twinRecord is a request name a twin may follow: the resource a lookup
// of it answers (it outlives no delete) and what was answered here.
type twinRecord struct {
	first    twinRef
	answered map[string]bool
	ids      []string // every id remembered under the name
	at       time.Time
}

// noteUnanswered records that a create for key was sent and no answer
// came back: it may still land.
func (t *twinState) noteUnanswered(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.unanswered == nil {
		t.unanswered = map[string]time.Time{}
	}
	now := time.Now()
	for k, at := range t.unanswered {
		if now.Sub(at) > twinHorizon {
			delete(t.unanswered, k)
		}
	}
	t.unanswered[key] = now
}

func (t *twinState) pending(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	at, ok := t.unanswered[key]
	return ok && time.Since(at) <= twinHorizon
}

// remember records ref under kind and name: as answered here, or (a
// predecessor's) only as the one its name's lookup answers.
func (t *twinState) remember(kind, name string, ref twinRef, answered bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rememberLocked(kind, name, ref, answered)
}

func (t *twinState) rememberLocked(kind, name string, ref twinRef, answered bool) {
	now := time.Now()
	t.rememberAtLocked(kind, name, ref, answered, now)
	t.writeLocked(twinEvent{At: now, Event: eventRemembered, Kind: kind, Name: name, ID: ref.id, Created: ref.created, Answered: answered})
}

// rememberAtLocked is remember as of now (a journal's replay is as of
// its events).
func (t *twinState) rememberAtLocked(kind, name string, ref twinRef, answered bool, now time.Time) {
	if t.records == nil {
		t.records, t.names = map[string]*twinRecord{}, map[string]string{}
	}
	for key, r := range t.records {
		if now.Sub(r.at) > twinMemory {
			delete(t.records, key)
			for _, id := range r.ids {
				delete(t.names, kindOf(key)+"/"+id)
			}
		}
	}
	r := t.records[kind+"/"+name]
	if r == nil {
		r = &twinRecord{first: ref, answered: map[string]bool{}}
		t.records[kind+"/"+name] = r
	} else if lookup.Older(ref.created, ref.id, r.first.created, r.first.id) {
		r.first = ref
	}
	r.at = now
	if answered {
		r.answered[ref.id] = true
	}
	if _, known := t.names[kind+"/"+ref.id]; !known {
		r.ids = append(r.ids, ref.id)
		t.names[kind+"/"+ref.id] = name
	}
}

func kindOf(key string) string { k, _, _ := strings.Cut(key, "/"); return k }

// record is what is remembered of kind and name, a copy.
func (t *twinState) record(kind, name string) (twinRecord, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.records[kind+"/"+name]
	if !ok || time.Since(r.at) > twinMemory {
		return twinRecord{}, false
	}
	return twinRecord{first: r.first, answered: maps.Clone(r.answered), at: r.at}, true
}

// nameOf is the request name of a remembered resource.
func (t *twinState) nameOf(kind, id string) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	name, ok := t.names[kind+"/"+id]
	return name, ok
}

// twinsPossible: a twin of the resource a create for name just made may
// exist or be on its way.
func (c *Controller) twinsPossible(kindName, name string) bool {
	if c.twins.pending(kindName + "/" + name) {
		return true
	}
	if time.Since(c.twins.started) > twinHorizon {
		return false
	}
	c.twins.mu.Lock()
	defer c.twins.mu.Unlock()
	return c.twins.successor || !c.twins.probed
}

// probePredecessor finds out, once per process and before its first
// create or delete, whether the project holds resources of this driver
// created within twinHorizon before this process started, or still being
// created: a predecessor was at work, and its last creates may still
// land. Those resources are remembered, so that the CO's delete of one
// looks for a twin. One short listing of volumes (and one of snapshots),
// newest first; none once the process is past the horizon.
func (c *Controller) probePredecessor(ctx context.Context) {
	if time.Since(c.twins.started) > twinHorizon {
		return
	}
	c.twins.mu.Lock()
	defer c.twins.mu.Unlock()
	if c.twins.probed {
		return
	}
	if c.caps.ListVolumesPerItem {
		// Listing costs a call per volume and lists oldest first
		// (Lunanode): taken as a successor, every early create checks
		// its name, a listing of the name alone.
		c.twins.probed, c.twins.successor = true, true
		return
	}
	page, err := c.cloud.ListVolumes(ctx, cloud.ListOptions{Limit: probeLimit})
	if err != nil {
		return // unknown: twinsPossible assumes a predecessor
	}
	since := c.twins.started.Add(-twinHorizon)
	var recent []func()
	for i := range page.Items {
		v := &page.Items[i]
		if ownVolume(v) && !gone(v.Status) && (v.Status == cloud.StatusCreating || v.CreatedAt.After(since)) {
			recent = append(recent, func() {
				c.twins.rememberLocked("volume", v.Name, twinRef{id: v.ID, created: v.CreatedAt, live: true}, false)
			})
		}
	}
	if c.caps.Snapshots {
		snaps, err := c.cloud.ListSnapshots(ctx, cloud.ListOptions{Limit: probeLimit})
		if err != nil {
			return
		}
		for i := range snaps.Items {
			s := &snaps.Items[i]
			if ownSnapshot(s) && !gone(s.Status) && (s.Status == cloud.StatusCreating || s.CreatedAt.After(since)) {
				recent = append(recent, func() {
					c.twins.rememberLocked("snapshot", s.Name, twinRef{id: s.ID, created: s.CreatedAt, live: true}, false)
				})
			}
		}
	}
	c.twins.probed, c.twins.successor = true, len(recent) > 0
	for _, r := range recent {
		r()
	}
	klog.FromContext(ctx).V(2).Info("Looked for a predecessor's recent creates", "found", len(recent))
}

// probeLimit is how many of the newest volumes (and snapshots) the probe
// lists: one call each.
const probeLimit = 50

// twinRef is one resource under a request name, as far as twins go.
type twinRef struct {
	id       string
	created  time.Time
	live     bool // neither failed nor on its way out
	settling bool // still being made
	inUse    bool // attached somewhere: never removed as a twin
}

// twinKind is a resource kind as twins are handled.
type twinKind struct {
	kind
	nameKey string // the in-flight key prefix its creates hold
	named   func(ctx context.Context, name string) ([]twinRef, error)
}

func (c *Controller) volumeTwins() twinKind {
	return twinKind{kind: c.volumeKind(), nameKey: "volume-name/",
		named: func(ctx context.Context, name string) ([]twinRef, error) {
			vols, err := c.lookup.VolumesNamed(ctx, name)
			refs := make([]twinRef, 0, len(vols))
			for _, v := range vols {
				refs = append(refs, twinRef{id: v.ID, created: v.CreatedAt, live: !gone(v.Status), settling: stillMade(v.Status), inUse: len(v.Attachments) > 0})
			}
			return refs, err
		}}
}

func (c *Controller) snapshotTwins() twinKind {
	return twinKind{kind: c.snapshotKind(), nameKey: "snapshot-name/",
		named: func(ctx context.Context, name string) ([]twinRef, error) {
			snaps, err := c.lookup.SnapshotsNamed(ctx, name)
			refs := make([]twinRef, 0, len(snaps))
			for _, s := range snaps {
				refs = append(refs, twinRef{id: s.ID, created: s.CreatedAt, live: !gone(s.Status), settling: stillMade(s.Status)})
			}
			return refs, err
		}}
}

func (c *Controller) backupTwins() twinKind {
	return twinKind{kind: c.backupKind(), nameKey: "snapshot-name/",
		named: func(ctx context.Context, name string) ([]twinRef, error) {
			bs, err := c.lookup.BackupsNamed(ctx, name)
			refs := make([]twinRef, 0, len(bs))
			for _, b := range bs {
				refs = append(refs, twinRef{id: b.ID, created: b.CreatedAt, live: !gone(b.Status), settling: stillMade(b.Status)})
			}
			return refs, err
		}}
}

func stillMade(st cloud.Status) bool {
	return st == cloud.StatusCreating || st == cloud.StatusRestoring
}

// oldestLive is the twin every lookup answers (lookup's order: created
// first, the smaller id on a tie).
func oldestLive(refs []twinRef) *twinRef {
	var best *twinRef
	for i := range refs {
		r := &refs[i]
		if !r.live {
			continue
		}
		if best == nil || lookup.Older(r.created, r.id, best.created, best.id) {
			best = r
		}
	}
	return best
}

// checkTwins runs when a create for name is about to answer id, ready.
// Where a twin is possible it watches the name for a later one and, if
// this request made id (madeHere), looks for an older one now: if there
// is, id is deleted and the request answers Aborted, so that the CO's
// retry adopts the older one. An error of the lookup fails the request
// too (retryable): answering id while an older twin may exist would hand
// out the one that is to go. An id the request found by name needs no
// look: the lookup answered the oldest, and what lands now is later.
// An answer for a name already watched is remembered in any case: it is
// the CO's, not a twin.
func (c *Controller) checkTwins(ctx context.Context, k twinKind, name, id string, created time.Time, madeHere bool) error {
	answer := twinRef{id: id, created: created, live: true}
	if !c.twinsPossible(k.name, name) {
		if _, watched := c.twins.record(k.name, name); watched {
			c.twins.remember(k.name, name, answer, true)
		}
		return nil
	}
	c.watchTwins(ctx, k, name)
	if !madeHere {
		c.twins.remember(k.name, name, answer, true)
		return nil
	}
	// Some clouds keep creation times in whole seconds (Cinder on MySQL,
	// Lunanode). Looking only once id's second is over, a twin that lands
	// after the look is strictly later than id, and one that shares id's
	// second is seen now and ordered by id, as lookups order it.
	if wait := time.Until(created.Truncate(time.Second).Add(time.Second)); !created.IsZero() && wait > 0 {
		select {
		case <-ctx.Done():
			return failed(ctx.Err(), "checking that no earlier attempt's %s %s landed late", k.name, name)
		case <-time.After(min(wait, maxTwinWait)):
		}
	}
	refs, err := k.named(ctx, name)
	if err != nil {
		return failed(err, "checking that no earlier attempt's %s %s landed late", k.name, name)
	}
	first := oldestLive(refs)
	if first == nil || first.id == id {
		c.twins.remember(k.name, name, answer, true)
		return nil
	}
	klog.FromContext(ctx).Info("An earlier attempt's create landed late; keeping it and deleting this attempt's", "kind", k.name, "kept", first.id, "deleted", id)
	c.removeLater(ctx, k.kind, id)
	return status.Errorf(codes.Aborted, "%s %s: an earlier attempt's create reached the cloud late as %s, which is kept; %s, made by this attempt, is being deleted; retry to get %s",
		k.name, name, first.id, id, first.id)
}

// settleTwins runs once the CO's delete of id is through. If id is one a
// twin may follow, a twin already there is removed now: with id gone,
// nothing in the cloud tells it from a volume in use, and the controller
// that knows may be restarted before its next look. One still on its way
// is left to the watch.
func (c *Controller) settleTwins(ctx context.Context, k twinKind, id string) {
	name, ok := c.twins.nameOf(k.name, id)
	if !ok {
		return
	}
	c.removeLaterTwins(ctx, k, name)
	c.watchTwins(ctx, k, name)
}

// watchTwins looks name up again now and then for twinHorizon, and
// removes any later twin that landed after the answer.
func (c *Controller) watchTwins(ctx context.Context, k twinKind, name string) {
	c.janitor.run(ctx, "twins/"+k.name+"/"+name, watchFor, func(ctx context.Context) {
		start := time.Now()
		for _, at := range twinChecks {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(start.Add(at))):
			}
			c.removeLaterTwins(ctx, k, name)
		}
	})
}

// removeLaterTwins removes the resources under name created after the
// one every lookup answers: the oldest live one, or the one remembered
// here if that is older (it may have been deleted since). None of them
// was ever answered (checkTwins); one answered here after the remembered
// one was deleted (the CO made the name again) is kept. Twins created at
// the same instant (clouds that keep seconds) are left: which one a
// request answered cannot be told. Skipped while a create for the name
// is under way here; the next check or sweep comes back.
func (c *Controller) removeLaterTwins(ctx context.Context, k twinKind, name string) {
	release, err := hold(&c.inFlight, k.nameKey+name, k.name+" "+name)
	if err != nil {
		return
	}
	defer release()
	refs, err := k.named(ctx, name)
	if err != nil {
		klog.FromContext(ctx).V(2).Info("Could not look for twins; trying again later", "kind", k.name, "name", name, "err", err)
		return
	}
	first := oldestLive(refs)
	rec, remembered := c.twins.record(k.name, name)
	if remembered && (first == nil || lookup.Older(rec.first.created, rec.first.id, first.created, first.id)) {
		first = &rec.first
	}
	if first == nil {
		return
	}
	for _, r := range refs {
		switch {
		case !r.live || r.id == first.id || rec.answered[r.id]:
		case r.inUse:
			klog.FromContext(ctx).Error(nil, "Two resources hold one request name and the later one is in use; delete the one not bound by hand", "kind", k.name, "name", name, "ids", []string{first.id, r.id})
		case !r.created.After(first.created):
			klog.FromContext(ctx).Error(nil, "Two resources hold one request name, created at the same time; delete the one not bound by hand", "kind", k.name, "name", name, "ids", []string{first.id, r.id})
		case time.Since(r.created) > twinSweepWindow:
			// A late create lands within twinHorizon; a pair this old is
			// no such thing (made by hand, or by a driver that answered
			// the later one), and either may be in use.
			klog.FromContext(ctx).Error(nil, "Two resources hold one request name and neither is recent; delete the one not bound by hand", "kind", k.name, "name", name, "ids", []string{first.id, r.id})
		default:
			klog.FromContext(ctx).Info("Removing a resource a late create left under a request name another holds", "kind", k.name, "name", name, "id", r.id, "kept", first.id)
			c.removeTwin(ctx, k.kind, r)
		}
	}
}

// removeTwin removes a late twin; one still being made is waited for
// first, as the cloud refuses to delete it until then.
func (c *Controller) removeTwin(ctx context.Context, k kind, r twinRef) {
	if !r.settling {
		c.removeLater(ctx, k, r.id)
		return
	}
	c.janitor.run(ctx, k.name+"/"+r.id, removeFor, func(ctx context.Context) {
		_ = k.wait(ctx, r.id) // failed or ready, it goes
		c.remove(ctx, k, r.id)
	})
}
