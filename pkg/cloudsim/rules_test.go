package cloudsim_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/simtest"
)

func TestKeystoneV2CatalogAndV3AppCredential(t *testing.T) {
	_, base := simtest.Start(t, cloudsim.Config{Profile: "nhn"})
	c := &client{t: t, base: base}
	r := c.raw("POST", "/identity/v2.0/tokens", `{"auth":{"tenantName":"demo","passwordCredentials":{"username":"admin","password":"secret"}}}`)
	if r.code != 200 {
		t.Fatalf("v2 tokens: %d %s", r.code, r.raw)
	}
	access := obj(r.body, "access")
	if str(obj(access, "token", "tenant"), "id") != "demo" || str(obj(access, "token"), "expires") == "" {
		t.Fatalf("v2 token: %v", access["token"])
	}
	urls := map[string]string{}
	for _, s := range access["serviceCatalog"].([]any) {
		svc := s.(map[string]any)
		ep := svc["endpoints"].([]any)[0].(map[string]any)
		if ep["region"] != cloudsim.DefaultRegion || ep["internalURL"] == nil || ep["adminURL"] == nil {
			t.Fatalf("endpoint %v", ep)
		}
		urls[svc["type"].(string)] = ep["publicURL"].(string)
	}
	// NHN Cloud's document is Cinder v2 only: its catalog lists no v1 or v3.
	if urls["volumev2"] != base+"/volume/v2/demo" || urls["volume"] != "" ||
		urls["volumev3"] != "" || urls["block-storage"] != "" || urls["compute"] != base+"/compute/v2/demo" {
		t.Fatalf("catalog urls: %v", urls)
	}
	// The v2 token works on the catalog's volumev2 URL: NHN's types.
	c.token = str(obj(access, "token"), "id")
	c.project = "demo"
	r = c.do("GET", "volume/v2", "/types", nil)
	if r.code != 200 || !strings.Contains(r.raw, `"General SSD"`) || !strings.Contains(r.raw, `"General HDD"`) {
		t.Fatalf("types: %d %s", r.code, r.raw)
	}
	// Wrong password.
	r = c.raw("POST", "/identity/v2.0/tokens", `{"auth":{"tenantId":"demo","passwordCredentials":{"username":"admin","password":"nope"}}}`)
	expectFault(t, r, 401, "error", "requires authentication")

	// v3 application credential: scoped to its project, with interface/region_id endpoints.
	c.token = ""
	r = c.raw("POST", "/identity/v3/auth/tokens", `{"auth":{"identity":{"methods":["application_credential"],"application_credential":{"id":"demo-app-cred","secret":"secret"}}}}`)
	if r.code != 201 || r.header.Get("X-Subject-Token") == "" {
		t.Fatalf("app cred: %d %s", r.code, r.raw)
	}
	tok := obj(r.body, "token")
	if str(obj(tok, "project"), "id") != "demo" {
		t.Fatalf("app cred scope: %v", tok["project"])
	}
	found := false
	for _, s := range tok["catalog"].([]any) {
		svc := s.(map[string]any)
		for _, e := range svc["endpoints"].([]any) {
			ep := e.(map[string]any)
			if svc["type"] == "volumev2" && ep["interface"] == "internal" && ep["region_id"] == cloudsim.DefaultRegion {
				found = ep["url"] == base+"/volume/v2/demo"
			}
		}
	}
	if !found {
		t.Fatalf("no internal volumev2 endpoint in %v", tok["catalog"])
	}
	// Versions.
	if r := c.raw("GET", "/identity", ""); r.code != 300 || !strings.Contains(r.raw, "/identity/v3/") {
		t.Fatalf("identity versions: %d %s", r.code, r.raw)
	}
	if r := c.raw("GET", "/volume/", ""); r.code != 300 || !strings.Contains(r.raw, `"v3.0"`) {
		t.Fatalf("volume versions: %d %s", r.code, r.raw)
	}
}

func TestTokenExpiryAndWrongToken(t *testing.T) {
	_, c := start(t, cloudsim.Config{TokenTTL: 300 * time.Millisecond})
	if r := c.cinder("GET", "/volumes", nil); r.code != 200 {
		t.Fatalf("fresh token: %d %s", r.code, r.raw)
	}
	time.Sleep(400 * time.Millisecond)
	r := c.cinder("GET", "/volumes", nil)
	expectFault(t, r, 401, "error", "requires authentication")
	if r.header.Get("WWW-Authenticate") == "" {
		t.Fatal("401 without WWW-Authenticate")
	}
	c.token = "gAAAAAB-not-a-token"
	expectFault(t, c.nova("GET", "/servers", nil), 401, "error", "requires authentication")
	c.token = ""
	expectFault(t, c.cinder("GET", "/volumes", nil), 401, "error", "requires authentication")
}

