package waiter_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

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

// keepingCloud honours ListOptions.Keep as the OpenStack adapter does:
// the page is cut as the cloud cut it, then only the wanted volumes are
// returned, so pages before the wanted ones come back empty.
type keepingCloud struct {
	*fake.Cloud
	asked atomic.Int64 // listings that carried Keep
}

func (k *keepingCloud) ListVolumes(ctx context.Context, o cloud.ListOptions) (cloud.Page[cloud.Volume], error) {
	p, err := k.Cloud.ListVolumes(ctx, o)
	if err != nil || o.Keep == nil {
		return p, err
	}
	k.asked.Add(1)
	kept := p.Items[:0:0]
	for _, v := range p.Items {
		if o.Keep(v.ID, v.Name) {
			kept = append(kept, v)
		}
	}
	p.Items = kept
	return p, nil
}

// A poll tells the provider which volumes it waits for, and walks on past
// pages that held none of them: the waits on the last page are answered,
// not failed as vanished.
func TestPollPassesOverPagesWithoutItsVolumes(t *testing.T) {
	c := &keepingCloud{Cloud: fake.New(fake.Config{MaxPage: 3, Delay: 30 * time.Millisecond})}
	var ids []string
	for i := range 9 {
		ids = append(ids, newVolume(t, c.Cloud, fmt.Sprintf("v%d", i)).ID)
	}
	opts := fastOpts(waiter.Batched)
	opts.PageLimit = 3
	w := waiter.New(c, opts)
	defer w.Close()
	// Three waits at once on the last page: more than one page's worth of
	// Gets, so the waiter lists.
	errs := make(chan error, 3)
	for _, id := range ids[6:] {
		go func() {
			_, err := w.WaitVolume(context.Background(), id, waiter.VolumeReady(cloud.StatusAvailable))
			errs <- err
		}()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Errorf("wait: %v", err)
		}
	}
	if c.asked.Load() == 0 {
		t.Error("no listing told the provider which volumes it wanted")
	}
}

// A walk for wanted volumes ends at the page where it has seen them all;
// one that misses one walks to the end, where the absence is the answer.
func TestListWantedStopsOnceItHasSeenThemAll(t *testing.T) {
	c := fake.New(fake.Config{MaxPage: 3})
	var ids []string
	for i := range 9 {
		ids = append(ids, newVolume(t, c, fmt.Sprintf("v%d", i)).ID)
	}
	id := func(v *cloud.Volume) string { return v.ID }
	// The fake lists oldest first: the first two are on page one.
	items, calls, complete, err := waiter.ListWanted(context.Background(), c.ListVolumes, 3, map[string]bool{ids[0]: true, ids[1]: true}, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || calls != 1 || complete {
		t.Errorf("found %d in %d calls (complete %v), want 2 in 1 call, stopped early", len(items), calls, complete)
	}
	items, calls, complete, err = waiter.ListWanted(context.Background(), c.ListVolumes, 3, map[string]bool{ids[0]: true, "gone": true}, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || calls != 3 || !complete {
		t.Errorf("found %d in %d calls (complete %v), want 1 in 3 calls, to the end", len(items), calls, complete)
	}
}
