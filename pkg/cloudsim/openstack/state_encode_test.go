package openstack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// The state file is json.Marshal of the state, byte for byte, however the
// volumes changed between two encodings: changed in place, replaced,
// added and removed.
func TestStateEncoderMatchesMarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	st := newState()
	st.TokenKey = []byte("key")
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	for i := range 50 {
		v := &Volume{ID: fmt.Sprintf("v%02d", i), ProjectID: "p", Status: "available", Size: 1,
			Metadata: map[string]string{}, Attachments: []*Attachment{}, CreatedAt: at, UpdatedAt: at}
		st.putVolume(v)
	}
	var enc stateEncoder
	for step := range 2000 {
		if step == 1000 {
			// More changes between two encodings than the state keeps.
			for i := range maxVolumeLog + 1 {
				st.putVolume(&Volume{ID: fmt.Sprintf("m%05d", i), CreatedAt: at})
			}
			for i := range maxVolumeLog + 1 {
				st.dropVolume(fmt.Sprintf("m%05d", i))
			}
		}
		// Several changes between two encodings, as commits gather them.
		for range 1 + rng.IntN(3) {
			ids := make([]string, 0, len(st.Volumes))
			for id := range st.Volumes {
				ids = append(ids, id)
			}
			var v *Volume
			if len(ids) > 0 {
				v = st.Volumes[ids[rng.IntN(len(ids))]]
			}
			switch op := rng.IntN(9); {
			case v == nil || op == 0:
				nv := &Volume{ID: fmt.Sprintf("n%04d", step), Status: "creating", CreatedAt: at}
				st.putVolume(nv)
			case op == 1:
				st.dropVolume(v.ID)
			case op == 2:
				v.Status = []string{"available", "in-use", "extending"}[rng.IntN(3)]
			case op == 3:
				v.Size++
			case op == 4:
				if v.Metadata == nil {
					v.Metadata = map[string]string{}
				}
				v.Metadata[fmt.Sprint("k", rng.IntN(3))] = fmt.Sprint(step)
			case op == 5:
				v.Attachments = append(v.Attachments, &Attachment{ID: fmt.Sprint("a", step), ServerID: "s", Status: "attaching"})
			case op == 6:
				if len(v.Attachments) > 0 {
					v.Attachments[0].Status = "attached" // changed through the pointer the volume shares
				}
			case op == 7:
				ro := rng.IntN(2) == 0
				v.ReadOnly = &ro
			case op == 8:
				c := exactCopy(v)
				c.UpdatedAt = c.UpdatedAt.Add(time.Second)
				st.putVolume(&c) // replaced by another record
			}
		}
		got, err := enc.encode(st)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(st)
		if !bytes.Equal(got, want) {
			t.Fatalf("step %d: encoding differs from json.Marshal:\n got %.400s\nwant %.400s", step, got, want)
		}
	}
}

// sameVolume must notice a change to any field: one it missed would leave
// an old encoding in the state file. Each field is changed in turn by
// reflection, so a field added to Volume and not to sameVolume fails here.
func TestSameVolumeSeesEveryField(t *testing.T) {
	ro := false
	base := Volume{Metadata: map[string]string{"a": "b"}, ImageMetadata: map[string]string{}, ReadOnly: &ro,
		Attachments: []*Attachment{{ID: "a1"}}}
	typ := reflect.TypeOf(base)
	for i := range typ.NumField() {
		f := typ.Field(i)
		was := exactCopy(&base)
		v := exactCopy(&base)
		fv := reflect.ValueOf(&v).Elem().Field(i)
		switch fv.Kind() {
		case reflect.String:
			fv.SetString("x")
		case reflect.Int:
			fv.SetInt(7)
		case reflect.Bool:
			fv.SetBool(true)
		case reflect.Map:
			fv.SetMapIndex(reflect.ValueOf("new"), reflect.ValueOf("v"))
		case reflect.Pointer:
			t := true
			fv.Set(reflect.ValueOf(&t))
		case reflect.Slice:
			v.Attachments[0].Status = "attached"
		case reflect.Struct: // time.Time
			fv.Set(reflect.ValueOf(time.Unix(1, 0)))
		default:
			t.Fatalf("field %s: kind %s not covered by this test", f.Name, fv.Kind())
		}
		if sameVolume(&was, &v) {
			t.Errorf("sameVolume misses a change of %s", f.Name)
		}
	}
	// Nil and empty encode differently (null, {}).
	was := exactCopy(&base)
	v := exactCopy(&base)
	v.ImageMetadata = nil
	if sameVolume(&was, &v) {
		t.Error("sameVolume takes a nil map for an empty one")
	}
	if !sameVolume(&was, &base) {
		t.Error("sameVolume differs on an exact copy")
	}
}
