package openstack

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"k8s.io/klog/v2"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/ratelearn"
)

// RetryPolicy bounds what the HTTP layer repeats on its own.
type RetryPolicy struct {
	// MaxAttempts is the number of tries of an idempotent request (GET,
	// HEAD, DELETE) that meets a 5xx or a connection error, and of any
	// request whose connection could not be made. 1 disables retries.
	MaxAttempts int
	// BaseDelay doubles per attempt up to MaxDelay (with jitter).
	BaseDelay, MaxDelay time.Duration
	// MaxRateLimitRetries is how many 413/429 rate-limit answers one
	// request waits out before giving up with ErrRateLimited, when the
	// rate limit is configured or the request has no deadline. A learned
	// limit paces each retry itself, so there a request with a deadline
	// is retried for as long as the deadline allows.
	MaxRateLimitRetries int
	// DefaultRateLimitWait is used when a rate-limit answer says
	// retryAfter 0 or nothing.
	DefaultRateLimitWait time.Duration
	// MaxRateLimitWait: a longer retryAfter is not waited out but returned
	// as ErrRateLimited with RetryAfter set.
	MaxRateLimitWait time.Duration
}

// DefaultRetryPolicy is used unless WithRetryPolicy says otherwise.
var DefaultRetryPolicy = RetryPolicy{
	MaxAttempts:          4,
	BaseDelay:            200 * time.Millisecond,
	MaxDelay:             2 * time.Second,
	MaxRateLimitRetries:  5,
	DefaultRateLimitWait: time.Second,
	MaxRateLimitWait:     30 * time.Second,
}

// serviceBase maps a URL prefix to a service name for metrics and logs.
type serviceBase struct {
	prefix, name string
}

// transport is the provider's http.RoundTripper: client-side rate limit,
// 413 retryAfter, bounded retries of idempotent requests, observation.
type transport struct {
	base     http.RoundTripper
	limiter  *adaptiveLimiter // the configured limit (Block Storage only); nil: none
	observer cloud.Observer
	retry    RetryPolicy

	mu       sync.RWMutex
	services []serviceBase
	learners map[string]*ratelearn.Learner // per service, where no limit is configured
}

func (t *transport) addService(prefix, name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.services = append(t.services, serviceBase{prefix: strings.TrimSuffix(prefix, "/"), name: name})
}

// classify returns the service name and a low-cardinality operation
// ("GET /volumes/{id}") for req.
func (t *transport) classify(req *http.Request) (service, op string) {
	u := req.URL.Scheme + "://" + req.URL.Host + req.URL.Path
	t.mu.RLock()
	defer t.mu.RUnlock()
	service, rest := "unknown", req.URL.Path
	best := -1
	for _, s := range t.services {
		if strings.HasPrefix(u, s.prefix) && len(s.prefix) > best {
			service, rest, best = s.name, strings.TrimPrefix(u, s.prefix), len(s.prefix)
		}
	}
	return service, req.Method + " " + pathTemplate(rest)
}

// pathWords are the path elements kept in operation names; anything else
// (ids, project ids, versions) becomes {id}.
var pathWords = map[string]bool{
	"volumes": true, "snapshots": true, "backups": true, "detail": true, "action": true,
	"metadata": true, "restore": true, "limits": true, "servers": true,
	"os-volume_attachments": true, "os-availability-zone": true, "tokens": true,
	"auth": true, "v2.0": true, "v3": true, "types": true,
}

