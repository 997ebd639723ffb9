package openstack

import (
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxLimit is Cinder's osapi_max_limit: no page is longer.
const maxLimit = 1000

type sortKey struct {
	key  string
	desc bool
}

// parseSort reads sort=key[:dir],... or the legacy sort_key/sort_dir.
func parseSort(q url.Values, valid map[string]bool) ([]sortKey, *apiError) {
	var keys []sortKey
	if s := q.Get("sort"); s != "" {
		for _, part := range strings.Split(s, ",") {
			k, dir, _ := strings.Cut(strings.TrimSpace(part), ":")
			keys = append(keys, sortKey{key: k, desc: dir != "asc"})
			if dir != "" && dir != "asc" && dir != "desc" {
				return nil, errBadRequest("Invalid input received: Unknown sort direction, must be 'desc' or 'asc'")
			}
		}
	} else if k := q.Get("sort_key"); k != "" {
		keys = append(keys, sortKey{key: k, desc: q.Get("sort_dir") != "asc"})
	}
	for i, k := range keys {
		if k.key == "display_name" {
			keys[i].key = "name"
		}
		if !valid[keys[i].key] {
			return nil, errBadRequest("Invalid input received: Invalid sort key %s", k.key)
		}
	}
	if len(keys) == 0 {
		keys = []sortKey{{key: "created_at", desc: true}}
	}
	if keys[len(keys)-1].key != "id" {
		keys = append(keys, sortKey{key: "id", desc: keys[len(keys)-1].desc})
	}
	return keys, nil
}

// sortVal is one sort field of an item: a string, a number or a time, the
// others left zero. Typed, not boxed in an any: a project of 11,000
// volumes is sorted for every page, and boxing a time per item and key
// allocated for each.
type sortVal struct {
	s string
	n int
	t time.Time
}

func sortStr(s string) sortVal     { return sortVal{s: s} }
func sortNum(n int) sortVal        { return sortVal{n: n} }
func sortTime(t time.Time) sortVal { return sortVal{t: t} }

func (a sortVal) compare(b sortVal) int {
	if r := a.t.Compare(b.t); r != 0 {
		return r
	}
	if a.n != b.n {
		if a.n < b.n {
			return -1
		}
		return 1
	}
	return strings.Compare(a.s, b.s)
}

// sortItems orders items by keys. Each item's sort fields are read once,
// not at every comparison: a project of 10,000 volumes is sorted for
// every page asked for, and boxing two fields per comparison made that
// most of the simulator's time. The keys end with the unique id, so the
// order is total and needs no stable sort.
func sortItems[T any](items []T, keys []sortKey, field func(T, string) sortVal) {
	type keyed struct {
		item T
		vals []sortVal
	}
	ks := make([]keyed, len(items))
	vals := make([]sortVal, len(items)*len(keys))
	for i, it := range items {
		v := vals[i*len(keys) : (i+1)*len(keys) : (i+1)*len(keys)]
		for j, k := range keys {
			v[j] = field(it, k.key)
		}
		ks[i] = keyed{item: it, vals: v}
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		for j, k := range keys {
			if r := a.vals[j].compare(b.vals[j]); r != 0 {
				if k.desc {
					return -r
				}
				return r
			}
		}
		return 0
	})
	for i := range ks {
		items[i] = ks[i].item
	}
}

// page sorts (unless items are sorted already), filters by
// marker/offset/limit and builds the next link. field returns the value
// of a sort key for an item.
func page[T any](c *call, items []T, id func(T) string, field func(T, string) sortVal, keys []sortKey, sorted bool, path string) ([]T, []any, *apiError) {
	q := c.r.URL.Query()
	if !sorted {
		sortItems(items, keys, field)
	}
	if m := q.Get("marker"); m != "" {
		idx := -1
		for i, it := range items {
			if id(it) == m {
				idx = i
				break
			}
		}
		if idx < 0 {
			return nil, nil, errNotFound("Marker %s could not be found.", m)
		}
		items = items[idx+1:]
	}
	if o := q.Get("offset"); o != "" {
		n, err := strconv.Atoi(o)
		if err != nil || n < 0 {
			return nil, nil, errBadRequest("Invalid input received: offset param must be positive")
		}
		if n > len(items) {
			n = len(items)
		}
		items = items[n:]
	}
	limit := maxLimit
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			return nil, nil, errBadRequest("Invalid input received: limit param must be an integer")
		}
		if n < limit {
			limit = n
		}
	}
	var links []any
	// Cinder links a next page whenever a page is full, even if it is the
	// last one.
	if len(items) >= limit && (limit > 0 || len(items) > 0) {
		items = items[:limit]
		nq := url.Values{}
		for k, v := range q {
			if k != "marker" && k != "offset" {
				nq[k] = v
			}
		}
		nq.Set("limit", strconv.Itoa(limit))
		if limit > 0 {
			nq.Set("marker", id(items[limit-1]))
		}
		links = []any{map[string]any{"href": c.cinderBase() + "/" + path + "?" + nq.Encode(), "rel": "next"}}
	}
	return items, links, nil
}

