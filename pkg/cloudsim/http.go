package cloudsim

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	"k8s.io/klog/v2"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/disk"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/internal/respond"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/openstack"
)

// Faces, as counted in Stats.ByFace.
const (
	FaceKeystone = openstack.FaceKeystone
	FaceCinder   = openstack.FaceCinder
	FaceNova     = openstack.FaceNova
	FaceImage    = openstack.FaceImage
	FaceLunanode = "lunanode"
	FaceSim      = "sim"
)

// routes mounts every face and the admin routes on one mux; anything else
// is a 404 in OpenStack's shape.
func (s *Sim) routes() error {
	mux := http.NewServeMux()
	s.openstack.Routes(mux, s.wrap)
	s.simRoutes(mux)
	if err := s.mountLunanode(mux); err != nil {
		return err
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		klog.V(1).InfoS("cloudsim: no such route", "method", r.Method, "path", r.URL.Path)
		s.stats.record("unknown", r.Method, "unknown", 404, 0)
		respond.JSON(w, 404, map[string]any{"itemNotFound": map[string]any{"code": 404, "message": "The resource could not be found."}})
	})
	s.handler = mux
	return nil
}

// wrap is the plumbing every route of every face goes through: the call
// is counted under face and pattern (the route template) with the status
// it got, and, when faulty, delayed or dropped as the faults say.
func (s *Sim) wrap(face, pattern string, faulty bool, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		method, start := r.Method, time.Now()
		defer func() { s.stats.record(face, method, pattern, sw.code, time.Since(start)) }()
		if faulty && !s.injectPre(sw) {
			return
		}
		h(sw, r)
	}
}

// injectPre applies latency and dropped connections.
func (s *Sim) injectPre(w http.ResponseWriter) bool {
	if d := s.faults.latency(); d > 0 {
		time.Sleep(d)
	}
	if s.faults.roll(s.faults.get().DropRatio) {
		if h, ok := w.(http.Hijacker); ok {
			if conn, _, err := h.Hijack(); err == nil {
				conn.Close()
				return false
			}
		}
	}
	return true
}

// simRoutes are the simulator's own administration (no token, not
// counted, no faults).
func (s *Sim) simRoutes(mux *http.ServeMux) {
	h := func(pattern string, fn http.HandlerFunc) {
		mux.HandleFunc(pattern, s.wrap(FaceSim, pattern, false, fn))
	}
	h("GET /_sim/faults", func(w http.ResponseWriter, r *http.Request) { respond.JSON(w, 200, s.faults.get()) })
	h("PUT /_sim/faults", func(w http.ResponseWriter, r *http.Request) {
		var f Faults
		if msg := decode(r, &f); msg != "" {
			fault(w, 400, "badRequest", msg)
			return
		}
		if err := s.SetFaultsChecked(f); err != nil {
			fault(w, 400, "badRequest", err.Error())
			return
		}
		respond.JSON(w, 200, s.faults.get())
	})
	// A disk pulled out of the guest behind the cloud's back: serial is
	// what the hypervisor gave it (the volume id; Lunanode: the volume's
	// identification).
	h("POST /_sim/faults/unplug", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Serial string `json:"serial"`
		}
		if msg := decode(r, &req); msg != "" {
			fault(w, 400, "badRequest", msg)
			return
		}
		switch err := s.SurpriseUnplug(req.Serial); {
		case errors.Is(err, disk.ErrNoFaultHost):
			fault(w, 409, "conflictingRequest", err.Error())
		case errors.Is(err, disk.ErrNotPlugged):
			fault(w, 404, "itemNotFound", err.Error())
		case err != nil:
			fault(w, 500, "computeFault", err.Error())
		default:
			respond.JSON(w, 204, nil)
		}
	})
	h("GET /_sim/stats", func(w http.ResponseWriter, r *http.Request) { respond.JSON(w, 200, s.Stats()) })
	h("POST /_sim/stats/reset", func(w http.ResponseWriter, r *http.Request) {
		s.ResetStats()
		respond.JSON(w, 204, nil)
	})
	h("GET /_sim/state", func(w http.ResponseWriter, r *http.Request) { respond.JSON(w, 200, s.State()) })
}

// fault answers an error in OpenStack's shape: {"<kind>": {"code", "message"}}.
func fault(w http.ResponseWriter, code int, kind, msg string) {
	respond.JSON(w, code, map[string]any{kind: map[string]any{"code": code, "message": msg}})
}

// decode reads a JSON body into v; the answer to a malformed one is the
// message returned, in Cinder's words.
func decode(r *http.Request, v any) string {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return "Malformed request body"
	}
	if err := json.Unmarshal(b, v); err != nil {
		return "Malformed request body: " + err.Error()
	}
	return ""
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
