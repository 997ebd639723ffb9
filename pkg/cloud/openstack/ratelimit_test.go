package openstack

import (
	"context"
	"math"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func near(a rate.Limit, b float64) bool { return math.Abs(float64(a)-b) < 1e-9 }

func TestAdaptiveLimiterBacksOffAndRecovers(t *testing.T) {
	a := newAdaptiveLimiter(10, 1)
	if got := a.Limit(); !near(got, 9.5) {
		t.Fatalf("starting limit %v, want 9.5 (95%% of the documented 10/s)", got)
	}
	a.refused()
	if got := a.Limit(); !near(got, 7.6) {
		t.Fatalf("after one refusal %v, want 7.6", got)
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
	for i := 0; i < 100*rateRecoveryCalls; i++ {
		a.accepted()
	}
	if got := a.Limit(); !near(got, 9.5) {
		t.Fatalf("long run of accepted calls reached %v, want the ceiling 9.5", got)
	}
}

// Calls let go by the limiter are one interval apart by the real clock,
// even when the limiter's own slots would allow them closer.
func TestAdaptiveLimiterSpacesRealDepartures(t *testing.T) {
	a := newAdaptiveLimiter(100/rateHeadroom, 1) // 100 calls/s: 10 ms apart
	ctx := context.Background()
	var times []time.Time
	for i := 0; i < 6; i++ {
		if err := a.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		times = append(times, time.Now())
		if i == 2 {
			time.Sleep(25 * time.Millisecond) // a caller that left late
		}
	}
	for i := 1; i < len(times); i++ {
		if gap := times[i].Sub(times[i-1]); gap < 9*time.Millisecond {
			t.Errorf("calls %d and %d left %s apart, want at least ~10ms", i-1, i, gap)
		}
	}
}
