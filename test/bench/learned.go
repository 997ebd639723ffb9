package main

import (
	"context"
	"fmt"
	"io"

	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/timing"
	"github.com/openblock-csi/openblock-csi/test/harness"
)

// The learned scenario: concurrent creates under a project rate limit the
// driver is not told (no rate-limit in its cloud config, as most users
// leave it), beside the ratelimited scenario's configured one. The driver
// must learn the limit from the cloud's 413s.
const (
	targetLearnedRefusalShare = 0.10 // refusals ÷ calls in the window
	targetLearnedOverFloor    = 1.2
)

func benchLearned(ctx context.Context, o options, b harness.Backend, rep *report) {
	mode := string(waiter.Batched)
	e, d, err := newControllerEnv(ctx, o.driver, mode, envOptions{
		name: "learned", backend: b, workRoot: o.workDir, keep: o.keep,
		sim: func(c *cloudsim.Config) {
			realistic(o.rateTimeScale)(c)
			c.RateLimit = o.learnedRateLimit
		},
	})
	if err != nil {
		rep.fail("learned", err)
		return
	}
	failed := false
	defer func() { e.close(failed) }()
	progress("learned: %d creates at once under %g calls/s, no rate-limit configured", o.learnedVolumes, o.learnedRateLimit)
	res, err := runRateLimited(ctx, e, d, "learned", rateConfig{
		volumes: o.learnedVolumes, concurrency: o.learnedVolumes, sizeBytes: int64(o.sizeGiB) * gib, zone: b.Zone,
		rate: o.learnedRateLimit, scale: o.rateTimeScale, createLatency: timing.Realistic.Create, policy: policy(o),
	})
	rep.learned = &res
	if err != nil {
		failed = true
		rep.fail("learned", err)
	} else {
		progress("learned: %.1f s (floor %.1f s), %d 413s of %d calls", res.wall.Seconds(), res.floor.Seconds(), res.calls.Total413, res.calls.Total)
	}
	rep.leftovers("learned", res.leftovers)
}

// created is how many creates of the run succeeded.
func (r rateResult) created() int { return len(r.create.latencies()) }

func (r rateResult) refusalShare() float64 {
	if r.calls.Total == 0 {
		return 0
	}
	return float64(r.calls.Total413) / float64(r.calls.Total)
}

func (r *report) printLearned(w io.Writer) {
	x := r.learned
	if x == nil {
		return
	}
	s := r.settings
	lat := x.create.latencies()
	fmt.Fprintf(w, "== ratelimited, learned: %d concurrent CreateVolume under %g calls/s, driver rate-limit not configured (time scale %g) ==\n",
		s.LearnedVolumes, s.LearnedRateLimit, s.TimeScaleRateLimited)
	fmt.Fprintf(w, "  created                                   %d of %d\n", x.created(), s.LearnedVolumes)
	fmt.Fprintf(w, "  413 answers / API calls in the window     %d / %d (%.1f%%; target ≤ %.0f%%)\n",
		x.calls.Total413, x.calls.Total, 100*x.refusalShare(), 100*targetLearnedRefusalShare)
	fmt.Fprintf(w, "  wall (s) / floor (s)                      %.2f / %.2f = %.2f (target ≤ %g)\n",
		x.wall.Seconds(), x.floor.Seconds(), x.overFloor(), targetLearnedOverFloor)
	fmt.Fprintf(w, "  CreateVolume p50 / p99 (s)                %.2f / %.2f; retries %d\n",
		percentile(lat, 50).Seconds(), percentile(lat, 99).Seconds(), x.create.retries)
	fmt.Fprintf(w, "  floor as in ratelimited: (%d POST /volumes + %d Keystone calls) ÷ %g/s + %gs create\n",
		s.LearnedVolumes, x.authCalls, s.LearnedRateLimit*s.TimeScaleRateLimited, timing.Realistic.Create.Seconds()/s.TimeScaleRateLimited)
}

// learnedSummary fills the JSON line's learned figures.
func (r *report) learnedSummary(s *summary) {
	x := r.learned
	if x == nil || x.create == nil {
		return
	}
	s.LearnedCreated = ptr(x.created())
	s.Learned413 = ptr(x.calls.Total413)
	s.LearnedCalls = ptr(x.calls.Total)
	s.LearnedRefusalShare = ptr(round(x.refusalShare(), 3))
	if x.created() == r.settings.LearnedVolumes {
		s.LearnedWallS = ptr(seconds(x.wall))
		s.LearnedFloorS = ptr(seconds(x.floor))
		s.LearnedWallOverFloor = ptr(round(x.overFloor(), 3))
	}
}
