package openstack

import (
	"encoding/json"
)

// A page of /volumes/detail is 1,000 volume views; building each as a map
// and encoding it made most of a listing's time in a project of 11,000
// volumes, though a volume's view rarely changes between two polls. So
// the encoded view is kept per volume and per viewKey, with a copy of the
// volume it was made from (see sameVolume), and made again only when the
// volume differs from that copy. The bytes are json.Marshal of volumeView.

// viewKey is everything other than the volume that its view depends on:
// the call's version, microversion, role and URLs, and the volume type's
// encryption and id.
type viewKey struct {
	ver       int
	micro     string
	admin     bool
	kind      viewKind
	base      string // c.baseURL()
	project   string
	encrypted bool
	typeID    string
	typeFound bool
}

type cachedViews struct {
	was   Volume
	views map[viewKey][]byte
}

// maxViewsPerVolume bounds the views kept of one volume: callers of many
// microversions or hosts keep only the latest few.
const maxViewsPerVolume = 8

// volumeViews renders volume views for one call (s.mu held). Type lookups
// are made once per type, not per volume.
type volumeViews struct {
	c     *call
	key   viewKey
	types map[string]*VolumeType
}

func (c *call) volumeViews(kind viewKind) *volumeViews {
	return &volumeViews{c: c, key: viewKey{ver: c.ver, micro: c.micro, admin: c.isAdmin(), kind: kind,
		base: c.baseURL(), project: c.project}, types: map[string]*VolumeType{}}
}

// encode returns v's view as json.Marshal would encode volumeView(v).
func (vv *volumeViews) encode(v *Volume) ([]byte, error) {
	s := vv.c.s
	t, seen := vv.types[v.VolumeType]
	if !seen {
		t, _ = s.volumeType(v.VolumeType)
		vv.types[v.VolumeType] = t
	}
	key := vv.key
	if t != nil {
		key.typeFound, key.typeID, key.encrypted = true, t.ID, t.Encryption != nil
	}
	if s.views == nil {
		s.views = map[string]*cachedViews{}
	}
	cv := s.views[v.ID]
	if cv == nil || !sameVolume(&cv.was, v) {
		cv = &cachedViews{was: exactCopy(v), views: map[viewKey][]byte{}}
		s.views[v.ID] = cv
	}
	if b, ok := cv.views[key]; ok {
		return b, nil
	}
	b, err := json.Marshal(vv.c.volumeView(v, vv.key.kind))
	if err != nil {
		return nil, err
	}
	if len(cv.views) >= maxViewsPerVolume {
		clear(cv.views)
	}
	cv.views[key] = b
	return b, nil
}

// forgetViews drops the views of volumes that are gone, once they are
// many (s.mu held).
func (s *Handler) forgetViews() {
	if len(s.views) <= 2*len(s.st.Volumes)+100 {
		return
	}
	for id := range s.views {
		if s.st.Volumes[id] == nil {
			delete(s.views, id)
		}
	}
}
