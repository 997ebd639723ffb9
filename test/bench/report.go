package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud/httppool"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/timing"
	"github.com/openblock-csi/openblock-csi/test/harness"
)

// Targets from the issue that asked for this harness.
const (
	targetCallsPerVolume = 4.5
	targetOverFloor      = 1.1
	targetNodeOverheadMS = 50.0
	targetIdleNodeMiB    = 20.0
	targetIdleCtrlMiB    = 30.0
	// An operation's latency p50 may exceed its own duration by this much
	// (lookups, the call itself, and seeing it done).
	targetOpSlack = 250 * time.Millisecond
	// The batched waiter's API calls per volume, as a share of per-volume
	// polling's, on the fast and the realistic timing.
	targetCallsShareFast      = 0.25
	targetCallsShareRealistic = 1.0 / 6
)

// opOfPhase is the cloud operation each lifecycle RPC waits for.
var opOfPhase = map[string]string{
	"CreateVolume": "create", "ControllerPublishVolume": "attach",
	"ControllerUnpublishVolume": "detach", "DeleteVolume": "delete",
}

type report struct {
	settings    settings
	elapsed     time.Duration
	lifecycle   map[string]*lifecycleResult // realistic timing, by waiter mode
	lifecycleFa map[string]*lifecycleResult // fast timing, by waiter mode
	rate        map[string]*rateResult
	learned     *rateResult
	node        *nodeResult
	scale       *scaleResult
	nodeSkipped string

	rssIdleNode, rssIdleController *harness.ProcMemory

	failures []string
	leaks    map[string][]string
	leakKeys []string
}

func newReport(s settings) *report {
	return &report{settings: s, lifecycle: map[string]*lifecycleResult{}, lifecycleFa: map[string]*lifecycleResult{}, rate: map[string]*rateResult{}, leaks: map[string][]string{}}
}

// lifecycles are the lifecycle results on timing tm, by waiter mode.
func (r *report) lifecycles(tm string) map[string]*lifecycleResult {
	if tm == fastTiming {
		return r.lifecycleFa
	}
	return r.lifecycle
}

// durations are the simulator's operation durations on timing tm, in
// seconds, by operation.
func (r *report) durations(tm string) map[string]float64 {
	if tm == fastTiming {
		return r.settings.DurationsFast
	}
	return r.settings.Durations
}

func (r *report) fail(scenario string, err error) {
	r.failures = append(r.failures, scenario+": "+errorLine(err))
	progress("%s FAILED: %v", scenario, err)
}

func (r *report) leftovers(scenario string, left []string) {
	r.leaks[scenario] = left
	r.leakKeys = append(r.leakKeys, scenario)
	if len(left) > 0 {
		r.failures = append(r.failures, fmt.Sprintf("%s: %d cloud resources left behind", scenario, len(left)))
	}
}

// table writes aligned rows.
type table struct {
	w      io.Writer
	widths []int
}

func (t table) row(cells ...string) {
	var b strings.Builder
	for i, c := range cells {
		w := 12
		if i < len(t.widths) {
			w = t.widths[i]
		}
		if i == 0 {
			fmt.Fprintf(&b, "  %-*s", w, c)
		} else {
			fmt.Fprintf(&b, " %*s", w, c)
		}
	}
	fmt.Fprintln(t.w, strings.TrimRight(b.String(), " "))
}

func f2(v float64) string { return fmt.Sprintf("%.2f", v) }

