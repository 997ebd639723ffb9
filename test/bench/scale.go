package main

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/openblock-csi/openblock-csi/pkg/cloud/httppool"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/timing"
	"github.com/openblock-csi/openblock-csi/test/harness"
)

// Targets of the scale scenario.
const (
	targetScaleCallsPerVolume = 4.2
	targetScaleOverFloor      = 1.2
	targetScaleRSSMiB         = 60.0
)

// scaleResult is the scale scenario: a lifecycle of many volumes on many
// nodes in a project that already holds many more, and a paged
// ListVolumes over all of them.
type scaleResult struct {
	life  lifecycleResult
	floor time.Duration // the operations' own durations, one after the other
	// listed: volumes ListVolumes returned; listCalls: the cloud calls
	// it took; pages: its CSI pages and how long each took.
	listed, listTotal int
	listCalls         int64
	listByRoute       map[string]int64
	pages             []time.Duration
}

func (s *scaleResult) overFloor() float64 { return s.life.wall.Seconds() / s.floor.Seconds() }

// writeAnswers is the time the simulator spent answering the lifecycle's
// writes (create, attach, detach, delete), summed and divided by the
// driver's connections: the least time it takes to get every write of a
// phase through them, which no waiter can save and the floor leaves out.
func (l *lifecycleResult) writeAnswers() time.Duration {
	var sum time.Duration
	for _, ph := range l.phases {
		for k, d := range ph.calls.Answer {
			if _, m, _, st := splitKey(k); m != "GET" && strings.HasPrefix(st, "2") {
				sum += d
			}
		}
	}
	return sum / httppool.MaxConnsPerHost
}

// listCallsLimit is ⌈N/page⌉ + 1.
func (s *scaleResult) listCallsLimit(page int) int64 {
	return int64(math.Ceil(float64(s.listTotal)/float64(page))) + 1
}

func benchScale(ctx context.Context, o options, b harness.Backend, rep *report) {
	nodes := lifecycleNodes(options{volumes: o.scaleVolumes, volumesPerNode: o.scaleVolumes / o.scaleNodes}, b.Zone)
	e, d, err := newControllerEnv(ctx, o.driver, batched, envOptions{
		name: "scale", backend: b, workRoot: o.workDir, keep: o.keep,
		sim: func(c *cloudsim.Config) {
			realistic(o.timeScale)(c)
			c.Servers = append(c.Servers, nodes...)
			c.SeedVolumes = o.scaleSeed
			c.Quota = &cloudsim.Quota{Volumes: -1, Snapshots: -1, Gigabytes: -1, Backups: -1, BackupGigabytes: -1}
		},
	})
	if err != nil {
		rep.fail("scale", err)
		return
	}
	failed := false
	defer func() { e.close(failed) }()
	var ids []string
	for _, n := range nodes {
		ids = append(ids, n.ID)
	}
	res := &scaleResult{}
	dur := timing.Realistic.Scaled(o.timeScale)
	res.floor = dur.Create + dur.Attach + dur.Detach + dur.Delete
	progress("scale: %d volumes, %d at once, over %d nodes, the project holding %d more", o.scaleVolumes, o.scaleVolumes, len(ids), o.scaleSeed)
	res.life, err = runLifecycle(ctx, e, d, batched, lifecycleConfig{
		volumes: o.scaleVolumes, concurrency: o.scaleVolumes, sizeBytes: int64(o.sizeGiB) * gib,
		zone: b.Zone, nodes: ids, policy: policy(o),
		afterCreate: func(ctx context.Context) error { return listAll(ctx, e, d, o.scalePage, res) },
	})
	rep.scale = res
	var left []string
	for _, l := range res.life.leftovers {
		if !strings.Contains(l, "("+cloudsim.SeedPrefix) {
			left = append(left, l)
		}
	}
	if err != nil {
		failed = true
		rep.fail("scale", err)
	} else {
		progress("scale: %.1f s (floor %.1f s), %.2f API calls per volume; ListVolumes %d volumes in %d pages, %d cloud calls",
			res.life.wall.Seconds(), res.floor.Seconds(), float64(res.life.calls.Total)/float64(res.life.volumes), res.listed, len(res.pages), res.listCalls)
	}
	rep.leftovers("scale", left)
}

// listAll pages through ListVolumes with max_entries page, as a CO's
// reconciler does, counting the cloud calls it takes.
func listAll(ctx context.Context, e *env, d *driverProc, page int, res *scaleResult) error {
	res.listTotal = len(e.sim.State().Volumes)
	before := e.sim.Stats()
	token := ""
	for range 100000 {
		t := time.Now()
		resp, err := d.ctrl.ListVolumes(ctx, &csi.ListVolumesRequest{MaxEntries: int32(page), StartingToken: token})
		if err != nil {
			return fmt.Errorf("ListVolumes after %d volumes: %w", res.listed, err)
		}
		res.pages = append(res.pages, time.Since(t))
		res.listed += len(resp.GetEntries())
		if token = resp.GetNextToken(); token == "" {
			break
		}
	}
	c := diffStats(before, e.sim.Stats())
	res.listCalls, res.listByRoute = c.Total, c.ByKey
	if res.listed != res.listTotal {
		return fmt.Errorf("ListVolumes returned %d volumes, the project holds %d", res.listed, res.listTotal)
	}
	return nil
}
