package soak

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/openblock-csi/openblock-csi/pkg/node/nodetest"
	"github.com/openblock-csi/openblock-csi/test/harness"
)

// env is one backend under soak: its simulator, a controller process that
// gets killed and restarted, a node process that stays up, and the
// clients the emulated sidecars use.
type env struct {
	t       *testing.T
	b       harness.Backend
	bin     string
	work    string
	byID    string
	cfgPath string
	sim     *harness.Sim
	inj     *injector
	seed    int64

	// nodeSteps: as root the simulator attaches volumes as loop devices,
	// so stage, publish, write and read back run for real.
	nodeSteps bool
	// growFS: this process may grow a mounted filesystem (node expansion).
	growFS    bool
	expansion csi.PluginCapability_VolumeExpansion_Type
	clone     bool

	mu          sync.Mutex // guards ctrl and ctrlStarted
	ctrl        *harness.DriverProcess
	ctrlStarted time.Time
	ctrlLog     *os.File
	node        *harness.DriverProcess
	restarts    atomic.Int64

	ctrlConn, nodeConn *grpc.ClientConn
	cc                 csi.ControllerClient
	nc                 csi.NodeClient

	led *ledger

	calls, retries atomic.Int64
	codesMu        sync.Mutex
	codes          map[string]int64
}

func (e *env) noteCode(c codes.Code) {
	e.codesMu.Lock()
	e.codes[c.String()]++
	e.codesMu.Unlock()
}

func dial(sock string) (*grpc.ClientConn, error) {
	// Reconnect quickly: the controller comes back within a second of a
	// kill and the default backoff would leave it idle for much longer.
	return grpc.NewClient("unix://"+sock,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 500 * time.Millisecond},
			MinConnectTimeout: 2 * time.Second,
		}))
}

func newEnv(t *testing.T, b harness.Backend, bin string, seed int64, rateLimit float64) *env {
	t.Helper()
	work, err := os.MkdirTemp("", "openblock-soak-"+b.Name+"-")
	if err != nil {
		t.Fatal(err)
	}
	if *flagKeep {
		t.Logf("work directory (kept): %s", work)
	}
	e := &env{t: t, b: b, bin: bin, work: work, seed: seed, led: newLedger(), codes: map[string]int64{}}
	// Cleanups run last-in first-out: unmount before the simulator drops
	// its loop devices, remove the directory last.
	t.Cleanup(func() {
		if !*flagKeep {
			os.RemoveAll(work)
		}
	})
	e.byID = filepath.Join(work, "by-id")
	for _, d := range []string{e.byID, filepath.Join(work, "ctrl"), filepath.Join(work, "node"), filepath.Join(work, "mnt")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e.inj = newInjector(seed)
	simCfg := b.SimConfig(filepath.Join(work, "sim"), e.byID)
	if rateLimit > 0 {
		simCfg.RateLimit = rateLimit
	}
	e.sim, err = harness.StartSimWrapped(simCfg, e.inj.wrap)
	if err != nil {
		t.Fatalf("start simulator: %v", err)
	}
	t.Cleanup(func() { e.sim.Close() })
	t.Cleanup(func() { nodetest.UnmountUnder(t, work) })
	e.nodeSteps = e.sim.Store().Loop()
	e.growFS = canGrowMountedFS()
	conf := b.CloudConfig(e.sim.URL)
	if rateLimit > 0 {
		// [BlockStorage] is the last section: the driver's limiter
		// follows the cloud's.
		conf += fmt.Sprintf("rate-limit = %g\n", rateLimit)
	}
	e.cfgPath = filepath.Join(work, "cloud.conf")
	if err := os.WriteFile(e.cfgPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	e.ctrlLog, err = os.OpenFile(filepath.Join(work, "controller.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.ctrlLog.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if e.ctrl, err = e.startController(ctx); err != nil {
		t.Fatalf("start controller: %v\n%s", err, tail(e.ctrlLog.Name(), 30))
	}
	t.Cleanup(func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.ctrl != nil {
			e.ctrl.Stop()
		}
	})
	if e.ctrlConn, err = dial(filepath.Join(work, "ctrl", "csi.sock")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.ctrlConn.Close() })
	e.cc = csi.NewControllerClient(e.ctrlConn)

	if e.nodeSteps {
		nodeLog, err := os.Create(filepath.Join(work, "node.log"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nodeLog.Close() })
		e.node, err = harness.StartDriver(ctx, harness.DriverOptions{
			Binary: bin, Dir: filepath.Join(work, "node"), CloudConfig: e.cfgPath, ByIDDir: e.byID, KubeletDir: work,
			Mode: "node", Stdout: nodeLog, Stderr: nodeLog,
			ExtraArgs: []string{"--zone=" + b.Zone, "--metadata-url=-", "-v=2"},
		})
		if err != nil {
			t.Fatalf("start node plugin: %v\n%s", err, tail(nodeLog.Name(), 30))
		}
		t.Cleanup(func() { e.node.Stop() })
		if e.nodeConn, err = dial(e.node.Socket); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.nodeConn.Close() })
		e.nc = csi.NewNodeClient(e.nodeConn)
	}

	// Ready means serving; Probe would also ask the cloud, which the
	// faults are about to make unreliable anyway.
	ic := csi.NewIdentityClient(e.ctrlConn)
	if err := harness.WaitReady(ctx, func(ctx context.Context) error {
		_, err := ic.GetPluginInfo(ctx, &csi.GetPluginInfoRequest{})
		return err
	}); err != nil {
		t.Fatalf("controller not ready: %v\n%s", err, tail(e.ctrlLog.Name(), 30))
	}
	pc, err := ic.GetPluginCapabilities(ctx, &csi.GetPluginCapabilitiesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range pc.GetCapabilities() {
		if ve := c.GetVolumeExpansion(); ve != nil {
			e.expansion = ve.GetType()
		}
	}
	cc, err := e.cc.ControllerGetCapabilities(ctx, &csi.ControllerGetCapabilitiesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cc.GetCapabilities() {
		if c.GetRpc().GetType() == csi.ControllerServiceCapability_RPC_CLONE_VOLUME {
			e.clone = true
		}
	}
	return e
}

func (e *env) startController(ctx context.Context) (*harness.DriverProcess, error) {
	e.ctrlStarted = time.Now()
	return harness.StartDriver(ctx, harness.DriverOptions{
		Binary: e.bin, Dir: filepath.Join(e.work, "ctrl"), CloudConfig: e.cfgPath,
		Mode: "controller", Stdout: e.ctrlLog, Stderr: e.ctrlLog,
		ExtraArgs: []string{"--metadata-url=-", "-v=2", "--controller-state-dir=" + e.stateDir()},
	})
}

// stateDir is the controller's state directory, an emptyDir of its pod in
// the chart: it outlives a container's restart, not the pod.
func (e *env) stateDir() string { return filepath.Join(e.work, "ctrl-state") }

// restartController kills the controller with SIGKILL (no chance to
// finish anything) and starts it again on the same socket, as kubelet
// restarts a crashed container: again and again until it serves. In a
// new pod (newPod) the state directory starts empty.
func (e *env) restartController(pause time.Duration, newPod bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ctrl.Kill()
	n := e.restarts.Add(1)
	where := "same pod"
	if newPod {
		where = "new pod: state directory emptied"
		if err := os.RemoveAll(e.stateDir()); err != nil {
			return err
		}
	}
	fmt.Fprintf(e.ctrlLog, "\n===== soak: controller killed with SIGKILL (restart %d, %s) =====\n", n, where)
	time.Sleep(pause)
	var err error
	for try := 0; try < 20; try++ {
		// A stale socket would pass for a serving one.
		os.Remove(filepath.Join(e.work, "ctrl", "csi.sock"))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var p *harness.DriverProcess
		p, err = e.startController(ctx)
		cancel()
		if err == nil {
			e.ctrl = p
			return nil
		}
		fmt.Fprintf(e.ctrlLog, "\n===== soak: controller did not start: %v =====\n", err)
		time.Sleep(500 * time.Millisecond)
	}
	e.ctrl = nil // killed and reaped: nothing left to stop
	return err
}

// upFor is how long the running controller has been up.
func (e *env) upFor() time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	return time.Since(e.ctrlStarted)
}

