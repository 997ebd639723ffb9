package openstack

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/klog/v2"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/internal/respond"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/timing"
)

// Faces, as counted in Stats.ByFace.
const (
	FaceKeystone = "keystone"
	FaceCinder   = "cinder"
	FaceNova     = "nova"
	FaceImage    = "image"
)

// apiError is an OpenStack fault: {"<kind>": {"code": N, "message": "..."}}.
type apiError struct {
	code    int
	kind    string
	msg     string
	headers map[string]string
	// extra fields inside the fault object (retryAfter).
	extra map[string]any
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.code, e.kind, e.msg) }

func errBadRequest(format string, a ...any) *apiError {
	return &apiError{code: 400, kind: "badRequest", msg: fmt.Sprintf(format, a...)}
}
func errNotFound(format string, a ...any) *apiError {
	return &apiError{code: 404, kind: "itemNotFound", msg: fmt.Sprintf(format, a...)}
}
func errForbidden(format string, a ...any) *apiError {
	return &apiError{code: 403, kind: "forbidden", msg: fmt.Sprintf(format, a...)}
}
func errConflict(format string, a ...any) *apiError {
	return &apiError{code: 409, kind: "conflictingRequest", msg: fmt.Sprintf(format, a...)}
}
func errInternal(msg string) *apiError {
	return &apiError{code: 500, kind: "computeFault", msg: msg}
}

// errOverLimit is a quota fault as Cinder answers it (retryAfter 0).
func errOverLimit(msg string) *apiError {
	return &apiError{code: 413, kind: "overLimit", msg: msg, extra: map[string]any{"retryAfter": 0}}
}

// rateLimited is the profile's rate-limit fault: HP Helion's documented
// body carries no wait hint (seed 004); others say when to retry.
func (s *Handler) rateLimited(wait time.Duration) *apiError {
	if !s.prof.rateLimitHint {
		return &apiError{code: 413, kind: "overLimit", msg: "This request was rate-limited."}
	}
	return errRateLimited(wait)
}

// errRateLimited is a rate-limit fault with a Retry-After in whole seconds.
func errRateLimited(wait time.Duration) *apiError {
	secs := int(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	ra := strconv.Itoa(secs)
	return &apiError{code: 413, kind: "overLimit", msg: "This request was rate-limited.",
		extra: map[string]any{"retryAfter": ra}, headers: map[string]string{"Retry-After": ra}}
}

// call is one request being served.
type call struct {
	s       *Handler
	w       http.ResponseWriter
	r       *http.Request
	face    string
	tok     *token
	project string
	ver     int    // Cinder major version (1, 2, 3)
	micro   string // requested volume microversion ("3.0" when absent)
	// gen is the state generation the answer waits for (0: none).
	gen uint64
}

// persist records that the call changed the state (under s.mu, held): its
// answer leaves once the change is on disk, or becomes a 500 if it cannot
// be written.
func (c *call) persist() { c.gen = c.s.markDirty() }

func (c *call) json(code int, v any) {
	respond.JSON(c.w, code, v)
}

// rawJSON answers a body already encoded.
func (c *call) rawJSON(code int, b []byte) { respond.Encoded(c.w, code, b) }

func (c *call) fail(e *apiError) {
	for k, v := range e.headers {
		c.w.Header().Set(k, v)
	}
	body := map[string]any{"code": e.code, "message": e.msg}
	for k, v := range e.extra {
		body[k] = v
	}
	respond.JSON(c.w, e.code, map[string]any{e.kind: body})
}

// decode reads a JSON body into v; a malformed body is a 400 as Cinder says it.
func (c *call) decode(v any) *apiError {
	b, err := io.ReadAll(io.LimitReader(c.r.Body, 1<<20))
	if err != nil {
		return errBadRequest("Malformed request body")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return errBadRequest("Malformed request body: %v", err)
	}
	return nil
}

// baseURL is what catalogs and links point at.
func (c *call) baseURL() string {
	if c.s.cfg.PublicURL != "" {
		return strings.TrimRight(c.s.cfg.PublicURL, "/")
	}
	scheme := "http"
	if c.r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + c.r.Host
}

// heldWriter keeps an answer (status and body) until send, so that the
// answer to a change leaves only once the change is on disk. Headers go
// straight to the underlying map: nothing is sent before send.
type heldWriter struct {
	sw   http.ResponseWriter
	code int
	body bytes.Buffer
}

func (w *heldWriter) Header() http.Header { return w.sw.Header() }

func (w *heldWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *heldWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = 200
	}
	return w.body.Write(b)
}