var volumeSortKeys = map[string]bool{"id": true, "name": true, "status": true, "size": true, "created_at": true,
	"updated_at": true, "availability_zone": true, "volume_type": true, "bootable": true}

func volumeField(v *Volume, k string) sortVal {
	switch k {
	case "id":
		return sortStr(v.ID)
	case "name":
		return sortStr(v.Name)
	case "status":
		return sortStr(v.Status)
	case "size":
		return sortNum(v.Size)
	case "updated_at":
		return sortTime(v.UpdatedAt)
	case "availability_zone":
		return sortStr(v.Zone)
	case "volume_type":
		return sortStr(v.VolumeType)
	case "bootable":
		return sortStr(boolString(v.Bootable))
	}
	return sortTime(v.CreatedAt)
}

var snapshotSortKeys = map[string]bool{"id": true, "name": true, "status": true, "size": true, "created_at": true,
	"updated_at": true, "volume_id": true}

func snapshotField(s *Snapshot, k string) sortVal {
	switch k {
	case "id":
		return sortStr(s.ID)
	case "name":
		return sortStr(s.Name)
	case "status":
		return sortStr(s.Status)
	case "size":
		return sortNum(s.Size)
	case "updated_at":
		return sortTime(s.UpdatedAt)
	case "volume_id":
		return sortStr(s.VolumeID)
	}
	return sortTime(s.CreatedAt)
}

func backupField(b *Backup, k string) sortVal {
	switch k {
	case "id":
		return sortStr(b.ID)
	case "name":
		return sortStr(b.Name)
	case "status":
		return sortStr(b.Status)
	case "size":
		return sortNum(b.Size)
	case "updated_at":
		return sortTime(b.UpdatedAt)
	case "volume_id":
		return sortStr(b.VolumeID)
	}
	return sortTime(b.CreatedAt)
}

// nameFilter is name= (v2/v3) or display_name= (v1).
func (c *call) nameFilter() (string, bool) {
	q := c.r.URL.Query()
	key := "name"
	if c.ver == 1 {
		key = "display_name"
	}
	if !q.Has(key) {
		return "", false
	}
	return q.Get(key), true
}

// listing is one Cinder collection: GET /{coll} and GET /{coll}/detail
// share the project scoping, the query's filters, sorting and paging.
type listing[T any] struct {
	coll     string // the path element and the body key ("volumes")
	all      func(*state) map[string]T
	project  func(T) string
	match    func(c *call) func(T) bool // the query string's filters
	id       func(T) string
	field    func(T, string) sortVal
	sortKeys map[string]bool
	view     func(c *call, item T, detail bool) any
	// ordered, when set and not nil for the keys, gives every item in
	// their order, so that a page need not sort them.
	ordered func(s *Handler, keys []sortKey) []T
	// encoded, when set and not nil for the call, gives an item's view
	// already encoded, as json.Marshal encodes view's.
	encoded func(c *call, detail bool) func(T) ([]byte, error)
}

func (l listing[T]) handler(s *Handler, detail bool) handlerFunc {
	path := l.coll
	if detail {
		path += "/detail"
	}
	return func(c *call) {
		keys, e := parseSort(c.r.URL.Query(), l.sortKeys)
		if e != nil {
			c.fail(e)
			return
		}
		keep := l.match(c)
		inScope := c.listScope()
		s.mu.Lock()
		var items []T
		var all []T
		if l.ordered != nil {
			all = l.ordered(s, keys)
		}
		if all != nil {
			for _, it := range all {
				if inScope(l.project(it)) && keep(it) {
					items = append(items, it)
				}
			}
		} else {
			for _, it := range l.all(s.st) {
				if inScope(l.project(it)) && keep(it) {
					items = append(items, it)
				}
			}
		}
		items, links, e := page(c, items, l.id, l.field, keys, all != nil, path)
		if e != nil {
			s.mu.Unlock()
			c.fail(e)
			return
		}
		if l.encoded != nil {
			if enc := l.encoded(c, detail); enc != nil {
				body, err := encodeList(l.coll, items, enc, links)
				s.mu.Unlock()
				if err != nil {
					c.fail(errInternal("encoding error"))
					return
				}
				c.rawJSON(200, body)
				return
			}
		}
		out := []any{}
		for _, it := range items {
			out = append(out, l.view(c, it, detail))
		}
		s.mu.Unlock()
		body := map[string]any{l.coll: out}
		if links != nil {
			body[l.coll+"_links"] = links
		}
		c.json(200, body)
	}
}