func (r *report) print(w io.Writer) {
	s := r.settings
	fmt.Fprintln(w, "openblock-csi bench")
	fmt.Fprintln(w, "== settings ==")
	fmt.Fprintf(w, "  backend %s (simulator profile %s), timing %s: create %gs attach %gs (disk seen %gs later) detach %gs delete %gs snapshot %gs (after time scale %g)\n",
		s.Backend, s.Profile, s.Timing, s.Durations["create"], s.Durations["attach"], s.Durations["device"], s.Durations["detach"], s.Durations["delete"], s.Durations["snapshot"], s.TimeScaleLifecycle)
	fmt.Fprintf(w, "  time scale: lifecycle/node %g, ratelimited %g (durations ÷ scale, rates × scale)\n", s.TimeScaleLifecycle, s.TimeScaleRateLimited)
	fmt.Fprintf(w, "  volumes %d × %d GiB, %d RPCs at once, lifecycle publishes to %d nodes; node scenario %d volumes (%s)\n",
		s.Volumes, s.VolumeSizeGiB, s.Concurrency, s.Nodes, s.NodeVolumes, s.FSType)
	fmt.Fprintf(w, "  ratelimited: project limit %g calls/s, driver rate-limit setting %g calls/s\n", s.RateLimit, s.ClientRateLimit)
	fmt.Fprintf(w, "  learned: project limit %g calls/s, %d creates at once, driver rate-limit not configured (learned from 413s)\n", s.LearnedRateLimit, s.LearnedVolumes)
	fmt.Fprintf(w, "  waiter: batched checks each wait when waits for its operation were done (first ever after %gs, again after an eighth of the wait, %gs..%gs), sharing a call among waits due within %gs; per-volume backoff %s\n",
		s.WaiterInitialS, s.WaiterMinStepS, s.WaiterIntervalS, s.WaiterCoalesceS, s.WaiterPerVolume)
	fmt.Fprintf(w, "  lifecycle-fast: timing fast: create %gs attach %gs detach %gs delete %gs\n",
		s.DurationsFast["create"], s.DurationsFast["attach"], s.DurationsFast["detach"], s.DurationsFast["delete"])
	fmt.Fprintf(w, "  driver %s version %s commit %s; %s, GOMAXPROCS %d, nproc %d; RPC timeout %gs\n",
		s.Driver, s.DriverVersion, s.DriverCommit, s.GoVersion, s.GOMAXPROCS, s.NProc, s.RPCTimeoutS)

	r.printMemory(w)
	r.printLifecycle(w, realisticTiming)
	r.printLifecycle(w, fastTiming)
	r.printRateLimited(w)
	r.printLearned(w)
	r.printScale(w)
	r.printNode(w)
	r.printChecks(w)

	b, err := json.Marshal(r.summary())
	if err != nil {
		b = []byte(fmt.Sprintf(`{"error": %q}`, err.Error()))
	}
	fmt.Fprintln(w, string(b))
}

func (r *report) printMemory(w io.Writer) {
	if r.rssIdleNode == nil && r.rssIdleController == nil {
		return
	}
	fmt.Fprintln(w, "== memory (VmRSS of the driver process; peak is VmHWM) ==")
	t := table{w: w, widths: []int{44, 10, 12}}
	t.row("", "MiB", "target")
	if m := r.rssIdleNode; m != nil {
		t.row("idle, node mode (after start + Probe)", fmt.Sprintf("%.1f", harness.MiB(m.RSS)), fmt.Sprintf("≤ %g", targetIdleNodeMiB))
	}
	if m := r.rssIdleController; m != nil {
		t.row("idle, controller mode (after start + Probe)", fmt.Sprintf("%.1f", harness.MiB(m.RSS)), fmt.Sprintf("≤ %g", targetIdleCtrlMiB))
	}
	for _, tm := range []string{realisticTiming, fastTiming} {
		for _, m := range modes {
			if l := r.lifecycles(tm)[m]; l != nil && l.peak.Peak > 0 {
				t.row("peak during "+scenarioName(tm)+", "+m, fmt.Sprintf("%.1f", harness.MiB(l.peak.Peak)), "")
			}
		}
	}
}

