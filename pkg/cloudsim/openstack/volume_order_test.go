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
