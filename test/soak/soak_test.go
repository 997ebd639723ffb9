package soak

import (
	"flag"
	"fmt"
	"hash/fnv"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/test/harness"
)

var (
	flagMinutes  = flag.Float64("soak.minutes", 2, "wall-clock budget of the whole soak in minutes; backends run side by side")
	flagSeed     = flag.Int64("soak.seed", 0, "random seed (0: from the clock; printed either way)")
	flagBackends = flag.String("soak.backends", "", "comma-separated backends to soak (default: all)")
	flagWorkers  = flag.Int("soak.workers", 0, "concurrent lifecycles per backend (default: per backend)")
	flagKeep     = flag.Bool("soak.keep", false, "keep the work directory (driver logs, simulator state)")
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	harness.RemoveSharedDriver()
	os.Exit(code)
}

// backendSeed derives a backend's own seed from the run's and the
// backend's name, not its place in the list: a backend soaked alone
// (-soak.backends) meets the same lifecycles, faults and kills as in the
// full run.
func backendSeed(seed int64, name string) int64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return seed ^ int64(h.Sum64()>>1)
}

// schedule splits the budget: lifecycles start during run, then drain lets
// the last ones finish (faults and kills stop first) before the checks.
type schedule struct {
	budget, run, drain time.Duration
}

func newSchedule(budget time.Duration) schedule {
	drain := min(max(budget/4, 30*time.Second), 5*time.Minute)
	// setup and the checks take seconds; cleanupBudget is spent only on failures
	run := max(budget-drain-10*time.Second, 20*time.Second)
	return schedule{budget: budget, run: run, drain: drain}
}

// TestSoak soaks every backend side by side and prints one line per
// backend and one overall:
//
//	soak: N lifecycles, F faults, R restarts, leaked L, duplicates D, data errors E
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak skipped in -short mode")
	}
	bin := harness.MustSharedDriver(t)
	seed := *flagSeed
	if seed == 0 {
		seed = time.Now().UnixNano() % 1_000_000_007
	}
	// The four clouds, and the generic cloud's v2 face for backups through
	// the v2 client (NHN Cloud has none).
	names := append(harness.Names(), harness.Faces()...)
	if *flagBackends != "" {
		names = nil
		for _, n := range strings.Split(*flagBackends, ",") {
			n = strings.TrimSpace(n)
			if _, err := harness.Lookup(n); err != nil {
				t.Fatal(err)
			}
			names = append(names, n)
		}
	}
	sched := newSchedule(time.Duration(*flagMinutes * float64(time.Minute)))
	root := os.Geteuid() == 0
	fmt.Printf("soak: seed %d (rerun with -soak.seed=%d), backends %s, lifecycles start for %s, drain %s\n",
		seed, seed, strings.Join(names, ","), sched.run.Round(time.Second), sched.drain)
	if !root {
		fmt.Println("soak: not root: no loop devices, so node steps (stage, publish, write, read back, resize) are skipped; control-plane lifecycles still run")
	}

	// Side by side, not t.Parallel: that would cap them at GOMAXPROCS.
	results := make([]*result, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		b, _ := harness.Lookup(name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Run(name, func(t *testing.T) {
				r := soakBackend(t, b, bin, backendSeed(seed, name), sched)
				results[i] = r
				fmt.Println(r.line("soak " + name))
				if r.failed() {
					t.Errorf("%s: %s", name, r.problem())
				}
				if r.nodeSkipped {
					t.Skipf("%s: node steps (stage, publish, write, read back, resize) skipped: no loop devices (they need root, /dev/loop-control and losetup); only the control-plane lifecycles ran", name)
				}
			})
		}()
	}
	wg.Wait()
	var total result
	for _, r := range results {
		if r != nil {
			total.add(r)
		}
	}
	fmt.Println(total.line("soak"))
	if total.failed() {
		t.Errorf("soak failed (seed %d): %s", seed, total.problem())
	}
}