func (r *report) printLifecycle(w io.Writer, tm string) {
	ls := r.lifecycles(tm)
	b, p := ls[batched], ls[perVolume]
	if b == nil && p == nil {
		return
	}
	dur := r.durations(tm)
	fmt.Fprintf(w, "== %s: %d volumes, create → publish → unpublish → delete, %d RPCs at once, %s timing ==\n", scenarioName(tm), r.settings.Volumes, r.settings.Concurrency, tm)
	t := table{w: w, widths: []int{52, 14, 14}}
	t.row("", batched, perVolume)
	both := func(label string, f func(*lifecycleResult) string) {
		cells := []string{label}
		for _, l := range []*lifecycleResult{b, p} {
			if l == nil {
				cells = append(cells, "-")
			} else {
				cells = append(cells, f(l))
			}
		}
		t.row(cells...)
	}
	perVol := func(l *lifecycleResult, n int64) string { return f2(float64(n) / float64(l.volumes)) }
	both("wall (s)", func(l *lifecycleResult) string { return f2(l.wall.Seconds()) })
	both("API calls per volume (target batched ≤ 4.5)", func(l *lifecycleResult) string { return perVol(l, l.calls.Total) })
	both("  of which successful writes", func(l *lifecycleResult) string { return perVol(l, l.calls.writes()) })
	both("  of which reads (lookups, waits) and failed calls", func(l *lifecycleResult) string { return perVol(l, l.calls.Total-l.calls.writes()) })
	both("413 answers", func(l *lifecycleResult) string { return fmt.Sprint(l.calls.Total413) })
	for _, ph := range phaseNames(b, p) {
		op := opOfPhase[ph]
		both(fmt.Sprintf("%s p50 (s), %s takes %gs: target ≤ %.2f", ph, op, dur[op], dur[op]+targetOpSlack.Seconds()), func(l *lifecycleResult) string {
			if x := l.phaseP50(ph); x != nil {
				return f2(*x)
			}
			return "-"
		})
	}
	for i, ph := range phaseNames(b, p) {
		get := func(l *lifecycleResult) *phaseResult {
			if i < len(l.phases) {
				return &l.phases[i]
			}
			return nil
		}
		both(ph+" p50 / p99 (s)", func(l *lifecycleResult) string {
			if x := get(l); x != nil {
				lat := x.stats.latencies()
				return f2(percentile(lat, 50).Seconds()) + " / " + f2(percentile(lat, 99).Seconds())
			}
			return "-"
		})
		both("  phase wall (s), retries", func(l *lifecycleResult) string {
			if x := get(l); x != nil {
				return fmt.Sprintf("%s, %d", f2(x.wall.Seconds()), x.stats.retries)
			}
			return "-"
		})
	}

	fmt.Fprintln(w, "  -- API calls per volume, by RPC and route (face METHOD route STATUS) --")
	for i, ph := range phaseNames(b, p) {
		var bm, pm map[string]int64
		var bt, pt int64
		if b != nil && i < len(b.phases) {
			bm, bt = b.phases[i].calls.ByKey, b.phases[i].calls.Total
		}
		if p != nil && i < len(p.phases) {
			pm, pt = p.phases[i].calls.ByKey, p.phases[i].calls.Total
		}
		t.row(ph, ratio(bt, b), ratio(pt, p))
		for _, k := range sortedKeys(bm, pm) {
			t.row("  "+routeLabel(k), ratio(bm[k], b), ratio(pm[k], p))
		}
	}
	if b != nil && p != nil && b.calls.Total > 0 {
		fmt.Fprintf(w, "  per-volume polling makes %.2f× the API calls of batched waiting; of the reads (lookups, waits) %.2f×\n",
			float64(p.calls.Total)/float64(b.calls.Total), float64(p.calls.Total-p.calls.writes())/float64(max(1, b.calls.Total-b.calls.writes())))
		fmt.Fprintf(w, "  (the %.2f writes per volume are the same in both modes and bound the share of all calls from below at %.2f)\n",
			float64(b.calls.writes())/float64(b.volumes), float64(b.calls.writes())/float64(max(1, p.calls.Total)))
	}
}

// phaseP50 is the latency p50 of phase ph in seconds, nil when it did not
// complete.
func (l *lifecycleResult) phaseP50(ph string) *float64 {
	for _, x := range l.phases {
		if x.rpc == ph {
			lat := x.stats.latencies()
			if len(lat) != l.volumes {
				return nil
			}
			return ptr(seconds(percentile(lat, 50)))
		}
	}
	return nil
}

func ratio(n int64, l *lifecycleResult) string {
	if l == nil || l.volumes == 0 {
		return "-"
	}
	return f2(float64(n) / float64(l.volumes))
}

func phaseNames(ls ...*lifecycleResult) []string {
	for _, l := range ls {
		if l != nil && len(l.phases) > 0 {
			var out []string
			for _, p := range l.phases {
				out = append(out, p.rpc)
			}
			// The other mode may have got further.
			if len(out) < 4 {
				out = []string{"CreateVolume", "ControllerPublishVolume", "ControllerUnpublishVolume", "DeleteVolume"}
			}
			return out
		}
	}
	return nil
}

