package lookup_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/fake"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/lookup"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
)

// Close ends the lookup loop even while it backs off for an hour after a
// throttled listing: the pending lookup returns ErrClosed, the loop's
// goroutine is gone when Close returns, later lookups fail at once.
func TestCloseStopsTheLoop(t *testing.T) {
	before := runtime.NumGoroutine()
	c := fake.New(fake.Config{})
	throttled := &cloud.Error{Kind: cloud.ErrRateLimited, Message: "413", RetryAfter: time.Hour}
	c.InjectError("ListVolumes", throttled, throttled, throttled)
	n := lookup.New(c, fastOpts(waiter.Batched))
	done := make(chan error, 1)
	go func() {
		_, err := n.Volume(context.Background(), "x")
		done <- err
	}()
	deadline := time.Now().Add(2 * time.Second)
	for c.Calls("ListVolumes") < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the lookup never listed")
		}
		time.Sleep(5 * time.Millisecond)
	}

	closed := make(chan struct{})
	go func() { n.Close(); close(closed) }()
	select {
	case err := <-done:
		if !errors.Is(err, lookup.ErrClosed) {
			t.Errorf("pending lookup ended with %v, want ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the pending lookup still runs 2s after Close")
	}
	select {
	case <-closed:
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not return: the loop is still running")
	}
	deadline = time.Now().Add(time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > before {
		t.Errorf("%d goroutines after Close, %d before", g, before)
	}
	if calls := c.Calls("ListVolumes"); calls != 1 {
		t.Errorf("%d listings, want the one before Close", calls)
	}
	if _, err := n.Volume(context.Background(), "x"); !errors.Is(err, lookup.ErrClosed) {
		t.Errorf("lookup after Close = %v, want ErrClosed", err)
	}
}
