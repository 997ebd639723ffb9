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

func (s summary) targets() []target {
	check := func(key, label string, v *float64, limit float64, unit string) target {
		t := target{key: key, label: fmt.Sprintf("%s ≤ %g%s", label, limit, unit)}
		if v == nil {
			t.verdict = "not measured"
			return t
		}
		t.measured, t.met = true, *v <= limit
		t.verdict = fmt.Sprintf("%g%s: ", *v, unit)
		if t.met {
			t.verdict += "met"
		} else {
			t.verdict += "MISSED"
		}
		return t
	}
	return []target{
		check("calls_per_volume_batched", "lifecycle API calls per volume, batched", s.LifecycleCallsPerVolumeBatched, targetCallsPerVolume, ""),
		check("ratelimited_wall_over_floor", "ratelimited wall ÷ floor, batched", s.RateLimitedWallOverFloor, targetOverFloor, ""),
		check("learned_refusal_share", "learned rate limit: 413s ÷ calls", s.LearnedRefusalShare, targetLearnedRefusalShare, ""),
		check("learned_wall_over_floor", "learned rate limit: wall ÷ floor (all created)", s.LearnedWallOverFloor, targetLearnedOverFloor, ""),
		check("node_overhead_ms_p50", "node overhead p50", s.NodeOverheadMSP50, targetNodeOverheadMS, " ms"),
		check("rss_idle_node_mib", "idle RSS, node mode", s.RSSIdleNodeMiB, targetIdleNodeMiB, " MiB"),
		check("rss_idle_controller_mib", "idle RSS, controller mode", s.RSSIdleControllerMiB, targetIdleCtrlMiB, " MiB"),
	}
}
