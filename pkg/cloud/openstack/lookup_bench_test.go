package openstack_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud/lookup"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/openstack"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
	"github.com/openblock-csi/openblock-csi/pkg/cloudconfig"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/simtest"
	"github.com/openblock-csi/openblock-csi/pkg/provider"
)

// BenchmarkNameLookupRound measures the name lookups of a small burst of
// creates (three PVCs at once, say a StatefulSet scaled up) in a project
// of 10,000 volumes, over real HTTP to the simulator: a lookup in flight,
// and three more queued behind it that are answered in one round. It
// reports the cloud calls each such round takes. Run with
//
//	go test -run '^$' -bench NameLookupRound ./pkg/cloud/openstack/
func BenchmarkNameLookupRound(b *testing.B) {
	const seeded, burst = 10000, 3
	sim, base := simtest.Start(b, cloudsim.Config{
		Profile: "generic", RateLimit: -1, SeedVolumes: seeded,
		Quota: &cloudsim.Quota{Volumes: -1, Snapshots: -1, Gigabytes: -1, Backups: -1, BackupGigabytes: -1},
	})
	cfg, err := cloudconfig.Parse([]byte(simtest.CloudConfig{}.INI(base)))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := openstack.New(ctx, provider.OpenStackConfig(cfg))
	if err != nil {
		b.Fatal(err)
	}
	n := lookup.New(c, waiter.Options{Mode: waiter.Batched})
	defer n.Close()

	round := func(i int) {
		var wg sync.WaitGroup
		wg.Go(func() { lookupNone(b, n, fmt.Sprintf("held-%d", i)) })
		time.Sleep(time.Millisecond) // the first is in flight
		for j := range burst {
			wg.Go(func() { lookupNone(b, n, fmt.Sprintf("pvc-%d-%d", i, j)) })
		}
		wg.Wait()
	}
	round(-1) // the first round of several names lists, and learns the pages
	sim.ResetStats()
	i := 0
	for b.Loop() {
		round(i)
		i++
	}
	b.ReportMetric(float64(sim.Stats().Total)/float64(i), "calls/round")
	b.Logf("%d volumes in the project, %d lookups queued behind one in flight, %d rounds", seeded, burst, i)
}

func lookupNone(b *testing.B, n *lookup.Names, name string) {
	v, err := n.Volume(context.Background(), name)
	if err != nil || v != nil {
		b.Errorf("lookup %s: %+v, %v; want none", name, v, err)
	}
}