func TestTokenOfOtherProject(t *testing.T) {
	sim, c := start(t, cloudsim.Config{})
	base := strings.TrimSuffix(c.base, "/")
	alt := login(t, base, cloudsim.AltUser, cloudsim.DefaultPassword, cloudsim.AltProject)
	alt.project = "demo" // alt's token on demo's URL
	expectFault(t, alt.cinder("GET", "/volumes", nil), 400, "badRequest", "doesn't match Context's project_id")
	// The alt user cannot get a token for demo at all.
	r := c.raw("POST", "/identity/v3/auth/tokens", `{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"alt","domain":{"id":"default"},"password":"secret"}}},"scope":{"project":{"id":"demo"}}}}`)
	expectFault(t, r, 401, "error", "requires authentication")
	// Volumes are per project.
	id := c.createVolume(map[string]any{"size": 1})
	alt.project = "alt"
	expectFault(t, alt.cinder("GET", "/volumes/"+id, nil), 404, "itemNotFound", "Volume "+id+" could not be found.")
	if n := len(sim.State().Volumes); n != 1 {
		t.Fatalf("state has %d volumes", n)
	}
}

func TestVolumeLifecycleAndRules(t *testing.T) {
	sim, c := start(t, cloudsim.Config{})
	id := c.createVolume(map[string]any{"size": 2, "name": "data", "metadata": map[string]string{"k": "v"}})
	v := c.waitVolume(id, "available")
	if v["size"].(float64) != 2 || v["name"] != "data" || v["bootable"] != "false" || v["availability_zone"] != "nova" ||
		v["os-vol-tenant-attr:tenant_id"] != "demo" || obj(v, "metadata")["k"] != "v" {
		t.Fatalf("volume view: %v", v)
	}
	// Attach: 200 with advisory device, attaching -> in-use.
	r := c.attach(cloudsim.DefaultServerID, id)
	if r.code != 200 {
		t.Fatalf("attach: %d %s", r.code, r.raw)
	}
	va := obj(r.body, "volumeAttachment")
	if va["device"] != "/dev/vdb" || va["volumeId"] != id || va["serverId"] != cloudsim.DefaultServerID || va["id"] != id {
		t.Fatalf("attachment: %v", va)
	}
	if st := str(obj(c.cinder("GET", "/volumes/"+id, nil).body, "volume"), "status"); st != "attaching" && st != "in-use" {
		t.Fatalf("after attach status %s", st)
	}
	v = c.waitVolume(id, "in-use")
	att := v["attachments"].([]any)[0].(map[string]any)
	if att["server_id"] != cloudsim.DefaultServerID || att["attachment_id"] == nil || att["device"] != "/dev/vdb" || att["volume_id"] != id {
		t.Fatalf("attachments: %v", att)
	}
	// Attaching again is refused.
	expectFault(t, c.attach(cloudsim.DefaultServerID, id), 400, "badRequest", "already attached")
	// No delete while attached.
	expectFault(t, c.cinder("DELETE", "/volumes/"+id, nil), 400, "badRequest", "Volume status must be available or error")
	// No snapshot of an in-use volume without force; with force fine (generic).
	expectFault(t, c.cinder("POST", "/snapshots", map[string]any{"snapshot": map[string]any{"volume_id": id}}), 400, "badRequest", "status must be available, but current status is: in-use")
	r = c.cinder("POST", "/snapshots", map[string]any{"snapshot": map[string]any{"volume_id": id, "force": true, "name": "s1"}})
	if r.code != 202 || str(obj(r.body, "snapshot"), "status") != "creating" {
		t.Fatalf("forced snapshot: %d %s", r.code, r.raw)
	}
	snap := str(obj(r.body, "snapshot"), "id")
	c.waitSnapshot(snap, "available")
	// Nova's view of the attachments.
	r = c.nova("GET", "/servers/"+cloudsim.DefaultServerID+"/os-volume_attachments", nil)
	if r.code != 200 || len(r.body["volumeAttachments"].([]any)) != 1 {
		t.Fatalf("list attachments: %d %s", r.code, r.raw)
	}
	expectFault(t, c.nova("GET", "/servers/nope/os-volume_attachments", nil), 404, "itemNotFound", "Instance nope could not be found.")
	// Detach -> available.
	if r := c.nova("DELETE", "/servers/"+cloudsim.DefaultServerID+"/os-volume_attachments/"+id, nil); r.code != 202 {
		t.Fatalf("detach: %d %s", r.code, r.raw)
	}
	c.waitVolume(id, "available")
	expectFault(t, c.nova("DELETE", "/servers/"+cloudsim.DefaultServerID+"/os-volume_attachments/"+id, nil), 404, "itemNotFound", "volume_id not found")
	// Still has a snapshot: no delete.
	expectFault(t, c.cinder("DELETE", "/volumes/"+id, nil), 400, "badRequest", "have snapshots")
	if r := c.cinder("DELETE", "/snapshots/"+snap, nil); r.code != 202 {
		t.Fatalf("delete snapshot: %d %s", r.code, r.raw)
	}
	c.waitSnapshot(snap, "")
	if r := c.cinder("DELETE", "/volumes/"+id, nil); r.code != 202 {
		t.Fatalf("delete: %d %s", r.code, r.raw)
	}
	c.waitVolume(id, "")
	expectFault(t, c.cinder("GET", "/volumes/"+id, nil), 404, "itemNotFound", "Volume "+id+" could not be found.")
	if d := sim.State(); len(d.Volumes)+len(d.Snapshots)+len(d.Attachments) != 0 {
		t.Fatalf("leftovers: %+v", d)
	}
	if sim.Store().Exists("volumes", id) {
		t.Fatal("volume image left behind")
	}
}

