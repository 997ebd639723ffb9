// Command bench is openblock-csi's performance harness (make bench). It
// drives the driver binary over its gRPC socket the way the sidecars and
// kubelet do, against the cloud simulator's realistic timing profile, and
// counts every API call the simulator serves. Each scenario runs with the
// waiter batched and per-volume, side by side:
//
//   - lifecycle: N volumes at once through create → publish → unpublish →
//     delete; API calls per volume (by RPC and route), wall time, latency
//     per operation against the operation's own duration.
//   - lifecycle-fast: the same on the simulator's default fast timing
//     (operations of tens of milliseconds), where any fixed polling delay
//     shows.
//   - ratelimited: N concurrent creates under a project rate limit; wall
//     time over the floor (calls that must be made ÷ rate + one create),
//     the 413s the cloud answered.
//   - node (root only): NodeStage + NodePublish on loop devices, minus the
//     time of the same mkfs and mount commands run by hand.
//   - scale (make bench-scale): 1,000 volumes at once over 100 nodes
//     through the lifecycle, batched, in a project that holds 10,000 more
//     (seeded by the simulator), and ListVolumes paged over all of them.
//   - memory: the driver's RSS idle (node and controller mode) and its peak
//     during lifecycle.
//
// It prints a table, then one JSON line. Run: go run ./test/bench --driver bin/openblock-csi
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/timing"
	"github.com/openblock-csi/openblock-csi/test/harness"
)

const (
	batched   = string(waiter.Batched)
	perVolume = string(waiter.PerVolume)
)

// modes are the waiter modes compared.
var modes = []string{batched, perVolume}

func main() {
	var o options
	flag.StringVar(&o.driver, "driver", "bin/openblock-csi", "path to the openblock-csi binary")
	flag.StringVar(&o.backend, "backend", "cinder-v2", "cloud to simulate: "+strings.Join(harness.Names(), ", "))
	flag.StringVar(&o.scenarios, "scenarios", "memory,node,lifecycle,lifecycle-fast,ratelimited,learned,scale", "scenarios to run (comma-separated)")
	flag.IntVar(&o.volumes, "volumes", 100, "volumes in lifecycle and ratelimited")
	flag.IntVar(&o.concurrency, "concurrency", 0, "RPCs in flight at once (0: all volumes)")
	flag.IntVar(&o.volumesPerNode, "volumes-per-node", 10, "lifecycle publishes to ceil(volumes / this) nodes")
	flag.IntVar(&o.sizeGiB, "size", 1, "volume size in GiB")
	flag.StringVar(&o.fsType, "fs", "ext4", "filesystem for the node scenario")
	flag.Float64Var(&o.timeScale, "time-scale", 1, "simulator time scale for lifecycle and node (durations ÷ scale)")
	flag.Float64Var(&o.rateTimeScale, "ratelimited-time-scale", 1, "simulator time scale for ratelimited (durations ÷ scale, rates × scale)")
	flag.Float64Var(&o.rateLimit, "rate-limit", 10, "project rate limit in ratelimited, calls/s")
	flag.Float64Var(&o.clientRateLimit, "client-rate-limit", -1, "the driver's rate-limit setting in ratelimited, calls/s (negative: same as --rate-limit; 0: none)")
	flag.Float64Var(&o.learnedRateLimit, "learned-rate-limit", 5, "project rate limit in learned, calls/s (the driver is not told)")
	flag.IntVar(&o.learnedVolumes, "learned-volumes", 30, "concurrent creates in learned")
	flag.IntVar(&o.nodeVolumes, "node-volumes", 20, "volumes in the node scenario")
	flag.IntVar(&o.scaleVolumes, "scale-volumes", 1000, "volumes through the lifecycle in scale, all at once")
	flag.IntVar(&o.scaleNodes, "scale-nodes", 100, "nodes scale publishes to")
	flag.IntVar(&o.scaleSeed, "scale-seeded", 10000, "volumes the project holds before scale starts")
	flag.IntVar(&o.scalePage, "scale-page", 500, "ListVolumes max_entries in scale")
	flag.DurationVar(&o.rpcTimeout, "rpc-timeout", 3*time.Minute, "per-attempt RPC timeout (the sidecars' --timeout)")
	flag.StringVar(&o.workDir, "work-dir", "", "where work directories go (default: the system temp dir)")
	flag.BoolVar(&o.keep, "keep", false, "keep work directories (logs, simulator state)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of this process (the simulators run in it) to this file")
	flag.StringVar(&o.peer, "peer", "", "instead of the scenarios, run the lifecycle side by side with cloud-provider-openstack's cinder-csi-plugin at this path (make bench-peer)")
	peerTimings := flag.String("peer-timings", "fast,realistic", "simulator timing profiles of the side-by-side")
	modeList := flag.String("modes", strings.Join(modes, ","), "waiter modes to compare (for investigations; make bench runs both)")
	flag.Parse()
	modes = nil
	for _, m := range strings.Split(*modeList, ",") {
		switch m = strings.TrimSpace(m); m {
		case string(waiter.Batched), string(waiter.PerVolume):
			modes = append(modes, m)
		case "":
		default:
			fmt.Fprintf(os.Stderr, "bench: unknown waiter mode %q\n", m)
			os.Exit(2)
		}
	}
	var err error
	if o.peerTimings, err = parseTimings(*peerTimings); err != nil {
		fmt.Fprintln(os.Stderr, "bench: --peer-timings:", err)
		os.Exit(2)
	}
	if o.concurrency <= 0 {
		o.concurrency = o.volumes
	}
	if o.clientRateLimit < 0 {
		o.clientRateLimit = o.rateLimit
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: cpu profile:", err)
			os.Exit(2)
		}
		defer f.Close()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// A second signal kills at once.
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, o)
	stop()
	pprof.StopCPUProfile()
	os.Exit(code)
}

