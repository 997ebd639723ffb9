package waiter_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/fake"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
)

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

func TestWaitOneVolumeUsesGet(t *testing.T) {
	c := fake.New(fake.Config{Delay: 30 * time.Millisecond})
	w := waiter.New(c, fastOpts(waiter.Batched))
	v := newVolume(t, c, "one")
	got, err := w.WaitVolume(context.Background(), v.ID, waiter.VolumeReady(cloud.StatusAvailable))
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != cloud.StatusAvailable || got.ID != v.ID {
		t.Fatalf("got %+v", got)
	}
	if n := c.Calls("ListVolumes"); n != 0 {
		t.Errorf("a single wait listed volumes %d times; want GetVolume only", n)
	}
	if n := c.Calls("GetVolume"); n < 1 || n > 6 {
		t.Errorf("GetVolume calls = %d, want 1..6", n)
	}
}

// Where listing volumes costs a call per volume, concurrent waits are
// checked with one Get per pending volume, never with a listing: with 3
// of 30 volumes pending, a listing would cost 31 calls, the Gets 3.
func TestWaitsGetEachWhereListingCostsPerItem(t *testing.T) {
	caps := fake.DefaultCapabilities()
	caps.ListVolumesPerItem = true
	c := fake.New(fake.Config{Capabilities: &caps, Delay: 60 * time.Millisecond})
	for i := range 27 {
		newVolume(t, c, fmt.Sprintf("idle%d", i))
	}
	w := waiter.New(c, fastOpts(waiter.Batched))
	var ids []string
	for i := range 3 {
		ids = append(ids, newVolume(t, c, fmt.Sprintf("v%d", i)).ID)
	}
	c.ResetCalls()
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			v, err := w.WaitVolume(context.Background(), id, waiter.VolumeReady(cloud.StatusAvailable))
			if err != nil || v.ID != id || v.Status != cloud.StatusAvailable {
				t.Errorf("wait %s: %+v, %v", id, v, err)
			}
		})
	}
	wg.Wait()
	if n := c.Calls("ListVolumes"); n != 0 {
		t.Errorf("ListVolumes calls = %d, want none", n)
	}
	// 60 ms of work checked every 10 ms: a handful of ticks, 3 Gets each.
	if n := c.Calls("GetVolume"); n < 3 || n > 3*12 {
		t.Errorf("GetVolume calls = %d, want 3..36", n)
	}

	// A deleted volume ends its wait as gone through its Get.
	if err := c.DeleteVolume(context.Background(), ids[0]); err != nil {
		t.Fatal(err)
	}
	if err := w.WaitVolumeGone(context.Background(), ids[0]); err != nil {
		t.Fatalf("WaitVolumeGone: %v", err)
	}
}

