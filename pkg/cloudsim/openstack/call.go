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

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/disk"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/timing"
)

// Faces, as counted in Stats.ByFace.
const (
	FaceKeystone = "keystone"
	FaceCinder   = "cinder"
	FaceNova     = "nova"
	FaceImage    = "image"
	FaceLunanode = "lunanode"
	FaceSim      = "sim"
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
func (s *Sim) rateLimited(wait time.Duration) *apiError {
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
	s       *Sim
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
	writeJSON(c.w, code, v)
}

func (c *call) fail(e *apiError) {
	for k, v := range e.headers {
		c.w.Header().Set(k, v)
	}
	body := map[string]any{"code": e.code, "message": e.msg}
	for k, v := range e.extra {
		body[k] = v
	}
	writeJSON(c.w, e.code, map[string]any{e.kind: body})
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

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	if v == nil {
		w.WriteHeader(code)
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		klog.ErrorS(err, "cloudsim: encoding response")
		code, b = 500, []byte(`{"computeFault": {"code": 500, "message": "encoding error"}}`)
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// statusWriter remembers the status code for the stats.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = 200
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("hijack not supported")
	}
	return h.Hijack()
}

// heldWriter keeps an answer (status and body) until send, so that the
// answer to a change leaves only once the change is on disk. Headers go
// straight to the underlying map: nothing is sent before send.
type heldWriter struct {
	sw   *statusWriter
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

func (w *heldWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) { return w.sw.Hijack() }

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
func (s *Sim) handle(mux *http.ServeMux, face, pattern string, fn handlerFunc) {
	s.register(mux, face, pattern, face == FaceCinder || face == FaceNova, fn)
}

// register is handle with explicit authentication (version documents are open).
func (s *Sim) register(mux *http.ServeMux, face, pattern string, authed bool, fn handlerFunc) {
	faulty := face != FaceKeystone && face != FaceSim
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		method := r.Method
		defer func() { s.stats.record(face, method, pattern, sw.code) }()
		hw := &heldWriter{sw: sw}
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
	})
}

// serve passes c through fault injection, authentication and the rate
// limit, then to fn.
func serve(c *call, faulty, authed bool, fn handlerFunc) {
	s := c.s
	if faulty && !s.injectPre(c) {
		return
	}
	if authed && (!s.authenticate(c) || !s.rateLimit(c)) {
		return
	}
	if faulty && !s.injectPost(c) {
		return
	}
	fn(c)
}

// injectPre applies latency and dropped connections.
func (s *Sim) injectPre(c *call) bool {
	if d := s.faults.latency(); d > 0 {
		time.Sleep(d)
	}
	if s.faults.roll(s.faults.get().DropRatio) {
		if h, ok := c.w.(http.Hijacker); ok {
			if conn, _, err := h.Hijack(); err == nil {
				conn.Close()
				return false
			}
		}
	}
	return true
}

// injectPost answers injected 5xx and 413 bursts.
func (s *Sim) injectPost(c *call) bool {
	f := s.faults.get()
	if s.faults.roll(f.ServerErrorRatio) {
		if c.face == FaceNova {
			c.fail(&apiError{code: 500, kind: "computeFault", msg: "Unexpected API Error. Please report this at http://bugs.launchpad.net/nova/ and attach the Nova API log if possible."})
		} else {
			c.fail(&apiError{code: 500, kind: "computeFault", msg: "The server has either erred or is incapable of performing the requested operation."})
		}
		return false
	}
	if s.faults.roll(f.OverLimitRatio) {
		s.stats.rateLimited()
		c.fail(s.rateLimited(time.Second))
		return false
	}
	return true
}

// rateLimit enforces the per-project Block Storage API call rate (token
// bucket, burst 1). Seed 004 states the limit for the Block Storage API and
// refers attach/detach, which go through Nova, to Compute's own limits.
func (s *Sim) rateLimit(c *call) bool {
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
		s.stats.rateLimited()
		c.fail(s.rateLimited(d))
		return false
	}
	return true
}

func (s *Sim) routes() error {
	mux := http.NewServeMux()
	s.keystoneRoutes(mux)
	s.cinderRoutes(mux)
	s.novaRoutes(mux)
	s.imageRoutes(mux)
	s.simRoutes(mux)
	if err := s.mountLunanode(mux); err != nil {
		return err
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		klog.V(1).InfoS("cloudsim: no such route", "method", r.Method, "path", r.URL.Path)
		s.stats.record("unknown", r.Method, "unknown", 404)
		writeJSON(w, 404, map[string]any{"itemNotFound": map[string]any{"code": 404, "message": "The resource could not be found."}})
	})
	s.handler = mux
	return nil
}

func (s *Sim) simRoutes(mux *http.ServeMux) {
	s.handle(mux, FaceSim, "GET /_sim/faults", func(c *call) { c.json(200, s.faults.get()) })
	s.handle(mux, FaceSim, "PUT /_sim/faults", func(c *call) {
		var f Faults
		if e := c.decode(&f); e != nil {
			c.fail(e)
			return
		}
		if err := s.SetFaultsChecked(f); err != nil {
			c.fail(errBadRequest("%v", err))
			return
		}
		c.json(200, s.faults.get())
	})
	// A disk pulled out of the guest behind the cloud's back: serial is
	// what the hypervisor gave it (the volume id; Lunanode: the volume's
	// identification).
	s.handle(mux, FaceSim, "POST /_sim/faults/unplug", func(c *call) {
		var req struct {
			Serial string `json:"serial"`
		}
		if e := c.decode(&req); e != nil {
			c.fail(e)
			return
		}
		switch err := s.SurpriseUnplug(req.Serial); {
		case errors.Is(err, disk.ErrNoFaultHost):
			c.fail(errConflict("%v", err))
		case errors.Is(err, disk.ErrNotPlugged):
			c.fail(errNotFound("%v", err))
		case err != nil:
			c.fail(errInternal(err.Error()))
		default:
			c.json(204, nil)
		}
	})
	s.handle(mux, FaceSim, "GET /_sim/stats", func(c *call) { c.json(200, s.Stats()) })
	s.handle(mux, FaceSim, "POST /_sim/stats/reset", func(c *call) {
		s.ResetStats()
		c.json(204, nil)
	})
	s.handle(mux, FaceSim, "GET /_sim/state", func(c *call) { c.json(200, s.State()) })
}
