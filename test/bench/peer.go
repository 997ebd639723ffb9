package main

// The side-by-side with a peer driver (make bench-peer):
// cloud-provider-openstack's cinder-csi-plugin, built by hack/peer-build.sh,
// and this driver take the same lifecycle workload, each on a simulator of
// its own configured identically, on each timing profile. The simulator
// counts every API call either driver makes.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
	"github.com/openblock-csi/openblock-csi/test/harness"
)

// peerZoneKey is the topology key cinder-csi-plugin reads a volume's zone
// from (topology.<driver name>/zone).
const peerZoneKey = "topology.cinder.csi.openstack.org/zone"

const (
	driverOurs = "ours"
	driverPeer = "peer"
)

// peerRun is one driver's lifecycle on one timing profile.
type peerRun struct {
	timing string
	driver string
	res    lifecycleResult
	err    error
}

// failedAttempts counts the RPC attempts that returned an error, retried
// or not.
func (r *peerRun) failedAttempts() int {
	n := 0
	for _, ph := range r.res.phases {
		ph.stats.mu.Lock()
		for _, c := range ph.stats.codes {
			n += c
		}
		ph.stats.mu.Unlock()
	}
	return n
}

// completed: every volume went through every phase and nothing is left in
// the cloud.
func (r *peerRun) completed() bool {
	return r.err == nil && len(r.res.phases) == 4 && len(r.res.leftovers) == 0
}

// benchPeer runs the side-by-side and prints its report; it returns the
// process exit code.
func benchPeer(ctx context.Context, o options, b harness.Backend) int {
	if b.APIVersion == 0 {
		fmt.Fprintf(os.Stderr, "bench: the peer speaks Cinder only; backend %s is not a Cinder cloud\n", b.Name)
		return 2
	}
	if _, err := os.Stat(o.peer); err != nil {
		fmt.Fprintf(os.Stderr, "bench: peer binary: %v (run hack/peer-build.sh)\n", err)
		return 2
	}
	ps := newPeerSettings(o, b)
	start := time.Now()
	var runs []*peerRun
	for _, t := range o.peerTimings {
		for _, drv := range []string{driverPeer, driverOurs} {
			if ctx.Err() != nil {
				break
			}
			runs = append(runs, runPeerSide(ctx, o, b, t, drv))
		}
	}
	printPeer(os.Stdout, ps, runs, time.Since(start))
	switch {
	case ctx.Err() != nil:
		fmt.Fprintln(os.Stderr, "bench: interrupted")
		return 130
	}
	for _, r := range runs {
		if !r.completed() {
			return 1
		}
	}
	return 0
}

// runPeerSide is one driver's lifecycle on a fresh simulator with the
// given timing profile and the lifecycle's servers.
func runPeerSide(ctx context.Context, o options, b harness.Backend, timingName, drv string) *peerRun {
	run := &peerRun{timing: timingName, driver: drv}
	nodes := lifecycleNodes(o, b.Zone)
	e, err := newEnv(envOptions{
		name: "peer-" + timingName + "-" + drv, backend: b, workRoot: o.workDir, keep: o.keep,
		sim: func(c *cloudsim.Config) {
			c.Timing = timingName
			c.TimeScale = 1
			c.Servers = append(c.Servers, nodes...)
		},
	})
	if err != nil {
		run.err = err
		progress("%s/%s FAILED: %v", timingName, drv, err)
		return run
	}
	failed := false
	defer func() { e.close(failed) }()
	var d *driverProc
	cfg := lifecycleConfig{
		volumes: o.volumes, concurrency: o.concurrency, sizeBytes: int64(o.sizeGiB) * gib,
		zone: b.Zone, policy: peerPolicy(o),
	}
	for _, n := range nodes {
		cfg.nodes = append(cfg.nodes, n.ID)
	}
	if drv == driverPeer {
		d, err = e.startPeer(ctx, o.peer)
		cfg.zoneKey = peerZoneKey
	} else {
		// The driver's default waiter, as it ships.
		d, err = e.startDriver(ctx, o.driver, "controller", "controller", "")
	}
	if err != nil {
		failed = true
		run.err = err
		progress("%s/%s FAILED: %v", timingName, drv, err)
		return run
	}
	progress("peer side by side, %s timing, %s: %d volumes, %d at once, %d servers", timingName, drv, o.volumes, o.concurrency, len(nodes))
	run.res, run.err = runLifecycle(ctx, e, d, drv, cfg)
	// DeleteVolume may answer once the cloud has accepted the deletion
	// (the peer does): what is still going away is not a leftover.
	run.res.leftovers = drainedLeftovers(ctx, e.sim, 30*time.Second)
	if run.err != nil {
		failed = true
		progress("%s/%s FAILED: %v", timingName, drv, run.err)
	} else {
		progress("%s/%s: %.2f s, %.2f API calls per volume", timingName, drv, run.res.wall.Seconds(), float64(run.res.calls.Total)/float64(run.res.volumes))
	}
	return run
}

