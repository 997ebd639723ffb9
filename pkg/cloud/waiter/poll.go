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
	op   Op
	cond func(*T) (bool, error)
	gone bool
	// start is when the wait began; due: when it is next worth checking.
	// missed: a check found the operation not done yet.
	start, due time.Time
	missed     bool
	// probe: checked early on purpose, to learn whether the operation
	// got quicker.
	probe bool
	// estimated: the first check was timed from how long earlier waits
	// took, not InitialDelay.
	estimated bool
	done      chan waitResult[T]
	last      *T // guarded by poller.mu
}

// poller serves the waits of one kind. In batched mode a single goroutine
// runs while waits are pending and checks each when it is due, together
// with the others due at about the same time.
type poller[T any] struct {
	w   *Waiter
	ops kindOps[T]

	mu      sync.Mutex
	pending map[*waitReq[T]]struct{}
	running bool
	wake    chan struct{}
	// took holds, per operation, how long recent waits took (p.mu).
	took map[Op]*settleTimes

	// pages is how many calls the latest listing walked to the end took
	// (run's goroutine only): fewer waits due than that are checked with
	// a Get each.
	pages int
}

func newPoller[T any](w *Waiter, ops kindOps[T]) *poller[T] {
	return &poller[T]{w: w, ops: ops, pending: map[*waitReq[T]]struct{}{}, wake: make(chan struct{}, 1), took: map[Op]*settleTimes{}, pages: 1}
}

func (p *poller[T]) wait(ctx context.Context, op Op, id string, cond func(*T) (bool, error), gone bool) (*T, error) {
	if err := ctx.Err(); err != nil {
		return nil, p.timeoutErr(err, id, nil, gone)
	}
	if p.w.ctx.Err() != nil {
		return nil, ErrClosed
	}
	if p.w.opts.Mode == PerVolume {
		return p.waitAlone(ctx, id, cond, gone)
	}
	if gone {
		op = OpDelete
	}
	now := time.Now()
	r := &waitReq[T]{id: id, op: op, cond: cond, gone: gone, start: now, done: make(chan waitResult[T], 1)}
	p.mu.Lock()
	first, probe, estimated := p.firstCheck(op)
	r.due, r.probe, r.estimated = now.Add(first), probe, estimated
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

// firstCheck is how long after it starts a wait for op is first checked
// (p.mu held): when recent waits for the same operation were done, a
// little later so that a check right at the edge does not miss. With no
// history for op, half the quickest operation seen on this kind tells
// how fast the cloud is; with none at all, InitialDelay. Every
// probeEvery-th wait for op is checked early instead (probe): a wait
// seen done at its estimate says nothing about whether the operation has
// become quicker.
func (p *poller[T]) firstCheck(op Op) (after time.Duration, probe, estimated bool) {
	if st := p.took[op]; st != nil {
		if d, ok := st.estimate(); ok {
			st.waits++
			if st.waits%probeEvery == 0 {
				return max(d*3/4, p.w.opts.MinStep), true, true
			}
			return d + edgeMargin(d), false, true
		}
	}
	first := p.w.opts.InitialDelay
	for _, st := range p.took {
		if d, ok := st.estimate(); ok && (!estimated || d/2 < first) {
			first, estimated = d/2, true
		}
	}
	return max(first, p.w.opts.MinStep), false, estimated
}

// probeEvery: one wait in this many is checked early, as a probe.
const probeEvery = 8

// edgeMargin is how much later than its estimate an operation is first
// checked: the estimate was measured from the wait's start, which may be
// a little after the cloud began the operation, or a little before.
func edgeMargin(d time.Duration) time.Duration { return 5*time.Millisecond + d/32 }

// retryStep is how long after a check that found it not done a wait is
// checked again: an eighth of how long it has waited so far, between
// MinStep and Interval. The longer an operation runs, the less a check
// more or less costs in latency.
func (p *poller[T]) retryStep(waited time.Duration) time.Duration {
	return min(max(waited/8, p.w.opts.MinStep), p.w.opts.Interval)
}

// run is the batched loop. It exits when no wait is pending, or when the
// Waiter is closed (answering every pending wait with ErrClosed).
func (p *poller[T]) run() {
	var notBefore time.Time // a backoff after a failed call
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
		at := maxTime(p.nextCheck(), notBefore)
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
		// The waits due now are checked. A listing also answers every
		// other wait registered before it starts (later ones wait for the
		// next check: the listing might predate them).
		p.mu.Lock()
		now := time.Now()
		var due, all []*waitReq[T]
		for r := range p.pending {
			all = append(all, r)
			if !r.due.After(now) {
				due = append(due, r)
			}
		}
		p.mu.Unlock()
		if len(due) == 0 {
			continue
		}

		checked := time.Now()
		found, answered, calls, err := p.fetch(due, all)
		p.w.opts.Observe(Event{Kind: p.ops.kind, Waiters: len(due), Calls: calls, Err: err})
		if err != nil {
			if p.w.ctx.Err() != nil {
				continue // closed while the call was in flight
			}
			if cloud.IsRetryable(err) || errors.Is(err, context.DeadlineExceeded) {
				backoff = p.w.opts.Backoff(backoff, err)
				notBefore = time.Now().Add(backoff)
				continue
			}
			for _, r := range due {
				p.finish(r, nil, fmt.Errorf("checking %s %s: %w", p.ops.kind, r.id, err))
			}
			continue
		}
		backoff = 0
		p.answer(all, found, answered, checked)
	}
}

