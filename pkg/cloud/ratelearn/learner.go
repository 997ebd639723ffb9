// Package ratelearn paces calls to an API whose rate limit nobody
// configured, learning it from the API's refusals (HTTP 413 or 429).
//
// Users rarely know their cloud's limit, and some clouds refuse without
// saying when to come back (HP Helion's documented 413 carries neither
// retryAfter nor Retry-After). A client that simply retries a refused call
// after a fixed pause turns one burst of concurrent requests into hundreds
// of refusals. The Learner instead:
//
//   - starts by probing: calls leave on a grid whose rate doubles with
//     every accepted call, so a cloud without a limit is free of pacing
//     after a handful of calls, while a limited one refuses only the
//     second or third call rather than a whole burst;
//   - once refused, paces departures on a grid and adjusts the rate by
//     AIMD: each refusal (at most one per round of calls) cuts it, each
//     accepted call raises it, quickly up to just under the rate last
//     refused and slowly beyond, so a limit that rises is found again;
package ratelearn

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Tuning. The numbers were chosen against a token bucket of burst 1 (the
// strictest a cloud can count, HP Helion's 1 call/s): at 5 calls/s thirty
// concurrent creates meet three or four refusals.
const (
	// probeStart is the first grid rate; each accepted call doubles it
	// until freeAbove, where pacing stops until a refusal.
	probeStart = 10.0
	freeAbove  = 160.0
	// minRate bounds the cuts: a cloud slower than this still gets a call
	// every 1/minRate seconds, and each refusal is answered by its own
	// retry wait.
	minRate = 0.2
	// probeCut is the factor on the rate the probe was refused at: the
	// limit may lie anywhere up to it, and pacing at the limit exactly
	// meets refusals on every jitter.
	probeCut = 0.45
	// cut is the factor on each refusal once limited.
	cut = 0.93
	// Each accepted call raises the rate by approach, up to the hold rate
	// (knownShare of the last rate accepted before a refusal) and it stays
	// there; after holdCalls accepted calls in a row it creeps beyond, so
	// a limit that rose is found again.
	approach   = 1.03
	knownShare = 0.98
	holdCalls  = 50
	creep      = 1.002
)

// ErrNoSlot says the next departure lies beyond the caller's deadline.
var ErrNoSlot = errors.New("no call slot before the deadline")

type phase int

const (
	probing phase = iota // nothing known: the rate doubles per accepted call
	free                 // no refusal seen: calls leave at once
	limited              // refused: AIMD around the learned rate
)

// Learner paces the calls to one API. Its zero value is not usable; use New.
type Learner struct {
	now  func() time.Time
	turn chan struct{} // held by the caller whose departure is next
	// sooner wakes the caller holding turn when its slot moved earlier.
	sooner chan struct{}

	mu      sync.Mutex
	phase   phase
	rate    float64   // calls/s on the grid (probing, limited)
	hold    float64   // limited: the rate to rise to and stay at; 0: not known yet
	good    float64   // limited: the rate the last accepted call left at
	streak  int       // calls accepted since the last cut
	next    time.Time // earliest departure of the next call
	from    time.Time // when next was set: the latest paced departure or cut
	lastCut time.Time // refusals of calls sent before this were cut for already
}

// New returns a Learner that has seen no refusal.
func New() *Learner {
	return &Learner{now: time.Now, turn: make(chan struct{}, 1), sooner: make(chan struct{}, 1), phase: probing, rate: probeStart}
}

// Call is one departure, handed back to Accepted or Refused.
type Call struct {
	sent time.Time
	rate float64 // the grid's rate it left at; 0 unpaced
}

// Wait blocks until a call may leave. It returns ErrNoSlot, and how long
// the caller would have had to wait, when the slot lies beyond ctx's
// deadline. Callers queue for their turn and each takes the slot after
// the previous one at the rate of the moment it leaves, so a cut applies
// to every call not yet gone.
func (l *Learner) Wait(ctx context.Context) (Call, time.Duration, error) {
	start := l.now()
	if l.isFree() {
		return Call{sent: start}, 0, nil
	}
	select {
	case l.turn <- struct{}{}:
	case <-ctx.Done():
		return Call{}, 0, ctx.Err()
	}
	defer func() { <-l.turn }()
	for {
		l.mu.Lock()
		now := l.now()
		if l.phase == free {
			l.mu.Unlock()
			return Call{sent: now}, now.Sub(start), nil
		}
		at := l.next
		if !at.After(now) {
			l.from, l.next = now, now.Add(interval(l.rate))
			c := Call{sent: now, rate: l.rate}
			l.mu.Unlock()
			return c, now.Sub(start), nil
		}
		l.mu.Unlock()
		if dl, ok := ctx.Deadline(); ok && at.After(dl) {
			return Call{}, at.Sub(start), ErrNoSlot
		}
		// A refusal meanwhile may move the slot later, an accepted probe
		// earlier: look again.
		t := time.NewTimer(at.Sub(now))
		select {
		case <-t.C:
		case <-l.sooner:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			return Call{}, 0, ctx.Err()
		}
	}
}

func (l *Learner) isFree() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.phase == free
}