func run(ctx context.Context, o options) int {
	b, err := harness.Lookup(o.backend)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	if _, err := os.Stat(o.driver); err != nil {
		fmt.Fprintf(os.Stderr, "bench: driver binary: %v (run make build)\n", err)
		return 2
	}
	if o.peer != "" {
		return benchPeer(ctx, o, b)
	}
	want := map[string]bool{}
	for _, s := range strings.Split(o.scenarios, ",") {
		switch s = strings.TrimSpace(s); s {
		case "memory", "node", "lifecycle", "lifecycle-fast", "ratelimited", "learned", "scale":
			want[s] = true
		case "":
		default:
			fmt.Fprintf(os.Stderr, "bench: unknown scenario %q (want memory, node, lifecycle, lifecycle-fast, ratelimited, learned, scale)\n", s)
			return 2
		}
	}
	rep := newReport(newSettings(o, b))
	start := time.Now()
	if want["memory"] || want["node"] {
		benchNode(ctx, o, b, want["node"], rep)
	}
	if want["lifecycle"] || want["memory"] {
		for _, m := range modes {
			if ctx.Err() == nil {
				benchLifecycle(ctx, o, b, m, realisticTiming, rep)
			}
		}
	}
	if want["lifecycle-fast"] {
		for _, m := range modes {
			if ctx.Err() == nil {
				benchLifecycle(ctx, o, b, m, fastTiming, rep)
			}
		}
	}
	if want["ratelimited"] {
		for _, m := range modes {
			if ctx.Err() == nil {
				benchRateLimited(ctx, o, b, m, rep)
			}
		}
	}
	if want["learned"] && ctx.Err() == nil {
		benchLearned(ctx, o, b, rep)
	}
	if want["scale"] && ctx.Err() == nil {
		benchScale(ctx, o, b, rep)
	}
	rep.elapsed = time.Since(start)
	rep.print(os.Stdout)
	switch {
	case ctx.Err() != nil:
		fmt.Fprintln(os.Stderr, "bench: interrupted")
		return 130
	case len(rep.failures) > 0:
		return 1
	}
	return 0
}

func progress(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", a...)
}

func realistic(scale float64) func(*cloudsim.Config) {
	return func(c *cloudsim.Config) {
		c.Timing = "realistic"
		c.TimeScale = scale
	}
}

// benchNode measures the node plugin's idle memory and, as root, the node
// scenario.
func benchNode(ctx context.Context, o options, b harness.Backend, runScenario bool, rep *report) {
	e, err := newEnv(envOptions{name: "node", backend: b, workRoot: o.workDir, sim: realistic(o.timeScale), keep: o.keep})
	if err != nil {
		rep.fail("node", err)
		return
	}
	failed := false
	defer func() { e.close(failed) }()
	progress("node plugin: starting")
	nd, err := e.startDriver(ctx, o.driver, "node", "node", "", "--metadata-url=-", "--zone="+b.Zone)
	if err != nil {
		failed = true
		rep.fail("node", err)
		return
	}
	if m, err := nd.memory(); err != nil {
		rep.fail("memory", err)
	} else {
		rep.rssIdleNode = &m
	}
	if !runScenario {
		return
	}
	if reason := nodeSkipReason(); reason != "" {
		rep.nodeSkipped = reason
		progress("node: skipped: %s", reason)
		return
	}
	ctrl, err := e.startDriver(ctx, o.driver, "controller", "controller", string(waiter.Batched))
	if err != nil {
		failed = true
		rep.fail("node", err)
		return
	}
	progress("node: %d volumes, NodeStage + NodePublish one at a time", o.nodeVolumes)
	res, err := runNode(ctx, e, ctrl, nd, nodeConfig{
		volumes: o.nodeVolumes, sizeBytes: int64(o.sizeGiB) * gib, zone: b.Zone, fsType: o.fsType, policy: policy(o),
	})
	rep.node = &res
	if err != nil {
		failed = true
		rep.fail("node", err)
	}
	rep.leftovers("node", res.leftovers)
}

func policy(o options) callPolicy {
	p := defaultPolicy
	p.timeout = o.rpcTimeout
	return p
}

