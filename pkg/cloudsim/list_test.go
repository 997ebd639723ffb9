package cloudsim_test

import (
	"fmt"
	"sort"
	"testing"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
)

// listNames is the sorted names of a list response's items under key.
func listNames(t *testing.T, r resp, key string) string {
	t.Helper()
	if r.code != 200 {
		t.Fatalf("list %s: %d %s", key, r.code, r.raw)
	}
	var names []string
	for _, it := range r.body[key].([]any) {
		names = append(names, str(it.(map[string]any), "name"))
	}
	sort.Strings(names)
	return fmt.Sprint(names)
}

// The query filters the driver relies on (a snapshot's or backup's volume,
// a name, a status) narrow each collection, and no list shows another
// project's items.
func TestListFiltersAndProjects(t *testing.T) {
	// The generic cloud: the nhn profile has no backups to list.
	_, c := start(t, cloudsim.Config{Profile: "generic", RateLimit: -1})
	alt := login(t, c.base, cloudsim.AltUser, cloudsim.DefaultPassword, cloudsim.AltProject)

	volA := c.createVolume(map[string]any{"size": 1, "name": "a"})
	volB := c.createVolume(map[string]any{"size": 1, "name": "b"})
	zone := str(c.waitVolume(volA, "available"), "availability_zone")
	c.waitVolume(volB, "available")
	altVol := str(obj(alt.cinder("POST", "/volumes", map[string]any{"volume": map[string]any{"size": 1, "name": "a"}}).body, "volume"), "id")
	alt.waitVolume(altVol, "available")

	for vol, name := range map[string]string{volA: "s-a", volB: "s-b"} {
		r := c.cinder("POST", "/snapshots", map[string]any{"snapshot": map[string]any{"volume_id": vol, "name": name}})
		if r.code != 202 {
			t.Fatalf("snapshot: %d %s", r.code, r.raw)
		}
		c.waitSnapshot(str(obj(r.body, "snapshot"), "id"), "available")
	}
	r := c.cinder("POST", "/backups", map[string]any{"backup": map[string]any{"volume_id": volA, "name": "b-a"}})
	if r.code != 202 {
		t.Fatalf("backup: %d %s", r.code, r.raw)
	}
	c.waitBackup(str(obj(r.body, "backup"), "id"), "available")

	for _, tc := range []struct{ path, key, want string }{
		{"/volumes", "volumes", "[a b]"},
		{"/volumes/detail?name=a", "volumes", "[a]"},
		{"/volumes?status=available&availability_zone=" + zone, "volumes", "[a b]"},
		{"/volumes?availability_zone=nowhere", "volumes", "[]"},
		{"/volumes?status=in-use", "volumes", "[]"},
		{"/snapshots?volume_id=" + volA, "snapshots", "[s-a]"},
		{"/snapshots/detail?name=s-b", "snapshots", "[s-b]"},
		{"/snapshots?status=error", "snapshots", "[]"},
		{"/backups?volume_id=" + volA, "backups", "[b-a]"},
		{"/backups?volume_id=" + volB, "backups", "[]"},
		{"/backups/detail?name=b-a&status=available", "backups", "[b-a]"},
	} {
		if got := listNames(t, c.cinder("GET", tc.path, nil), tc.key); got != tc.want {
			t.Errorf("GET %s: %s, want %s", tc.path, got, tc.want)
		}
	}
	// The other project sees its own volume only, and none of the snapshots or backups.
	for _, tc := range []struct{ path, key, want string }{
		{"/volumes/detail", "volumes", "[a]"},
		{"/snapshots/detail", "snapshots", "[]"},
		{"/backups/detail", "backups", "[]"},
	} {
		if got := listNames(t, alt.cinder("GET", tc.path, nil), tc.key); got != tc.want {
			t.Errorf("alt GET %s: %s, want %s", tc.path, got, tc.want)
		}
	}
	if r := alt.cinder("GET", "/volumes/detail", nil); str(r.body["volumes"].([]any)[0].(map[string]any), "id") != altVol {
		t.Errorf("alt project lists %s", r.raw)
	}
}