// Accepted is told of a call the API served (whatever its answer, except a
// rate-limit refusal).
func (l *Learner) Accepted(c Call) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch l.phase {
	case probing:
		if l.rate *= 2; l.rate >= freeAbove {
			l.phase = free
		}
		// The next call leaves on the doubled rate's grid, not at the
		// slot the last departure set at the old rate: on a cloud without
		// a limit, whose answers come back in milliseconds, a first burst
		// is free after about 90 ms of pacing instead of 190. A call sent
		// before the last refusal does not shorten the pause after it.
		if at := l.from.Add(interval(l.rate)); at.Before(l.next) && !c.sent.Before(l.lastCut) {
			l.next = at
			select {
			case l.sooner <- struct{}{}:
			default:
			}
		}
	case limited:
		l.streak++
		l.good = c.rate
		switch {
		case l.hold == 0:
			l.rate *= approach
		case l.rate < l.hold:
			l.rate = min(l.rate*approach, l.hold)
		case l.streak > holdCalls:
			l.rate *= creep
		}
	}
}

// Refused is told of a call the API refused for its rate. A wait the API
// named is the refused request's to honour: clouds round it up to whole
// seconds, and holding every call back by it would idle the budget.
func (l *Learner) Refused(c Call) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	// One cut per round: the other calls already in flight when the first
	// refusal came back were sent at the old pace and say nothing new.
	if !c.sent.After(l.lastCut) && !l.lastCut.IsZero() {
		return
	}
	switch l.phase {
	case probing:
		// The limit lies below the probe's rate, how far nobody knows:
		// go on well under it and rise until refused again.
		l.rate = l.rate / 2 * probeCut
		l.hold, l.good = 0, 0
		l.phase = limited
	case free:
		// A burst after a quiet spell, or a limit newly imposed:
		// nothing known but that the rate was too high; probe again.
		l.rate = probeStart / 2
		l.phase = probing
	case limited:
		if l.good > 0 && l.good < c.rate {
			// Refused while rising: the limit lies between the last
			// accepted rate and this one.
			l.hold = l.good * knownShare
		} else {
			// Refused at a rate accepted before: the limit dropped, or
			// the cloud counted two calls closer than they left.
			l.hold = c.rate * cut
		}
		l.rate = l.hold
	}
	l.rate = max(l.rate, minRate)
	l.streak = 0
	l.lastCut = now
	l.from, l.next = now, now.Add(interval(l.rate))
}

// Rate is the pace calls leave at, in calls/s; 0 while unpaced.
func (l *Learner) Rate() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.phase == free {
		return 0
	}
	return l.rate
}

// Learned reports whether the API has refused a call for its rate.
func (l *Learner) Learned() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.phase == limited
}

func interval(rate float64) time.Duration {
	return time.Duration(float64(time.Second) / rate)
}