// lifecycleNodes are the servers lifecycle publishes to: remote nodes, so
// no loop devices are made, at most volumesPerNode each (clouds cap
// volumes per server).
func lifecycleNodes(o options, zone string) []cloudsim.Server {
	var out []cloudsim.Server
	for k := range nodeCount(o.volumes, o.volumesPerNode) {
		out = append(out, cloudsim.Server{
			ID: fmt.Sprintf("6e0c5a1d-0b3e-4c2a-9f00-%012d", k+1), Name: fmt.Sprintf("bench-node-%02d", k+1), Zone: zone,
		})
	}
	return out
}

// newControllerEnv is a simulator and, in front of it, the driver in
// controller mode with the given waiter mode. The env is closed (kept for
// inspection as -keep says) when the driver does not start.
func newControllerEnv(ctx context.Context, binary, waiterMode string, eo envOptions) (*env, *driverProc, error) {
	e, err := newEnv(eo)
	if err != nil {
		return nil, nil, err
	}
	d, err := e.startDriver(ctx, binary, "controller", "controller", waiterMode)
	if err != nil {
		e.close(true)
		return nil, nil, err
	}
	return e, d, nil
}

// Simulator timings the lifecycle runs on.
const (
	realisticTiming = "realistic"
	fastTiming      = "fast"
)

// scenarioName is the lifecycle scenario's name on a timing.
func scenarioName(tm string) string {
	if tm == fastTiming {
		return "lifecycle-fast"
	}
	return "lifecycle"
}

func benchLifecycle(ctx context.Context, o options, b harness.Backend, mode, tm string, rep *report) {
	nodes := lifecycleNodes(o, b.Zone)
	name := scenarioName(tm)
	e, d, err := newControllerEnv(ctx, o.driver, mode, envOptions{
		name: name + "-" + mode, backend: b, workRoot: o.workDir, keep: o.keep,
		sim: func(c *cloudsim.Config) {
			if tm == realisticTiming {
				realistic(o.timeScale)(c)
			} else {
				c.Timing = fastTiming
			}
			c.Servers = append(c.Servers, nodes...)
		},
	})
	if err != nil {
		rep.fail(name+" "+mode, err)
		return
	}
	failed := false
	defer func() { e.close(failed) }()
	idle, err := d.memory()
	if err != nil {
		rep.fail("memory", err)
	}
	if mode == string(waiter.Batched) && tm == realisticTiming {
		rep.rssIdleController = &idle
	}
	var ids []string
	for _, n := range nodes {
		ids = append(ids, n.ID)
	}
	progress("%s (%s): %d volumes, %d at once, %d nodes", name, mode, o.volumes, o.concurrency, len(ids))
	res, err := runLifecycle(ctx, e, d, mode, lifecycleConfig{
		volumes: o.volumes, concurrency: o.concurrency, sizeBytes: int64(o.sizeGiB) * gib,
		zone: b.Zone, nodes: ids, policy: policy(o),
	})
	res.idle = idle
	rep.lifecycles(tm)[mode] = &res
	if err != nil {
		failed = true
		rep.fail(name+" "+mode, err)
	} else {
		progress("%s (%s): %.1f s, %.2f API calls per volume", name, mode, res.wall.Seconds(), float64(res.calls.Total)/float64(res.volumes))
	}
	rep.leftovers(name+" "+mode, res.leftovers)
}

func benchRateLimited(ctx context.Context, o options, b harness.Backend, mode string, rep *report) {
	var bs []string
	if o.clientRateLimit > 0 {
		// The operator sets the cloud's documented limit; in simulator
		// time it is scaled like the simulator's own.
		bs = append(bs, fmt.Sprintf("rate-limit = %g", timing.Rate(o.clientRateLimit, o.rateTimeScale)))
	}
	e, d, err := newControllerEnv(ctx, o.driver, mode, envOptions{
		name: "ratelimited-" + mode, backend: b, workRoot: o.workDir, keep: o.keep, blockStorage: bs,
		sim: func(c *cloudsim.Config) {
			realistic(o.rateTimeScale)(c)
			c.RateLimit = o.rateLimit
		},
	})
	if err != nil {
		rep.fail("ratelimited "+mode, err)
		return
	}
	failed := false
	defer func() { e.close(failed) }()
	progress("ratelimited (%s): %d creates at once under %g calls/s", mode, o.volumes, o.rateLimit)
	res, err := runRateLimited(ctx, e, d, mode, rateConfig{
		volumes: o.volumes, concurrency: o.concurrency, sizeBytes: int64(o.sizeGiB) * gib, zone: b.Zone,
		rate: o.rateLimit, scale: o.rateTimeScale, createLatency: timing.Realistic.Create, policy: policy(o),
	})
	rep.rate[mode] = &res
	if err != nil {
		failed = true
		rep.fail("ratelimited "+mode, err)
	} else {
		progress("ratelimited (%s): %.1f s (floor %.1f s), %d 413s; cleanup %.1f s", mode, res.wall.Seconds(), res.floor.Seconds(), res.calls.Total413, res.cleanup.Seconds())
	}
	rep.leftovers("ratelimited "+mode, res.leftovers)
}

// errorLine shortens an error for the table.
func errorLine(err error) string {
	if errors.Is(err, context.Canceled) {
		return "interrupted"
	}
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
