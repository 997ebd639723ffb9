package waiter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// pollCallTimeout bounds one poll call made on behalf of many waits (it
// cannot use any single request's context).
const pollCallTimeout = 60 * time.Second

// kindOps adapts one resource kind (volumes, snapshots, backups) to the
// generic poller.
type kindOps[T any] struct {
	kind   string
	get    func(context.Context, string) (*T, error)
	list   func(context.Context, cloud.ListOptions) (cloud.Page[T], error)
	id     func(*T) string
	status func(*T) (cloud.Status, string)
	// getEach: a listing costs more than a Get per pending wait.
	getEach bool
}

type waitResult[T any] struct {
	obj *T
	err error
}

type waitReq[T any] struct {
	id   string
	cond func(*T) (bool, error)
	gone bool
	// start is when the wait began; ready: the resource is not worth
	// checking before this.
	start, ready time.Time
	done         chan waitResult[T]
	last         *T // guarded by poller.mu
}

// poller serves the waits of one kind. In batched mode a single goroutine
// runs while waits are pending and answers all of them per tick.
type poller[T any] struct {
	w   *Waiter
	ops kindOps[T]

	mu      sync.Mutex
	pending map[*waitReq[T]]struct{}
	running bool
	wake    chan struct{}

	// settled holds how long recent waits took, as seen by the batched
	// loop (run's goroutine only).
	settled settleTimes
}

func newPoller[T any](w *Waiter, ops kindOps[T]) *poller[T] {
	return &poller[T]{w: w, ops: ops, pending: map[*waitReq[T]]struct{}{}, wake: make(chan struct{}, 1)}
}

func (p *poller[T]) wait(ctx context.Context, id string, cond func(*T) (bool, error), gone bool) (*T, error) {
	if err := ctx.Err(); err != nil {
		return nil, p.timeoutErr(err, id, nil, gone)
	}
	if p.w.ctx.Err() != nil {
		return nil, ErrClosed
	}
	if p.w.opts.Mode == PerVolume {
		return p.waitAlone(ctx, id, cond, gone)
	}
	now := time.Now()
	r := &waitReq[T]{id: id, cond: cond, gone: gone, start: now, ready: now.Add(p.w.opts.InitialDelay), done: make(chan waitResult[T], 1)}
	p.mu.Lock()
	p.pending[r] = struct{}{}
	if !p.running {
		if !p.w.spawn(p.run) {
			delete(p.pending, r)
			p.mu.Unlock()
			return nil, ErrClosed
		}
		p.running = true
	} else {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	p.mu.Unlock()

	select {
	case res := <-r.done:
		return res.obj, res.err
	case <-ctx.Done():
		p.mu.Lock()
		delete(p.pending, r)
		last := r.last
		p.mu.Unlock()
		select {
		case res := <-r.done: // answered while we were leaving
			return res.obj, res.err
		default:
		}
		return last, p.timeoutErr(ctx.Err(), id, last, gone)
	}
}

// run is the batched loop. It exits when no wait is pending, or when the
// Waiter is closed (answering every pending wait with ErrClosed).
func (p *poller[T]) run() {
	var nextCall time.Time // earliest time the next call may go out
	var lastCall time.Time // when the latest successful check began
	var backoff time.Duration
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		p.mu.Lock()
		if len(p.pending) == 0 || p.w.ctx.Err() != nil {
			p.abandon()
			p.mu.Unlock()
			return
		}
		at := p.nextCheck(nextCall, lastCall, backoff > 0)
		p.mu.Unlock()

		if d := time.Until(at); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-p.wake: // a new wait; recompute
				timer.Stop() // Go ≥1.23 timers: no stale value to drain
				continue
			case <-p.w.ctx.Done():
				continue // the top of the loop answers the waits
			}
		}

		p.w.gate.wait(p.w.ctx, p.w.opts.PollGap)
		// Every wait registered before the call starts is answered by it;
		// later ones wait for the next call (the listing might predate them).
		p.mu.Lock()
		batch := make([]*waitReq[T], 0, len(p.pending))
		for r := range p.pending {
			batch = append(batch, r)
		}
		p.mu.Unlock()
		if len(batch) == 0 {
			continue
		}

		checked := time.Now()
		found, answered, calls, err := p.fetch(batch)
		p.w.opts.Observe(Event{Kind: p.ops.kind, Waiters: len(batch), Calls: calls, Err: err})
		if err != nil {
			if p.w.ctx.Err() != nil {
				continue // closed while the call was in flight
			}
			if cloud.IsRetryable(err) || errors.Is(err, context.DeadlineExceeded) {
				backoff = p.w.opts.Backoff(backoff, err)
				nextCall = time.Now().Add(backoff)
				continue
			}
			for _, r := range batch {
				p.finish(r, nil, fmt.Errorf("checking %s %s: %w", p.ops.kind, r.id, err))
			}
			continue
		}
		backoff = 0
		lastCall = checked
		nextCall = time.Now().Add(p.w.opts.Interval)
		for _, r := range batch {
			if !answered(r) {
				continue
			}
			obj := found[r.id]
			if done, res := p.evaluate(r.id, obj, r.cond, r.gone); done {
				if res.err == nil {
					p.settled.add(checked.Sub(r.start))
				}
				p.finish(r, res.obj, res.err)
			} else {
				p.mu.Lock()
				r.last = obj
				p.mu.Unlock()
			}
		}
	}
}

