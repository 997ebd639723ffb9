package cloudsim_test

import (
	"net/url"
	"testing"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
)

// An admin reaches another project's volume; all_tenants lists every
// project (project_id narrows it); a user gets neither.
func TestAdminScope(t *testing.T) {
	_, admin := start(t, cloudsim.Config{})
	user := login(t, admin.base, cloudsim.AltUser, cloudsim.DefaultPassword, cloudsim.AltProject)
	uid := user.createVolume(map[string]any{"size": 1, "name": "users"})
	aid := admin.createVolume(map[string]any{"size": 1, "name": "admins"})
	if r := admin.cinder("GET", "/volumes/"+uid, nil); r.code != 200 {
		t.Fatalf("admin GET other project's volume: %d %s", r.code, r.raw)
	}
	if r := user.cinder("GET", "/volumes/"+aid, nil); r.code != 404 {
		t.Fatalf("user GET admin's volume: %d", r.code)
	}
	names := func(c *client, q string) map[string]bool {
		r := c.cinder("GET", "/volumes/detail"+q, nil)
		out := map[string]bool{}
		for _, v := range r.body["volumes"].([]any) {
			out[str(v.(map[string]any), "name")] = true
		}
		return out
	}
	if n := names(admin, ""); !n["admins"] || n["users"] {
		t.Fatalf("admin default listing: %v", n)
	}
	if n := names(admin, "?all_tenants=1"); !n["admins"] || !n["users"] {
		t.Fatalf("all_tenants: %v", n)
	}
	if n := names(admin, "?all_tenants=1&project_id="+cloudsim.AltProject); n["admins"] || !n["users"] {
		t.Fatalf("all_tenants with project_id: %v", n)
	}
	if n := names(user, "?all_tenants=1"); n["admins"] || !n["users"] {
		t.Fatalf("user all_tenants: %v", n)
	}
	if r := admin.cinder("POST", "/volumes/"+uid+"/action", map[string]any{"os-reset_status": map[string]any{"status": "error"}}); r.code != 202 {
		t.Fatalf("admin reset other project's volume: %d %s", r.code, r.raw)
	}
}

// A full page links the next one, as Cinder does; the metadata filter.
func TestFullPageNextLinkAndMetadataFilter(t *testing.T) {
	_, c := start(t, cloudsim.Config{})
	c.createVolume(map[string]any{"size": 1, "metadata": map[string]string{"k": "v"}})
	c.createVolume(map[string]any{"size": 1, "metadata": map[string]string{"k": "w"}})
	r := c.cinder("GET", "/volumes?limit=2", nil)
	if _, ok := r.body["volumes_links"]; !ok {
		t.Fatalf("full page has no next link: %s", r.raw)
	}
	r = c.cinder("GET", "/volumes/detail?metadata="+url.QueryEscape(`{"k":"v"}`), nil)
	vols := r.body["volumes"].([]any)
	if len(vols) != 1 || obj(vols[0].(map[string]any), "metadata")["k"] != "v" {
		t.Fatalf("metadata filter: %s", r.raw)
	}
}
