package openstack

import (
	"slices"
	"sort"
	"strings"
	"time"
)

// volumeOrder keeps every volume in Cinder's default list order (newest
// first: created_at, then id, descending). Each page of a listing sorted
// the whole state, 11,000 volumes at bench-scale's size, for a page of
// 1,000; the order changes only when Volumes gains or loses a record, and
// those changes are applied one by one (state.volumeChangesSince), each a
// binary search and a move of pointers. Creation times are checked
// against those sorted by before each use, so a volume whose created_at
// changed is never listed out of place.
type volumeOrder struct {
	gen     uint64
	valid   bool
	desc    []*Volume   // newest first
	asc     []*Volume   // desc reversed, made when first asked for
	created []time.Time // desc's CreatedAt when sorted
	sorts   int         // how often desc was sorted whole
}

// by returns every volume in the order of keys when they are the default
// order or its reverse, nil for any other (s.mu held). The slice is the
// order's own: read it, do not change it.
func (o *volumeOrder) by(st *state, keys []sortKey) []*Volume {
	if len(keys) != 2 || keys[0].key != "created_at" || keys[1].key != "id" || keys[0].desc != keys[1].desc {
		return nil
	}
	if changes, ok := st.volumeChangesSince(o.gen); o.valid && ok && !o.apply(changes) {
		o.valid = false
	}
	o.gen = st.volumesGen
	if !o.current(st) {
		o.sort(st)
	}
	if keys[0].desc {
		return o.desc
	}
	if o.asc == nil {
		o.asc = slices.Clone(o.desc)
		slices.Reverse(o.asc)
	}
	return o.asc
}

func (o *volumeOrder) current(st *state) bool {
	if !o.valid || o.gen != st.volumesGen || len(o.desc) != len(st.Volumes) {
		return false
	}
	for i, v := range o.desc {
		if v.CreatedAt != o.created[i] {
			return false
		}
	}
	return true
}

func (o *volumeOrder) sort(st *state) {
	o.desc = o.desc[:0]
	for _, v := range st.Volumes {
		o.desc = append(o.desc, v)
	}
	slices.SortFunc(o.desc, func(a, b *Volume) int {
		if r := b.CreatedAt.Compare(a.CreatedAt); r != 0 {
			return r
		}
		return strings.Compare(b.ID, a.ID)
	})
	o.created = o.created[:0]
	for _, v := range o.desc {
		o.created = append(o.created, v.CreatedAt)
	}
	o.asc = nil
	o.gen, o.valid = st.volumesGen, true
	o.sorts++
}

// apply moves the order on by changes; false when a record to remove is
// not where its creation time puts it (the order must be sorted again).
func (o *volumeOrder) apply(changes []volumeChange) bool {
	for _, c := range changes {
		if c.old != nil {
			i, found := o.search(c.old.CreatedAt, c.old.ID)
			if !found || o.desc[i] != c.old {
				return false
			}
			o.desc, o.created = slices.Delete(o.desc, i, i+1), slices.Delete(o.created, i, i+1)
		}
		if c.v != nil {
			i, _ := o.search(c.v.CreatedAt, c.v.ID)
			o.desc, o.created = slices.Insert(o.desc, i, c.v), slices.Insert(o.created, i, c.v.CreatedAt)
		}
		o.asc = nil
	}
	return true
}

// search is where a volume created at, of id, is or would go in desc.
func (o *volumeOrder) search(at time.Time, id string) (int, bool) {
	return sort.Find(len(o.desc), func(i int) int {
		if r := o.created[i].Compare(at); r != 0 {
			return r // newer first: at after created[i] sorts before it
		}
		return strings.Compare(o.desc[i].ID, id)
	})
}
