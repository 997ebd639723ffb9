package main

import (
	"fmt"

	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
	"github.com/openblock-csi/openblock-csi/test/harness"
)

// summary is the JSON line. Pointers are null when the scenario did not
// run (or failed before measuring).
type summary struct {
	LifecycleCallsPerVolumeBatched   *float64 `json:"lifecycle_calls_per_volume_batched"`
	LifecycleCallsPerVolumePerVolume *float64 `json:"lifecycle_calls_per_volume_per_volume"`
	LifecycleWallSBatched            *float64 `json:"lifecycle_wall_s_batched"`
	LifecycleWallSPerVolume          *float64 `json:"lifecycle_wall_s_per_volume"`
	// Latency p50 per operation (create, attach, detach, delete), seconds.
	LifecycleP50SBatched   map[string]float64 `json:"lifecycle_p50_s_batched"`
	LifecycleP50SPerVolume map[string]float64 `json:"lifecycle_p50_s_per_volume"`
	// Batched API calls as a share of per-volume polling's: all, and reads only.
	LifecycleCallsShare                  *float64           `json:"lifecycle_calls_share_of_per_volume"`
	LifecycleReadsShare                  *float64           `json:"lifecycle_reads_share_of_per_volume"`
	LifecycleWallOverPerVol              *float64           `json:"lifecycle_wall_over_per_volume"`
	LifecycleFastCallsPerVolumeBatched   *float64           `json:"lifecycle_fast_calls_per_volume_batched"`
	LifecycleFastCallsPerVolumePerVolume *float64           `json:"lifecycle_fast_calls_per_volume_per_volume"`
	LifecycleFastWallSBatched            *float64           `json:"lifecycle_fast_wall_s_batched"`
	LifecycleFastWallSPerVolume          *float64           `json:"lifecycle_fast_wall_s_per_volume"`
	LifecycleFastP50SBatched             map[string]float64 `json:"lifecycle_fast_p50_s_batched"`
	LifecycleFastP50SPerVolume           map[string]float64 `json:"lifecycle_fast_p50_s_per_volume"`
	LifecycleFastCallsShare              *float64           `json:"lifecycle_fast_calls_share_of_per_volume"`
	LifecycleFastReadsShare              *float64           `json:"lifecycle_fast_reads_share_of_per_volume"`
	LifecycleFastWallOverPerVol          *float64           `json:"lifecycle_fast_wall_over_per_volume"`

	RateLimitedWallOverFloor          *float64 `json:"ratelimited_wall_over_floor"`
	RateLimited413                    *int64   `json:"ratelimited_413"`
	RateLimitedWallS                  *float64 `json:"ratelimited_wall_s"`
	RateLimitedFloorS                 *float64 `json:"ratelimited_floor_s"`
	RateLimitedWallOverFloorPerVolume *float64 `json:"ratelimited_wall_over_floor_per_volume"`
	RateLimited413PerVolume           *int64   `json:"ratelimited_413_per_volume"`

	LearnedCreated       *int     `json:"learned_created"`
	Learned413           *int64   `json:"learned_413"`
	LearnedCalls         *int64   `json:"learned_calls"`
	LearnedRefusalShare  *float64 `json:"learned_refusal_share"`
	LearnedWallS         *float64 `json:"learned_wall_s"`
	LearnedFloorS        *float64 `json:"learned_floor_s"`
	LearnedWallOverFloor *float64 `json:"learned_wall_over_floor"`

	ScaleCallsPerVolume *float64 `json:"scale_calls_per_volume"`
	ScaleWallS          *float64 `json:"scale_wall_s"`
	ScaleFloorS         *float64 `json:"scale_floor_s"`
	ScaleWallOverFloor  *float64 `json:"scale_wall_over_floor"`
	// ScaleWriteAnswersS: the simulator's answer time of the lifecycle's
	// writes, summed and divided by the driver's connections.
	ScaleWriteAnswersS  *float64 `json:"scale_write_answers_s"`
	ScaleRSSPeakMiB     *float64 `json:"scale_rss_peak_controller_mib"`
	ScaleListVolumes    *int     `json:"scale_list_volumes"`
	ScaleListCalls      *int64   `json:"scale_list_cloud_calls"`
	ScaleListCallsLimit *int64   `json:"scale_list_cloud_calls_limit"`
	ScaleListPageP99MS  *float64 `json:"scale_list_page_p99_ms"`

	NodeOverheadMSP50 *float64 `json:"node_overhead_ms_p50"`
	NodeSkipped       string   `json:"node_skipped,omitempty"`

	RSSIdleNodeMiB                *float64 `json:"rss_idle_node_mib"`
	RSSIdleControllerMiB          *float64 `json:"rss_idle_controller_mib"`
	RSSPeakControllerMiB          *float64 `json:"rss_peak_controller_mib"`
	RSSPeakControllerMiBPerVolume *float64 `json:"rss_peak_controller_mib_per_volume"`

	Leftovers  int             `json:"leftovers"`
	Failures   []string        `json:"failures"`
	TargetsMet map[string]bool `json:"targets_met"`
	Settings   settings        `json:"settings"`

	opTargets []target
}