// encodeList is json.Marshal(map[string]any{coll: views, coll+"_links":
// links}) from views already encoded: the keys in that order, links only
// when there are.
func encodeList[T any](coll string, items []T, enc func(T) ([]byte, error), links []any) ([]byte, error) {
	b := make([]byte, 0, 64+len(items)*1200)
	b = append(b, `{"`...)
	b = append(b, coll...)
	b = append(b, `":[`...)
	for i, it := range items {
		v, err := enc(it)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, v...)
	}
	b = append(b, ']')
	if links != nil {
		l, err := json.Marshal(links)
		if err != nil {
			return nil, err
		}
		b = append(b, `,"`...)
		b = append(b, coll...)
		b = append(b, `_links":`...)
		b = append(b, l...)
	}
	return append(b, '}'), nil
}

// listScope says which projects a listing shows: the caller's, or for an
// admin with all_tenants=1 every project (or the one named by project_id).
func (c *call) listScope() func(string) bool {
	q := c.r.URL.Query()
	all := q.Has("all_tenants")
	if v := q.Get("all_tenants"); v != "" {
		var b jsonBool
		all = b.UnmarshalJSON([]byte(v)) == nil && bool(b)
	}
	if all && c.isAdmin() {
		if p := q.Get("project_id"); p != "" {
			return func(got string) bool { return got == p }
		}
		return func(string) bool { return true }
	}
	return func(got string) bool { return got == c.project }
}

// metadataFilter is ?metadata={"k":"v"}: every pair must be in the item's
// metadata. A value that is not a JSON object matches nothing.
func metadataFilter(q url.Values) func(map[string]string) bool {
	if !q.Has("metadata") {
		return func(map[string]string) bool { return true }
	}
	var want map[string]string
	if err := json.Unmarshal([]byte(q.Get("metadata")), &want); err != nil {
		return func(map[string]string) bool { return false }
	}
	return func(m map[string]string) bool {
		for k, v := range want {
			if got, ok := m[k]; !ok || got != v {
				return false
			}
		}
		return true
	}
}

// queryMatch is true when the query has no key or its value equals got.
func queryMatch(q url.Values, key, got string) bool {
	return !q.Has(key) || q.Get(key) == got
}

var volumeListing = listing[*Volume]{
	coll:    "volumes",
	all:     func(st *state) map[string]*Volume { return st.Volumes },
	project: func(v *Volume) string { return v.ProjectID },
	match: func(c *call) func(*Volume) bool {
		q := c.r.URL.Query()
		name, byName := c.nameFilter()
		meta := metadataFilter(q)
		return func(v *Volume) bool {
			return (!byName || v.Name == name) && queryMatch(q, "status", v.Status) && meta(v.Metadata) &&
				(q.Get("availability_zone") == "" || v.Zone == q.Get("availability_zone"))
		}
	},
	id:       func(v *Volume) string { return v.ID },
	field:    volumeField,
	sortKeys: volumeSortKeys,
	ordered:  func(s *Handler, keys []sortKey) []*Volume { return s.volumeOrder.by(s.st, keys) },
	view: func(c *call, v *Volume, detail bool) any {
		if detail {
			return c.volumeView(v, viewShow)
		}
		return c.volumeSummary(v)
	},
	encoded: func(c *call, detail bool) func(*Volume) ([]byte, error) {
		if !detail && c.ver != 1 {
			return nil // the summary: three fields, not worth keeping
		}
		defer c.s.forgetViews()
		return c.volumeViews(viewShow).encode
	},
}

var snapshotListing = listing[*Snapshot]{
	coll:    "snapshots",
	all:     func(st *state) map[string]*Snapshot { return st.Snapshots },
	project: func(sn *Snapshot) string { return sn.ProjectID },
	match: func(c *call) func(*Snapshot) bool {
		q := c.r.URL.Query()
		name, byName := c.nameFilter()
		meta := metadataFilter(q)
		return func(sn *Snapshot) bool {
			return meta(sn.Metadata) && (!byName || sn.Name == name) && queryMatch(q, "status", sn.Status) && queryMatch(q, "volume_id", sn.VolumeID)
		}
	},
	id:       func(sn *Snapshot) string { return sn.ID },
	field:    snapshotField,
	sortKeys: snapshotSortKeys,
	view:     func(c *call, sn *Snapshot, detail bool) any { return c.snapshotView(sn, detail) },
}

// Backups are filtered by name= in every version: the backup API kept its
// field names when v2 renamed display_name.
var backupListing = listing[*Backup]{
	coll:    "backups",
	all:     func(st *state) map[string]*Backup { return st.Backups },
	project: func(b *Backup) string { return b.ProjectID },
	match: func(c *call) func(*Backup) bool {
		q := c.r.URL.Query()
		return func(b *Backup) bool {
			return queryMatch(q, "name", b.Name) && queryMatch(q, "status", b.Status) && queryMatch(q, "volume_id", b.VolumeID)
		}
	},
	id:       func(b *Backup) string { return b.ID },
	field:    backupField,
	sortKeys: snapshotSortKeys,
	view: func(c *call, b *Backup, detail bool) any {
		if detail {
			return c.backupView(b)
		}
		return c.backupSummary(b)
	},
}
