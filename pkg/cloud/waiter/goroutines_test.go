package waiter_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/fake"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
)

// Pending waits cost the waiter no goroutine each: a controller with a
// thousand requests waiting holds their goroutines and one loop per
// kind, not a thousand more.
func TestPendingWaitsAddNoGoroutines(t *testing.T) {
	const waits = 300
	c := fake.New(fake.Config{Delay: time.Hour, Limits: &cloud.Limits{MaxTotalGiB: 10 * waits, MaxVolumes: waits, MaxSnapshots: 1, MaxBackups: 1, MaxBackupGiB: 1}})
	var ids []string
	for i := range waits {
		ids = append(ids, newVolume(t, c, fmt.Sprintf("v%d", i)).ID)
	}
	w := waiter.New(c, fastOpts(waiter.Batched))
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	before := runtime.NumGoroutine()
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			// Never true: every wait stays pending until ctx ends.
			_, _ = w.WaitVolume(ctx, id, func(*cloud.Volume) (bool, error) { return false, nil })
		})
	}
	// Let the waits register and the loop poll a few times.
	time.Sleep(100 * time.Millisecond)
	extra := runtime.NumGoroutine() - before - waits
	cancel()
	wg.Wait()
	if extra > 4 {
		t.Errorf("%d pending waits added %d goroutines beyond their callers', want at most a few (the loops)", waits, extra)
	}
}
