package cloudsim

import (
	"maps"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/openstack"
)

// Operations that faults can target (FailNext, Stuck): the OpenStack
// state machine's.
const (
	OpCreate         = openstack.OpCreate
	OpDelete         = openstack.OpDelete
	OpAttach         = openstack.OpAttach
	OpDetach         = openstack.OpDetach
	OpExtend         = openstack.OpExtend
	OpSnapshot       = openstack.OpSnapshot
	OpSnapshotDelete = openstack.OpSnapshotDelete
	OpBackup         = openstack.OpBackup
	OpBackupDelete   = openstack.OpBackupDelete
	OpRestore        = openstack.OpRestore
	OpDevice         = openstack.OpDevice
)

// Faults are the simulator's fault-injection knobs. All ratios are 0..1 and
// apply per API call (Keystone and /_sim excluded).
type Faults struct {
	// LatencyMS is added to every call, plus a uniform random 0..JitterMS.
	LatencyMS int `json:"latency_ms"`
	JitterMS  int `json:"jitter_ms"`
	// ServerErrorRatio answers 500 computeFault instead of serving the call.
	ServerErrorRatio float64 `json:"server_error_ratio"`
	// OverLimitRatio answers 413 overLimit (a rate-limit burst) instead of serving the call.
	OverLimitRatio float64 `json:"over_limit_ratio"`
	// DropRatio closes the connection without an answer.
	DropRatio float64 `json:"drop_ratio"`
	// FailNext makes the next N operations of a kind end in an error state
	// (create -> error, delete -> error_deleting, extend -> error_extending,
	// attach -> error_attaching, detach -> error_detaching, restore ->
	// error_restoring, backup -> error_backing-up, snapshot -> error, ...).
	FailNext map[string]int `json:"fail_next,omitempty"`
	// FailRatio makes each operation of a kind end in its error state
	// with this probability (after FailNext's are spent): a cloud's
	// failure rate, per operation whatever the pace of the calls.
	FailRatio map[string]float64 `json:"fail_ratio,omitempty"`
	// Stuck operations never leave their transitional state (e.g. "attach"
	// stays attaching; "device": the disk never appears in the guest).
	Stuck []string `json:"stuck,omitempty"`
	// PlugDelayMS: with a guest as the local server (Config.Guest), an
	// attached disk appears in the guest this long after the attach call
	// returned, as a slow hypervisor's does. Refused without a guest.
	// (A disk pulled behind the cloud's back: POST /_sim/faults/unplug.)
	PlugDelayMS int `json:"plug_delay_ms,omitempty"`
}

func (f Faults) clone() Faults {
	c := f
	c.FailNext = map[string]int{}
	for k, v := range f.FailNext {
		c.FailNext[k] = v
	}
	c.FailRatio = maps.Clone(f.FailRatio)
	c.Stuck = append([]string(nil), f.Stuck...)
	return c
}

type faultState struct {
	mu    sync.Mutex
	f     Faults
	rnd   *rand.Rand
	fired int64 // operations failed by FailNext or FailRatio
}

func newFaultState(f Faults) *faultState {
	return &faultState{f: f.clone(), rnd: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))}
}

func (fs *faultState) get() Faults {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.f.clone()
}

func (fs *faultState) set(f Faults) {
	fs.mu.Lock()
	fs.f = f.clone()
	fs.mu.Unlock()
}

// roll returns true with probability p.
func (fs *faultState) roll(p float64) bool {
	if p <= 0 {
		return false
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.rnd.Float64() < p
}

func (fs *faultState) latency() time.Duration {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	d := time.Duration(fs.f.LatencyMS) * time.Millisecond
	if fs.f.JitterMS > 0 {
		d += time.Duration(fs.rnd.IntN(fs.f.JitterMS+1)) * time.Millisecond
	}
	return d
}

// TakeFailure consumes one FailNext for op.
func (fs *faultState) TakeFailure(op string) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.f.FailNext[op] > 0 {
		fs.f.FailNext[op]--
		fs.fired++
		return true
	}
	if p := fs.f.FailRatio[op]; p > 0 && fs.rnd.Float64() < p {
		fs.fired++
		return true
	}
	return false
}