func (r *report) printRateLimited(w io.Writer) {
	b, p := r.rate[batched], r.rate[perVolume]
	if b == nil && p == nil {
		return
	}
	s := r.settings
	fmt.Fprintf(w, "== ratelimited: %d concurrent CreateVolume under %g calls/s (time scale %g) ==\n", s.Volumes, s.RateLimit, s.TimeScaleRateLimited)
	t := table{w: w, widths: []int{52, 14, 14}}
	t.row("", batched, perVolume)
	both := func(label string, f func(*rateResult) string) {
		cells := []string{label}
		for _, x := range []*rateResult{b, p} {
			if x == nil {
				cells = append(cells, "-")
			} else {
				cells = append(cells, f(x))
			}
		}
		t.row(cells...)
	}
	both("wall (s): first create sent → last create done", func(x *rateResult) string { return f2(x.wall.Seconds()) })
	both("floor (s)", func(x *rateResult) string { return f2(x.floor.Seconds()) })
	both("wall ÷ floor (target batched ≤ 1.1)", func(x *rateResult) string { return f2(x.overFloor()) })
	both("413 answers seen", func(x *rateResult) string { return fmt.Sprint(x.calls.Total413) })
	both("API calls in the window", func(x *rateResult) string { return fmt.Sprint(x.calls.Total) })
	both("CreateVolume p50 / p99 (s)", func(x *rateResult) string {
		lat := x.create.latencies()
		return f2(percentile(lat, 50).Seconds()) + " / " + f2(percentile(lat, 99).Seconds())
	})
	both("CreateVolume retries", func(x *rateResult) string { return fmt.Sprint(x.create.retries) })
	both("cleanup: deleting them through the driver (s)", func(x *rateResult) string { return f2(x.cleanup.Seconds()) })
	var bm, pm map[string]int64
	if b != nil {
		bm = b.calls.ByKey
	}
	if p != nil {
		pm = p.calls.ByKey
	}
	fmt.Fprintln(w, "  -- API calls in the window, by route (totals, not per volume) --")
	for _, k := range sortedKeys(bm, pm) {
		t.row("  "+routeLabel(k), count(bm, b != nil, k), count(pm, p != nil, k))
	}
	x := b
	if x == nil {
		x = p
	}
	scale := s.TimeScaleRateLimited
	if scale <= 0 {
		scale = 1
	}
	// Where the rate budget went: every call, refused or not, takes a slot.
	for _, m := range modes {
		y := r.rate[m]
		if y == nil {
			continue
		}
		c := y.calls
		writes := c.writes()
		reads := c.Total - writes - c.Total413
		spent := float64(c.Total) / (s.RateLimit * scale)
		fmt.Fprintf(w, "  %s budget: %d writes + %d reads and other calls + %d refused (413) = %d calls ÷ %g/s = %.1fs, + %gs create = %.1fs (measured %.1fs)\n",
			m, writes, reads, c.Total413, c.Total, s.RateLimit*scale, spent, timing.Realistic.Create.Seconds()/scale,
			spent+timing.Realistic.Create.Seconds()/scale, y.wall.Seconds())
	}
	fmt.Fprintf(w, "  floor = documented calls needed ÷ rate + one create = (%d POST /volumes + %d Keystone token calls made during the window) ÷ %g/s + %gs\n",
		int64(s.Volumes), x.authCalls, s.RateLimit*scale, timing.Realistic.Create.Seconds()/scale)
	fmt.Fprintln(w, "  (the driver authenticates at start, so the window normally holds no Keystone call; the simulator does not rate-limit Keystone;")
	fmt.Fprintln(w, "   name lookups and status polls are the driver's own reads and are not in the floor)")
}

func count(m map[string]int64, present bool, k string) string {
	if !present {
		return "-"
	}
	return fmt.Sprint(m[k])
}

func (r *report) printNode(w io.Writer) {
	if r.nodeSkipped == "" && r.node == nil {
		return
	}
	fmt.Fprintf(w, "== node: %d volumes, NodeStage + NodePublish (%s) one at a time ==\n", r.settings.NodeVolumes, r.settings.FSType)
	if r.nodeSkipped != "" {
		fmt.Fprintf(w, "  skipped: %s\n", r.nodeSkipped)
		return
	}
	n := r.node
	t := table{w: w, widths: []int{52, 10, 10, 10}}
	t.row("ms", "p50", "p99", "max")
	line := func(label string, ds []time.Duration) {
		s := sortedDurations(ds)
		if len(s) == 0 {
			t.row(label, "-", "-", "-")
			return
		}
		t.row(label, fmt.Sprintf("%.1f", millis(percentile(s, 50))), fmt.Sprintf("%.1f", millis(percentile(s, 99))), fmt.Sprintf("%.1f", millis(s[len(s)-1])))
	}
	line("driver NodeStageVolume", n.stage)
	line("driver NodePublishVolume", n.publish)
	line("driver NodeStage + NodePublish", n.driver)
	line("by hand: mkfs."+r.settings.FSType+" -F -m0", n.mkfs)
	line("by hand: mount -t "+r.settings.FSType, n.mount)
	line("by hand: mount -o bind", n.bind)
	line("by hand: total", n.ref)
	line("driver overhead (driver − by hand, per volume)", n.overhead)
}

