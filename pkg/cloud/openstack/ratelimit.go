package openstack

import (
	"context"
	"errors"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// The limiter's tuning. A cloud that takes bursts is paced on rate.Limiter's
// grid a little under its documented rate. A cloud that takes no burst (HP
// Helion: "1 call per second for each project") counts arrivals, and the
// path from our departure to its arrival jitters by tens of milliseconds on
// a busy host: spacing departures, however generously, still meets a 413
// now and then. There the limiter holds one call in flight and lets the
// next go one interval after the previous answer came back: the cloud saw
// the previous call before it answered and sees the next one after we send
// it, so its arrivals are at least one interval apart whatever the jitter.
// Either way the rate drops on each refusal (a cloud whose clock or
// counting differs from its document) and comes back after a run of
// accepted calls.
const (
	rateHeadroom = 0.95 // of the documented rate, at most, on the grid
	rateFloor    = 0.5  // of the documented rate, at least
	rateBackoff  = 0.8  // factor on each refusal
	rateRecovery = 1.1  // factor after rateRecoveryCalls accepted calls
	// A refusal need not mean the cloud counts tighter: another client of
	// the project, or a controller that just died, called too. From the
	// floor the documented rate is back after ~40 accepted calls (at
	// 1.02 per 20 it took ~700: at 1 call/s a quarter of an hour at half
	// speed after one burst of 413s).
	rateRecoveryCalls = 5
)

// errNoSlot is returned when the next call slot lies beyond the deadline.
var errNoSlot = errors.New("no call slot before the deadline")

// adaptiveLimiter spaces calls to one rate-limited API.
type adaptiveLimiter struct {
	ceiling, floor rate.Limit
	grid           *rate.Limiter // burst > 1; nil when serial

	// serial (burst 1): one call in flight; the next leaves at next.
	slot chan struct{}

	mu     sync.Mutex
	limit  rate.Limit
	streak int       // accepted calls since the last change
	next   time.Time // serial: earliest departure of the next call
}

func newAdaptiveLimiter(documented float64, burst int) *adaptiveLimiter {
	a := &adaptiveLimiter{floor: rate.Limit(documented * rateFloor)}
	if burst > 1 {
		a.ceiling = rate.Limit(documented * rateHeadroom)
		a.grid = rate.NewLimiter(a.ceiling, burst)
	} else {
		// Spacing from the answer already leaves a round trip of margin.
		a.ceiling = rate.Limit(documented)
		a.slot = make(chan struct{}, 1)
	}
	a.limit = a.ceiling
	return a
}

// Wait blocks until a call may go and returns what to call once its answer
// (or its failure) is in.
func (a *adaptiveLimiter) Wait(ctx context.Context) (done func(), err error) {
	if a.grid != nil {
		return func() {}, a.grid.Wait(ctx)
	}
	select {
	case a.slot <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	a.mu.Lock()
	at := a.next
	a.mu.Unlock()
	if d := time.Until(at); d > 0 {
		if dl, ok := ctx.Deadline(); ok && at.After(dl) {
			<-a.slot
			return nil, errNoSlot
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			<-a.slot
			return nil, ctx.Err()
		}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			a.mu.Lock()
			a.next = time.Now().Add(a.interval())
			a.mu.Unlock()
			<-a.slot
		})
	}, nil
}

// Interval is the gap between calls at the current rate.
func (a *adaptiveLimiter) Interval() time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.interval()
}

func (a *adaptiveLimiter) interval() time.Duration {
	return time.Duration(float64(time.Second) / float64(a.limit))
}

// Limit is the current rate.
func (a *adaptiveLimiter) Limit() rate.Limit {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.limit
}

func (a *adaptiveLimiter) setLimit(l rate.Limit) {
	a.limit = l
	if a.grid != nil {
		a.grid.SetLimit(l)
	}
}

// refused is told of a rate-limit answer: the cloud counts tighter than we
// pace, so the rate drops (and on the grid every caller gives up one slot).
func (a *adaptiveLimiter) refused() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.streak = 0
	a.setLimit(max(a.limit*rateBackoff, a.floor))
	if a.grid != nil {
		a.grid.Reserve()
	}
}

// accepted is told of a call the cloud served.
func (a *adaptiveLimiter) accepted() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.streak++; a.streak < rateRecoveryCalls {
		return
	}
	a.streak = 0
	if a.limit < a.ceiling {
		a.setLimit(min(a.limit*rateRecovery, a.ceiling))
	}
}
