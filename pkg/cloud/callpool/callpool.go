// Package callpool runs a cloud's API calls on short-lived goroutines of
// their own, a bounded number at a time, instead of on the goroutines of
// the CSI requests that make them.
//
// A controller holds a goroutine for every request in flight: a thousand
// CreateVolume calls at once are a thousand goroutines, most of their
// time parked in the waiter. An API call is the deepest thing a request
// does (the SDK, net/http, JSON): run on the request's own goroutine it
// grows that goroutine's stack to 16 KiB, and the stack stays that size
// while the request waits for the cloud, so a thousand requests held
// 16 MiB of stacks. Run here, the deep stack lives only as long as the
// call, on one of at most Limit goroutines, and the request's goroutine
// stays small. The bound matches the HTTP connection pool (package
// httppool): calls beyond it would only wait for a connection, deep.
package callpool

import (
	"context"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// DefaultLimit is how many calls run at once by default.
const DefaultLimit = 64

// Pool is a cloud.Cloud that makes the calls of the one it wraps on
// goroutines of their own, at most Limit at a time.
type Pool struct {
	c     cloud.Cloud
	slots chan struct{}
}

var _ cloud.Cloud = (*Pool)(nil)

// Wrap returns c with its calls run by a pool of limit goroutines
// (DefaultLimit when limit <= 0).
func Wrap(c cloud.Cloud, limit int) *Pool {
	if limit <= 0 {
		limit = DefaultLimit
	}
	return &Pool{c: c, slots: make(chan struct{}, limit)}
}

// Unwrap returns the wrapped cloud.
func (p *Pool) Unwrap() cloud.Cloud { return p.c }

func (p *Pool) Name() string                     { return p.c.Name() }
func (p *Pool) Capabilities() cloud.Capabilities { return p.c.Capabilities() }

// run makes call on a goroutine of its own once a slot is free and waits
// for it. A caller whose context ends while it waits for a slot makes
// the call itself: it returns at once, with the provider's own error for
// a canceled call.
func run[T any](ctx context.Context, p *Pool, call func(context.Context) (T, error)) (T, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return call(ctx)
	}
	type result struct {
		v     T
		err   error
		panic any
	}
	done := make(chan result, 1)
	go func() {
		defer func() { <-p.slots }()
		var r result
		defer func() {
			// A panic goes back to the caller's goroutine, where the
			// driver turns it into an error, instead of ending the process.
			r.panic = recover()
			done <- r
		}()
		r.v, r.err = call(ctx)
	}()
	r := <-done
	if r.panic != nil {
		panic(r.panic)
	}
	return r.v, r.err
}