// p50s are the latency p50s by operation of a completed lifecycle.
func (l *lifecycleResult) p50s() map[string]float64 {
	if l == nil || l.wall == 0 {
		return nil
	}
	out := map[string]float64{}
	for ph, op := range opOfPhase {
		if x := l.phaseP50(ph); x != nil {
			out[op] = *x
		}
	}
	return out
}

// shares compares the batched run with the per-volume one: all API calls,
// the reads only, and the wall time.
func shares(ls map[string]*lifecycleResult) (callsShare, readsShare, wallRatio *float64) {
	b, p := ls[batched], ls[perVolume]
	if b == nil || p == nil || b.wall == 0 || p.wall == 0 || p.calls.Total == 0 {
		return nil, nil, nil
	}
	pr := p.calls.Total - p.calls.writes()
	callsShare = ptr(round(float64(b.calls.Total)/float64(p.calls.Total), 3))
	if pr > 0 {
		readsShare = ptr(round(float64(b.calls.Total-b.calls.writes())/float64(pr), 3))
	}
	return callsShare, readsShare, ptr(round(b.wall.Seconds()/p.wall.Seconds(), 3))
}

// opTargets are the latency targets: per timing and operation, the
// batched p50 within targetOpSlack of the operation's duration.
func (r *report) opTargets() []target {
	var out []target
	for _, tm := range []string{realisticTiming, fastTiming} {
		dur := r.durations(tm)
		p50 := r.lifecycles(tm)[batched].p50s()
		for _, ph := range []string{"CreateVolume", "ControllerPublishVolume", "ControllerUnpublishVolume", "DeleteVolume"} {
			op := opOfPhase[ph]
			limit := round(dur[op]+targetOpSlack.Seconds(), 3)
			var v *float64
			if x, ok := p50[op]; ok {
				v = &x
			}
			out = append(out, checkTarget(fmt.Sprintf("%s_p50_%s_batched", scenarioName(tm), op),
				fmt.Sprintf("%s %s p50, batched (takes %gs)", scenarioName(tm), op, dur[op]), v, limit, " s"))
		}
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func (r *report) summary() summary {
	s := summary{Settings: r.settings, Failures: r.failures, TargetsMet: map[string]bool{}}
	if s.Failures == nil {
		s.Failures = []string{}
	}
	lc := func(mode string) (*float64, *float64, *float64) {
		l := r.lifecycle[mode]
		if l == nil || l.wall == 0 {
			return nil, nil, nil
		}
		var peak *float64
		if l.peak.Peak > 0 {
			peak = ptr(round(harness.MiB(l.peak.Peak), 1))
		}
		return ptr(round(float64(l.calls.Total)/float64(l.volumes), 2)), ptr(seconds(l.wall)), peak
	}
	s.LifecycleCallsPerVolumeBatched, s.LifecycleWallSBatched, s.RSSPeakControllerMiB = lc(string(waiter.Batched))
	s.LifecycleCallsPerVolumePerVolume, s.LifecycleWallSPerVolume, s.RSSPeakControllerMiBPerVolume = lc(string(waiter.PerVolume))
	s.LifecycleP50SBatched, s.LifecycleP50SPerVolume = r.lifecycle[batched].p50s(), r.lifecycle[perVolume].p50s()
	s.LifecycleCallsShare, s.LifecycleReadsShare, s.LifecycleWallOverPerVol = shares(r.lifecycle)
	if l := r.lifecycleFa[batched]; l != nil && l.wall > 0 {
		s.LifecycleFastCallsPerVolumeBatched, s.LifecycleFastWallSBatched = ptr(round(float64(l.calls.Total)/float64(l.volumes), 2)), ptr(seconds(l.wall))
	}
	if l := r.lifecycleFa[perVolume]; l != nil && l.wall > 0 {
		s.LifecycleFastCallsPerVolumePerVolume, s.LifecycleFastWallSPerVolume = ptr(round(float64(l.calls.Total)/float64(l.volumes), 2)), ptr(seconds(l.wall))
	}
	s.LifecycleFastP50SBatched, s.LifecycleFastP50SPerVolume = r.lifecycleFa[batched].p50s(), r.lifecycleFa[perVolume].p50s()
	s.LifecycleFastCallsShare, s.LifecycleFastReadsShare, s.LifecycleFastWallOverPerVol = shares(r.lifecycleFa)
	s.opTargets = r.opTargets()
	if x := r.scale; x != nil {
		if l := &x.life; l.wall > 0 && l.volumes > 0 {
			s.ScaleCallsPerVolume = ptr(round(float64(l.calls.Total)/float64(l.volumes), 2))
			s.ScaleWallS, s.ScaleFloorS = ptr(seconds(l.wall)), ptr(seconds(x.floor))
			s.ScaleWallOverFloor = ptr(round(x.overFloor(), 3))
			s.ScaleWriteAnswersS = ptr(seconds(l.writeAnswers()))
			s.ScaleRSSPeakMiB = ptr(round(harness.MiB(l.peak.Peak), 1))
		}
		if len(x.pages) > 0 && x.listed == x.listTotal {
			s.ScaleListVolumes, s.ScaleListCalls = ptr(x.listed), ptr(x.listCalls)
			s.ScaleListCallsLimit = ptr(x.listCallsLimit(r.settings.ScalePage))
			s.ScaleListPageP99MS = ptr(millis(percentile(sortedDurations(x.pages), 99)))
		}
	}

	if x := r.rate[string(waiter.Batched)]; x != nil && x.create != nil && len(x.create.lat) == r.settings.Volumes {
		s.RateLimitedWallOverFloor = ptr(round(x.overFloor(), 3))
		s.RateLimited413 = ptr(x.calls.Total413)
		s.RateLimitedWallS = ptr(seconds(x.wall))
		s.RateLimitedFloorS = ptr(seconds(x.floor))
	}
	if x := r.rate[string(waiter.PerVolume)]; x != nil && x.create != nil && len(x.create.lat) == r.settings.Volumes {
		s.RateLimitedWallOverFloorPerVolume = ptr(round(x.overFloor(), 3))
		s.RateLimited413PerVolume = ptr(x.calls.Total413)
	}
	r.learnedSummary(&s)
	if n := r.node; n != nil && len(n.overhead) == r.settings.NodeVolumes {
		s.NodeOverheadMSP50 = ptr(millis(percentile(sortedDurations(n.overhead), 50)))
	}
	s.NodeSkipped = r.nodeSkipped
	if m := r.rssIdleNode; m != nil {
		s.RSSIdleNodeMiB = ptr(round(harness.MiB(m.RSS), 1))
	}
	if m := r.rssIdleController; m != nil {
		s.RSSIdleControllerMiB = ptr(round(harness.MiB(m.RSS), 1))
	}
	for _, left := range r.leaks {
		s.Leftovers += len(left)
	}
	for _, tg := range s.targets() {
		if tg.measured {
			s.TargetsMet[tg.key] = tg.met
		}
	}
	return s
}

type target struct {
	key, label, verdict string
	measured, met       bool
}

func checkTarget(key, label string, v *float64, limit float64, unit string) target {
	t := target{key: key, label: fmt.Sprintf("%s ≤ %g%s", label, round(limit, 3), unit)}
	if v == nil {
		t.verdict = "not measured"
		return t
	}
	t.measured, t.met = true, *v <= limit
	t.verdict = fmt.Sprintf("%g%s: ", *v, unit)
	if t.met {
		t.verdict += "met"
	} else {
		t.verdict += fmt.Sprintf("MISSED by %g%s", round(*v-limit, 3), unit)
	}
	return t
}

func (s summary) targets() []target {
	check := checkTarget
	out := []target{
		check("calls_per_volume_batched", "lifecycle API calls per volume, batched", s.LifecycleCallsPerVolumeBatched, targetCallsPerVolume, ""),
		check("ratelimited_wall_over_floor", "ratelimited wall ÷ floor, batched", s.RateLimitedWallOverFloor, targetOverFloor, ""),
		check("learned_refusal_share", "learned rate limit: 413s ÷ calls", s.LearnedRefusalShare, targetLearnedRefusalShare, ""),
		check("learned_wall_over_floor", "learned rate limit: wall ÷ floor (all created)", s.LearnedWallOverFloor, targetLearnedOverFloor, ""),
		check("node_overhead_ms_p50", "node overhead p50", s.NodeOverheadMSP50, targetNodeOverheadMS, " ms"),
		check("rss_idle_node_mib", "idle RSS, node mode", s.RSSIdleNodeMiB, targetIdleNodeMiB, " MiB"),
		check("rss_idle_controller_mib", "idle RSS, controller mode", s.RSSIdleControllerMiB, targetIdleCtrlMiB, " MiB"),
		check("lifecycle_calls_share", "lifecycle API calls, batched ÷ per-volume", s.LifecycleCallsShare, targetCallsShareRealistic, ""),
		check("lifecycle_reads_share", "lifecycle reads, batched ÷ per-volume", s.LifecycleReadsShare, targetCallsShareRealistic, ""),
		check("lifecycle_wall_over_per_volume", "lifecycle wall, batched ÷ per-volume", s.LifecycleWallOverPerVol, 1, ""),
		check("lifecycle_fast_calls_share", "lifecycle-fast API calls, batched ÷ per-volume", s.LifecycleFastCallsShare, targetCallsShareFast, ""),
		check("lifecycle_fast_reads_share", "lifecycle-fast reads, batched ÷ per-volume", s.LifecycleFastReadsShare, targetCallsShareFast, ""),
		check("lifecycle_fast_wall_over_per_volume", "lifecycle-fast wall, batched ÷ per-volume", s.LifecycleFastWallOverPerVol, 1, ""),
	}
	if s.ScaleListCalls != nil {
		out = append(out, check("scale_list_cloud_calls", "scale ListVolumes cloud calls (⌈N/page⌉ + 1)", ptr(float64(*s.ScaleListCalls)), float64(*s.ScaleListCallsLimit), ""))
	}
	out = append(out,
		check("scale_calls_per_volume", "scale API calls per volume", s.ScaleCallsPerVolume, targetScaleCallsPerVolume, ""),
		check("scale_wall_over_floor", "scale wall ÷ floor", s.ScaleWallOverFloor, targetScaleOverFloor, ""),
		check("scale_rss_peak_controller_mib", "scale controller peak RSS", s.ScaleRSSPeakMiB, targetScaleRSSMiB, " MiB"),
	)
	return append(out, s.opTargets...)
}