func TestCreateVolumeValidation(t *testing.T) {
	_, c := start(t, cloudsim.Config{})
	src := c.createVolume(map[string]any{"size": 3})
	c.waitVolume(src, "available")
	r := c.cinder("POST", "/snapshots", map[string]any{"snapshot": map[string]any{"volume_id": src}})
	snap := str(obj(r.body, "snapshot"), "id")
	c.waitSnapshot(snap, "available")

	expectFault(t, c.cinder("POST", "/volumes", map[string]any{"volume": map[string]any{"size": 3, "snapshot_id": snap, "source_volid": src}}),
		400, "badRequest", "May specify only one of snapshot, imageRef or source volume")
	expectFault(t, c.cinder("POST", "/volumes", map[string]any{"volume": map[string]any{"size": 2, "snapshot_id": snap}}),
		400, "badRequest", "cannot be smaller than the snapshot size 3GB")
	expectFault(t, c.cinder("POST", "/volumes", map[string]any{"volume": map[string]any{"size": 0}}), 400, "badRequest", "must be an integer and greater than 0")
	expectFault(t, c.cinder("POST", "/volumes", map[string]any{"volume": map[string]any{"size": 1, "availability_zone": "mars"}}), 400, "badRequest", "Availability zone 'mars' is invalid")
	expectFault(t, c.cinder("POST", "/volumes", map[string]any{"volume": map[string]any{"size": 1, "volume_type": "gold"}}), 404, "itemNotFound", "Volume type with name gold could not be found.")
	expectFault(t, c.cinder("POST", "/volumes", map[string]any{"volume": map[string]any{"size": 1, "snapshot_id": "nope"}}), 404, "itemNotFound", "Snapshot nope could not be found.")
	expectFault(t, c.cinder("POST", "/volumes", `{"volume": `), 400, "badRequest", "Malformed request body")
	// Size defaults to the snapshot's; the new volume records its source.
	id := c.createVolume(map[string]any{"snapshot_id": snap})
	v := c.waitVolume(id, "available")
	if v["size"].(float64) != 3 || v["snapshot_id"] != snap {
		t.Fatalf("from snapshot: %v", v)
	}
	// Extend: must grow.
	expectFault(t, c.cinder("POST", "/volumes/"+id+"/action", map[string]any{"os-extend": map[string]any{"new_size": 3}}), 400, "badRequest", "must be greater than current size")
	if r := c.cinder("POST", "/volumes/"+id+"/action", map[string]any{"os-extend": map[string]any{"new_size": 5}}); r.code != 202 {
		t.Fatalf("extend: %d %s", r.code, r.raw)
	}
	if v := c.waitVolume(id, "available"); v["size"].(float64) != 5 {
		t.Fatalf("extended size %v", v["size"])
	}
	expectFault(t, c.cinder("POST", "/volumes/"+id+"/action", map[string]any{"os-frobnicate": nil}), 400, "badRequest", "There is no such action: os-frobnicate")
}