func (w *heldWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.sw.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("hijack not supported")
	}
	return h.Hijack()
}

// discard drops the held answer, to answer something else.
func (w *heldWriter) discard() {
	w.code = 0
	w.body.Reset()
	w.sw.Header().Del("Content-Length")
}

func (w *heldWriter) send() {
	if w.code == 0 {
		return // nothing answered (or the connection was dropped)
	}
	w.sw.WriteHeader(w.code)
	_, _ = w.sw.Write(w.body.Bytes())
}

type handlerFunc func(c *call)

// handle registers one route of a face. pattern is a net/http pattern with
// method; it is also the route template counted in the stats.
func (s *Handler) handle(mux *http.ServeMux, face, pattern string, fn handlerFunc) {
	s.register(mux, face, pattern, face == FaceCinder || face == FaceNova, fn)
}

// register is handle with explicit authentication (version documents are
// open). The root's wrap counts the call and applies latency and dropped
// connections; the answer is held until the change it reports is on disk.
func (s *Handler) register(mux *http.ServeMux, face, pattern string, authed bool, fn handlerFunc) {
	faulty := face != FaceKeystone
	mux.HandleFunc(pattern, s.wrap(face, pattern, faulty, func(w http.ResponseWriter, r *http.Request) {
		hw := &heldWriter{sw: w}
		c := &call{s: s, w: hw, r: r, face: face}
		serve(c, faulty, authed, fn)
		// fn has released s.mu: the write (or a wait for someone
		// else's covering this change) holds up this answer only.
		if c.gen != 0 {
			if err := s.commit.Wait(c.gen); err != nil {
				klog.ErrorS(err, "cloudsim: saving state")
				hw.discard()
				c.fail(errInternal(fmt.Sprintf("state not saved: %v", err)))
			}
		}
		hw.send()
	}))
}

// serve passes c through authentication and the rate limit, then the
// injected errors, then to fn.
func serve(c *call, faulty, authed bool, fn handlerFunc) {
	s := c.s
	if authed && (!s.authenticate(c) || !s.rateLimit(c)) {
		return
	}
	if faulty && !s.injectPost(c) {
		return
	}
	fn(c)
}

// injectPost answers injected 5xx and 413 bursts.
func (s *Handler) injectPost(c *call) bool {
	if s.faults.ServerError() {
		if c.face == FaceNova {
			c.fail(&apiError{code: 500, kind: "computeFault", msg: "Unexpected API Error. Please report this at http://bugs.launchpad.net/nova/ and attach the Nova API log if possible."})
		} else {
			c.fail(&apiError{code: 500, kind: "computeFault", msg: "The server has either erred or is incapable of performing the requested operation."})
		}
		return false
	}
	if s.faults.OverLimit() {
		s.stats.RateLimited()
		c.fail(s.rateLimited(time.Second))
		return false
	}
	return true
}

// rateLimit enforces the per-project Block Storage API call rate (token
// bucket, burst 1). Seed 004 states the limit for the Block Storage API and
// refers attach/detach, which go through Nova, to Compute's own limits.
func (s *Handler) rateLimit(c *call) bool {
	if s.prof.rateLimit <= 0 || c.project == "" || c.face != FaceCinder {
		return true
	}
	s.limMu.Lock()
	lim := s.limiters[c.project]
	if lim == nil {
		lim = rate.NewLimiter(rate.Limit(timing.Rate(s.prof.rateLimit, s.cfg.TimeScale)), 1)
		s.limiters[c.project] = lim
	}
	s.limMu.Unlock()
	res := lim.Reserve()
	if d := res.Delay(); d > 0 {
		res.Cancel()
		s.stats.RateLimited()
		c.fail(s.rateLimited(d))
		return false
	}
	return true
}