func pathTemplate(p string) string {
	parts := strings.Split(strings.Trim(p, "/"), "/")
	for i, s := range parts {
		if s != "" && !pathWords[s] {
			parts[i] = "{id}"
		}
	}
	return "/" + strings.Join(parts, "/")
}

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodDelete, http.MethodOptions:
		return true
	}
	return false
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	service, op := t.classify(req)
	rewindable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	rateLimited, sent := 0, false
	for attempt := 1; ; attempt++ {
		r := req
		if sent {
			var err error
			if r, err = rewind(req); err != nil {
				return nil, err
			}
		}
		p, err := t.waitLimiter(ctx, service)
		if err != nil {
			return nil, err
		}
		sent = true
		resp, err := t.send(r, service, op, attempt)
		p.answered()
		if err != nil {
			if ctx.Err() == nil && rewindable && attempt < t.retry.MaxAttempts &&
				(isDialError(err) || (idempotent(req.Method) && isTransientNetError(err))) {
				if t.sleep(ctx, t.backoff(attempt)) == nil {
					continue
				}
			}
			return nil, err
		}

		switch {
		case resp.StatusCode == http.StatusRequestEntityTooLarge || resp.StatusCode == http.StatusTooManyRequests:
			retry, out, err := t.onRefused(ctx, resp, service, p, rewindable, rateLimited)
			if !retry {
				return out, err
			}
			rateLimited++
			attempt-- // a rate-limit answer is not a failed attempt
			continue
		case resp.StatusCode >= 500 && idempotent(req.Method) && rewindable && attempt < t.retry.MaxAttempts:
			discard(resp)
			if err := t.sleep(ctx, t.backoff(attempt)); err != nil {
				return nil, err
			}
			continue
		}
		if t.limited(service) {
			t.limiter.accepted()
		}
		p.accepted()
		return resp, nil
	}
}

// onRefused handles a 413/429: it reports whether to send the request
// again (after pacing or the wait the cloud named), or else the answer to
// give the caller.
func (t *transport) onRefused(ctx context.Context, resp *http.Response, service string, p pace, rewindable bool, rateLimited int) (bool, *http.Response, error) {
	wait, isRate, err := rateLimitWait(resp)
	if err != nil || !isRate {
		return false, resp, err
	}
	if p.learner != nil {
		// The learner paces the retry (and every other call) from now
		// on; a wait the cloud named holds this request back as well.
		p.learner.Refused(p.call)
	} else if wait <= 0 {
		wait = t.retry.DefaultRateLimitWait
	}
	if !rewindable || rateLimited >= t.maxRateLimitRetries(ctx, p) || wait > t.retry.MaxRateLimitWait {
		return false, resp, nil
	}
	if dl, ok := ctx.Deadline(); ok && time.Now().Add(wait).After(dl) {
		discard(resp)
		return false, nil, &cloud.Error{Kind: cloud.ErrRateLimited, RetryAfter: wait, HTTPStatus: resp.StatusCode,
			Message: fmt.Sprintf("rate limited by the cloud; retry after %s does not fit the request's deadline", wait)}
	}
	discard(resp)
	if t.limited(service) {
		t.limiter.refused()
	}
	if wait <= 0 {
		return true, nil, nil // learned pacing alone
	}
	t.observer.ObserveRateLimitWait(wait)
	if err := t.sleep(ctx, wait); err != nil {
		return false, nil, &cloud.Error{Kind: cloud.ErrRateLimited, RetryAfter: wait, HTTPStatus: http.StatusRequestEntityTooLarge,
			Message: "rate limited by the cloud", Cause: err}
	}
	return true, nil, nil
}

// maxRateLimitRetries is how many rate-limit refusals one request meets
// before it gives up: under a learned limit, as many as its deadline
// leaves room for (each retry is paced, and one that would leave after the
// deadline is not sent).
func (t *transport) maxRateLimitRetries(ctx context.Context, p pace) int {
	if p.learner == nil {
		return t.retry.MaxRateLimitRetries
	}
	if _, ok := ctx.Deadline(); ok {
		return math.MaxInt
	}
	return t.retry.MaxRateLimitRetries
}

// send makes one attempt and reports it to the observer and the log.
func (t *transport) send(r *http.Request, service, op string, attempt int) (*http.Response, error) {
	start := time.Now()
	resp, err := t.base.RoundTrip(r)
	elapsed := time.Since(start)
	code := 0
	if resp != nil {
		code = resp.StatusCode
	}
	t.observer.ObserveRequest(service, op, code, elapsed)
	// Method and path only: headers (X-Auth-Token) and bodies
	// (passwords) are never logged.
	klog.FromContext(r.Context()).V(5).Info("OpenStack API call", "service", service, "httpMethod", r.Method, "path", r.URL.Path,
		"status", code, "duration", elapsed, "attempt", attempt)
	return resp, err
}

