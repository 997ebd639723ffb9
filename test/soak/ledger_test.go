package soak

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
)

// ledger is who owns what: the ids the driver returned for each request
// name, and any moment the simulator held two live resources for one name.
type ledger struct {
	mu       sync.Mutex
	returned map[string]map[string]bool // "volume NAME" -> ids answered
	dups     map[string]string          // "volume NAME" -> what was seen
}

func newLedger() *ledger {
	return &ledger{returned: map[string]map[string]bool{}, dups: map[string]string{}}
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
	l.mu.Lock()
	defer l.mu.Unlock()
	for key, ids := range live {
		if len(ids) > 1 {
			if _, seen := l.dups[key]; !seen {
				sort.Strings(ids)
				l.dups[key] = "the cloud held " + strings.Join(ids, " and ")
			}
		}
	}
}

func (l *ledger) duplicates() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for k, v := range l.dups {
		out = append(out, k+": "+v)
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
