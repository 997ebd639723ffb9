package openstack

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"testing"
	"time"
)

// A kept view is the view made afresh, byte for byte, whatever changed
// since it was kept: the volume, its type's encryption, or who asks, in
// which version and microversion, through which host.
func TestVolumeViewsMatchFreshViews(t *testing.T) {
	prof, err := LookupProfile("generic")
	if err != nil {
		t.Fatal(err)
	}
	s := &Handler{prof: prof, st: newState(), cfg: Config{Users: []User{
		{ID: "admin-user", Roles: []string{"admin"}}, {ID: "member-user", Roles: []string{"member"}},
	}}}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range 20 {
		s.st.putVolume(&Volume{ID: fmt.Sprintf("v%02d", i), ProjectID: "p", Status: "available", Size: 1,
			VolumeType: prof.defaultType, Metadata: map[string]string{}, Attachments: []*Attachment{}, CreatedAt: at, UpdatedAt: at})
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for step := range 1000 {
		v := s.st.Volumes[fmt.Sprintf("v%02d", rng.IntN(20))]
		switch rng.IntN(6) {
		case 0:
			v.Status = []string{"available", "in-use", "extending"}[rng.IntN(3)]
		case 1:
			v.Metadata[fmt.Sprint("k", rng.IntN(2))] = fmt.Sprint(step)
		case 2:
			v.Attachments = append(v.Attachments, &Attachment{ID: fmt.Sprint("a", step), ServerID: "srv", Status: "attaching"})
		case 3:
			if len(v.Attachments) > 0 {
				v.Attachments[0].Status = "attached"
				v.Attachments[0].AttachedAt = at
			}
		case 4:
			v.Name = fmt.Sprint("n", step)
		case 5:
			// The type's encryption changes, not the volume.
			ty, _ := s.volumeType(v.VolumeType)
			c := *ty
			if c.Encryption == nil {
				c.Encryption = &TypeEncryption{Provider: "luks"}
			} else {
				c.Encryption = nil
			}
			if s.st.Types == nil {
				s.st.Types = map[string]*VolumeType{}
			}
			s.st.Types[c.ID] = &c
		}
		host := []string{"a.example", "b.example"}[rng.IntN(2)]
		c := &call{s: s, r: httptest.NewRequest("GET", "http://"+host+"/", nil), project: "p",
			ver: 1 + rng.IntN(3), micro: []string{"3.0", "3.48", "3.63", "3.69"}[rng.IntN(4)],
			tok: &token{UserID: []string{"admin-user", "member-user"}[rng.IntN(2)]}}
		vv := c.volumeViews(viewShow)
		for _, v := range s.st.Volumes {
			got, err := vv.encode(v)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := json.Marshal(c.volumeView(v, viewShow))
			if string(got) != string(want) {
				t.Fatalf("step %d: kept view differs:\n got %s\nwant %s", step, got, want)
			}
		}
	}
}

// A list body put together from encoded views is json.Marshal's, with and
// without a next link, and when empty.
func TestEncodeListMatchesMarshal(t *testing.T) {
	views := []map[string]any{{"id": "a", "name": "<b>&"}, {"id": "b", "metadata": map[string]string{"z": "1", "a": "2"}}}
	links := []any{map[string]any{"href": "http://h/volumes?limit=2&marker=b", "rel": "next"}}
	for _, c := range []struct {
		views []map[string]any
		links []any
	}{{views, links}, {views, nil}, {nil, nil}} {
		enc := func(m map[string]any) ([]byte, error) { return json.Marshal(m) }
		got, err := encodeList("volumes", c.views, enc, c.links)
		if err != nil {
			t.Fatal(err)
		}
		out := []any{}
		for _, v := range c.views {
			out = append(out, v)
		}
		body := map[string]any{"volumes": out}
		if c.links != nil {
			body["volumes_links"] = c.links
		}
		want, _ := json.Marshal(body)
		if string(got) != string(want) {
			t.Errorf("got %s\nwant %s", got, want)
		}
	}
}