func TestExtendInUseNeedsMicroversion(t *testing.T) {
	_, c := start(t, cloudsim.Config{})
	id := c.createVolume(map[string]any{"size": 1})
	c.waitVolume(id, "available")
	c.attach(cloudsim.DefaultServerID, id)
	c.waitVolume(id, "in-use")
	ext := map[string]any{"os-extend": map[string]any{"new_size": 2}}
	expectFault(t, c.cinder("POST", "/volumes/"+id+"/action", ext), 400, "badRequest", "must be 'available' to extend")
	c.headers = map[string]string{"OpenStack-API-Version": "volume 3.42"}
	r := c.cinder("POST", "/volumes/"+id+"/action", ext)
	if r.code != 202 || r.header.Get("OpenStack-API-Version") != "volume 3.42" {
		t.Fatalf("in-use extend at 3.42: %d %s %v", r.code, r.raw, r.header)
	}
	if v := c.waitVolume(id, "in-use"); v["size"].(float64) != 2 {
		t.Fatalf("size %v", v["size"])
	}
}

func TestPaginationMarkerLimitLinks(t *testing.T) {
	_, c := start(t, cloudsim.Config{})
	want := map[string]bool{}
	for i := 0; i < 5; i++ {
		want[c.createVolume(map[string]any{"size": 1, "name": fmt.Sprintf("vol-%d", i)})] = true
	}
	seen := map[string]bool{}
	path := "/volumes/detail?limit=2&sort=name:asc"
	var names []string
	for pages := 0; path != ""; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		r := c.cinder("GET", path, nil)
		if r.code != 200 {
			t.Fatalf("list: %d %s", r.code, r.raw)
		}
		vols := r.body["volumes"].([]any)
		if len(vols) > 2 {
			t.Fatalf("page of %d", len(vols))
		}
		for _, v := range vols {
			m := v.(map[string]any)
			seen[str(m, "id")] = true
			names = append(names, str(m, "name"))
		}
		path = ""
		if links, ok := r.body["volumes_links"].([]any); ok {
			l := links[0].(map[string]any)
			if l["rel"] != "next" {
				t.Fatalf("link %v", l)
			}
			u, _ := url.Parse(str(l, "href"))
			if u.Query().Get("marker") == "" || u.Query().Get("limit") != "2" || u.Query().Get("sort") != "name:asc" {
				t.Fatalf("next link %s", u)
			}
			path = strings.TrimPrefix(u.Path, "/volume/v3/demo") + "?" + u.RawQuery
		}
	}
	if len(seen) != 5 || fmt.Sprint(names) != "[vol-0 vol-1 vol-2 vol-3 vol-4]" {
		t.Fatalf("walked %v (%d unique)", names, len(seen))
	}
	// Last page has no next link; offset works; name filter; summary list entries.
	r := c.cinder("GET", "/volumes?sort=name:desc&offset=1&limit=10", nil)
	vols := r.body["volumes"].([]any)
	if len(vols) != 4 || vols[0].(map[string]any)["name"] != "vol-3" || r.body["volumes_links"] != nil {
		t.Fatalf("offset page: %s", r.raw)
	}
	if _, ok := vols[0].(map[string]any)["status"]; ok {
		t.Fatal("summary list carries detail fields")
	}
	r = c.cinder("GET", "/volumes/detail?name=vol-2", nil)
	if vols := r.body["volumes"].([]any); len(vols) != 1 || vols[0].(map[string]any)["name"] != "vol-2" {
		t.Fatalf("name filter: %s", r.raw)
	}
	expectFault(t, c.cinder("GET", "/volumes?marker=nope", nil), 404, "itemNotFound", "Marker nope could not be found.")
	expectFault(t, c.cinder("GET", "/volumes?sort=color", nil), 400, "badRequest", "Invalid sort key")
}

