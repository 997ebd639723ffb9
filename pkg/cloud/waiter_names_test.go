package cloud_test

import (
	"context"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/fake"
)

// A failed resource is replaced without waiting for it to go, so a name
// can hold a failed one listed first and its live successor: the lookup
// answers the live one, and the failed one only when it is all there is.
func TestFindByNamePrefersTheLiveOne(t *testing.T) {
	c := fake.New(fake.Config{Delay: time.Millisecond})
	w := cloud.NewWaiter(c, fastOpts(cloud.WaitBatched))
	ctx := context.Background()
	c.FailNextCreates(1)
	failed := newVolume(t, c, "x")
	if _, err := w.WaitVolume(ctx, failed.ID, cloud.VolumeReady(cloud.StatusAvailable)); err == nil {
		t.Fatal("setup: the first volume was to fail")
	}
	got, err := w.FindVolumeByName(ctx, "x")
	if err != nil || got == nil || got.ID != failed.ID {
		t.Fatalf("with only the failed one: got %+v, %v", got, err)
	}
	live := newVolume(t, c, "x")
	got, err = w.FindVolumeByName(ctx, "x")
	if err != nil || got == nil || got.ID != live.ID {
		t.Fatalf("got %+v, %v; want the live %s, not the failed %s", got, err, live.ID, failed.ID)
	}
}