func TestFiftyConcurrentWaitsShareListings(t *testing.T) {
	c := fake.New(fake.Config{Delay: 60 * time.Millisecond})
	var mu sync.Mutex
	var maxBatch int
	opts := fastOpts(waiter.Batched)
	opts.Observer = func(ev waiter.Event) {
		mu.Lock()
		defer mu.Unlock()
		if ev.Waiters > maxBatch {
			maxBatch = ev.Waiters
		}
	}
	w := waiter.New(c, opts)
	var ids []string
	for i := range 50 {
		ids = append(ids, newVolume(t, c, fmt.Sprintf("v%d", i)).ID)
	}
	c.ResetCalls()
	var wg sync.WaitGroup
	var failed atomic.Int32
	for _, id := range ids {
		wg.Go(func() {
			v, err := w.WaitVolume(context.Background(), id, waiter.VolumeReady(cloud.StatusAvailable))
			if err != nil || v.Status != cloud.StatusAvailable {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d waits failed", failed.Load())
	}
	calls := c.TotalCalls()
	// 60 ms of creation at a 10 ms tick: about 6 ticks, one call each.
	if calls > 15 {
		t.Errorf("50 waits made %d calls (List %d, Get %d); want one per tick", calls, c.Calls("ListVolumes"), c.Calls("GetVolume"))
	}
	if maxBatch < 25 {
		t.Errorf("largest batch answered %d waits; want most of the 50", maxBatch)
	}
}

func TestWaitErrorStateFails(t *testing.T) {
	c := fake.New(fake.Config{})
	w := waiter.New(c, fastOpts(waiter.Batched))
	c.FailNextCreates(1)
	v := newVolume(t, c, "bad")
	_, err := w.WaitVolume(context.Background(), v.ID, waiter.VolumeReady(cloud.StatusAvailable))
	if !errors.Is(err, cloud.ErrFailed) {
		t.Fatalf("err = %v, want ErrFailed", err)
	}
	if want := `went to status "error"`; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name the status", err)
	}
}

func TestWaitDeadline(t *testing.T) {
	for _, mode := range []waiter.Mode{waiter.Batched, waiter.PerVolume} {
		t.Run(string(mode), func(t *testing.T) {
			c := fake.New(fake.Config{})
			// Nobody attaches it: in-use never comes.
			v := newVolume(t, c, "never")
			w := waiter.New(c, fastOpts(mode))
			ctx, cancel := context.WithTimeout(context.Background(), 80*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := w.WaitVolume(ctx, v.ID, func(v *cloud.Volume) (bool, error) { return v.Status == cloud.StatusInUse, nil })
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want DeadlineExceeded", err)
			}
			if d := time.Since(start); d > 500*time.Millisecond {
				t.Errorf("wait took %v past a 80ms deadline", d)
			}
		})
	}
}

func TestWaitGone(t *testing.T) {
	c := fake.New(fake.Config{})
	w := waiter.New(c, fastOpts(waiter.Batched))
	v := newVolume(t, c, "gone")
	if _, err := w.WaitVolume(context.Background(), v.ID, waiter.VolumeReady(cloud.StatusAvailable)); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteVolume(context.Background(), v.ID); err != nil {
		t.Fatal(err)
	}
	if err := w.WaitVolumeGone(context.Background(), v.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetVolume(context.Background(), v.ID); !cloud.IsNotFound(err) {
		t.Fatalf("volume still there after WaitVolumeGone: %v", err)
	}
}

func TestTransientListFailureDoesNotFailWaits(t *testing.T) {
	c := fake.New(fake.Config{Delay: 20 * time.Millisecond})
	w := waiter.New(c, fastOpts(waiter.Batched))
	a, b := newVolume(t, c, "a"), newVolume(t, c, "b")
	c.InjectError("ListVolumes",
		&cloud.Error{Kind: cloud.ErrUnavailable, Message: "503"},
		&cloud.Error{Kind: cloud.ErrRateLimited, Message: "413", RetryAfter: 20 * time.Millisecond})
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, id := range []string{a.ID, b.ID} {
		wg.Go(func() {
			_, errs[i] = w.WaitVolume(context.Background(), id, waiter.VolumeReady(cloud.StatusAvailable))
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("wait failed after transient errors: %v", err)
		}
	}
	if c.Calls("ListVolumes") < 3 {
		t.Errorf("ListVolumes calls = %d; the injected failures were not retried", c.Calls("ListVolumes"))
	}
}

func TestPerVolumeModePollsEachVolume(t *testing.T) {
	c := fake.New(fake.Config{Delay: 30 * time.Millisecond})
	w := waiter.New(c, fastOpts(waiter.PerVolume))
	var ids []string
	for i := range 5 {
		ids = append(ids, newVolume(t, c, fmt.Sprintf("p%d", i)).ID)
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			if _, err := w.WaitVolume(context.Background(), id, waiter.VolumeReady(cloud.StatusAvailable)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if c.Calls("ListVolumes") != 0 {
		t.Errorf("per-volume mode listed volumes")
	}
	if c.Calls("GetVolume") < 5 {
		t.Errorf("GetVolume calls = %d, want ≥ 5", c.Calls("GetVolume"))
	}
}

func TestPaginatedListingIsWalked(t *testing.T) {
	c := fake.New(fake.Config{MaxPage: 7})
	var ids []string
	for i := range 20 {
		ids = append(ids, newVolume(t, c, fmt.Sprintf("pg%d", i)).ID)
	}
	w := waiter.New(c, fastOpts(waiter.Batched))
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			if _, err := w.WaitVolume(context.Background(), id, waiter.VolumeReady(cloud.StatusAvailable)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := c.Calls("ListVolumes"); n > 0 && n%3 != 0 {
		t.Errorf("ListVolumes calls = %d: a listing of 20 in pages of 7 takes 3 calls each", n)
	}
}
