package cloudsim_test

import (
	"strings"
	"testing"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
)

// NHN Cloud's documents (seeds 000 and 002) publish volumes, snapshots and
// image upload but no backup API: the nhn profile has no backup routes and
// does not list the extension, while the generic cloud's v2 face has both.
func TestBackupAPIOnlyWhereTheCloudHasOne(t *testing.T) {
	for _, tc := range []struct {
		profile string
		backups bool
	}{{"nhn", false}, {"generic", true}} {
		t.Run(tc.profile, func(t *testing.T) {
			_, c := start(t, cloudsim.Config{Profile: tc.profile, RateLimit: -1})
			id := c.createVolume(map[string]any{"size": 1})
			c.waitVolume(id, "available")

			v2 := func(method, path string, body any) resp { return c.do(method, "volume/v2", path, body) }
			ext := v2("GET", "/extensions", nil)
			if ext.code != 200 {
				t.Fatalf("extensions: %d %s", ext.code, ext.raw)
			}
			if got := strings.Contains(ext.raw, `"alias":"backups"`); got != tc.backups {
				t.Errorf("extensions list backups: %v, want %v: %s", got, tc.backups, ext.raw)
			}
			create := v2("POST", "/backups", map[string]any{"backup": map[string]any{"volume_id": id}})
			list := v2("GET", "/backups/detail", nil)
			if !tc.backups {
				expectFault(t, create, 404, "itemNotFound", "could not be found")
				expectFault(t, list, 404, "itemNotFound", "could not be found")
				return
			}
			if create.code != 202 || list.code != 200 {
				t.Fatalf("backup create %d %s; list %d %s", create.code, create.raw, list.code, list.raw)
			}
			c.waitBackup(str(obj(create.body, "backup"), "id"), "available")
		})
	}
}
