package cloudsim_test

import (
	"strings"
	"testing"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/simtest"
)

// Extra accounts log in to their own project, keep the default users, and
// see nothing of another project.
func TestExtraAccounts(t *testing.T) {
	_, base := simtest.Start(t, cloudsim.Config{Accounts: []cloudsim.Account{
		{Name: "t1", Password: "pw1", Project: "p1"},
		{Name: "t2", Password: "pw2", Project: "p2"},
	}})
	a := login(t, base, "t1", "pw1", "p1")
	b := login(t, base, "t2", "pw2", "p2")
	login(t, base, cloudsim.DefaultUser, cloudsim.DefaultPassword, cloudsim.DefaultProject)
	id := a.createVolume(map[string]any{"size": 1})
	if r := b.cinder("GET", "/volumes/"+id, nil); r.code != 404 {
		t.Fatalf("other project's volume: %d %s", r.code, r.raw)
	}
	if r := b.raw("POST", "/identity/v3/auth/tokens", `{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"t2","domain":{"name":"Default"},"password":"pw1"}}},"scope":{"project":{"name":"p2","domain":{"id":"default"}}}}}`); r.code != 401 {
		t.Fatalf("wrong password: %d", r.code)
	}
}

// Each profile's catalog lists the block storage faces its document has.
func TestCatalogFacesPerProfile(t *testing.T) {
	for profile, want := range map[string][]string{
		"generic": {"volume", "volumev2", "volumev3", "block-storage"},
		"nhn":     {"volumev2"},
		"helion":  {"volume"},
	} {
		_, base := simtest.Start(t, cloudsim.Config{Profile: profile})
		c := &client{t: t, base: base}
		r := c.raw("POST", "/identity/v3/auth/tokens", `{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","domain":{"name":"Default"},"password":"secret"}}},"scope":{"project":{"name":"demo","domain":{"id":"default"}}}}}`)
		got := map[string]bool{}
		for _, s := range obj(r.body, "token")["catalog"].([]any) {
			typ := str(s.(map[string]any), "type")
			if typ == "volume" || typ == "block-storage" || strings.HasPrefix(typ, "volumev") {
				got[typ] = true
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s catalog volume types %v, want %v", profile, got, want)
		}
		for _, w := range want {
			if !got[w] {
				t.Errorf("%s catalog lacks %s", profile, w)
			}
		}
	}
}
