package soak

import (
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
)

// injector sits in front of the simulator for the faults it has no knob
// for: 5xx and rate-limit answers on the Lunanode face (whose error
// envelopes are its own), and answers lost after the cloud acted — the
// request is served, then the connection closes without a response, the
// case that creates duplicates when a create is retried blindly.
type injector struct {
	mu  sync.Mutex
	rnd *rand.Rand
	cfg injectConfig

	served5xx, served429, lost atomic.Int64
}

type injectConfig struct {
	serverError, rateLimit float64 // Lunanode face only
	lost                   float64 // every face but Keystone and /_sim
}

func newInjector(seed int64) *injector {
	return &injector{rnd: rand.New(rand.NewPCG(uint64(seed), 0x5eed))}
}

func (in *injector) set(c injectConfig) {
	in.mu.Lock()
	in.cfg = c
	in.mu.Unlock()
}

func (in *injector) roll(p float64) bool {
	if p <= 0 {
		return false
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.rnd.Float64() < p
}

func (in *injector) config() injectConfig {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.cfg
}

func (in *injector) total() int64 {
	return in.served5xx.Load() + in.served429.Load() + in.lost.Load()
}

func (in *injector) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		lunanode := strings.HasPrefix(p, "/lunanode/")
		if !lunanode && !strings.HasPrefix(p, "/volume/") && !strings.HasPrefix(p, "/compute/") {
			next.ServeHTTP(w, r)
			return
		}
		c := in.config()
		if lunanode && in.roll(c.serverError) {
			in.served5xx.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"success":"no","error":"internal error"}`))
			return
		}
		if lunanode && in.roll(c.rateLimit) {
			in.served429.Add(1)
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		if in.roll(c.lost) {
			if hj, ok := w.(http.Hijacker); ok {
				rec := httptest.NewRecorder()
				next.ServeHTTP(rec, r)
				if conn, _, err := hj.Hijack(); err == nil {
					in.lost.Add(1)
					conn.Close()
					return
				}
				copyResponse(w, rec)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func copyResponse(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// Operations whose error state a correct driver recovers from on its own:
// the failed resource is deletable and a retry makes a new one. Cinder
// leaves error_deleting, error_attaching and error_detaching to an
// operator's reset-state, so injecting those would only measure that. A
// failed backup leaves its volume as it was and the backup in error.
var recoverableFailures = []string{cloudsim.OpCreate, cloudsim.OpSnapshot, cloudsim.OpRestore, cloudsim.OpBackup}

// chaos changes the fault knobs every second or few until stop closes:
// 10–20 % 5xx, now and then a burst of 413s (429s on Lunanode), dropped
// connections, latency spikes, and operations that end in an error state.
type chaos struct {
	sim      *cloudsim.Sim
	inj      *injector
	lunanode bool
	rnd      *rand.Rand

	failFired int64 // operations failed into an error state (set when the loop stops)
}

// failRatio is the share of each recoverable operation that ends in its
// error state. It is per operation, as a cloud's failure rate is: armed
// by the clock instead, failures piled up on a cloud that runs few
// operations a minute (HP Helion at 1 call/s saw most creates and
// restores fail, 13 snapshots of one request in a row), which is no
// cloud's failure rate but the soak's clock.
const failRatio = 0.05

func (c *chaos) loop(stop <-chan struct{}) {
	for {
		c.step()
		d := time.Duration(1000+c.rnd.IntN(2000)) * time.Millisecond
		select {
		case <-stop:
			c.failFired = c.sim.FailuresFired()
			c.off()
			return
		case <-time.After(d):
		}
	}
}

func (c *chaos) step() {
	f := c.sim.Faults() // keeps the FailNext entries not yet fired
	f.ServerErrorRatio = 0.10 + 0.10*c.rnd.Float64()
	f.OverLimitRatio = 0
	if c.rnd.Float64() < 0.2 {
		f.OverLimitRatio = 0.5 // a burst, for this period
	}
	f.DropRatio = 0.02
	f.LatencyMS, f.JitterMS = 2, 20
	if c.rnd.Float64() < 0.15 {
		f.LatencyMS, f.JitterMS = 500+c.rnd.IntN(1000), 500 // a spike
	}
	if !c.lunanode {
		f.FailRatio = map[string]float64{}
		for _, op := range recoverableFailures {
			f.FailRatio[op] = failRatio
		}
	}
	c.sim.SetFaults(f)
	ic := injectConfig{lost: 0.03}
	if c.lunanode {
		ic.serverError = f.ServerErrorRatio
		ic.rateLimit = f.OverLimitRatio
	}
	c.inj.set(ic)
}

// off clears every knob.
func (c *chaos) off() {
	c.sim.SetFaults(cloudsim.Faults{})
	c.inj.set(injectConfig{})
}
