package waiter

import (
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// The tail check moves the next poll to when the newest pending wait is
// expected to be done, only when that comes before the regular poll.
func TestTailCheck(t *testing.T) {
	const interval = 1500 * time.Millisecond
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := func(d float64) time.Time { return t0.Add(time.Duration(d * float64(time.Second))) }
	regular := s(1.5) // the last poll began at t0
	p := newPoller(&Waiter{opts: Options{Interval: interval}}, kindOps[cloud.Volume]{})

	if got := p.tailCheck(regular, t0, s(-1), s(-0.8)); !got.Equal(regular) {
		t.Errorf("no history: next poll at %v, want the regular %v", got.Sub(t0), regular.Sub(t0))
	}
	for _, d := range []float64{3.1, 2.4, 2.0, 2.9} {
		p.settled.add(time.Duration(d * float64(time.Second)))
	}
	cases := []struct {
		name   string
		newest float64 // start of the newest pending wait
		want   float64
	}{
		// Started 0.8 s before the last poll, expected 2 s after its start.
		{"tail of a burst", -0.8, 1.2},
		// A wait that began after the last poll is expected after the
		// regular one: a steady stream keeps the regular pace.
		{"stream", 0.2, 1.5},
		// Expected done before the last poll, and was not: overdue.
		{"overdue", -3, 1.5},
		// Expected 0.1 s after the last poll: not sooner than a third
		// of the interval after it.
		{"not too soon", -1.9, 0.5},
	}
	for _, c := range cases {
		if got := p.tailCheck(regular, t0, s(-2), s(c.newest)); !got.Equal(s(c.want)) {
			t.Errorf("%s: next poll at %v, want %v", c.name, got.Sub(t0), s(c.want).Sub(t0))
		}
	}
	// Never before the earliest pending wait is worth checking.
	if got := p.tailCheck(regular, t0, s(1.3), s(-0.8)); !got.Equal(s(1.3)) {
		t.Errorf("earliest ready 1.3s: next poll at %v", got.Sub(t0))
	}
}

// The estimate is the least of the latest 16 durations; older ones are
// forgotten.
func TestSettleTimesEstimate(t *testing.T) {
	var st settleTimes
	if _, ok := st.estimate(); ok {
		t.Fatal("estimate without history")
	}
	st.add(time.Second)
	for range 16 {
		st.add(3 * time.Second)
	}
	if d, ok := st.estimate(); !ok || d != 3*time.Second {
		t.Fatalf("estimate = %v, %v; want 3s (the 1s sample is 17 back)", d, ok)
	}
	st.add(2 * time.Second)
	if d, _ := st.estimate(); d != 2*time.Second {
		t.Fatalf("estimate = %v, want 2s", d)
	}
}

// A cohort of waits that began after the last call is checked when its
// members are ready; while the last call looked at a pending wait, the
// interval holds.
func TestNextCheckNewCohort(t *testing.T) {
	const interval, initial = 1500 * time.Millisecond, time.Second
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := func(d float64) time.Time { return t0.Add(time.Duration(d * float64(time.Second))) }
	p := newPoller(&Waiter{opts: Options{Interval: interval, InitialDelay: initial}}, kindOps[cloud.Volume]{})
	pend := func(starts ...float64) {
		clear(p.pending)
		for _, st := range starts {
			p.pending[&waitReq[cloud.Volume]{start: s(st), ready: s(st).Add(initial)}] = struct{}{}
		}
	}
	lastCall, nextCall := t0, s(1.5)

	pend(0.05, 0.1) // all began after the last call: checked when all are ready
	if got := p.nextCheck(nextCall, lastCall, false); !got.Equal(s(1.1)) {
		t.Errorf("new cohort: next check at %v, want 1.1s", got.Sub(t0))
	}
	pend(0.05, 0.9, 0.3) // a spread-out cohort: its first waits no more than interval/3
	if got := p.nextCheck(nextCall, lastCall, false); !got.Equal(s(1.55)) {
		t.Errorf("spread cohort: next check at %v, want 1.55s", got.Sub(t0))
	}
	pend(-0.5, 0.1) // one was looked at by the last call: the interval holds
	if got := p.nextCheck(nextCall, lastCall, false); !got.Equal(s(1.5)) {
		t.Errorf("mixed: next check at %v, want 1.5s", got.Sub(t0))
	}
	pend(0.05) // after a failed call the backoff holds, cohort or not
	if got := p.nextCheck(s(4), lastCall, true); !got.Equal(s(4)) {
		t.Errorf("backing off: next check at %v, want 4s", got.Sub(t0))
	}
	pend(0.8) // ready after the regular time: its ready time
	if got := p.nextCheck(nextCall, lastCall, false); !got.Equal(s(1.8)) {
		t.Errorf("late cohort: next check at %v, want 1.8s", got.Sub(t0))
	}
}