// limited reports whether calls to service go through the limiter:
// rate-limit is the Block Storage API's (HP Helion: "1 call per second for
// each project"); Keystone and Compute (attach/detach) have limits of their
// own.
func (t *transport) limited(service string) bool {
	return t.limiter != nil && service == "volume"
}

// pace is one call's place in its service's pacing: the configured
// limiter's slot, or the learner's departure.
type pace struct {
	done    func()
	learner *ratelearn.Learner
	call    ratelearn.Call
}

// answered is called once the call's answer (or failure) is in.
func (p pace) answered() {
	if p.done != nil {
		p.done()
	}
}

// accepted tells the learner the cloud served the call.
func (p pace) accepted() {
	if p.learner != nil {
		p.learner.Accepted(p.call)
	}
}

// learner is service's learned pacing, made on first use.
func (t *transport) learner(service string) *ratelearn.Learner {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.learners == nil {
		t.learners = map[string]*ratelearn.Learner{}
	}
	l := t.learners[service]
	if l == nil {
		l = ratelearn.New()
		t.learners[service] = l
	}
	return l
}

// LearnedRate is the pace calls to service leave at under a learned limit
// (calls/s); 0 while nothing paces them.
func (t *transport) LearnedRate(service string) float64 {
	if t.limited(service) {
		return 0
	}
	return t.learner(service).Rate()
}

// waitLimiter blocks until a call to service may go: under the configured
// limit (the Block Storage API's), or else under the one learned from the
// service's refusals.
func (t *transport) waitLimiter(ctx context.Context, service string) (pace, error) {
	start := time.Now()
	if !t.limited(service) {
		l := t.learner(service)
		c, wait, err := l.Wait(ctx)
		if err != nil {
			return pace{}, &cloud.Error{Kind: cloud.ErrRateLimited, RetryAfter: wait,
				Message: "rate limit learned from the cloud: no call slot before the request's deadline", Cause: err}
		}
		if wait >= time.Millisecond {
			t.observer.ObserveRateLimitWait(wait)
		}
		return pace{learner: l, call: c}, nil
	}
	done, err := t.limiter.Wait(ctx)
	if err != nil {
		return pace{}, &cloud.Error{Kind: cloud.ErrRateLimited, RetryAfter: t.limiter.Interval(),
			Message: "client-side rate limit: no call slot before the request's deadline", Cause: err}
	}
	if d := time.Since(start); d >= time.Millisecond {
		t.observer.ObserveRateLimitWait(d)
	}
	return pace{done: done}, nil
}

func (t *transport) backoff(attempt int) time.Duration {
	d := t.retry.BaseDelay << (attempt - 1)
	if d > t.retry.MaxDelay || d <= 0 {
		d = t.retry.MaxDelay
	}
	// Up to 20% jitter so that many controllers do not retry in step.
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

func (t *transport) sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

func rewind(req *http.Request) (*http.Request, error) {
	r := req.Clone(req.Context())
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		r.Body = body
	}
	return r, nil
}

// maxFaultBody bounds what is read of an error body.
const maxFaultBody = 64 << 10

// rateLimitWait reads a 413/429 answer: whether it is a rate limit (not a
// quota) and how long it asks to wait. The body is restored for the caller.
func rateLimitWait(resp *http.Response) (time.Duration, bool, error) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxFaultBody))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return 0, false, err
	}
	f := parseFault(body)
	if isQuotaMessage(f.Message) {
		return 0, false, nil
	}
	if f.HasRetry {
		return f.RetryAfter, true, nil
	}
	if d, ok := retryAfterHeader(resp.Header, time.Now()); ok {
		return d, true, nil
	}
	return 0, true, nil
}

func discard(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxFaultBody))
	resp.Body.Close()
}
