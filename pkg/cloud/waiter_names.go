package cloud

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

type nameReq[T any] struct {
	name string
	done chan waitResult[T]
}

// namer coalesces lookups by name. There is no tick: a lookup that finds
// the namer idle is served at once (a listing filtered by its name);
// lookups arriving while a call is in flight queue up and are all answered
// by the next call, one unfiltered listing. Isolated lookups pay no
// latency; bursts cost one listing per round.
type namer[T any] struct {
	w   *Waiter
	ops kindOps[T]

	mu      sync.Mutex
	queue   map[*nameReq[T]]struct{}
	running bool
}

func newNamer[T any](w *Waiter, ops kindOps[T]) *namer[T] {
	return &namer[T]{w: w, ops: ops, queue: map[*nameReq[T]]struct{}{}}
}

func (n *namer[T]) find(ctx context.Context, name string) (*T, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if n.w.opts.Mode == WaitPerVolume {
		items, calls, err := listAll(ctx, n.ops, ListOptions{Name: name}, n.w.opts.PageLimit)
		n.w.observe(BatchEvent{Kind: n.ops.kind + "-name", Waiters: 1, Calls: calls, Err: err})
		if err != nil {
			return nil, err
		}
		return n.match(items, name), nil
	}
	r := &nameReq[T]{name: name, done: make(chan waitResult[T], 1)}
	n.mu.Lock()
	n.queue[r] = struct{}{}
	if !n.running {
		n.running = true
		go n.run()
	}
	n.mu.Unlock()
	select {
	case res := <-r.done:
		return res.obj, res.err
	case <-ctx.Done():
		n.mu.Lock()
		delete(n.queue, r)
		n.mu.Unlock()
		select {
		case res := <-r.done:
			return res.obj, res.err
		default:
		}
		return nil, fmt.Errorf("looking up %s %q: %w", n.ops.kind, name, ctx.Err())
	}
}

func (n *namer[T]) run() {
	var backoff time.Duration
	for {
		n.mu.Lock()
		batch := make([]*nameReq[T], 0, len(n.queue))
		for r := range n.queue {
			batch = append(batch, r)
		}
		if len(batch) == 0 {
			n.running = false
			n.mu.Unlock()
			return
		}
		n.mu.Unlock()

		opts := ListOptions{}
		if len(batch) == 1 {
			opts.Name = batch[0].name
		}
		ctx, cancel := context.WithTimeout(context.Background(), pollCallTimeout)
		items, calls, err := listAll(ctx, n.ops, opts, n.w.opts.PageLimit)
		cancel()
		n.w.observe(BatchEvent{Kind: n.ops.kind + "-name", Waiters: len(batch), Calls: calls, Err: err})
		if err != nil {
			if IsRetryable(err) || errors.Is(err, context.DeadlineExceeded) {
				backoff = n.w.backoff(backoff, err)
				time.Sleep(backoff)
				continue
			}
			for _, r := range batch {
				n.finish(r, nil, fmt.Errorf("looking up %s %q: %w", n.ops.kind, r.name, err))
			}
			continue
		}
		backoff = 0
		for _, r := range batch {
			n.finish(r, n.match(items, r.name), nil)
		}
	}
}

// match returns the item named name, or nil: the first live one in
// listing order, else the first failed or deleting one. A failed resource
// is replaced without waiting for it to go, so for a while a name can
// hold both.
func (n *namer[T]) match(items []T, name string) *T {
	var spent *T
	for i := range items {
		if n.ops.name(&items[i]) != name {
			continue
		}
		if st, _ := n.ops.status(&items[i]); !st.IsError() && st != StatusDeleting {
			v := items[i]
			return &v
		}
		if spent == nil {
			v := items[i]
			spent = &v
		}
	}
	return spent
}

func (n *namer[T]) finish(r *nameReq[T], obj *T, err error) {
	n.mu.Lock()
	_, ok := n.queue[r]
	delete(n.queue, r)
	n.mu.Unlock()
	if ok {
		r.done <- waitResult[T]{obj: obj, err: err}
	}
}