func TestHelionV1DisplayName(t *testing.T) {
	_, c := start(t, cloudsim.Config{Profile: "helion", RateLimit: -1})
	r := c.do("POST", "volume/v1", "/volumes", map[string]any{"volume": map[string]any{"size": 1, "display_name": "testvol01", "display_description": "test volume 1"}})
	if r.code != 200 {
		t.Fatalf("v1 create: %d %s", r.code, r.raw)
	}
	v := obj(r.body, "volume")
	if v["display_name"] != "testvol01" || v["display_description"] != "test volume 1" || v["availability_zone"] != "az2" || v["status"] != "creating" {
		t.Fatalf("v1 view: %v", v)
	}
	if _, ok := v["name"]; ok {
		t.Fatal("v1 view has name")
	}
	id := str(v, "id")
	c.wait("volume/v1", "/volumes/"+id, "volume", "available")
	r = c.do("GET", "volume/v1", "/volumes?display_name=testvol01", nil)
	if vols := r.body["volumes"].([]any); len(vols) != 1 || vols[0].(map[string]any)["status"] != "available" {
		t.Fatalf("v1 list by display_name: %s", r.raw)
	}
	r = c.do("PUT", "volume/v1", "/volumes/"+id, map[string]any{"volume": map[string]any{"display_description": "new description"}})
	if str(obj(r.body, "volume"), "display_description") != "new description" {
		t.Fatalf("v1 update: %s", r.raw)
	}
	// The same volume through v2 speaks name.
	if v := obj(c.do("GET", "volume/v2", "/volumes/"+id, nil).body, "volume"); v["name"] != "testvol01" {
		t.Fatalf("v2 view: %v", v)
	}
	// v1 snapshot.
	r = c.do("POST", "volume/v1", "/snapshots", map[string]any{"snapshot": map[string]any{"volume_id": id, "display_name": "snap", "force": false}})
	if r.code != 200 || str(obj(r.body, "snapshot"), "display_name") != "snap" {
		t.Fatalf("v1 snapshot: %d %s", r.code, r.raw)
	}
}

func TestHelionRules(t *testing.T) {
	sim, c := start(t, cloudsim.Config{Profile: "helion", RateLimit: -1})
	v1 := func(method, path string, body any) resp { return c.do(method, "volume/v1", path, body) }
	expectFault(t, v1("POST", "/volumes", map[string]any{"volume": map[string]any{"size": 2048}}), 400, "badRequest", "less than or equal to 2047")
	r := v1("POST", "/volumes", map[string]any{"volume": map[string]any{"size": 1, "availability_zone": "az1"}})
	id := str(obj(r.body, "volume"), "id")
	c.wait("volume/v1", "/volumes/"+id, "volume", "available")
	// No extend on Helion.
	expectFault(t, v1("POST", "/volumes/"+id+"/action", map[string]any{"os-extend": map[string]any{"new_size": 2}}), 400, "badRequest", "There is no such action: os-extend")
	// Attach only within the AZ: the default server is in az2.
	cn := func(method, path string, body any) resp { return c.do(method, "compute/v2", path, body) }
	expectFault(t, cn("POST", "/servers/"+cloudsim.DefaultServerID+"/os-volume_attachments", map[string]any{"volumeAttachment": map[string]any{"volumeId": id}}),
		400, "badRequest", "not in the same availability_zone")
	var az1 string
	for _, s := range sim.Config().Servers {
		if s.Zone == "az1" {
			az1 = s.ID
		}
	}
	if r := cn("POST", "/servers/"+az1+"/os-volume_attachments", map[string]any{"volumeAttachment": map[string]any{"volumeId": id}}); r.code != 200 {
		t.Fatalf("attach in az1: %d %s", r.code, r.raw)
	}
	c.wait("volume/v1", "/volumes/"+id, "volume", "in-use")
	// Never a snapshot of an attached volume, force or not.
	expectFault(t, v1("POST", "/snapshots", map[string]any{"snapshot": map[string]any{"volume_id": id, "force": true}}), 400, "badRequest", "must be available")
	// Backups only of available volumes.
	expectFault(t, v1("POST", "/backups", map[string]any{"backup": map[string]any{"volume_id": id}}), 400, "badRequest", "must be available or in-use, but the current status is \"in-use\"")
	// Quota: 10 volumes and snapshots together.
	for i := 1; i < 10; i++ {
		if r := v1("POST", "/volumes", map[string]any{"volume": map[string]any{"size": 1}}); r.code != 200 {
			t.Fatalf("volume %d: %d %s", i+1, r.code, r.raw)
		}
	}
	r = v1("POST", "/volumes", map[string]any{"volume": map[string]any{"size": 1}})
	expectFault(t, r, 413, "overLimit", "VolumeLimitExceeded: Maximum number of volumes allowed (10) exceeded")
	if ra, ok := obj(r.body, "overLimit")["retryAfter"]; !ok || ra.(float64) != 0 {
		t.Fatalf("quota retryAfter %v", ra)
	}
	// Limits report the maxima only, as seed 004's example.
	lim := obj(v1("GET", "/limits", nil).body, "limits", "absolute")
	if len(lim) != 2 || lim["maxTotalVolumes"] != float64(10) || lim["maxTotalVolumeGigabytes"] != float64(3000) {
		t.Fatalf("limits %v", lim)
	}
}

