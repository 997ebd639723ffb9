package openstack

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"
)

// stateEncoder encodes the state file. A project of 11,000 volumes was
// encoded whole for every commit, which made most of the simulator's time
// under make bench-scale (and held the state lock meanwhile); yet between
// two commits only a few volumes change. So each volume's encoding is kept
// with a copy of the volume it was made from, and reused while the volume
// still equals that copy. Comparing is cheap and needs no bookkeeping at
// the many places that change a volume: a volume changed anywhere differs
// from its copy. The volumes are kept in the file's order (by id); when
// Volumes gains or loses some, the encoder applies those changes
// (state.volumeChangesSince) rather than sorting every id again. The
// bytes are those json.Marshal gives for the whole state.
type stateEncoder struct {
	gen   uint64
	vols  []*encodedVolume // by id
	valid bool
}

type encodedVolume struct {
	id   string
	key  []byte  // the id encoded, and a colon
	v    *Volume // the record in Volumes
	was  Volume  // a deep copy of the volume as encoded
	json []byte
}

// stateRest is the state without its volumes: Volumes shadows state's
// own field and, empty, is left out.
type stateRest struct {
	*state
	Volumes json.RawMessage `json:"volumes,omitempty"`
}

// encode is json.Marshal(st), reusing unchanged volumes' encodings (the
// caller holds the lock that guards st).
func (e *stateEncoder) encode(st *state) ([]byte, error) {
	if changes, ok := st.volumeChangesSince(e.gen); e.valid && ok {
		e.apply(changes)
		e.gen = st.volumesGen
	}
	if !e.valid || e.gen != st.volumesGen || len(e.vols) != len(st.Volumes) {
		e.reindex(st)
	}
	size := 64
	for _, ev := range e.vols {
		if ev.json == nil || !sameVolume(&ev.was, ev.v) {
			b, err := json.Marshal(ev.v)
			if err != nil {
				return nil, err
			}
			ev.was, ev.json = exactCopy(ev.v), b
		}
		size += len(ev.key) + len(ev.json) + 1
	}
	var buf bytes.Buffer
	buf.Grow(size)
	// volumes is the first field of state, as json.Marshal writes it.
	if st.Volumes == nil {
		buf.WriteString(`{"volumes":null`)
	} else {
		buf.WriteString(`{"volumes":{`)
		for i, ev := range e.vols {
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.Write(ev.key)
			buf.Write(ev.json)
		}
		buf.WriteByte('}')
	}
	rest, err := json.Marshal(stateRest{state: st})
	if err != nil {
		return nil, err
	}
	buf.WriteByte(',')
	buf.Write(rest[1:]) // the other fields, never none: token_key is always there
	return buf.Bytes(), nil
}

// reindex lists st's volumes by id, keeping the encodings of records
// still there.
func (e *stateEncoder) reindex(st *state) {
	old := make(map[*Volume]*encodedVolume, len(e.vols))
	for _, ev := range e.vols {
		old[ev.v] = ev
	}
	e.vols = e.vols[:0:0]
	for _, id := range slices.Sorted(maps.Keys(st.Volumes)) {
		v := st.Volumes[id]
		ev := old[v]
		if ev == nil || ev.id != id {
			ev = newEncodedVolume(id, v)
		}
		e.vols = append(e.vols, ev)
	}
	e.gen, e.valid = st.volumesGen, true
}

// apply keeps e.vols in step with changes to Volumes made since it was
// last current.
func (e *stateEncoder) apply(changes []volumeChange) {
	for _, c := range changes {
		i, found := slices.BinarySearchFunc(e.vols, c.id, func(ev *encodedVolume, id string) int { return strings.Compare(ev.id, id) })
		switch {
		case c.v == nil && found:
			e.vols = slices.Delete(e.vols, i, i+1)
		case c.v != nil && found:
			e.vols[i].v, e.vols[i].json = c.v, nil
		case c.v != nil:
			e.vols = slices.Insert(e.vols, i, newEncodedVolume(c.id, c.v))
		}
	}
}

func newEncodedVolume(id string, v *Volume) *encodedVolume {
	k, _ := json.Marshal(id)
	return &encodedVolume{id: id, key: append(k, ':'), v: v}
}

// sameVolume reports whether v would encode as was did. Every field of
// Volume is compared (TestSameVolumeSeesEveryField keeps it so); nil and
// empty differ where JSON tells them apart.
func sameVolume(was, v *Volume) bool {
	if was.ID != v.ID || was.ProjectID != v.ProjectID || was.UserID != v.UserID || was.Name != v.Name ||
		was.Description != v.Description || was.Status != v.Status || was.Size != v.Size || was.Zone != v.Zone ||
		was.VolumeType != v.VolumeType || was.SnapshotID != v.SnapshotID || was.SourceVolID != v.SourceVolID ||
		was.BackupID != v.BackupID || was.ImageRef != v.ImageRef || was.Multiattach != v.Multiattach ||
		was.Bootable != v.Bootable || was.CreatedAt != v.CreatedAt || was.UpdatedAt != v.UpdatedAt ||
		was.PrevStatus != v.PrevStatus || was.NewSize != v.NewSize || was.RestoreFrom != v.RestoreFrom {
		return false
	}
	if (was.ReadOnly == nil) != (v.ReadOnly == nil) || (was.ReadOnly != nil && *was.ReadOnly != *v.ReadOnly) {
		return false
	}
	if !sameMeta(was.Metadata, v.Metadata) || !sameMeta(was.ImageMetadata, v.ImageMetadata) {
		return false
	}
	if (was.Attachments == nil) != (v.Attachments == nil) || len(was.Attachments) != len(v.Attachments) {
		return false
	}
	for i, a := range v.Attachments {
		if a == nil || was.Attachments[i] == nil {
			if a != was.Attachments[i] {
				return false
			}
			continue
		}
		if *a != *was.Attachments[i] {
			return false
		}
	}
	return true
}

// exactCopy is a deep copy of v that keeps nil maps and slices nil and
// empty ones empty, as they encode differently.
func exactCopy(v *Volume) Volume {
	c := *v
	c.Metadata = maps.Clone(v.Metadata)
	c.ImageMetadata = maps.Clone(v.ImageMetadata)
	if v.ReadOnly != nil {
		ro := *v.ReadOnly
		c.ReadOnly = &ro
	}
	if v.Attachments != nil {
		c.Attachments = make([]*Attachment, len(v.Attachments))
		for i, a := range v.Attachments {
			if a != nil {
				ac := *a
				c.Attachments[i] = &ac
			}
		}
	}
	return c
}

func sameMeta(a, b map[string]string) bool {
	return (a == nil) == (b == nil) && maps.Equal(a, b)
}
