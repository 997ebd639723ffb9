package lookup

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
)

// callTimeout bounds one listing made on behalf of many lookups (it
// cannot use any single request's context).
const callTimeout = 60 * time.Second

// run answers queued lookups until none is left, or Names is closed.
func (nm *namer[T]) run() {
	var backoff time.Duration
	for {
		batch := nm.next()
		if batch == nil {
			return
		}
		byName := make(map[string][]*nameReq[T], len(batch))
		for _, r := range batch {
			byName[r.name] = append(byName[r.name], r)
		}
		var err error
		if len(byName) == 1 || (len(byName) < nm.pages && !nm.filterIgnored) {
			err = nm.eachName(byName)
		} else {
			err = nm.listing(byName)
		}
		if err != nil {
			if nm.n.ctx.Err() == nil {
				backoff = nm.n.opts.Backoff(backoff, err)
				sleep(nm.n.ctx, backoff)
			}
			continue // closed: next answers the lookups
		}
		backoff = 0
	}
}

// retryLater reports whether a listing's error leaves its lookups queued
// for the next round, after a backoff, rather than answering them with it.
func (nm *namer[T]) retryLater(err error) bool {
	return nm.n.ctx.Err() != nil || cloud.IsRetryable(err) || errors.Is(err, context.DeadlineExceeded)
}

// listing answers the lookups of byName with one unfiltered listing of
// the kind. The error is one to retry after a backoff (the lookups stay
// queued); others are the lookups' answers.
func (nm *namer[T]) listing(byName map[string][]*nameReq[T]) error {
	opts := cloud.ListOptions{Keep: func(_, name string) bool { return byName[name] != nil }}
	ctx, cancel := context.WithTimeout(nm.n.ctx, callTimeout)
	items, calls, err := waiter.ListKeep(ctx, nm.ops.list, opts, nm.n.opts.PageLimit, func(it *T) bool { return byName[nm.ops.name(it)] != nil })
	cancel()
	nm.n.opts.Observe(waiter.Event{Kind: nm.ops.kind + "-name", Waiters: waiters(byName), Calls: calls, Err: err})
	if err != nil {
		if nm.retryLater(err) {
			return err
		}
		for name, rs := range byName {
			nm.finishAll(rs, nil, fmt.Errorf("looking up %s %q: %w", nm.ops.kind, name, err))
		}
		return nil
	}
	nm.pages = calls
	for name, rs := range byName {
		nm.finishAll(rs, nm.named(items, name), nil)
	}
	return nil
}

// eachName answers the lookups of byName with one listing filtered by
// name per name, made at once. Lookups whose listing failed with an
// error to retry stay queued, and the first such error is returned.
func (nm *namer[T]) eachName(byName map[string][]*nameReq[T]) error {
	type found struct {
		name  string
		items []T
		calls int
		err   error
	}
	ctx, cancel := context.WithTimeout(nm.n.ctx, callTimeout)
	defer cancel()
	out := make(chan found, len(byName))
	for name := range byName {
		go func() {
			opts := cloud.ListOptions{Name: name, Keep: func(_, n string) bool { return n == name }}
			items, calls, err := waiter.ListKeep(ctx, nm.ops.list, opts, nm.n.opts.PageLimit, func(it *T) bool { return nm.ops.name(it) == name })
			out <- found{name, items, calls, err}
		}()
	}
	all := make([]found, 0, len(byName))
	calls := 0
	for range byName {
		f := <-out
		all = append(all, f)
		calls += f.calls
		if f.calls > 1 {
			nm.filterIgnored = true
		}
	}
	var retry, failed error
	for _, f := range all {
		if f.err != nil && nm.retryLater(f.err) {
			retry = cmp.Or(retry, f.err)
		}
		failed = cmp.Or(failed, f.err)
	}
	nm.n.opts.Observe(waiter.Event{Kind: nm.ops.kind + "-name", Waiters: waiters(byName), Calls: calls, Err: failed})
	for _, f := range all {
		switch {
		case f.err == nil:
			nm.finishAll(byName[f.name], nm.named(f.items, f.name), nil)
		case !nm.retryLater(f.err):
			nm.finishAll(byName[f.name], nil, fmt.Errorf("looking up %s %q: %w", nm.ops.kind, f.name, f.err))
		}
	}
	return retry
}

func waiters[T any](byName map[string][]*nameReq[T]) int {
	n := 0
	for _, rs := range byName {
		n += len(rs)
	}
	return n
}

// next returns the queued lookups, or nil when the loop is to end: none
// queued, or Names closed (every queued lookup then gets ErrClosed).
func (nm *namer[T]) next() []*nameReq[T] {
	nm.mu.Lock()
	defer nm.mu.Unlock()
	closed := nm.n.ctx.Err() != nil
	batch := make([]*nameReq[T], 0, len(nm.queue))
	for r := range nm.queue {
		if closed {
			delete(nm.queue, r)
			r.done <- result[T]{err: ErrClosed}
			continue
		}
		batch = append(batch, r)
	}
	if len(batch) == 0 {
		nm.running = false
		return nil
	}
	return batch
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// named returns the items named name.
func (nm *namer[T]) named(items []T, name string) []T {
	var out []T
	for i := range items {
		if nm.ops.name(&items[i]) == name {
			out = append(out, items[i])
		}
	}
	return out
}

// match picks from items of one name the one a lookup answers: the oldest
// live one (created first; the smaller id on a tie), else the first failed
// or deleting one. A failed resource is replaced without waiting for it to
// go, so for a while a name can hold both; and a create that reached the
// cloud late, after its request's retry made another, leaves two live
// ones. Oldest first, every lookup keeps answering the same one however
// the twins are listed, and a later twin is the one to remove.
func (nm *namer[T]) match(items []T) *T {
	var live, spent *T
	for i := range items {
		it := &items[i]
		if st := nm.ops.status(it); st.IsError() || st == cloud.StatusDeleting {
			if spent == nil {
				spent = it
			}
			continue
		}
		if live == nil || nm.older(it, live) {
			live = it
		}
	}
	if live != nil {
		v := *live
		return &v
	}
	if spent != nil {
		v := *spent
		return &v
	}
	return nil
}

// older reports whether a was created before b (the smaller id on a tie).
func (nm *namer[T]) older(a, b *T) bool {
	return Older(nm.ops.created(a), nm.ops.id(a), nm.ops.created(b), nm.ops.id(b))
}

// Older is the order in which a lookup prefers live resources of one
// name: created first, the smaller id on a tie. Whoever picks among
// twins must pick as the lookup does.
func Older(aCreated time.Time, aID string, bCreated time.Time, bID string) bool {
	if !aCreated.Equal(bCreated) {
		return aCreated.Before(bCreated)
	}
	return aID < bID
}

func (nm *namer[T]) finishAll(rs []*nameReq[T], all []T, err error) {
	for _, r := range rs {
		nm.finish(r, all, err)
	}
}

func (nm *namer[T]) finish(r *nameReq[T], all []T, err error) {
	nm.mu.Lock()
	_, ok := nm.queue[r]
	delete(nm.queue, r)
	nm.mu.Unlock()
	if ok {
		r.done <- result[T]{all: all, err: err}
	}
}
