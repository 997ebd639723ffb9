package openstack

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func near(a rate.Limit, b float64) bool { return math.Abs(float64(a)-b) < 1e-9 }

func TestAdaptiveLimiterBacksOffAndRecovers(t *testing.T) {
	if got := newAdaptiveLimiter(10, 5).Limit(); !near(got, 9.5) {
		t.Fatalf("grid limiter starts at %v, want 9.5 (95%% of the documented 10/s)", got)
	}
	a := newAdaptiveLimiter(10, 1)
	if got := a.Limit(); !near(got, 10) {
		t.Fatalf("serial limiter starts at %v, want the documented 10/s", got)
	}
	a.refused()
	if got := a.Limit(); !near(got, 8) {
		t.Fatalf("after one refusal %v, want 8", got)
	}
	for i := 0; i < 10; i++ {
		a.refused()
	}
	if got := a.Limit(); !near(got, 5) {
		t.Fatalf("after many refusals %v, want the floor 5", got)
	}
	for i := 0; i < rateRecoveryCalls-1; i++ {
		a.accepted()
	}
	if got := a.Limit(); !near(got, 5) {
		t.Fatalf("recovered before %d accepted calls: %v", rateRecoveryCalls, got)
	}
	a.accepted()
	if got := a.Limit(); !near(got, 5*rateRecovery) {
		t.Fatalf("after %d accepted calls %v, want %v", rateRecoveryCalls, got, 5*rateRecovery)
	}
	// From the floor the documented rate is back within 50 accepted
	// calls: refusals after a burst (another client, a controller just
	// killed) must not leave a 1 call/s cloud at half speed for long.
	for i := 0; i < 50-rateRecoveryCalls; i++ {
		a.accepted()
	}
	if got := a.Limit(); !near(got, 10) {
		t.Fatalf("long run of accepted calls reached %v, want the ceiling 10", got)
	}
}

// Against a cloud that takes no burst, one call is in flight at a time and
// the next leaves one interval after the previous one's answer, however
// long that answer took.
func TestSerialLimiterSpacesFromTheAnswer(t *testing.T) {
	a := newAdaptiveLimiter(50, 1) // 20 ms apart
	ctx := context.Background()
	done, err := a.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	second := make(chan time.Time, 1)
	go func() {
		d, err := a.Wait(ctx)
		if err != nil {
			t.Error(err)
		}
		second <- time.Now()
		d()
	}()
	time.Sleep(60 * time.Millisecond) // the first call's round trip
	select {
	case <-second:
		t.Fatal("a second call left while the first was in flight")
	default:
	}
	answered := time.Now()
	done()
	done() // idempotent
	if gap := (<-second).Sub(answered); gap < 19*time.Millisecond {
		t.Errorf("second call left %s after the first answer, want at least ~20ms", gap)
	}
}

// A slot beyond the deadline is refused at once, and the slot is not kept.
func TestSerialLimiterDeadline(t *testing.T) {
	a := newAdaptiveLimiter(0.5, 1) // 2 s apart
	done, err := a.Wait(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	done()
	// The deadline lies well before the slot and well after a prompt
	// refusal, so a loaded machine cannot blur the two.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	if _, err := a.Wait(ctx); !errors.Is(err, errNoSlot) {
		t.Fatalf("err = %v, want errNoSlot", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("refusal took %v: it waited for a slot it could not use", d)
	}
	if _, err := a.Wait(context.Background()); err != nil {
		t.Fatalf("slot kept after a refused wait: %v", err)
	}
}
