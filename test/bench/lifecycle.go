package main

import (
	"context"
	"fmt"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/google/uuid"

	"github.com/openblock-csi/openblock-csi/pkg/csicap"
	"github.com/openblock-csi/openblock-csi/test/harness"
)

// lifecycleConfig sizes the lifecycle scenario.
type lifecycleConfig struct {
	volumes     int
	concurrency int
	sizeBytes   int64
	zone        string
	// nodes are the server ids volumes are published to, round robin.
	nodes  []string
	policy callPolicy
	// afterCreate, if set, runs between the create and publish phases;
	// its time and calls are not the lifecycle's.
	afterCreate func(ctx context.Context) error
	// zoneKey is the topology key CreateVolume's zone goes under; ""
	// is this driver's (another driver reads its own).
	zoneKey string
}

// phaseResult is one RPC kind applied to every volume.
type phaseResult struct {
	rpc   string
	wall  time.Duration
	stats *rpcStats
	calls calls
}

type lifecycleResult struct {
	mode      string
	volumes   int
	wall      time.Duration
	phases    []phaseResult
	calls     calls
	idle      harness.ProcMemory // after start and one Probe
	peak      harness.ProcMemory // VmHWM after the run
	leftovers []string
}

// runLifecycle takes cfg.volumes volumes through create → publish →
// unpublish → delete against the controller d, as external-provisioner
// and external-attacher would. The phases run one after the other (all
// creates, then all publishes, ...) so that the simulator's counters can
// be read between them: that gives the API calls each RPC costs.
func runLifecycle(ctx context.Context, e *env, d *driverProc, mode string, cfg lifecycleConfig) (res lifecycleResult, err error) {
	res = lifecycleResult{mode: mode, volumes: cfg.volumes}
	n := cfg.volumes
	vols := newFleet(n)
	defer func() {
		if err != nil {
			vols.cleanup(d)
		}
		res.leftovers = harness.Leftovers(e.sim)
	}()
	contexts := make([]map[string]string, n)
	creates := make([]*csi.CreateVolumeRequest, n)
	for i := range creates {
		// One name per volume, kept across retries (the PVC's uid).
		creates[i] = createRequest("pvc-"+uuid.NewString(), cfg.zone, cfg.sizeBytes)
		if cfg.zoneKey != "" {
			setZoneKey(creates[i], cfg.zoneKey)
		}
	}

	type step struct {
		rpc string
		fn  func(ctx context.Context, i int) error
	}
	steps := []step{
		{"CreateVolume", func(ctx context.Context, i int) error {
			vols.creating(i, creates[i])
			resp, err := d.ctrl.CreateVolume(ctx, creates[i])
			if err != nil {
				return err
			}
			v := resp.GetVolume()
			if v.GetVolumeId() == "" || v.GetCapacityBytes() < cfg.sizeBytes {
				return fmt.Errorf("CreateVolume %s answered %v", creates[i].GetName(), v)
			}
			vols.setID(i, v.GetVolumeId())
			contexts[i] = v.GetVolumeContext()
			return nil
		}},
		{"ControllerPublishVolume", func(ctx context.Context, i int) error {
			node := cfg.nodes[i%len(cfg.nodes)]
			vols.setNode(i, node) // also when the call fails half way
			resp, err := d.ctrl.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{
				VolumeId: vols.id(i), NodeId: node, VolumeCapability: csicap.Mount("ext4"), VolumeContext: contexts[i],
			})
			if err != nil {
				return err
			}
			if len(resp.GetPublishContext()) == 0 {
				return fmt.Errorf("ControllerPublishVolume %s: empty publish context", vols.id(i))
			}
			return nil
		}},
		{"ControllerUnpublishVolume", func(ctx context.Context, i int) error {
			_, err := d.ctrl.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{
				VolumeId: vols.id(i), NodeId: cfg.nodes[i%len(cfg.nodes)],
			})
			if err == nil {
				vols.setNode(i, "")
			}
			return err
		}},
		{"DeleteVolume", func(ctx context.Context, i int) error {
			_, err := d.ctrl.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: vols.id(i)})
			if err == nil {
				vols.setID(i, "")
			}
			return err
		}},
	}

	e.sim.ResetStats()
	start := time.Now()
	var aside time.Duration // spent in afterCreate
	for _, s := range steps {
		if s.rpc == "ControllerPublishVolume" && cfg.afterCreate != nil {
			t := time.Now()
			if err := cfg.afterCreate(ctx); err != nil {
				return res, fmt.Errorf("lifecycle (%s): %w", mode, err)
			}
			aside = time.Since(t)
		}
		before := e.sim.Stats()
		st := newRPCStats(s.rpc)
		pstart := time.Now()
		err := forEach(ctx, n, cfg.concurrency, func(ctx context.Context, i int) error {
			return cfg.policy.call(ctx, st, func(ctx context.Context) error { return s.fn(ctx, i) })
		})
		ph := phaseResult{rpc: s.rpc, wall: time.Since(pstart), stats: st, calls: diffStats(before, e.sim.Stats())}
		res.phases = append(res.phases, ph)
		res.calls = res.calls.add(ph.calls)
		if err != nil {
			return res, fmt.Errorf("lifecycle (%s): %w", mode, err)
		}
	}
	res.wall = time.Since(start) - aside
	if res.peak, err = d.memory(); err != nil {
		return res, err
	}
	return res, nil
}