// nextCheck is when the next call goes out (p.mu held): never before the
// earliest pending wait is worth checking, and not before nextCall (an
// interval after the last call, or a backoff) while the last call looked
// at some pending wait.
//
// Waits that all began after the last call are a new cohort, typically
// the calls of one burst (a hundred attaches) answered over a few hundred
// milliseconds. Checked when its first member is ready, a cohort is mostly
// not done yet; so the check waits for its last member to be ready, by at
// most a third of the interval. Calls stay at least InitialDelay apart: a
// wait is ready InitialDelay after it began.
func (p *poller[T]) nextCheck(nextCall, lastCall time.Time, backingOff bool) time.Time {
	var earliest, latest, newest time.Time
	fresh := true
	for r := range p.pending {
		if earliest.IsZero() || r.ready.Before(earliest) {
			earliest = r.ready
		}
		if r.ready.After(latest) {
			latest = r.ready
		}
		if r.start.After(newest) {
			newest = r.start
		}
		fresh = fresh && r.start.After(lastCall)
	}
	if fresh && !backingOff {
		return minTime(latest, earliest.Add(p.w.opts.Interval/3))
	}
	at := maxTime(nextCall, earliest)
	if backingOff {
		return at
	}
	return p.tailCheck(at, lastCall, earliest, newest)
}

// tailCheck moves the next check earlier, from at to when the newest
// pending wait is expected to be done, once that comes before at: the end
// of a burst is then seen when it happens rather than up to an interval
// later, and the check replaces the regular one instead of adding to it.
// While waits keep arriving the newest one is never expected before the
// regular check, so a steady stream is polled exactly as before.
func (p *poller[T]) tailCheck(at, lastCall, earliest, newest time.Time) time.Time {
	took, ok := p.settled.estimate()
	if !ok || lastCall.IsZero() {
		return at
	}
	expect := newest.Add(took)
	if !expect.After(lastCall) {
		return at // expected done before the last check: overdue, keep the pace
	}
	early := maxTime(expect, maxTime(earliest, lastCall.Add(p.w.opts.Interval/3)))
	return minTime(early, at)
}

// settleTimes remembers how long the latest waits took, each measured up
// to the check that saw it done (an upper bound). Their minimum estimates
// how long the operation takes: with waits started at different phases of
// the check interval, one of them is seen done soon after it was.
type settleTimes struct {
	d [16]time.Duration
	n int
}

func (s *settleTimes) add(d time.Duration) {
	s.d[s.n%len(s.d)] = d
	s.n++
}

func (s *settleTimes) estimate() (time.Duration, bool) {
	if s.n == 0 {
		return 0, false
	}
	least := s.d[0]
	for _, d := range s.d[1:min(s.n, len(s.d))] {
		least = min(least, d)
	}
	return least, true
}

// fetch makes the calls of a tick: a Get when a single wait is pending
// (or one per pending resource where listing costs more), a full listing
// otherwise. found maps id to resource (absent = gone); answered says
// which waits the calls speak for.
func (p *poller[T]) fetch(batch []*waitReq[T]) (found map[string]*T, answered func(*waitReq[T]) bool, calls int, err error) {
	ctx, cancel := context.WithTimeout(p.w.ctx, pollCallTimeout)
	defer cancel()
	found = map[string]*T{}
	if len(batch) == 1 || p.ops.getEach {
		return p.getEach(ctx, batch)
	}
	items, calls, err := ListAll(ctx, p.ops.list, cloud.ListOptions{}, p.w.opts.PageLimit)
	if err != nil {
		return nil, nil, calls, err
	}
	for i := range items {
		found[p.ops.id(&items[i])] = &items[i]
	}
	return found, func(*waitReq[T]) bool { return true }, calls, nil
}

// getEachConcurrency bounds the Gets of one tick in flight at once.
const getEachConcurrency = 4