func TestGigabytesQuota(t *testing.T) {
	_, c := start(t, cloudsim.Config{Profile: "helion", RateLimit: -1})
	r := c.do("POST", "volume/v1", "/volumes", map[string]any{"volume": map[string]any{"size": 2047}})
	if r.code != 200 {
		t.Fatal(r.raw)
	}
	expectFault(t, c.do("POST", "volume/v1", "/volumes", map[string]any{"volume": map[string]any{"size": 1000}}),
		413, "overLimit", "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed gigabytes quota")
}

func TestRateLimit413RetryAfter(t *testing.T) {
	sim, c := start(t, cloudsim.Config{Profile: "helion"})
	var limited *resp
	for i := 0; i < 5; i++ {
		r := c.do("GET", "volume/v1", "/volumes", nil)
		if r.code == 413 {
			limited = &r
			break
		}
		if r.code != 200 {
			t.Fatalf("call %d: %d %s", i, r.code, r.raw)
		}
	}
	if limited == nil {
		t.Fatal("5 calls within a second were not rate-limited at 1 call/s")
	}
	expectFault(t, *limited, 413, "overLimit", "This request was rate-limited.")
	// Seed 004's body has no wait hint, and no Retry-After comes with it.
	if ra, ok := obj(limited.body, "overLimit")["retryAfter"]; ok || limited.header.Get("Retry-After") != "" {
		t.Fatalf("helion rate limit: retryAfter %v header %q", ra, limited.header.Get("Retry-After"))
	}
	if st := sim.Stats(); st.Total413 < 1 || st.ByStatus["413"] != st.Total413 {
		t.Fatalf("stats %+v", st)
	}
	// Waiting the limit's second gets through.
	time.Sleep(time.Second)
	if r := c.do("GET", "volume/v1", "/volumes", nil); r.code != 200 {
		t.Fatalf("after waiting: %d %s", r.code, r.raw)
	}
	// Time scale multiplies the rate: 10 calls/s at scale 10.
	_, fast := start(t, cloudsim.Config{Profile: "helion", TimeScale: 10})
	ok := 0
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if r := fast.do("GET", "volume/v1", "/limits", nil); r.code == 200 {
			ok++
		}
	}
	if ok < 7 || ok > 13 {
		t.Fatalf("%d calls passed in 1s at 1 call/s x 10", ok)
	}
}

func TestMaxVolumesPerServer(t *testing.T) {
	rules, _ := cloudsim.ProfileRules("generic")
	rules.MaxVolumesPerServer = 3 // boot disk + 2
	_, c := start(t, cloudsim.Config{Rules: &rules})
	var devices []string
	for i := 0; i < 3; i++ {
		id := c.createVolume(map[string]any{"size": 1})
		c.waitVolume(id, "available")
		r := c.attach(cloudsim.DefaultServerID, id)
		if i == 2 {
			expectFault(t, r, 403, "forbidden", "maximum allowed number of disk devices (3)")
			break
		}
		if r.code != 200 {
			t.Fatalf("attach %d: %s", i, r.raw)
		}
		devices = append(devices, str(obj(r.body, "volumeAttachment"), "device"))
	}
	if fmt.Sprint(devices) != "[/dev/vdb /dev/vdc]" {
		t.Fatalf("devices %v", devices)
	}
}