func (fs *faultState) failuresFired() int64 {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.fired
}

// Stuck reports whether op is configured never to finish.
func (fs *faultState) Stuck(op string) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, s := range fs.f.Stuck {
		if s == op {
			return true
		}
	}
	return false
}

// ServerError rolls ServerErrorRatio: true answers 500 instead of serving.
func (fs *faultState) ServerError() bool { return fs.roll(fs.get().ServerErrorRatio) }

// OverLimit rolls OverLimitRatio: true answers a rate-limit 413 burst.
func (fs *faultState) OverLimit() bool { return fs.roll(fs.get().OverLimitRatio) }

// Stats counts every API call served.
type Stats struct {
	Total    int64 `json:"total"`
	Total413 int64 `json:"total_413"`
	// RateLimited counts the 413s that were rate-limit answers (with
	// retryAfter), as opposed to quota refusals.
	RateLimited int64 `json:"rate_limited"`
	// ByFace: keystone, cinder, nova, lunanode, image.
	ByFace   map[string]int64 `json:"by_face"`
	ByMethod map[string]int64 `json:"by_method"`
	// ByRoute is keyed by the route template, e.g. "GET /volume/{ver}/{project}/volumes/detail".
	ByRoute  map[string]int64 `json:"by_route"`
	ByStatus map[string]int64 `json:"by_status"`
	// Calls is keyed "face METHOD template STATUS"; STATUS is "dropped" for dropped connections.
	Calls map[string]int64 `json:"calls"`
	// AnswerMicros sums, keyed as Calls, how long the simulator took to
	// answer (request read to answer written, injected latency included):
	// a benchmark's wall splits into the cloud's answers and its own waits.
	AnswerMicros map[string]int64 `json:"answer_micros"`
}

type statsRecorder struct {
	mu sync.Mutex
	s  Stats
}

func newStats() Stats {
	return Stats{ByFace: map[string]int64{}, ByMethod: map[string]int64{}, ByRoute: map[string]int64{},
		ByStatus: map[string]int64{}, Calls: map[string]int64{}, AnswerMicros: map[string]int64{}}
}

func (r *statsRecorder) record(face, method, route string, status int, took time.Duration) {
	if face == FaceSim {
		return // the simulator's own admin calls are not API calls
	}
	code := strconv.Itoa(status)
	if status == 0 {
		code = "dropped"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.s.ByFace == nil {
		r.s = newStats()
	}
	r.s.Total++
	if status == 413 {
		r.s.Total413++
	}
	r.s.ByFace[face]++
	r.s.ByMethod[method]++
	r.s.ByRoute[route]++
	r.s.ByStatus[code]++
	key := face + " " + route + " " + code
	r.s.Calls[key]++
	r.s.AnswerMicros[key] += took.Microseconds()
}

// RateLimited counts one rate-limit refusal (its call is recorded as usual).
func (r *statsRecorder) RateLimited() {
	r.mu.Lock()
	r.s.RateLimited++
	r.mu.Unlock()
}

func (r *statsRecorder) snapshot() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := newStats()
	out.Total, out.Total413, out.RateLimited = r.s.Total, r.s.Total413, r.s.RateLimited
	for _, p := range []struct{ dst, src map[string]int64 }{
		{out.ByFace, r.s.ByFace}, {out.ByMethod, r.s.ByMethod}, {out.ByRoute, r.s.ByRoute},
		{out.ByStatus, r.s.ByStatus}, {out.Calls, r.s.Calls}, {out.AnswerMicros, r.s.AnswerMicros},
	} {
		for k, v := range p.src {
			p.dst[k] = v
		}
	}
	return out
}

func (r *statsRecorder) reset() {
	r.mu.Lock()
	r.s = newStats()
	r.mu.Unlock()
}

// Routes lists the route templates seen, sorted (handy in test failures).
func (s Stats) Routes() []string {
	var out []string
	for k := range s.ByRoute {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
