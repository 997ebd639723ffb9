package openstack

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// The kept order is the order a full sort gives, in both directions,
// after volumes come and go and even when a creation time changes.
func TestVolumeOrderMatchesSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	st := newState()
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var o volumeOrder
	desc := []sortKey{{key: "created_at", desc: true}, {key: "id", desc: true}}
	asc := []sortKey{{key: "created_at"}, {key: "id"}}
	for step := range 500 {
		if step == 250 {
			// More changes between two listings than the state keeps.
			for i := range maxVolumeLog + 1 {
				st.putVolume(&Volume{ID: fmt.Sprintf("m%05d", i), CreatedAt: base})
			}
			for i := range maxVolumeLog + 1 {
				st.dropVolume(fmt.Sprintf("m%05d", i))
			}
		}
		// Several changes between two listings, as requests make them.
		for range 1 + rng.IntN(3) {
			ids := slices.Sorted(maps.Keys(st.Volumes))
			switch op := rng.IntN(4); {
			case len(ids) == 0 || op <= 1:
				// Equal creation times happen: the id decides.
				v := &Volume{ID: fmt.Sprintf("v%04d", rng.IntN(10000)), CreatedAt: base.Add(time.Duration(rng.IntN(20)) * time.Second)}
				st.putVolume(v)
			case op == 2:
				st.dropVolume(ids[rng.IntN(len(ids))])
			case op == 3:
				st.Volumes[ids[rng.IntN(len(ids))]].CreatedAt = base.Add(time.Duration(rng.IntN(20)) * time.Second)
			}
		}
		for _, keys := range [][]sortKey{desc, asc} {
			want := slices.Collect(maps.Values(st.Volumes))
			sortItems(want, keys, volumeField)
			got := o.by(st, keys)
			if !slices.Equal(got, want) {
				t.Fatalf("step %d, desc %v: kept order differs from a sort", step, keys[0].desc)
			}
		}
	}
	if o.by(st, []sortKey{{key: "name", desc: true}, {key: "id", desc: true}}) != nil {
		t.Error("an order other than created_at,id is kept")
	}
}

// Volumes coming and going move the kept order on without a sort of the
// whole state (a listing of 11,000 volumes sorted them all per page).
func TestVolumeOrderFollowsChangesWithoutSorting(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	st := newState()
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	put := func(i int) {
		st.putVolume(&Volume{ID: fmt.Sprintf("v%04d", i), CreatedAt: base.Add(time.Duration(rng.IntN(50)) * time.Second)})
	}
	for i := range 100 {
		put(i)
	}
	var o volumeOrder
	desc := []sortKey{{key: "created_at", desc: true}, {key: "id", desc: true}}
	o.by(st, desc)
	for i := range 200 {
		put(100 + i)                                         // a new volume
		put(rng.IntN(100 + i))                               // one replaced by another record
		st.dropVolume(fmt.Sprintf("v%04d", rng.IntN(100+i))) // one deleted, or already gone
		want := slices.Collect(maps.Values(st.Volumes))
		sortItems(want, desc, volumeField)
		if got := o.by(st, desc); !slices.Equal(got, want) {
			t.Fatalf("step %d: kept order differs from a sort", i)
		}
	}
	if o.sorts != 1 {
		t.Errorf("the order was sorted whole %d times; want once, then followed change by change", o.sorts)
	}
}
