package cloudsim_test

import (
	"fmt"
	"testing"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
)

// SeedVolumes fills the default project without API calls: the volumes
// are listed, available and paged like any other, no other project sees
// them, and the calls the test makes are the only ones counted.
func TestSeedVolumes(t *testing.T) {
	sim, c := start(t, cloudsim.Config{Profile: "nhn", RateLimit: -1, SeedVolumes: 25})
	sim.ResetStats()
	seen := map[string]bool{}
	marker := ""
	for range 10 {
		q := "/volumes/detail?limit=10"
		if marker != "" {
			q += "&marker=" + marker
		}
		r := c.cinder("GET", q, nil)
		if r.code != 200 {
			t.Fatalf("list: %d %s", r.code, r.raw)
		}
		items := r.body["volumes"].([]any)
		for _, it := range items {
			v := it.(map[string]any)
			if str(v, "status") != "available" {
				t.Errorf("seeded volume %s is %s", str(v, "name"), str(v, "status"))
			}
			seen[str(v, "name")] = true
		}
		if len(items) < 10 {
			break
		}
		marker = str(items[len(items)-1].(map[string]any), "id")
	}
	for i := range 25 {
		if name := fmt.Sprintf("%s%05d", cloudsim.SeedPrefix, i); !seen[name] {
			t.Errorf("%s not listed", name)
		}
	}
	if len(seen) != 25 {
		t.Errorf("listed %d volumes, want 25", len(seen))
	}
	if n := sim.Stats().Total; n != 3 {
		t.Errorf("%d calls counted, want the test's 3 pages", n)
	}
	alt := login(t, c.base, cloudsim.AltUser, cloudsim.DefaultPassword, cloudsim.AltProject)
	if got := listNames(t, alt.cinder("GET", "/volumes/detail", nil), "volumes"); got != "[]" {
		t.Errorf("another project lists %s", got)
	}
}
