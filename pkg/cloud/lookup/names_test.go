package lookup_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/fake"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/lookup"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
)

// A failed resource is replaced without waiting for it to go, so a name
// can hold a failed one listed first and its live successor: the lookup
// answers the live one, and the failed one only when it is all there is.
func TestFindByNamePrefersTheLiveOne(t *testing.T) {
	c := fake.New(fake.Config{Delay: time.Millisecond})
	w := waiter.New(c, fastOpts(waiter.Batched))
	n := lookup.New(c, w.Options())
	ctx := context.Background()
	c.FailNextCreates(1)
	failed := newVolume(t, c, "x")
	if _, err := w.WaitVolume(ctx, failed.ID, waiter.VolumeReady(cloud.StatusAvailable)); err == nil {
		t.Fatal("setup: the first volume was to fail")
	}
	got, err := n.Volume(ctx, "x")
	if err != nil || got == nil || got.ID != failed.ID {
		t.Fatalf("with only the failed one: got %+v, %v", got, err)
	}
	live := newVolume(t, c, "x")
	got, err = n.Volume(ctx, "x")
	if err != nil || got == nil || got.ID != live.ID {
		t.Fatalf("got %+v, %v; want the live %s, not the failed %s", got, err, live.ID, failed.ID)
	}
}

func TestVolumeCoalesces(t *testing.T) {
	c := fake.New(fake.Config{})
	for i := range 100 {
		newVolume(t, c, fmt.Sprintf("n%d", i))
	}
	c.ResetCalls()
	c.SetLatency(20 * time.Millisecond)
	n := lookup.New(c, fastOpts(waiter.Batched))
	var wg sync.WaitGroup
	var wrong atomic.Int32
	for i := range 150 {
		wg.Go(func() {
			name := fmt.Sprintf("n%d", i)
			v, err := n.Volume(context.Background(), name)
			switch {
			case err != nil:
				wrong.Add(1)
			case i < 100 && (v == nil || v.Name != name):
				wrong.Add(1)
			case i >= 100 && v != nil:
				wrong.Add(1)
			}
		})
	}
	wg.Wait()
	if wrong.Load() != 0 {
		t.Fatalf("%d lookups answered wrongly", wrong.Load())
	}
	if n := c.Calls("ListVolumes"); n > 10 {
		t.Errorf("150 concurrent lookups made %d list calls; want a handful", n)
	}
}

func TestVolumeSeesVolumesCreatedBefore(t *testing.T) {
	c := fake.New(fake.Config{})
	n := lookup.New(c, fastOpts(waiter.Batched))
	if v, err := n.Volume(context.Background(), "later"); err != nil || v != nil {
		t.Fatalf("lookup before create = %v, %v", v, err)
	}
	created := newVolume(t, c, "later")
	v, err := n.Volume(context.Background(), "later")
	if err != nil || v == nil || v.ID != created.ID {
		t.Fatalf("lookup after create = %v, %v", v, err)
	}
}

// A name on the last page of a paginated listing is found: every page is
// walked.
func TestPaginatedListingIsWalked(t *testing.T) {
	c := fake.New(fake.Config{MaxPage: 7})
	for i := range 20 {
		newVolume(t, c, fmt.Sprintf("pg%d", i))
	}
	n := lookup.New(c, fastOpts(waiter.Batched))
	c.ResetCalls()
	// Two lookups at once: the second is answered by an unfiltered
	// listing, on which pg19 is on the third page of 7.
	var wg sync.WaitGroup
	for _, name := range []string{"pg0", "pg19"} {
		wg.Go(func() {
			v, err := n.Volume(context.Background(), name)
			if err != nil || v == nil || v.Name != name {
				t.Errorf("%s: got %+v, %v", name, v, err)
			}
		})
	}
	wg.Wait()
}

func fastOpts(mode waiter.Mode) waiter.Options {
	return waiter.Options{Mode: mode, InitialDelay: 10 * time.Millisecond, Interval: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
}

func newVolume(t *testing.T, c *fake.Cloud, name string) *cloud.Volume {
	t.Helper()
	v, err := c.CreateVolume(context.Background(), cloud.CreateVolumeRequest{Name: name, SizeGiB: 1})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return v
}

// newestFirst lists as Cinder does by default: the newest volume first.
type newestFirst struct{ *fake.Cloud }

func (c newestFirst) ListVolumes(ctx context.Context, o cloud.ListOptions) (cloud.Page[cloud.Volume], error) {
	p, err := c.Cloud.ListVolumes(ctx, o)
	slices.Reverse(p.Items)
	return p, err
}

// A create that reached the cloud after its request's retry made another
// leaves two live volumes under one name. Every lookup answers the older
// one, whichever the listing shows first, so the answer never changes and
// the later one is the one to remove; VolumesNamed shows both.
func TestFindByNameAnswersTheOldestLiveTwin(t *testing.T) {
	for name, mode := range map[string]waiter.Mode{"batched": waiter.Batched, "per-volume": waiter.PerVolume} {
		t.Run(name, func(t *testing.T) {
			c := newestFirst{fake.New(fake.Config{})}
			n := lookup.New(c, fastOpts(mode))
			defer n.Close()
			first := newVolume(t, c.Cloud, "twin")
			time.Sleep(2 * time.Millisecond) // distinct creation times
			second := newVolume(t, c.Cloud, "twin")
			got, err := n.Volume(context.Background(), "twin")
			if err != nil || got == nil || got.ID != first.ID {
				t.Fatalf("got %+v, %v; want the older %s, not %s", got, err, first.ID, second.ID)
			}
			all, err := n.VolumesNamed(context.Background(), "twin")
			if err != nil || len(all) != 2 {
				t.Fatalf("VolumesNamed = %d volumes, %v; want both", len(all), err)
			}
		})
	}
}
