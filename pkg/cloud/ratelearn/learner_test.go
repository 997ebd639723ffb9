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