// answer settles the waits a check answered: those seen done end (and
// teach how long their operation takes), the others due by now are
// rescheduled; waits listed before they were due keep their time.
func (p *poller[T]) answer(all []*waitReq[T], found map[string]*T, answered func(*waitReq[T]) bool, checked time.Time) {
	var missed []*waitReq[T]
	for _, r := range all {
		if !answered(r) {
			continue
		}
		obj := found[r.id]
		done, res := p.evaluate(r.id, obj, r.cond, r.gone)
		p.mu.Lock()
		r.last = obj
		if done && res.err == nil {
			p.learn(r, checked)
		}
		p.mu.Unlock()
		if done {
			p.finish(r, res.obj, res.err)
		} else if !r.due.After(checked) {
			missed = append(missed, r)
		}
	}
	// After every wait seen done has taught its operation's duration.
	p.mu.Lock()
	for _, r := range missed {
		p.reschedule(r, checked)
	}
	p.mu.Unlock()
}

// reschedule times the next check of a wait that a check found not done
// (p.mu held): a step after it, or, when the waits of its operation seen
// done by now say it is likely done sooner, then.
func (p *poller[T]) reschedule(r *waitReq[T], checked time.Time) {
	step := p.retryStep(checked.Sub(r.start))
	if !r.missed && r.estimated {
		// Missed a check timed from experience: the operation is a
		// little slower than usual, likely nearly done.
		step = max(step/2, p.w.opts.MinStep)
	}
	r.missed = true
	r.due = checked.Add(step)
	if st := p.took[r.op]; st != nil {
		if d, ok := st.estimate(); ok {
			// A wait of a burst that began later than the ones just seen
			// done is likely done as long after its own start.
			if likely := r.start.Add(d + edgeMargin(d)); likely.After(checked.Add(p.w.opts.MinStep)) && likely.Before(r.due) {
				r.due = likely
			}
		}
	}
}

// learn records how long a finished wait took (p.mu held), when that
// says something about its operation: seen done before it was due, or
// after a check that found it not done. A wait done at its first check
// only says the estimate was long enough; recording it would let the
// edge margin creep into the estimate.
func (p *poller[T]) learn(r *waitReq[T], checked time.Time) {
	if !r.missed && !r.probe && !checked.Before(r.due) {
		if _, known := p.took[r.op]; known {
			return
		}
	}
	st := p.took[r.op]
	if st == nil {
		st = &settleTimes{}
		p.took[r.op] = st
	}
	st.add(checked.Sub(r.start))
}

// nextCheck is when the next check goes out (p.mu held): when the
// earliest pending wait is due, or, to share one call, up to Coalesce
// later when other waits fall due meanwhile (the latest of those).
func (p *poller[T]) nextCheck() time.Time {
	var earliest time.Time
	for r := range p.pending {
		if earliest.IsZero() || r.due.Before(earliest) {
			earliest = r.due
		}
	}
	at := earliest
	limit := earliest.Add(p.w.opts.Coalesce)
	for r := range p.pending {
		if r.due.After(at) && !r.due.After(limit) {
			at = r.due
		}
	}
	return at
}

// settleTimes remembers how long the latest waits for one operation
// took, each measured up to the check that saw it done (an upper bound).
// Their minimum estimates how long the operation takes: with waits
// started at different phases of the checks, one of them is seen done
// soon after it was.
type settleTimes struct {
	d [8]time.Duration
	n int
	// waits counts the waits started with this estimate (for probes).
	waits int
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

// fetch checks the due waits: a Get each when they are fewer than the
// pages a listing takes (or where listing costs a call per item), else
// one listing, which answers every wait in all (and ends once it has
// seen every volume waited for). found maps id to
// resource (absent = gone); answered says which waits the calls speak
// for.
func (p *poller[T]) fetch(due, all []*waitReq[T]) (found map[string]*T, answered func(*waitReq[T]) bool, calls int, err error) {
	ctx, cancel := context.WithTimeout(p.w.ctx, pollCallTimeout)
	defer cancel()
	found = map[string]*T{}
	if p.ops.getEach || distinctIDs(due) <= p.pages {
		return p.getEach(ctx, due)
	}
	waited := make(map[string]bool, len(all))
	for _, r := range all {
		waited[r.id] = true
	}
	items, calls, complete, err := ListWanted(ctx, p.ops.list, p.w.opts.PageLimit, waited, p.ops.id)
	if err != nil {
		return nil, nil, calls, err
	}
	if complete {
		p.pages = calls
	}
	for i := range items {
		found[p.ops.id(&items[i])] = &items[i]
	}
	return found, func(*waitReq[T]) bool { return true }, calls, nil
}

func distinctIDs[T any](rs []*waitReq[T]) int {
	ids := map[string]struct{}{}
	for _, r := range rs {
		ids[r.id] = struct{}{}
	}
	return len(ids)
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
