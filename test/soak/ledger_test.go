package soak

import (
	"fmt"
	"maps"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
)

// ledger is who owns what: the ids the driver returned for each request
// name, and any moment the simulator held two live resources for one name.
//
// Two live resources under one name are not always a driver's fault: a
// create request can reach the cloud after its request's retry made
// another (queued while the CO's attempt timed out, or sent by a
// controller killed before the answer), and no Cinder or Lunanode call
// makes a create idempotent. What the driver owes is that the CO never
// gets two answers for a name and that the later one goes. So a name
// answered with two ids is a duplicate, and so is a name two live
// resources still hold at the end; twins seen on the way and gone by the
// end are counted apart, as late twins the driver removed.
type ledger struct {
	mu       sync.Mutex
	returned map[string]map[string]bool // "volume NAME" -> ids answered
	dups     map[string]string          // "volume NAME" -> two answers
	twins    map[string]string          // "volume NAME" -> what was seen
}

func newLedger() *ledger {
	return &ledger{returned: map[string]map[string]bool{}, dups: map[string]string{}, twins: map[string]string{}}
}

// answered records that a Create call for name returned id; a second,
// different id for the same name is a duplicate.
func (l *ledger) answered(kind, name, id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := kind + " " + name
	if l.returned[key] == nil {
		l.returned[key] = map[string]bool{}
	}
	l.returned[key][id] = true
	if len(l.returned[key]) > 1 {
		l.dups[key] = fmt.Sprintf("the driver answered with ids %s", strings.Join(sortedKeys(l.returned[key]), ", "))
	}
}

// observe checks one sample of the simulator's state: a request name held
// by two resources that are neither failed nor on their way out means a
// retry created a second one.
func (l *ledger) observe(st cloudsim.StateDump) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for key, what := range heldTwice(st) {
		if _, seen := l.twins[key]; !seen {
			l.twins[key] = what
		}
	}
}

// heldTwice returns the request names two live resources hold in st.
func heldTwice(st cloudsim.StateDump) map[string]string {
	live := map[string][]string{}
	add := func(kind, name, id, status string) {
		s := strings.ToLower(status)
		if name == "" || strings.HasPrefix(s, "error") || s == "deleting" || s == "gone" {
			return
		}
		live[kind+" "+name] = append(live[kind+" "+name], id+" ("+status+")")
	}
	for _, v := range st.Volumes {
		add("volume", v.Name, v.ID, v.Status)
	}
	for _, s := range st.Snapshots {
		add("snapshot", s.Name, s.ID, s.Status)
	}
	for _, b := range st.Backups {
		add("snapshot", b.Name, "backup:"+b.ID, b.Status)
	}
	if ln := st.Lunanode; ln != nil {
		for _, v := range ln.Volumes {
			add("volume", v.Name, fmt.Sprintf("%s/%d", v.Region, v.ID), v.Status)
		}
		for _, s := range ln.Snapshots {
			add("snapshot", s.Name, s.Region+"/"+s.ID, s.Status)
		}
	}
	out := map[string]string{}
	for key, ids := range live {
		if len(ids) > 1 {
			sort.Strings(ids)
			out[key] = "the cloud held " + strings.Join(ids, " and ")
		}
	}
	return out
}

// duplicates are the names answered with two ids, and those two live
// resources hold in final, the simulator's state at the end.
func (l *ledger) duplicates(final cloudsim.StateDump) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	all := maps.Clone(l.dups)
	for key, what := range heldTwice(final) {
		if _, ok := all[key]; !ok {
			all[key] = what + " at the end"
		}
	}
	var out []string
	for k, v := range all {
		out = append(out, k+": "+v)
	}
	sort.Strings(out)
	return out
}

// lateTwins are the names two live resources held on the way, and no
// longer held at the end.
func (l *ledger) lateTwins(final cloudsim.StateDump) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	still := heldTwice(final)
	var out []string
	for k, v := range l.twins {
		if _, ok := still[k]; !ok {
			out = append(out, k+": "+v)
		}
	}
	sort.Strings(out)
	return out
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Twins gone by the end are late twins, not duplicates; a name still
// held twice at the end, or answered with two ids, is a duplicate.
func TestLedgerTellsLateTwinsFromDuplicates(t *testing.T) {
	vol := func(id, name, status string) cloudsim.Volume {
		return cloudsim.Volume{ID: id, Name: name, Status: status}
	}
	l := newLedger()
	l.observe(cloudsim.StateDump{Volumes: []cloudsim.Volume{vol("a", "gone-later", "available"), vol("b", "gone-later", "creating"),
		vol("c", "stays", "available"), vol("d", "stays", "available")}})
	l.answered("volume", "answered-twice", "e")
	l.answered("volume", "answered-twice", "f")
	final := cloudsim.StateDump{Volumes: []cloudsim.Volume{vol("a", "gone-later", "available"), vol("b", "gone-later", "deleting"),
		vol("c", "stays", "available"), vol("d", "stays", "available")}}
	dups, twins := l.duplicates(final), l.lateTwins(final)
	if len(dups) != 2 || !strings.HasPrefix(dups[0], "volume answered-twice:") || !strings.HasPrefix(dups[1], "volume stays:") {
		t.Errorf("duplicates = %q; want answered-twice and stays", dups)
	}
	if len(twins) != 1 || !strings.HasPrefix(twins[0], "volume gone-later:") {
		t.Errorf("late twins = %q; want gone-later", twins)
	}
}