func TestBackupRestore(t *testing.T) {
	sim, c := start(t, cloudsim.Config{})
	id := c.createVolume(map[string]any{"size": 2})
	c.waitVolume(id, "available")
	writeVolume(t, sim, id, 1<<20, []byte("backed up bytes"))
	c.attach(cloudsim.DefaultServerID, id)
	c.waitVolume(id, "in-use")
	expectFault(t, c.cinder("POST", "/backups", map[string]any{"backup": map[string]any{"volume_id": id}}), 400, "badRequest", "must use the force flag")
	r := c.cinder("POST", "/backups", map[string]any{"backup": map[string]any{"volume_id": id, "force": true, "name": "b1"}})
	if r.code != 202 || str(obj(r.body, "backup"), "id") == "" {
		t.Fatalf("backup: %d %s", r.code, r.raw)
	}
	bid := str(obj(r.body, "backup"), "id")
	if st := str(obj(c.cinder("GET", "/volumes/"+id, nil).body, "volume"), "status"); st != "backing-up" && st != "in-use" {
		t.Fatalf("volume during backup: %s", st)
	}
	b := c.waitBackup(bid, "available")
	if b["size"].(float64) != 2 || b["volume_id"] != id || b["container"] != "volumebackups" {
		t.Fatalf("backup view %v", b)
	}
	c.waitVolume(id, "in-use")
	small := c.createVolume(map[string]any{"size": 1})
	c.waitVolume(small, "available")
	expectFault(t, c.cinder("POST", "/backups/"+bid+"/restore", map[string]any{"restore": map[string]any{"volume_id": small}}), 400, "badRequest", "too small to restore backup of size 2")
	expectFault(t, c.cinder("POST", "/backups/"+bid+"/restore", map[string]any{"restore": map[string]any{"volume_id": id}}), 400, "badRequest", "must be available")
	// Restore into a new volume.
	r = c.cinder("POST", "/backups/"+bid+"/restore", map[string]any{"restore": map[string]any{}})
	if r.code != 202 {
		t.Fatalf("restore: %d %s", r.code, r.raw)
	}
	nv := str(obj(r.body, "restore"), "volume_id")
	if obj(r.body, "restore")["backup_id"] != bid || nv == "" {
		t.Fatalf("restore body %s", r.raw)
	}
	c.waitVolume(nv, "available")
	if got := readVolume(t, sim, nv, 1<<20, 15); string(got) != "backed up bytes" {
		t.Fatalf("restored data %q", got)
	}
	c.waitBackup(bid, "available")
	lim := obj(c.cinder("GET", "/limits", nil).body, "limits", "absolute")
	if lim["totalBackupsUsed"].(float64) != 1 || lim["totalBackupGigabytesUsed"].(float64) != 2 {
		t.Fatalf("limits %v", lim)
	}
	if r := c.cinder("DELETE", "/backups/"+bid, nil); r.code != 202 {
		t.Fatalf("delete backup: %s", r.raw)
	}
	c.waitBackup(bid, "")
}

// A volume created from a backup (3.47) gets the source volume's metadata
// back, as a restore does: once the data is in, in place of its own
// (Cinder's backup driver: volume_metadata_update with delete=True).
func TestVolumeFromBackupCarriesMetadata(t *testing.T) {
	_, c := start(t, cloudsim.Config{})
	id := c.createVolume(map[string]any{"size": 1, "metadata": map[string]string{"purpose": "source", "app": "db"}})
	c.waitVolume(id, "available")
	r := c.cinder("POST", "/backups", map[string]any{"backup": map[string]any{"volume_id": id}})
	bid := str(obj(r.body, "backup"), "id")
	c.waitBackup(bid, "available")
	c.headers = map[string]string{"OpenStack-API-Version": "volume 3.47"}
	nv := c.createVolume(map[string]any{"backup_id": bid, "metadata": map[string]string{"purpose": "copy", "owner": "me"}})
	v := c.waitVolume(nv, "available")
	if m := obj(v, "metadata"); v["backup_id"] != bid || m["app"] != "db" || m["purpose"] != "source" || m["owner"] != nil {
		t.Fatalf("volume from backup: %v", v)
	}
}

// os-restore into an existing volume keeps the target's metadata, keys
// written while it restores included, until the data is in; then the
// backed-up volume's replaces it. Name and description stay the target's.
func TestRestoreReplacesMetadataAtTheEnd(t *testing.T) {
	_, c := start(t, cloudsim.Config{Timing: "realistic", TimeScale: 4})
	src := c.createVolume(map[string]any{"size": 1, "metadata": map[string]string{"purpose": "source"}})
	c.waitVolume(src, "available")
	r := c.cinder("POST", "/backups", map[string]any{"backup": map[string]any{"volume_id": src}})
	bid := str(obj(r.body, "backup"), "id")
	c.waitBackup(bid, "available")
	target := c.createVolume(map[string]any{"size": 1, "name": "target", "metadata": map[string]string{"owner": "me"}})
	c.waitVolume(target, "available")
	if r := c.cinder("POST", "/backups/"+bid+"/restore", map[string]any{"restore": map[string]any{"volume_id": target}}); r.code != 202 {
		t.Fatalf("restore: %d %s", r.code, r.raw)
	}
	if r := c.cinder("POST", "/volumes/"+target+"/metadata", map[string]any{"metadata": map[string]string{"mark": "during"}}); r.code != 200 {
		t.Fatalf("metadata while restoring: %d %s", r.code, r.raw)
	}
	v := obj(c.cinder("GET", "/volumes/"+target, nil).body, "volume")
	if m := obj(v, "metadata"); v["status"] != "restoring-backup" || m["owner"] != "me" || m["mark"] != "during" || m["purpose"] != nil {
		t.Fatalf("while restoring: %v", v)
	}
	v = c.waitVolume(target, "available")
	if m := obj(v, "metadata"); len(m) != 1 || m["purpose"] != "source" || v["name"] != "target" {
		t.Fatalf("restored: %v", v)
	}
}

