package waiter_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/fake"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
)

// Close ends the background loops: a wait that would go on for an hour
// returns ErrClosed at once, the goroutines the waiter started are gone
// when Close returns, and later waits fail without starting any.
func TestCloseStopsTheLoops(t *testing.T) {
	for _, mode := range []waiter.Mode{waiter.Batched, waiter.PerVolume} {
		t.Run(string(mode), func(t *testing.T) {
			before := runtime.NumGoroutine()
			c := fake.New(fake.Config{Delay: time.Hour}) // stays creating
			v := newVolume(t, c, "forever")
			w := waiter.New(c, fastOpts(mode))
			done := make(chan error, 1)
			go func() {
				_, err := w.WaitVolume(context.Background(), v.ID, waiter.VolumeReady(cloud.StatusAvailable))
				done <- err
			}()
			deadline := time.Now().Add(2 * time.Second)
			for c.Calls("GetVolume") < 2 { // the loop is polling
				if time.Now().After(deadline) {
					t.Fatal("the wait never polled")
				}
				time.Sleep(5 * time.Millisecond)
			}

			closed := make(chan struct{})
			go func() { w.Close(); close(closed) }()
			select {
			case err := <-done:
				if !errors.Is(err, waiter.ErrClosed) || !errors.Is(err, cloud.ErrUnavailable) {
					t.Errorf("pending wait ended with %v, want ErrClosed (unavailable)", err)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("the pending wait still runs 2s after Close")
			}
			select {
			case <-closed:
			case <-time.After(2 * time.Second):
				t.Fatal("Close did not return: a loop is still running")
			}
			polls := c.Calls("GetVolume")
			time.Sleep(50 * time.Millisecond) // five intervals
			if n := c.Calls("GetVolume"); n != polls {
				t.Errorf("%d polls after Close", n-polls)
			}
			if n := waitGoroutines(before); n > before {
				t.Errorf("%d goroutines after Close, %d before the waiter", n, before)
			}
			if _, err := w.WaitVolume(context.Background(), v.ID, nil); !errors.Is(err, waiter.ErrClosed) {
				t.Errorf("wait after Close = %v, want ErrClosed", err)
			}
			w.Close() // twice is fine
		})
	}
}

// waitGoroutines gives exiting goroutines a moment and returns the count
// once it is at most want (or after a second).
func waitGoroutines(want int) int {
	deadline := time.Now().Add(time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(5 * time.Millisecond)
	}
}
