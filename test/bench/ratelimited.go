package main

import (
	"context"
	"fmt"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/google/uuid"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
	"github.com/openblock-csi/openblock-csi/test/harness"
)

// rateConfig sizes the ratelimited scenario.
type rateConfig struct {
	volumes     int
	concurrency int
	sizeBytes   int64
	zone        string
	// rate is the project's limit in calls/s and createLatency the
	// simulator's create duration, both before time scaling.
	rate          float64
	scale         float64
	createLatency time.Duration
	policy        callPolicy
}

type rateResult struct {
	mode   string
	wall   time.Duration
	create *rpcStats
	calls  calls
	// neededCalls is what the floor counts: one create per volume plus
	// the Keystone calls made during the run.
	neededCalls int64
	authCalls   int64
	floor       time.Duration
	cleanup     time.Duration
	leftovers   []string
}

func (r rateResult) overFloor() float64 {
	if r.floor <= 0 {
		return 0
	}
	return r.wall.Seconds() / r.floor.Seconds()
}

// runRateLimited creates cfg.volumes volumes at once under the project
// rate limit and measures how long until the last is available, against
// the floor: the calls that must be made ÷ the rate, plus one create.
// The volumes are then deleted through the driver (not timed as part of
// the scenario).
func runRateLimited(ctx context.Context, e *env, d *driverProc, mode string, cfg rateConfig) (res rateResult, err error) {
	res = rateResult{mode: mode, create: newRPCStats("CreateVolume")}
	vols := newFleet(cfg.volumes)
	defer func() {
		vols.cleanup(d)
		res.leftovers = harness.Leftovers(e.sim)
	}()

	before := e.sim.Stats()
	start := time.Now()
	err = forEach(ctx, cfg.volumes, cfg.concurrency, func(ctx context.Context, i int) error {
		// One name per volume, kept across retries (the PVC's uid).
		req := createRequest("pvc-"+uuid.NewString(), cfg.zone, cfg.sizeBytes)
		vols.creating(i, req)
		return cfg.policy.call(ctx, res.create, func(ctx context.Context) error {
			resp, err := d.ctrl.CreateVolume(ctx, req)
			if err != nil {
				return err
			}
			vols.setID(i, resp.GetVolume().GetVolumeId())
			return nil
		})
	})
	res.wall = time.Since(start)
	res.calls = diffStats(before, e.sim.Stats())
	res.authCalls = res.calls.count(cloudsim.FaceKeystone, "POST", "/tokens", "")
	res.neededCalls = int64(cfg.volumes) + res.authCalls
	res.floor = floor(res.neededCalls, cfg.rate, cfg.scale, cfg.createLatency)
	if err != nil {
		return res, fmt.Errorf("ratelimited (%s): %w", mode, err)
	}

	cstart := time.Now()
	st := newRPCStats("DeleteVolume")
	err = forEach(ctx, cfg.volumes, cfg.concurrency, func(ctx context.Context, i int) error {
		return cfg.policy.call(ctx, st, func(ctx context.Context) error {
			_, err := d.ctrl.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: vols.id(i)})
			if err == nil {
				vols.setID(i, "")
			}
			return err
		})
	})
	res.cleanup = time.Since(cstart)
	if err != nil {
		return res, fmt.Errorf("ratelimited (%s) cleanup: %w", mode, err)
	}
	return res, nil
}

// floor is the least wall time the calls could take: calls ÷ rate plus
// one create, in the simulator's scaled time (rates × scale, durations ÷
// scale).
func floor(calls int64, rate, scale float64, create time.Duration) time.Duration {
	if scale <= 0 {
		scale = 1
	}
	return time.Duration(float64(calls)/(rate*scale)*float64(time.Second)) + time.Duration(float64(create)/scale)
}