func TestAvailabilityZonesAndTypes(t *testing.T) {
	_, c := start(t, cloudsim.Config{Profile: "helion", RateLimit: -1})
	r := c.do("GET", "volume/v1", "/os-availability-zone", nil)
	if !strings.Contains(r.raw, `"az1"`) || !strings.Contains(r.raw, `"az3"`) {
		t.Fatalf("zones %s", r.raw)
	}
	r = c.do("GET", "volume/v2", "/types/standard", nil)
	if r.code != 200 || str(obj(r.body, "volume_type"), "name") != "standard" {
		t.Fatalf("type %s", r.raw)
	}
}

// HP Helion's 1 call/s is the Block Storage API's; attach and detach go
// through Compute, which seed 004 refers to its own limits.
func TestRateLimitCoversBlockStorageOnly(t *testing.T) {
	_, c := start(t, cloudsim.Config{Profile: "helion"})
	for i := 0; i < 5; i++ {
		if r := c.do("GET", "compute/v2", "/servers/"+cloudsim.DefaultServerID+"/os-volume_attachments", nil); r.code != 200 {
			t.Fatalf("compute call %d within a second: %d %s", i, r.code, r.raw)
		}
	}
	limited := false
	for i := 0; i < 3 && !limited; i++ {
		limited = c.do("GET", "volume/v1", "/volumes", nil).code == 413
	}
	if !limited {
		t.Fatal("block storage calls within a second were not rate-limited")
	}
}

// A rate limit elsewhere than HP Helion says when to retry.
func TestRateLimitHintOutsideHelion(t *testing.T) {
	_, c := start(t, cloudsim.Config{RateLimit: 1})
	var limited *resp
	for i := 0; i < 5 && limited == nil; i++ {
		if r := c.cinder("GET", "/volumes", nil); r.code == 413 {
			limited = &r
		}
	}
	if limited == nil {
		t.Fatal("not rate-limited at 1 call/s")
	}
	if ra := obj(limited.body, "overLimit")["retryAfter"]; ra != "1" || limited.header.Get("Retry-After") != "1" {
		t.Fatalf("retryAfter %v header %q", ra, limited.header.Get("Retry-After"))
	}
}

// HP Helion's guests name attached disks from /dev/vdc on (seed 004).
func TestHelionFirstDevice(t *testing.T) {
	sim, c := start(t, cloudsim.Config{Profile: "helion", RateLimit: -1})
	r := c.do("POST", "volume/v1", "/volumes", map[string]any{"volume": map[string]any{"size": 1}})
	id := str(obj(r.body, "volume"), "id")
	c.wait("volume/v1", "/volumes/"+id, "volume", "available")
	srv := ""
	for _, s := range sim.Config().Servers {
		if s.Zone == "az2" {
			srv = s.ID
		}
	}
	r = c.do("POST", "compute/v2", "/servers/"+srv+"/os-volume_attachments", map[string]any{"volumeAttachment": map[string]any{"volumeId": id}})
	if d := str(obj(r.body, "volumeAttachment"), "device"); r.code != 200 || d != "/dev/vdc" {
		t.Fatalf("first device %q: %d %s", d, r.code, r.raw)
	}
}

// A volume larger than the host can hold is taken and ends in error, as a
// cloud without the capacity answers; no host error leaks as a 500.
func TestHugeVolumeEndsInError(t *testing.T) {
	_, c := start(t, cloudsim.Config{Profile: "nhn"})
	r := c.do("POST", "volume/v2", "/volumes", map[string]any{"volume": map[string]any{"size": 20000}})
	if r.code != 202 {
		t.Fatalf("20000 GB volume: %d %s", r.code, r.raw)
	}
	id := str(obj(r.body, "volume"), "id")
	c.wait("volume/v2", "/volumes/"+id, "volume", "error")
	if r := c.do("DELETE", "volume/v2", "/volumes/"+id, nil); r.code != 202 {
		t.Fatalf("delete: %d %s", r.code, r.raw)
	}
	// A size that is not a number gets Cinder's message, not a decoder's.
	expectFault(t, c.do("POST", "volume/v2", "/volumes", `{"volume":{"size":"big"}}`), 400, "badRequest", "Invalid input received")
}
