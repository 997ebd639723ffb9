package main

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud/httppool"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
	"github.com/openblock-csi/openblock-csi/test/harness"
)

// driverBinary builds the driver (or takes $OPENBLOCK_CSI_BINARY), so the
// test drives the real binary as make bench does.
func driverBinary(t *testing.T) string {
	t.Helper()
	bin, err := harness.BuildDriver(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestLifecycleBatchedUsesFewerCalls runs a small lifecycle in both waiter
// modes against the fast simulator: batched waiting must cost fewer API
// calls, every volume must be created exactly once, and nothing (cloud
// resources, processes, directories) may be left behind.
func TestLifecycleBatchedUsesFewerCalls(t *testing.T) {
	bin := driverBinary(t)
	b, err := harness.Lookup("cinder-v2")
	if err != nil {
		t.Fatal(err)
	}
	const volumes = 5
	o := options{volumes: volumes, volumesPerNode: 2}
	nodes := lifecycleNodes(o, b.Zone)
	var ids []string
	for _, n := range nodes {
		ids = append(ids, n.ID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	got := map[string]lifecycleResult{}
	for _, mode := range modes {
		// The system temp dir, not t.TempDir: unix socket paths must stay
		// under 108 bytes. newEnv makes its own directory there.
		e, err := newEnv(envOptions{name: "test-" + mode, backend: b, sim: func(c *cloudsim.Config) {
			c.Timing = "fast"
			c.Servers = append(c.Servers, nodes...)
		}})
		if err != nil {
			t.Fatal(err)
		}
		closed := false
		t.Cleanup(func() {
			if !closed {
				e.close(true)
			}
		})
		d, err := e.startDriver(ctx, bin, "controller", "controller", mode)
		if err != nil {
			t.Fatal(err)
		}
		res, err := runLifecycle(ctx, e, d, mode, lifecycleConfig{
			volumes: volumes, concurrency: volumes, sizeBytes: gib, zone: b.Zone, nodes: ids,
			policy: callPolicy{timeout: 20 * time.Second, maxAttempts: 3, backoff: 100 * time.Millisecond},
		})
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if len(res.leftovers) != 0 {
			t.Errorf("%s: left behind: %v", mode, res.leftovers)
		}
		for _, ph := range res.phases {
			if n := len(ph.stats.latencies()); n != volumes {
				t.Errorf("%s: %s succeeded for %d volumes, want %d", mode, ph.rpc, n, volumes)
			}
		}
		for _, c := range []struct{ face, method, route string }{
			{cloudsim.FaceCinder, "POST", "/volumes"},
			{cloudsim.FaceNova, "POST", "/os-volume_attachments"},
			{cloudsim.FaceNova, "DELETE", "/os-volume_attachments/{volume}"},
			{cloudsim.FaceCinder, "DELETE", "/volumes/{id}"},
		} {
			if n := res.calls.count(c.face, c.method, c.route, ""); n != volumes {
				t.Errorf("%s: %s %s %s called %d times, want once per volume (%d); calls: %v", mode, c.face, c.method, c.route, n, volumes, res.calls.ByKey)
			}
		}
		if res.peak.Peak == 0 {
			t.Errorf("%s: no peak memory read", mode)
		}
		got[mode] = res

		dir := e.dir
		e.close(false)
		closed = true
		if d.proc.Cmd.ProcessState == nil {
			t.Errorf("%s: driver process still running after close", mode)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s: work directory %s not removed (%v)", mode, dir, err)
		}
	}
	bt, pt := got[batched].calls.Total, got[perVolume].calls.Total
	t.Logf("API calls for %d volumes: batched %d, per-volume %d", volumes, bt, pt)
	if bt >= pt {
		t.Errorf("batched waiting made %d API calls, per-volume %d: batching saved nothing\nbatched: %v\nper-volume: %v",
			bt, pt, got[batched].calls.ByKey, got[perVolume].calls.ByKey)
	}
}

func TestFloor(t *testing.T) {
	for _, c := range []struct {
		calls        int64
		rate, scale  float64
		create, want time.Duration
	}{
		{100, 10, 1, 2 * time.Second, 12 * time.Second},
		{101, 10, 1, 2 * time.Second, 12100 * time.Millisecond},
		// Scaled ×10: ten times the rate, a tenth of the create.
		{100, 10, 10, 2 * time.Second, 1200 * time.Millisecond},
		{100, 10, 0, 2 * time.Second, 12 * time.Second},
	} {
		if got := floor(c.calls, c.rate, c.scale, c.create); got != c.want {
			t.Errorf("floor(%d, %g/s, scale %g, %v) = %v, want %v", c.calls, c.rate, c.scale, c.create, got, c.want)
		}
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[float64]time.Duration{50: 50 * time.Millisecond, 99: 99 * time.Millisecond, 100: 100 * time.Millisecond, 0: time.Millisecond} {
		if got := percentile(ds, p); got != want {
			t.Errorf("p%g = %v, want %v", p, got, want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("p50 of nothing = %v", got)
	}
}

func TestCallsByRoute(t *testing.T) {
	const post, refused, list = "cinder POST /volume/{ver}/{project}/volumes 202",
		"cinder POST /volume/{ver}/{project}/volumes 413", "cinder GET /volume/{ver}/{project}/volumes/detail 200"
	before := cloudsim.Stats{Total: 3,
		Calls:        map[string]int64{post: 1, list: 2},
		AnswerMicros: map[string]int64{post: 50_000, list: 10_000}}
	after := cloudsim.Stats{Total: 9, Total413: 1,
		Calls:        map[string]int64{post: 3, refused: 1, list: 5},
		AnswerMicros: map[string]int64{post: 50_000 + 2*64_000, refused: 1_000, list: 40_000}}
	c := diffStats(before, after)
	if c.Answer[post] != 128*time.Millisecond || c.Answer[list] != 30*time.Millisecond {
		t.Errorf("answer times %v, want 128ms for the creates and 30ms for the lists", c.Answer)
	}
	// The accepted writes' answer time spread over the connections: the
	// refused create and the lists do not count.
	l := &lifecycleResult{phases: []phaseResult{{calls: c}, {calls: c}}}
	if got, want := l.writeAnswers(), 2*128*time.Millisecond/httppool.MaxConnsPerHost; got != want {
		t.Errorf("writeAnswers = %v, want %v", got, want)
	}
	if c.Total != 6 || c.Total413 != 1 {
		t.Errorf("totals %d/%d, want 6/1", c.Total, c.Total413)
	}
	if n := c.count(cloudsim.FaceCinder, "POST", "/volumes", ""); n != 3 {
		t.Errorf("POST /volumes = %d, want 3 (2 accepted + 1 refused)", n)
	}
	if n := c.writes(); n != 2 {
		t.Errorf("successful writes = %d, want 2", n)
	}
	if got := routeLabel("cinder GET /volume/{ver}/{project}/volumes/detail 200"); got != "cinder GET /volumes/detail 200" {
		t.Errorf("routeLabel = %q", got)
	}
}
