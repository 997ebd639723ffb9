package ratelearn

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// bucket is a cloud's limit as the strictest count it: a token bucket of
// burst 1 whose refusals take no token and name no wait (HP Helion's 413).
type bucket struct {
	lim              *rate.Limiter
	served, refusals atomic.Int64
}

func newBucket(r float64) *bucket { return &bucket{lim: rate.NewLimiter(rate.Limit(r), 1)} }

func (b *bucket) call() bool {
	res := b.lim.Reserve()
	if res.Delay() > 0 {
		res.Cancel()
		b.refusals.Add(1)
		return false
	}
	b.served.Add(1)
	return true
}

// drive sends n requests at once through l, each retried after a refusal
// until served, and returns the wall time.
func drive(t *testing.T, l *Learner, b *bucket, n int) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				c, _, err := l.Wait(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				if b.call() {
					l.Accepted(c)
					return
				}
				l.Refused(c)
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

// Thirty requests at once against an unannounced 5 calls/s: all served,
// few refusals, and not much slower than the limit allows.
func TestLearnsAnUnannouncedLimit(t *testing.T) {
	const n, r = 30, 5.0
	l, b := New(), newBucket(r)
	wall := drive(t, l, b, n)
	floor := time.Duration(float64(n-1) / r * float64(time.Second))
	refused, served := b.refusals.Load(), b.served.Load()
	t.Logf("served %d, refused %d (%.0f%% of calls), wall %s, floor %s, learned rate %.2f/s", served, refused,
		100*float64(refused)/float64(served+refused), wall.Round(time.Millisecond), floor, l.Rate())
	if served != n {
		t.Fatalf("served %d of %d", served, n)
	}
	if float64(refused) > 0.1*float64(served+refused) {
		t.Errorf("%d refusals of %d calls: over 10%%", refused, served+refused)
	}
	if wall > floor*12/10+300*time.Millisecond {
		t.Errorf("wall %s over 1.2 × the floor %s", wall, floor)
	}
	if !l.Learned() || l.Rate() > r*1.1 || l.Rate() < r*0.7 {
		t.Errorf("learned rate %.2f/s, cloud's %.0f/s", l.Rate(), r)
	}
}

// A cloud without a limit: after a few calls nothing is paced.
func TestUnlimitedCloudGoesFree(t *testing.T) {
	l := New()
	b := newBucket(float64(rate.Inf))
	b.lim = rate.NewLimiter(rate.Inf, 0)
	wall := drive(t, l, b, 100)
	if wall > 400*time.Millisecond {
		t.Errorf("100 calls to an unlimited cloud took %s", wall)
	}
	if l.Rate() != 0 || l.Learned() {
		t.Errorf("paced at %.1f/s (learned %v) with no refusal", l.Rate(), l.Learned())
	}
}

// A slot beyond the deadline is not waited for: the caller learns at once
// how long it would have been.
func TestNoSlotBeforeDeadline(t *testing.T) {
	l := New()
	c, _, _ := l.Wait(context.Background())
	l.Refused(c)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, wait, err := l.Wait(ctx)
	if !errors.Is(err, ErrNoSlot) || wait < 200*time.Millisecond {
		t.Fatalf("got wait %s, %v; want ErrNoSlot and the learned interval", wait, err)
	}
	if time.Since(start) > 100*time.Millisecond {
		t.Errorf("waited %s before saying so", time.Since(start))
	}
}

// While probing, each accepted call puts the next departure on the
// doubled rate's grid, counted from the last departure, rather than
// leaving it where the old rate put it: an unlimited cloud's first burst
// is paced for 87.5 ms, not 175.
func TestAcceptedProbesBringTheNextSlotForward(t *testing.T) {
	t0 := time.Unix(1e9, 0)
	clock := t0
	l := New()
	l.now = func() time.Time { return clock }
	var left []time.Duration
	for l.Rate() != 0 {
		if l.next.After(clock) {
			clock = l.next // the slot is due: Wait does not block
		}
		c, _, err := l.Wait(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		left = append(left, c.sent.Sub(t0))
		l.Accepted(c)
	}
	want := []time.Duration{0, 50 * time.Millisecond, 75 * time.Millisecond, 87500 * time.Microsecond}
	if len(left) != len(want) {
		t.Fatalf("calls left at %v; want %v, then unpaced", left, want)
	}
	for i := range want {
		if left[i] != want[i] {
			t.Fatalf("calls left at %v; want %v, then unpaced", left, want)
		}
	}
}

// A caller waiting for a slot is woken when an accepted probe brings it
// forward, here to "now" as the learner goes free: it does not sleep out
// the slot the old rate set.
func TestAWaitingCallerIsWokenWhenItsSlotComesForward(t *testing.T) {
	l := New()
	l.rate = 0.1 // a slot every 10 s
	c, _, err := l.Wait(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	left := make(chan time.Duration, 1)
	go func() {
		_, waited, err := l.Wait(ctx)
		if err != nil {
			t.Error(err)
		}
		left <- waited
	}()
	time.Sleep(50 * time.Millisecond) // let it take its turn and sleep
	l.mu.Lock()
	l.rate = freeAbove / 2 // the next accepted call makes the learner free
	l.mu.Unlock()
	l.Accepted(c)
	if waited := <-left; waited > 5*time.Second {
		t.Errorf("the waiting caller left after %s, on the slot set before the learner went free", waited)
	}
}

// A free learner refused goes back to probing after a pause; a call sent
// before that refusal and accepted afterwards does not shorten it.
func TestACallFromBeforeARefusalDoesNotShortenThePause(t *testing.T) {
	t0 := time.Unix(1e9, 0)
	clock := t0
	l := New()
	l.now = func() time.Time { return clock }
	l.phase = free
	early, _, _ := l.Wait(context.Background())
	refused, _, _ := l.Wait(context.Background())
	clock = t0.Add(10 * time.Millisecond)
	l.Refused(refused)
	pause := l.next
	if !pause.After(clock) {
		t.Fatalf("refused while free: next call at %s, not after the refusal", pause.Sub(t0))
	}
	l.Accepted(early)
	if l.next.Before(pause) {
		t.Errorf("a call sent before the refusal moved the next slot from %s to %s", pause.Sub(t0), l.next.Sub(t0))
	}
}
