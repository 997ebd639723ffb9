package waiter

import (
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

func scheduleOpts() Options {
	return Options{InitialDelay: 100 * time.Millisecond, MinStep: 50 * time.Millisecond,
		Coalesce: 100 * time.Millisecond, Interval: 1500 * time.Millisecond}
}

// The next check waits for the waits due within Coalesce of the earliest,
// never for one due later.
func TestNextCheckCoalescesOnlyWaitsDueTogether(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	p := newPoller(&Waiter{opts: scheduleOpts()}, kindOps[cloud.Volume]{})
	pend := func(dues ...int) {
		clear(p.pending)
		for _, d := range dues {
			p.pending[&waitReq[cloud.Volume]{due: ms(d)}] = struct{}{}
		}
	}
	cases := []struct {
		dues []int
		want int
	}{
		{[]int{500}, 500},                      // alone: when due
		{[]int{500, 550, 590}, 590},            // due together: one check for all
		{[]int{500, 640}, 500},                 // apart: the first is not held back
		{[]int{700, 500, 560, 601, 2000}, 560}, // only what falls within 100ms of the earliest
	}
	for _, c := range cases {
		pend(c.dues...)
		if got := p.nextCheck(); !got.Equal(ms(c.want)) {
			t.Errorf("dues %v: next check at %v, want %dms", c.dues, got.Sub(t0), c.want)
		}
	}
}

// A wait is first checked when its operation is likely done: from the
// waits for the same operation, else half the quickest operation of the
// kind, else InitialDelay; every probeEvery-th one early, as a probe.
func TestFirstCheck(t *testing.T) {
	p := newPoller(&Waiter{opts: scheduleOpts()}, kindOps[cloud.Volume]{})
	if d, probe, _ := p.firstCheck(OpAttach); d != 100*time.Millisecond || probe {
		t.Errorf("no history: first check after %v (probe %v), want InitialDelay", d, probe)
	}
	p.took[OpCreate] = &settleTimes{}
	p.took[OpCreate].add(2 * time.Second)
	p.took[OpCreate].add(1600 * time.Millisecond)
	if d, _, _ := p.firstCheck(OpCreate); d != 1600*time.Millisecond+edgeMargin(1600*time.Millisecond) {
		t.Errorf("create: first check after %v, want the quickest create 1.6s and a margin", d)
	}
	p.took[OpAttach] = nil
	delete(p.took, OpAttach)
	if d, _, _ := p.firstCheck(OpAttach); d != 800*time.Millisecond {
		t.Errorf("attach without history: first check after %v, want half the quickest create", d)
	}
	probes := 0
	for range 3 * probeEvery {
		if d, probe, _ := p.firstCheck(OpCreate); probe {
			probes++
			if d != 1200*time.Millisecond {
				t.Errorf("probe after %v, want 3/4 of 1.6s", d)
			}
		}
	}
	if probes != 3 {
		t.Errorf("%d probes in %d waits, want 3", probes, 3*probeEvery)
	}
}

// A check that finds a wait not done checks it again an eighth of its wait
// later, between MinStep and Interval.
func TestRetryStep(t *testing.T) {
	p := newPoller(&Waiter{opts: scheduleOpts()}, kindOps[cloud.Volume]{})
	for _, c := range []struct{ waited, want time.Duration }{
		{100 * time.Millisecond, 50 * time.Millisecond},
		{time.Second, 125 * time.Millisecond},
		{time.Minute, 1500 * time.Millisecond},
	} {
		if got := p.retryStep(c.waited); got != c.want {
			t.Errorf("after %v: next check %v later, want %v", c.waited, got, c.want)
		}
	}
}

// The estimate is the least of the latest 8 durations; older ones are
// forgotten.
func TestSettleTimesEstimate(t *testing.T) {
	var st settleTimes
	if _, ok := st.estimate(); ok {
		t.Fatal("estimate without history")
	}
	st.add(time.Second)
	for range 8 {
		st.add(3 * time.Second)
	}
	if d, ok := st.estimate(); !ok || d != 3*time.Second {
		t.Fatalf("estimate = %v, %v; want 3s (the 1s sample is 9 back)", d, ok)
	}
	st.add(2 * time.Second)
	if d, _ := st.estimate(); d != 2*time.Second {
		t.Fatalf("estimate = %v, want 2s", d)
	}
}

// A wait a check found not done is checked again a step later, or sooner
// when the waits of its operation seen done say it likely is: the later
// members of a burst are checked as long after their own start.
func TestRescheduleAfterAMiss(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	p := newPoller(&Waiter{opts: scheduleOpts()}, kindOps[cloud.Volume]{})
	checked := ms(2000)
	retry := func(start int) time.Duration {
		r := &waitReq[cloud.Volume]{op: OpCreate, start: ms(start)}
		p.reschedule(r, checked)
		if !r.missed {
			t.Errorf("start %dms: not marked missed", start)
		}
		return r.due.Sub(t0)
	}
	// No history: a step of an eighth of the wait.
	if got, want := retry(80), 2000*time.Millisecond+240*time.Millisecond; got != want {
		t.Errorf("no history: next check at %v, want %v", got, want)
	}
	p.took[OpCreate] = &settleTimes{}
	p.took[OpCreate].add(1900 * time.Millisecond)
	likely := func(start int) time.Duration {
		return time.Duration(start)*time.Millisecond + 1900*time.Millisecond + edgeMargin(1900*time.Millisecond)
	}
	// Began 160ms after the first of its burst: likely done at its start + 1.9s.
	if got := retry(160); got != likely(160) {
		t.Errorf("later in a burst: next check at %v, want %v", got, likely(160))
	}
	// Likely done already (or within MinStep): the step holds, no check
	// sooner than MinStep after the last.
	if got, want := retry(0), 2000*time.Millisecond+250*time.Millisecond; got != want {
		t.Errorf("overdue: next check at %v, want %v", got, want)
	}
}