func (r *report) printChecks(w io.Writer) {
	fmt.Fprintln(w, "== leftovers (cloud resources the simulator still holds after each run) ==")
	for _, k := range r.leakKeys {
		left := r.leaks[k]
		fmt.Fprintf(w, "  %-28s %d\n", k, len(left))
		for _, l := range left {
			fmt.Fprintf(w, "    %s\n", l)
		}
	}
	fmt.Fprintln(w, "== targets ==")
	sum := r.summary()
	for _, tg := range sum.targets() {
		fmt.Fprintf(w, "  %-58s %s\n", tg.label, tg.verdict)
	}
	if len(r.failures) > 0 {
		fmt.Fprintln(w, "== failures ==")
		for _, f := range r.failures {
			fmt.Fprintf(w, "  %s\n", f)
		}
	}
	fmt.Fprintf(w, "bench took %.0f s\n", r.elapsed.Seconds())
}

func (r *report) printScale(w io.Writer) {
	x := r.scale
	if x == nil {
		return
	}
	s := r.settings
	fmt.Fprintf(w, "== scale: %d volumes at once over %d nodes, the project holding %d more; ListVolumes max_entries %d ==\n", s.ScaleVolumes, s.ScaleNodes, s.ScaleSeeded, s.ScalePage)
	t := table{w: w, widths: []int{52, 14, 14}}
	t.row("", "measured", "target")
	l := &x.life
	if l.volumes > 0 && l.wall > 0 {
		t.row("API calls per volume", f2(float64(l.calls.Total)/float64(l.volumes)), fmt.Sprintf("≤ %g", targetScaleCallsPerVolume))
		t.row("  of which reads (lookups, waits) and failed calls", f2(float64(l.calls.Total-l.calls.writes())/float64(l.volumes)), "")
		t.row("wall (s), without the ListVolumes pass", f2(l.wall.Seconds()), "")
		t.row("floor (s): create + attach + detach + delete", f2(x.floor.Seconds()), "")
		t.row("wall ÷ floor", f2(x.overFloor()), fmt.Sprintf("≤ %g", targetScaleOverFloor))
		push := l.writeAnswers()
		t.row(fmt.Sprintf("writes' answer time, summed, ÷ %d connections (s)", httppool.MaxConnsPerHost), f2(push.Seconds()), "")
		t.row("wall ÷ (floor + that)", f2(l.wall.Seconds()/(x.floor+push).Seconds()), "")
		t.row("controller peak RSS (MiB)", fmt.Sprintf("%.1f", harness.MiB(l.peak.Peak)), fmt.Sprintf("≤ %g", targetScaleRSSMiB))
		for _, ph := range l.phases {
			lat := ph.stats.latencies()
			t.row(fmt.Sprintf("  %s p50 / p99 (s), calls per volume", ph.rpc), f2(percentile(lat, 50).Seconds())+" / "+f2(percentile(lat, 99).Seconds()), f2(float64(ph.calls.Total)/float64(l.volumes)))
			for _, k := range sortedKeys(ph.calls.ByKey) {
				n := ph.calls.ByKey[k]
				mean := millis(ph.calls.Answer[k]) / float64(n)
				t.row("      "+routeLabel(k)+" (calls, mean answer ms)", fmt.Sprintf("%d, %.1f", n, mean), "")
			}
		}
	}
	if len(x.pages) > 0 {
		t.row(fmt.Sprintf("ListVolumes: %d volumes in %d pages", x.listed, len(x.pages)), "", "")
		t.row("  cloud calls", fmt.Sprint(x.listCalls), fmt.Sprintf("≤ %d", x.listCallsLimit(s.ScalePage)))
		for _, k := range sortedKeys(x.listByRoute) {
			t.row("    "+routeLabel(k), fmt.Sprint(x.listByRoute[k]), "")
		}
		p := sortedDurations(x.pages)
		t.row("  page latency p50 / p99 (ms)", fmt.Sprintf("%.1f / %.1f", millis(percentile(p, 50)), millis(percentile(p, 99))), "")
	}
}
