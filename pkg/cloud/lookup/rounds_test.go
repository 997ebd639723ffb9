package lookup_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/fake"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/lookup"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
)

// pagedProject is a fake cloud of 95 volumes listed 10 a page: an
// unfiltered listing takes 10 calls.
func pagedProject(t *testing.T) *fake.Cloud {
	t.Helper()
	c := fake.New(fake.Config{MaxPage: 10})
	for i := range 95 {
		newVolume(t, c, fmt.Sprintf("v%d", i))
	}
	c.ResetCalls()
	c.SetLatency(40 * time.Millisecond)
	return c
}

// roundRecorder keeps the lookup rounds' events.
type roundRecorder struct {
	mu     sync.Mutex
	events []waiter.Event
}

func (r *roundRecorder) observe(ev waiter.Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}

// count is how many rounds were seen; since, those after the first i.
func (r *roundRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

func (r *roundRecorder) since(i int) []waiter.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events[i:])
}

func (r *roundRecorder) last() waiter.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.events[len(r.events)-1]
}

// round looks names up in one round: a lookup of "hold" keeps the namer
// busy while they queue. It checks each answer: vN exists, others not.
func round(t *testing.T, n *lookup.Names, c *fake.Cloud, names ...string) {
	t.Helper()
	roundThen(t, n, c, func() {}, names...)
}

// roundThen is round calling queued once the lookup holding the round is
// in flight, before the names queue.
func roundThen(t *testing.T, n *lookup.Names, c *fake.Cloud, queued func(), names ...string) {
	t.Helper()
	before := c.Calls("ListVolumes")
	var wg sync.WaitGroup
	wg.Go(func() {
		if v, err := n.Volume(context.Background(), "hold"); err != nil || v != nil {
			t.Errorf("hold: %+v, %v", v, err)
		}
	})
	for c.Calls("ListVolumes") == before {
		time.Sleep(time.Millisecond)
	}
	queued()
	for _, name := range names {
		wg.Go(func() {
			v, err := n.Volume(context.Background(), name)
			var want bool
			var i int
			if _, scanErr := fmt.Sscanf(name, "v%d", &i); scanErr == nil {
				want = true
			}
			switch {
			case err != nil:
				t.Errorf("%s: %v", name, err)
			case want && (v == nil || v.Name != name):
				t.Errorf("%s: got %+v, want the volume of that name", name, v)
			case !want && v != nil:
				t.Errorf("%s: got %+v, want none", name, v)
			}
		})
	}
	wg.Wait()
}

// A round of fewer names than the unfiltered listing takes pages is
// answered by one filtered listing per name; a round of more names lists
// once. Before any unfiltered listing, the page count is not known and a
// round of several names lists.
func TestFewNamesAreLookedUpOneCallEach(t *testing.T) {
	c := pagedProject(t)
	var rec roundRecorder
	opts := fastOpts(waiter.Batched)
	opts.Observer = rec.observe
	n := lookup.New(c, opts)
	defer n.Close()

	round(t, n, c, "v0", "v94", "none-1")
	if ev := rec.last(); ev.Waiters != 3 || ev.Calls != 10 {
		t.Fatalf("first round of 3 names: %d lookups in %d calls; want one listing of 10 pages", ev.Waiters, ev.Calls)
	}
	round(t, n, c, "v1", "v93", "none-2")
	if ev := rec.last(); ev.Waiters != 3 || ev.Calls != 3 {
		t.Errorf("round of 3 names in a 10-page project: %d lookups in %d calls; want 3, one per name", ev.Waiters, ev.Calls)
	}
	many := []string{"none-3"}
	for i := range 11 {
		many = append(many, fmt.Sprintf("v%d", 80+i))
	}
	round(t, n, c, many...)
	if ev := rec.last(); ev.Waiters != 12 || ev.Calls != 10 {
		t.Errorf("round of 12 names: %d lookups in %d calls; want one listing of 10 pages", ev.Waiters, ev.Calls)
	}
}

// A throttled filtered listing leaves its lookup queued for the next
// round, after a backoff; the other names of its round are answered.
func TestAThrottledNameIsLookedUpAgain(t *testing.T) {
	c := pagedProject(t)
	var rec roundRecorder
	opts := fastOpts(waiter.Batched)
	opts.Observer = rec.observe
	n := lookup.New(c, opts)
	defer n.Close()

	round(t, n, c, "v0", "v94", "none-1") // learns 10 pages
	before, seen := c.Calls("ListVolumes"), rec.count()
	throttled := &cloud.Error{Kind: cloud.ErrRateLimited, Message: "413", RetryAfter: 10 * time.Millisecond}
	// The fake refuses at the end of a call: the holding lookup's listing
	// is refused first, so it joins the three names' round, where one
	// more is refused.
	roundThen(t, n, c, func() { c.InjectError("ListVolumes", throttled, throttled) }, "v1", "v93", "none-2")
	if calls := c.Calls("ListVolumes") - before; calls != 6 {
		t.Errorf("%d calls; want 6: the hold, the round of 4 names, the one refused again", calls)
	}
	rounds := rec.since(seen)
	want := []waiter.Event{{Waiters: 1, Calls: 1, Err: throttled}, {Waiters: 4, Calls: 4, Err: throttled}, {Waiters: 1, Calls: 1}}
	if len(rounds) != len(want) {
		t.Fatalf("%d rounds: %+v; want %d", len(rounds), rounds, len(want))
	}
	for i, ev := range rounds {
		if ev.Waiters != want[i].Waiters || ev.Calls != want[i].Calls || (ev.Err == nil) != (want[i].Err == nil) {
			t.Errorf("round %d: %d lookups in %d calls (%v); want %d in %d (%v)", i, ev.Waiters, ev.Calls, ev.Err, want[i].Waiters, want[i].Calls, want[i].Err)
		}
	}
}

// ignoresName is a cloud that answers a listing filtered by name with
// every volume, as one that does not know the filter would.
type ignoresName struct{ *fake.Cloud }

func (c ignoresName) ListVolumes(ctx context.Context, o cloud.ListOptions) (cloud.Page[cloud.Volume], error) {
	o.Name = ""
	return c.Cloud.ListVolumes(ctx, o)
}

// Where a filtered listing walks every page (here, the lookup holding
// each round), the cloud does not filter by name, and a round of a few
// names goes back to one unfiltered listing instead of a walk per name.
// The answers are right either way.
func TestACloudThatDoesNotFilterIsListedOnce(t *testing.T) {
	fc := pagedProject(t)
	c := ignoresName{fc}
	var rec roundRecorder
	opts := fastOpts(waiter.Batched)
	opts.Observer = rec.observe
	n := lookup.New(c, opts)
	defer n.Close()

	round(t, n, fc, "v0", "v94", "none-1")
	round(t, n, fc, "v1", "v93", "none-2")
	if ev := rec.last(); ev.Waiters != 3 || ev.Calls != 10 {
		t.Errorf("round of 3 names on a cloud that ignores the name filter: %d lookups in %d calls; want one listing of 10 pages, not 30 calls", ev.Waiters, ev.Calls)
	}
}