// killer restarts the controller at random points until stop closes.
func (e *env) killer(stop <-chan struct{}, rnd *rand.Rand, errs chan<- error) {
	for {
		d := time.Duration(5000+rnd.IntN(10000)) * time.Millisecond
		select {
		case <-stop:
			return
		case <-time.After(d):
		}
		// One restart in five is a new pod, whose controller finds no
		// journal and lists the project instead.
		if err := e.restartController(time.Duration(rnd.IntN(300))*time.Millisecond, rnd.IntN(5) == 0); err != nil {
			errs <- fmt.Errorf("restarting the controller: %w", err)
			return
		}
	}
}

// sampler watches the simulator's state for request names held by two
// live resources at once.
func (e *env) sampler(stop <-chan struct{}) {
	for {
		e.led.observe(e.sim.State())
		select {
		case <-stop:
			return
		case <-time.After(150 * time.Millisecond):
		}
	}
}

// call is the emulated sidecar (external-provisioner, -attacher,
// -snapshotter, -resizer, kubelet): it sends the same request again until
// it succeeds, with exponential backoff, each attempt bounded by a timeout.
// Errors that a retry cannot fix are given up on after a few attempts.
func (e *env) call(ctx context.Context, what string, fn func(context.Context) error) error {
	delay := 100 * time.Millisecond
	final := 0
	for attempt := 1; ; attempt++ {
		e.calls.Add(1)
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		err := fn(actx)
		cancel()
		if err == nil {
			return nil
		}
		code := status.Code(err)
		e.noteCode(code)
		e.retries.Add(1)
		switch code {
		case codes.InvalidArgument, codes.AlreadyExists, codes.Unimplemented, codes.OutOfRange:
			if final++; final >= 5 {
				return fmt.Errorf("%s: %d attempts, giving up on %v", what, attempt, err)
			}
		default:
			final = 0
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %d attempts, no success before the deadline; last error: %v", what, attempt, err)
		case <-time.After(delay/2 + time.Duration(rand.Int64N(int64(delay)))):
		}
		delay = min(delay*2, 2*time.Second)
	}
}

const (
	// attemptTimeout bounds one gRPC call, as a sidecar's --timeout does.
	attemptTimeout = 20 * time.Second
	// opBudget bounds all attempts of one step of a lifecycle.
	opBudget = 150 * time.Second
)

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := 0
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			if lines++; lines > n {
				return string(b[i+1:])
			}
		}
	}
	return string(b)
}