// peerCloudConfig is cinder-csi-plugin's cloud config for the simulator
// at baseURL: the [Global] section it shares with this driver's.
func peerCloudConfig(baseURL string) string {
	return fmt.Sprintf(`[Global]
auth-url = %s/identity/v3
username = %s
password = %s
tenant-name = %s
domain-name = %s
region = %s
`, baseURL, cloudsim.DefaultUser, cloudsim.DefaultPassword, cloudsim.DefaultProject,
		cloudsim.DefaultDomain, cloudsim.DefaultRegion)
}

// startPeer runs cinder-csi-plugin as a controller only (there is no node
// here; ControllerPublish names the simulated server in its node id) and
// waits until it answers Probe.
func (e *env) startPeer(ctx context.Context, binary string) (*driverProc, error) {
	const name = "peer"
	dir := filepath.Join(e.dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "cloud.conf")
	if err := os.WriteFile(cfgPath, []byte(peerCloudConfig(e.sim.URL)), 0o600); err != nil {
		return nil, err
	}
	logPath := filepath.Join(e.dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	sock := filepath.Join(dir, "csi.sock")
	p, err := harness.StartCSIProcess(binary, []string{
		"--endpoint=unix://" + sock,
		"--cloud-config=" + cfgPath,
		"--provide-controller-service=true",
		"--provide-node-service=false",
		"--cluster=openblock-bench",
	}, sock, logFile, logFile)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w%s", name, err, tail(logPath, 15))
	}
	return e.adopt(ctx, name, logPath, p)
}

// setZoneKey moves a request's topology segments under key.
func setZoneKey(req *csi.CreateVolumeRequest, key string) {
	ar := req.GetAccessibilityRequirements()
	for _, ts := range [][]*csi.Topology{ar.GetRequisite(), ar.GetPreferred()} {
		for _, t := range ts {
			segs := map[string]string{}
			for _, v := range t.GetSegments() {
				segs[key] = v
			}
			t.Segments = segs
		}
	}
}

// parseTimings reads --peer-timings.
func parseTimings(s string) ([]string, error) {
	var out []string
	for _, t := range strings.Split(s, ",") {
		switch t = strings.TrimSpace(t); t {
		case "fast", "realistic":
			out = append(out, t)
		case "":
		default:
			return nil, fmt.Errorf("unknown timing %q (want fast, realistic)", t)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no timing given")
	}
	return out, nil
}

// drainedLeftovers is what the simulator still holds once deletions in
// progress have ended, waiting at most limit.
func drainedLeftovers(ctx context.Context, sim *harness.Sim, limit time.Duration) []string {
	deadline := time.Now().Add(limit)
	for {
		left := harness.Leftovers(sim)
		if len(left) == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return left
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// peerPolicy is how the sidecars call either driver here: any failed
// attempt is retried after 1 s, 2 s, 4 s, ... (their --retry-interval-start
// default), as they requeue every error. The peer answers Internal when it
// attaches a volume still being created; a sidecar tries again.
func peerPolicy(o options) callPolicy {
	return callPolicy{timeout: o.rpcTimeout, maxAttempts: peerMaxAttempts, backoff: time.Second, retryAll: true}
}

// peerMaxAttempts bounds the retries (the sidecars have no bound; 10
// attempts span over 8 minutes of backoff).
const peerMaxAttempts = 10
