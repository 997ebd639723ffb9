package soak

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/openblock-csi/openblock-csi/pkg/driver"
	"github.com/openblock-csi/openblock-csi/test/harness"
)

const (
	// cleanupBudget bounds the fault-free teardown of lifecycles that
	// failed or were cut short, run side by side as a CO's would; it may
	// have a create to finish first.
	cleanupBudget = 60 * time.Second
	// cutShortLimit: a lifecycle stopped by the end of the drain counts as
	// failed if its step had been retrying for longer than this.
	cutShortLimit = 45 * time.Second
	// sweepMargin is the sweep's own time: a listing or three and a
	// delete per failed resource.
	sweepMargin = 10 * time.Second
)

// workersFor is how many lifecycles run at once on a backend. HP Helion
// allows 10 volumes and snapshots together and 1 API call per second, so
// it gets fewer.
func workersFor(b harness.Backend) int {
	if *flagWorkers > 0 {
		return *flagWorkers
	}
	if b.Profile == "helion" {
		return 2
	}
	return 3
}

// soakBackend runs lifecycles on one backend for sched.run under faults and
// kills, lets them drain without faults, cleans up after any that failed,
// and checks the invariants.
func soakBackend(t *testing.T, b harness.Backend, bin string, seed int64, sched schedule) *result {
	rate := 0.0
	if b.Profile == "helion" && sched.budget < 10*time.Minute {
		// 1 call/s leaves a short soak one or two lifecycles; the
		// limiter and the 413 handling work the same at 4.
		rate = 4
	}
	e := newEnv(t, b, bin, seed, rate)
	ch := &chaos{sim: e.sim.Sim, inj: e.inj, lunanode: b.Lunanode, rnd: rand.New(rand.NewPCG(uint64(seed), 3))}

	stopFaults, stopSampler := make(chan struct{}), make(chan struct{})
	var bg sync.WaitGroup
	killErrs := make(chan error, 1)
	bg.Add(2)
	go func() { defer bg.Done(); ch.loop(stopFaults) }()
	go func() { defer bg.Done(); e.killer(stopFaults, rand.New(rand.NewPCG(uint64(seed), 4)), killErrs) }()
	samplerDone := make(chan struct{})
	go func() { defer close(samplerDone); e.sampler(stopSampler) }()

	runCtx, cancelRun := context.WithCancel(context.Background())
	defer cancelRun()
	startUntil := time.Now().Add(sched.run)
	var next atomic.Int64
	var mu sync.Mutex
	var completed, failed, cut []*lifecycle
	failures := map[*lifecycle]error{}
	var wg sync.WaitGroup
	for w := 0; w < workersFor(b); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(startUntil) && runCtx.Err() == nil {
				lc := newLifecycle(e, int(next.Add(1)))
				err := lc.run(runCtx)
				mu.Lock()
				op, took := lc.current()
				switch {
				case err != nil && runCtx.Err() != nil && took < cutShortLimit:
					// Stopped by the harness's clock, not by the driver.
					cut = append(cut, lc)
					failures[lc] = fmt.Errorf("cut short at the end of the drain during %s (%s in)", op, took.Round(time.Second))
				case err != nil:
					failed = append(failed, lc)
					failures[lc] = err
				default:
					completed = append(completed, lc)
				}
				mu.Unlock()
			}
		}()
	}

	select {
	case <-time.After(sched.run):
	case err := <-killErrs:
		t.Errorf("%s: %v", b.Name, err)
	}
	// Calm down: no more faults or kills while the last lifecycles finish.
	close(stopFaults)
	bg.Wait()
	drained := make(chan struct{})
	go func() { wg.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(sched.drain):
		t.Logf("%s: lifecycles still running after the %s drain; cancelling them", b.Name, sched.drain)
		cancelRun()
		<-drained
	}

	// Whatever failed is torn down now, fault-free, so that only what the
	// driver itself lost counts as leaked.
	cleanCtx, cancelClean := context.WithTimeout(context.Background(), cleanupBudget)
	defer cancelClean()
	var cleaning sync.WaitGroup
	for _, lc := range append(slices.Clone(failed), cut...) {
		cleaning.Go(func() {
			if err := lc.teardown(cleanCtx); err != nil {
				t.Logf("%s: cleaning up after lifecycle %s: %v", b.Name, lc.base, err)
			}
		})
	}
	cleaning.Wait()
	// Killed every 5–15 s, no controller lived to its first sweep, which
	// removes what a killed predecessor left failed (driver.DefaultSweepDelay
	// after start). A controller that stays up does sweep: the leak check
	// comes once this one has had the time to.
	if wait := driver.DefaultSweepDelay + sweepMargin - e.upFor(); wait > 0 {
		time.Sleep(wait)
	}
	left := settle(e.sim)
	close(stopSampler)
	<-samplerDone

	r := &result{restarts: e.restarts.Load(), calls: e.calls.Load(), retries: e.retries.Load(), codes: e.codes}
	r.lifecycles = len(completed)
	r.gaveUp = len(failed)
	r.cutShort = len(cut)
	r.leaked = len(left)
	final := e.sim.State()
	dups := e.led.duplicates(final)
	r.duplicates = len(dups)
	twins := e.led.lateTwins(final)
	st := e.sim.Stats()
	simFaults := st.ByStatus["500"] + st.ByStatus["413"] + st.ByStatus["dropped"]
	r.faults = simFaults + e.inj.total() + ch.failFired

	var dataErrs []string
	for _, lc := range slices.Concat(completed, failed, cut) {
		dataErrs = append(dataErrs, lc.dataErrors...)
	}
	r.dataErrors = len(dataErrs)

	r.nodeSkipped = !e.nodeSteps
	nodeNote := "node steps ran (loop devices)"
	switch {
	case !e.nodeSteps:
		nodeNote = "node steps skipped (not root: no loop devices)"
	case !e.growFS && e.expansion == csi.PluginCapability_VolumeExpansion_ONLINE:
		nodeNote += "; expansions done detached (no CAP_SYS_RESOURCE here to grow a mounted ext4)"
	}
	fmt.Printf("soak %s: %d gRPC calls, %d retried; errors by code: %s; %d lifecycles failed, %d cut short by the clock\n",
		b.Name, r.calls, r.retries, codeSummary(r.codes), r.gaveUp, r.cutShort)
	fmt.Printf("soak %s: faults: simulator 500=%d 413=%d dropped=%d, lunanode 5xx=%d 429=%d, answers lost after the cloud acted=%d, error states=%d (%s each fail with p=%.2f); %s\n",
		b.Name, st.ByStatus["500"], st.ByStatus["413"], st.ByStatus["dropped"],
		e.inj.served5xx.Load(), e.inj.served429.Load(), e.inj.lost.Load(), ch.failFired, strings.Join(recoverableFailures, "/"), failRatio, nodeNote)
	for _, l := range left {
		t.Logf("%s: LEAKED %s", b.Name, l)
	}
	fmt.Printf("soak %s: late twins (a create that reached the cloud after its retry made another), removed by the driver: %d\n", b.Name, len(twins))
	for _, d := range twins {
		t.Logf("%s: late twin removed: %s", b.Name, d)
	}
	for _, d := range dups {
		t.Logf("%s: DUPLICATE %s", b.Name, d)
	}
	for _, d := range dataErrs {
		t.Logf("%s: DATA ERROR %s", b.Name, d)
	}
	for _, lc := range cut {
		t.Logf("%s: lifecycle %s %v", b.Name, lc.base, failures[lc])
	}
	for _, lc := range failed {
		t.Logf("%s: lifecycle %s did not complete: %v\n  %s", b.Name, lc.base, failures[lc], strings.Join(lastN(lc.trace, 15), "\n  "))
	}
	if r.failed() {
		t.Logf("%s: controller log (tail):\n%s", b.Name, tail(e.ctrlLog.Name(), 40))
	}
	return r
}

// settle waits briefly for deletions the driver already saw through to
// leave the simulator's state, and returns what is left.
func settle(sim *harness.Sim) []string {
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := harness.Leftovers(sim)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func lastN(s []string, n int) []string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