// getEach gets every resource the batch waits on, once per id. A wait is
// answered when its Get succeeded or found nothing; the tick fails only
// when no Get succeeded.
func (p *poller[T]) getEach(ctx context.Context, batch []*waitReq[T]) (map[string]*T, func(*waitReq[T]) bool, int, error) {
	ids := map[string]struct{}{}
	for _, r := range batch {
		ids[r.id] = struct{}{}
	}
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		found   = map[string]*T{}
		known   = map[string]bool{}
		lastErr error
		sem     = make(chan struct{}, getEachConcurrency)
	)
	for id := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			obj, err := p.ops.get(ctx, id)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				found[id], known[id] = obj, true
			case cloud.IsNotFound(err):
				known[id] = true
			default:
				lastErr = err
			}
		})
	}
	wg.Wait()
	if len(known) == 0 && lastErr != nil {
		return nil, nil, len(ids), lastErr
	}
	return found, func(r *waitReq[T]) bool { return known[r.id] }, len(ids), nil
}

// evaluate decides a wait given the resource's current state (nil: gone).
func (p *poller[T]) evaluate(id string, obj *T, cond func(*T) (bool, error), gone bool) (bool, waitResult[T]) {
	if obj == nil {
		if gone {
			return true, waitResult[T]{}
		}
		return true, waitResult[T]{err: cloud.Errorf(cloud.ErrNotFound, "%s %s disappeared while waiting for it", p.ops.kind, id)}
	}
	st, raw := p.ops.status(obj)
	if st.IsError() {
		if raw == "" {
			raw = string(st)
		}
		return true, waitResult[T]{obj: obj, err: &cloud.Error{Kind: cloud.ErrFailed, Message: fmt.Sprintf("%s %s went to status %q", p.ops.kind, id, raw)}}
	}
	if gone {
		return false, waitResult[T]{}
	}
	if cond == nil {
		return true, waitResult[T]{obj: obj}
	}
	ok, err := cond(obj)
	if err != nil {
		return true, waitResult[T]{obj: obj, err: err}
	}
	return ok, waitResult[T]{obj: obj}
}

// abandon ends the loop (p.mu held): when the Waiter is closed, every
// pending wait is answered with ErrClosed.
func (p *poller[T]) abandon() {
	p.running = false
	for r := range p.pending {
		delete(p.pending, r)
		r.done <- waitResult[T]{obj: r.last, err: ErrClosed}
	}
}

func (p *poller[T]) finish(r *waitReq[T], obj *T, err error) {
	p.mu.Lock()
	_, ok := p.pending[r]
	delete(p.pending, r)
	p.mu.Unlock()
	if ok {
		r.done <- waitResult[T]{obj: obj, err: err}
	}
}

// waitAlone is per-volume mode: this wait polls its own resource with
// exponential backoff.
func (p *poller[T]) waitAlone(ctx context.Context, id string, cond func(*T) (bool, error), gone bool) (*T, error) {
	delay := p.w.opts.InitialDelay
	var last *T
	timer := time.NewTimer(delay)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return last, p.timeoutErr(ctx.Err(), id, last, gone)
		case <-p.w.ctx.Done():
			return last, ErrClosed
		case <-timer.C:
		}
		obj, err := p.ops.get(ctx, id)
		p.w.opts.Observe(Event{Kind: p.ops.kind, Waiters: 1, Calls: 1, Err: err})
		next := time.Duration(float64(delay) * perVolumeBackoffFactor)
		if next > p.w.opts.MaxBackoff {
			next = p.w.opts.MaxBackoff
		}
		switch {
		case err == nil:
		case cloud.IsNotFound(err):
			obj = nil
		case cloud.IsRetryable(err):
			if ra := cloud.RetryAfterOf(err); ra > next {
				next = ra
			}
			delay = next
			timer.Reset(delay)
			continue
		default:
			if ctx.Err() != nil {
				return last, p.timeoutErr(ctx.Err(), id, last, gone)
			}
			return last, fmt.Errorf("checking %s %s: %w", p.ops.kind, id, err)
		}
		if done, res := p.evaluate(id, obj, cond, gone); done {
			return res.obj, res.err
		}
		last = obj
		delay = next
		timer.Reset(delay)
	}
}

// timeoutErr wraps ctx's error with what was being waited for.
func (p *poller[T]) timeoutErr(ctxErr error, id string, last *T, gone bool) error {
	what := "reach the expected state"
	if gone {
		what = "be deleted"
	}
	if last != nil {
		st, raw := p.ops.status(last)
		if raw == "" {
			raw = string(st)
		}
		return fmt.Errorf("gave up waiting for %s %s to %s (last status %q): %w", p.ops.kind, id, what, raw, ctxErr)
	}
	return fmt.Errorf("gave up waiting for %s %s to %s: %w", p.ops.kind, id, what, ctxErr)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
