package openstack

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// The limiter's tuning. The cloud counts arrivals while the limiter spaces
// departures, and the path between them jitters (connection reuse,
// scheduling): two calls sent one interval apart can arrive closer than
// that and the second is refused with 413, costing a retryAfter wait. So
// the limiter starts under the documented rate, backs off on each refusal,
// and creeps back after a run of accepted calls.
const (
	rateHeadroom      = 0.95 // of the documented rate, at most
	rateFloor         = 0.5  // of the documented rate, at least
	rateBackoff       = 0.8  // factor on each refusal
	rateRecovery      = 1.02 // factor after rateRecoveryCalls accepted calls
	rateRecoveryCalls = 20
)

// adaptiveLimiter spaces calls to one rate-limited API.
type adaptiveLimiter struct {
	lim            *rate.Limiter
	ceiling, floor rate.Limit

	mu     sync.Mutex
	streak int       // accepted calls since the last change
	last   time.Time // when the latest call was let go
}

func newAdaptiveLimiter(documented float64, burst int) *adaptiveLimiter {
	if burst < 1 {
		burst = 1
	}
	ceiling := rate.Limit(documented * rateHeadroom)
	return &adaptiveLimiter{
		lim:     rate.NewLimiter(ceiling, burst),
		ceiling: ceiling,
		floor:   rate.Limit(documented * rateFloor),
	}
}

// Wait blocks until a call may go. rate.Limiter hands out slots on an ideal
// grid, so a caller the scheduler wakes late leaves late and the next one,
// woken on time, would follow it closer than one interval; against a cloud
// that takes no burst, calls are also kept one interval apart by the real
// clock.
func (a *adaptiveLimiter) Wait(ctx context.Context) error {
	if err := a.lim.Wait(ctx); err != nil {
		return err
	}
	if a.lim.Burst() > 1 {
		return nil // the cloud takes bursts: the grid is all that matters
	}
	a.mu.Lock()
	gap := time.Duration(float64(time.Second) / float64(a.lim.Limit()))
	now := time.Now()
	at := a.last.Add(gap)
	if at.Before(now) {
		at = now
	}
	a.last = at
	a.mu.Unlock()
	if d := at.Sub(now); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (a *adaptiveLimiter) Limit() rate.Limit { return a.lim.Limit() }

// refused is told of a rate-limit answer: our spacing ran ahead of the
// cloud's clock, so every caller gives up one slot and the rate drops.
func (a *adaptiveLimiter) refused() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.streak = 0
	a.lim.SetLimit(max(a.lim.Limit()*rateBackoff, a.floor))
	a.lim.Reserve()
}

// accepted is told of a call the cloud served.
func (a *adaptiveLimiter) accepted() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.streak++; a.streak < rateRecoveryCalls {
		return
	}
	a.streak = 0
	if l := a.lim.Limit(); l < a.ceiling {
		a.lim.SetLimit(min(l*rateRecovery, a.ceiling))
	}
}
