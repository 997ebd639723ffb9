package openstack_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/contract"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/openstack"
	"github.com/openblock-csi/openblock-csi/pkg/cloudconfig"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/simtest"
	"github.com/openblock-csi/openblock-csi/pkg/provider"
)

// backend is one way of reaching the simulator: a sim profile and the
// cloud config a user of that cloud would write.
type backend struct {
	name    string
	sim     cloudsim.Config
	config  simtest.CloudConfig
	version string
}

var backends = []backend{
	{
		name: "cinder-v3", version: "cinder-v3",
		sim:    cloudsim.Config{Profile: "generic"},
		config: simtest.CloudConfig{},
	},
	{
		name: "cinder-v2", version: "cinder-v2",
		sim: cloudsim.Config{Profile: "generic"},
		config: simtest.CloudConfig{AppCredentialID: cloudsim.DefaultAppCredID, AppCredentialSecret: cloudsim.DefaultPassword,
			APIVersion: 2},
	},
	{
		// NHN Cloud: Keystone v2.0 with tenantId, Cinder v2, Nova /v2.
		name: "nhn", version: "cinder-v2",
		sim:    cloudsim.Config{Profile: "nhn"},
		config: simtest.CloudConfig{KeystoneV2: true, Profile: "nhn"},
	},
	{
		// HP Helion: Cinder v1, 1 call/s. The simulator runs 50x faster
		// (TimeScale) and the client's limiter follows it.
		name: "helion", version: "cinder-v1",
		sim:    cloudsim.Config{Profile: "helion", TimeScale: 50},
		config: simtest.CloudConfig{Profile: "helion", BlockStorage: "rate-limit = 50\n"},
	},
}

func startCloud(t *testing.T, b backend) (*openstack.Cloud, *cloudsim.Sim) {
	t.Helper()
	sim, base := simtest.Start(t, b.sim)
	cfg, err := cloudconfig.Parse([]byte(b.config.INI(base)))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := openstack.New(ctx, provider.OpenStackConfig(cfg))
	if err != nil {
		t.Fatalf("openstack.New: %v", err)
	}
	if c.Name() != b.version {
		t.Fatalf("Name = %q, want %q", c.Name(), b.version)
	}
	return c, sim
}

func TestContract(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			contract.Run(t, func(t *testing.T) cloud.Cloud {
				c, _ := startCloud(t, b)
				return c
			}, contract.Env{ServerID: cloudsim.DefaultServerID, Timeout: 20 * time.Second})
		})
	}
}

// Concurrent calls against a cloud that takes no burst, with arrivals
// jittered by up to 30 ms, meet no 413: each call leaves one interval after
// the previous answer, not after the previous departure. (Spacing
// departures at 95% of the rate, the earlier design, met several here.)
func TestHelionRateLimitRespected(t *testing.T) {
	b := backends[3]
	c, sim := startCloud(t, b)
	sim.SetFaults(cloudsim.Faults{JitterMS: 30})
	sim.ResetStats()
	ctx := context.Background()
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Go(func() {
			if _, err := c.ListVolumes(ctx, cloud.ListOptions{}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if d := time.Since(start); d < 15*time.Second/50 {
		t.Errorf("16 calls in %v: faster than the cloud's 50/s", d)
	}
	st := sim.Stats()
	if st.Total413 != 0 {
		t.Errorf("the cloud answered %d times 413", st.Total413)
	}
	if n := st.ByFace[cloudsim.FaceCinder]; n < 16 {
		t.Errorf("the cloud saw %d Block Storage calls, want at least 16", n)
	}
}

// Without the client-side limiter the cloud's 413s are waited out: HP
// Helion's carry no retryAfter and no Retry-After (seed 004), so the
// transport's default wait applies, and every call still succeeds.
func TestHelionOverLimitWaitedOut(t *testing.T) {
	b := backends[3]
	b.config.BlockStorage += "rate-limit = 0\n"
	b.sim.TimeScale = 4 // 4 calls/s
	c, sim := startCloud(t, b)
	sim.ResetStats()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := 0; i < 3; i++ {
		if _, err := c.ListVolumes(ctx, cloud.ListOptions{}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if st := sim.Stats(); st.Total413 == 0 {
		t.Errorf("no 413 seen: the fallback wait was not exercised")
	}
}

func TestServerZone(t *testing.T) {
	c, _ := startCloud(t, backends[2])
	z, err := c.ServerZone(context.Background(), cloudsim.DefaultServerID)
	if err != nil || z != "kr-pub-a" {
		t.Errorf("ServerZone = %q, %v", z, err)
	}
	if _, err := c.ServerZone(context.Background(), "00000000-0000-0000-0000-000000000000"); !cloud.IsNotFound(err) {
		t.Errorf("missing server: %v", err)
	}
}

// Quota answers (413 overLimit with retryAfter 0) are ErrQuotaExceeded,
// returned at once, not waited out as a rate limit.
func TestQuotaExceeded(t *testing.T) {
	for _, b := range []backend{backends[0], backends[3]} {
		t.Run(b.name, func(t *testing.T) {
			q, err := cloudsim.ProfileQuota(b.sim.Profile)
			if err != nil {
				t.Fatal(err)
			}
			q.Gigabytes = 5
			b.sim.Quota = &q
			c, sim := startCloud(t, b)
			sim.ResetStats()
			start := time.Now()
			_, err = c.CreateVolume(context.Background(), cloud.CreateVolumeRequest{Name: "too-big", SizeGiB: 6})
			if !errors.Is(err, cloud.ErrQuotaExceeded) || !strings.Contains(err.Error(), "gigabytes quota") {
				t.Errorf("err = %v, want ErrQuotaExceeded with the cloud's message", err)
			}
			if d := time.Since(start); d > 500*time.Millisecond {
				t.Errorf("took %v: a quota answer must not be retried", d)
			}
			if n := sim.Stats().Total; n != 1 {
				t.Errorf("%d calls, want 1", n)
			}
		})
	}
}
