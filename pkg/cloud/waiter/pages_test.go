package waiter_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/fake"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
)

// A walk whose marker is deleted between two pages starts over instead
// of failing every wait it serves: with a thousand deletes under way, a
// walk of many pages seldom ends without one.
func TestListingWhoseMarkerIsDeletedStartsOver(t *testing.T) {
	c := fake.New(fake.Config{MaxPage: 3})
	var ids []string
	for i := range 8 {
		ids = append(ids, newVolume(t, c, fmt.Sprintf("v%d", i)).ID)
	}
	w := waiter.New(c, fastOpts(waiter.Batched))
	defer w.Close()
	for _, id := range ids {
		if _, err := w.WaitVolume(context.Background(), id, waiter.VolumeReady(cloud.StatusAvailable)); err != nil {
			t.Fatal(err)
		}
	}
	pages := 0
	list := func(ctx context.Context, o cloud.ListOptions) (cloud.Page[cloud.Volume], error) {
		p, err := c.ListVolumes(ctx, o)
		if pages++; pages == 1 && err == nil {
			// The volume ending the first page goes before the second is asked for.
			if err := c.DeleteVolume(ctx, p.NextMarker); err != nil {
				t.Fatal(err)
			}
			if err := w.WaitVolumeGone(ctx, p.NextMarker); err != nil {
				t.Fatal(err)
			}
		}
		return p, err
	}
	items, calls, err := waiter.ListAll(context.Background(), list, cloud.ListOptions{}, 3)
	if err != nil {
		t.Fatalf("ListAll: %v", err)
	}
	var got []string
	for _, v := range items {
		got = append(got, v.ID)
	}
	want := slices.Delete(slices.Clone(ids), 2, 3)
	if !slices.Equal(got, want) {
		t.Errorf("listed %v, want %v (each once, the deleted one gone)", got, want)
	}
	// 1 page, a refused one, then 3 pages of the 7 left.
	if calls != 5 {
		t.Errorf("%d calls, want 5", calls)
	}
}
