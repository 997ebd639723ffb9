package callpool_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/callpool"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/fake"
)

// deepCloud's GetVolume goes as deep as an SDK call over HTTP does, and
// counts the calls running at once.
type deepCloud struct {
	*fake.Cloud
	running, most atomic.Int64
	hold          chan struct{} // GetVolume returns when it is closed (nil: at once)
	panics        bool
}

func (d *deepCloud) GetVolume(ctx context.Context, id string) (*cloud.Volume, error) {
	n := d.running.Add(1)
	defer d.running.Add(-1)
	for {
		m := d.most.Load()
		if n <= m || d.most.CompareAndSwap(m, n) {
			break
		}
	}
	if d.panics {
		panic("provider bug")
	}
	if deep(24) == 0 {
		return nil, errors.New("unreachable")
	}
	if d.hold != nil {
		select {
		case <-d.hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return &cloud.Volume{ID: id}, nil
}

// deep uses about n KiB of stack.
//
//go:noinline
func deep(n int) int {
	var frame [1000]byte
	frame[n%len(frame)] = byte(n)
	if n == 0 {
		return 1
	}
	return deep(n-1) + int(frame[n%len(frame)])
}

// A request parked after its call (as one waiting for the cloud is)
// keeps a small stack however deep the call went: a thousand of them
// held 16 MiB when calls ran on their goroutines.
func TestParkedCallersKeepSmallStacks(t *testing.T) {
	const callers = 500
	p := callpool.Wrap(&deepCloud{Cloud: fake.New(fake.Config{})}, 0)
	park := make(chan struct{})
	var called, done sync.WaitGroup
	called.Add(callers)
	done.Add(callers)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range callers {
		go func() {
			defer done.Done()
			_, err := p.GetVolume(context.Background(), "v")
			if err != nil {
				t.Error(err)
			}
			called.Done()
			<-park
		}()
	}
	called.Wait()
	runtime.GC() // stacks of goroutines that use little of theirs shrink at a GC
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	close(park)
	done.Wait()
	perCaller := (int64(after.StackInuse) - int64(before.StackInuse)) / callers
	t.Logf("%d parked callers: %d bytes of stack each", callers, perCaller)
	if perCaller > 8<<10 {
		t.Errorf("a parked caller keeps %d bytes of stack, want at most 8 KiB: the call's depth stayed with it", perCaller)
	}
}

// No more calls run at once than the limit; the others wait their turn.
func TestCallsRunAtMostLimitAtOnce(t *testing.T) {
	d := &deepCloud{Cloud: fake.New(fake.Config{}), hold: make(chan struct{})}
	p := callpool.Wrap(d, 4)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := p.GetVolume(context.Background(), "v"); err != nil {
				t.Error(err)
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	if n := d.running.Load(); n != 4 {
		t.Errorf("%d calls running, want the limit, 4", n)
	}
	close(d.hold)
	wg.Wait()
	if m := d.most.Load(); m > 4 {
		t.Errorf("%d calls ran at once, limit 4", m)
	}
}

// A caller whose context ends while it waits for a slot gets the
// provider's answer to a canceled call at once, not a wait.
func TestCanceledCallerDoesNotWaitForASlot(t *testing.T) {
	d := &deepCloud{Cloud: fake.New(fake.Config{}), hold: make(chan struct{})}
	defer close(d.hold)
	p := callpool.Wrap(d, 1)
	go func() { _, _ = p.GetVolume(context.Background(), "busy") }()
	for d.running.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := p.GetVolume(ctx, "v")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Errorf("GetVolume = %v after %s, want the deadline's error promptly", err, time.Since(start))
	}
}

// A provider's panic reaches the caller's goroutine (where the driver's
// interceptor recovers it) instead of ending the process.
func TestPanicReachesTheCaller(t *testing.T) {
	p := callpool.Wrap(&deepCloud{Cloud: fake.New(fake.Config{}), panics: true}, 0)
	defer func() {
		if r := recover(); r != "provider bug" {
			t.Errorf("recovered %v, want the provider's panic", r)
		}
	}()
	_, _ = p.GetVolume(context.Background(), "v")
	t.Error("GetVolume returned")
}

// Every method reaches the wrapped cloud.
func TestEveryCallIsForwarded(t *testing.T) {
	f := fake.New(fake.Config{})
	p := callpool.Wrap(f, 0)
	ctx := context.Background()
	v, err := p.CreateVolume(ctx, cloud.CreateVolumeRequest{Name: "a", SizeGiB: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := f.GetVolume(ctx, v.ID); err != nil || got.Name != "a" {
		t.Fatalf("the wrapped cloud has %+v, %v", got, err)
	}
	if page, err := p.ListVolumes(ctx, cloud.ListOptions{}); err != nil || len(page.Items) != 1 {
		t.Errorf("ListVolumes = %+v, %v", page, err)
	}
	if p.Name() != f.Name() || p.Unwrap() != cloud.Cloud(f) {
		t.Error("Name or Unwrap is not the wrapped cloud's")
	}
}
