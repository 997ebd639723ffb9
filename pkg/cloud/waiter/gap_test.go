package waiter_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/fake"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
)

// On a cloud with a known rate limit, the polls of every kind together
// keep to at most half of it, leaving the rest to the requests: a volume,
// a snapshot and a backup waited for at once on a 1 call/s cloud would
// otherwise poll twice a second and starve every create and delete.
func TestPollsOfAllKindsLeaveHalfTheRate(t *testing.T) {
	caps := fake.DefaultCapabilities()
	caps.CallsPerSecond = 20 // polls every 100 ms at most, all kinds together
	c := fake.New(fake.Config{Capabilities: &caps, Delay: time.Hour})
	w := waiter.New(c, fastOpts(waiter.Batched))
	if got := w.Options().PollGap; got != 100*time.Millisecond {
		t.Fatalf("PollGap = %s, want 100ms", got)
	}
	v := newVolume(t, c, "slow")
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	// A volume that stays creating and a snapshot that never satisfies
	// its wait: two kinds polled side by side for the whole second.
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = w.WaitVolume(ctx, v.ID, waiter.VolumeReady(cloud.StatusAvailable)) })
	snap := make(chan string, 1)
	wg.Go(func() {
		c.SetVolumeStatus(v.ID, cloud.StatusAvailable, "available")
		s, err := c.CreateSnapshot(ctx, cloud.CreateSnapshotRequest{Name: "s", VolumeID: v.ID})
		c.SetVolumeStatus(v.ID, cloud.StatusCreating, "creating")
		if err != nil {
			snap <- ""
			return
		}
		snap <- s.ID
		_, _ = w.WaitSnapshot(ctx, s.ID, func(*cloud.Snapshot) (bool, error) { return false, nil })
	})
	wg.Wait()
	if <-snap == "" {
		t.Fatal("setup: no snapshot")
	}
	polls := c.Calls("GetVolume") + c.Calls("ListVolumes") + c.Calls("GetSnapshot") + c.Calls("ListSnapshots")
	// One second at one poll per 100 ms is at most 11; without the gap
	// the two kinds poll every 10 ms each, 150 or more.
	if polls > 12 || polls < 5 {
		t.Errorf("%d polls in 1s for two kinds, want 5..12", polls)
	}
}
