package cloudsim_test

import (
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
)

func TestVolumeSummaryAndExtensions(t *testing.T) {
	_, c := start(t, cloudsim.Config{})
	c.createVolume(map[string]any{"size": 2, "metadata": map[string]string{"k": "v"}})
	c.createVolume(map[string]any{"size": 3})
	expectFault(t, c.cinder("GET", "/volumes/summary", nil), 404, "itemNotFound", "summary")
	c.headers = map[string]string{"OpenStack-API-Version": "volume 3.36"}
	r := c.cinder("GET", "/volumes/summary", nil)
	sum := obj(r.body, "volume-summary")
	if sum["total_count"] != float64(2) || sum["total_size"] != float64(5) || obj(sum, "metadata")["k"] == nil {
		t.Fatalf("summary: %d %s", r.code, r.raw)
	}
	r = c.cinder("GET", "/extensions", nil)
	if ext, _ := r.body["extensions"].([]any); len(ext) == 0 || str(ext[0].(map[string]any), "alias") == "" {
		t.Fatalf("extensions: %s", r.raw)
	}
}

// A type whose extra specs no backend offers leaves the volume in error
// with a user message.
func TestNoValidBackendMessage(t *testing.T) {
	_, c := start(t, cloudsim.Config{})
	c.headers = map[string]string{"OpenStack-API-Version": "volume 3.3"}
	c.cinder("POST", "/types", map[string]any{"volume_type": map[string]any{"name": "odd", "extra_specs": map[string]string{"storage_protocol": "carrier-pigeon"}}})
	c.cinder("POST", "/types", map[string]any{"volume_type": map[string]any{"name": "fine", "extra_specs": map[string]string{"storage_protocol": "iSCSI", "vendor_name": "Open Source"}}})
	ok := c.createVolume(map[string]any{"size": 1, "volume_type": "fine"})
	c.waitVolume(ok, "available")
	id := c.createVolume(map[string]any{"size": 1, "volume_type": "odd"})
	c.waitVolume(id, "error")
	r := c.cinder("GET", "/messages", nil)
	msgs := r.body["messages"].([]any)
	if len(msgs) != 1 || str(msgs[0].(map[string]any), "resource_uuid") != id {
		t.Fatalf("messages: %s", r.raw)
	}
	mid := str(msgs[0].(map[string]any), "id")
	if r := c.cinder("GET", "/messages/"+mid, nil); r.code != 200 {
		t.Fatalf("show message: %d", r.code)
	}
	if r := c.cinder("DELETE", "/messages/"+mid, nil); r.code != 204 {
		t.Fatalf("delete message: %d", r.code)
	}
}

func TestBackupExportImport(t *testing.T) {
	_, c := start(t, cloudsim.Config{})
	id := c.createVolume(map[string]any{"size": 1})
	c.waitVolume(id, "available")
	r := c.cinder("POST", "/backups", map[string]any{"backup": map[string]any{"volume_id": id, "name": "b"}})
	bid := str(obj(r.body, "backup"), "id")
	c.waitBackup(bid, "available")
	r = c.cinder("GET", "/backups/"+bid+"/export_record", nil)
	rec := obj(r.body, "backup-record")
	raw, err := base64.StdEncoding.DecodeString(str(rec, "backup_url"))
	var m map[string]any
	if r.code != 200 || err != nil || json.Unmarshal(raw, &m) != nil {
		t.Fatalf("export: %d %s", r.code, r.raw)
	}
	m["id"] = "0b5e8f4c-1111-4222-8333-444455556666"
	raw, _ = json.Marshal(m)
	r = c.cinder("POST", "/backups/import_record", map[string]any{"backup-record": map[string]any{
		"backup_service": rec["backup_service"], "backup_url": base64.StdEncoding.EncodeToString(raw)}})
	if r.code != 201 || str(obj(r.body, "backup"), "id") != m["id"] {
		t.Fatalf("import: %d %s", r.code, r.raw)
	}
	c.waitBackup(m["id"].(string), "available")
}

// Keystone's admin API: the domain lookup and projects Tempest makes.
func TestKeystoneProjects(t *testing.T) {
	_, admin := start(t, cloudsim.Config{})
	user := login(t, admin.base, cloudsim.AltUser, cloudsim.DefaultPassword, cloudsim.AltProject)
	r := admin.raw("GET", "/identity/v3/domains?name=Default", "")
	if d, _ := r.body["domains"].([]any); r.code != 200 || len(d) != 1 || str(d[0].(map[string]any), "id") != "default" {
		t.Fatalf("domains: %d %s", r.code, r.raw)
	}
	if r := user.raw("POST", "/identity/v3/projects", `{"project":{"name":"p9"}}`); r.code != 403 {
		t.Fatalf("user creates project: %d", r.code)
	}
	r = admin.raw("POST", "/identity/v3/projects", `{"project":{"name":"p9","domain_id":"default"}}`)
	id := str(obj(r.body, "project"), "id")
	if r.code != 201 || id == "" {
		t.Fatalf("create project: %d %s", r.code, r.raw)
	}
	if r := admin.raw("POST", "/identity/v3/projects", `{"project":{"name":"p9"}}`); r.code != 409 {
		t.Fatalf("duplicate project: %d", r.code)
	}
	if r := admin.raw("DELETE", "/identity/v3/projects/"+id, ""); r.code != 204 {
		t.Fatalf("delete project: %d", r.code)
	}
}

// The stats sum how long each kind of call took to answer, injected
// latency included, so a benchmark can tell the cloud's time from its own.
func TestStatsSumAnswerTimes(t *testing.T) {
	sim, c := start(t, cloudsim.Config{})
	sim.SetFaults(cloudsim.Faults{LatencyMS: 40})
	sim.ResetStats()
	for range 3 {
		if r := c.cinder("GET", "/volumes/detail", nil); r.code != 200 {
			t.Fatalf("list: %d %s", r.code, r.raw)
		}
	}
	st := sim.Stats()
	key := "cinder GET /volume/{ver}/{project}/volumes/detail 200"
	if st.Calls[key] != 3 {
		t.Fatalf("stats count %d lists, want 3: %v", st.Calls[key], st.Calls)
	}
	if got := time.Duration(st.AnswerMicros[key]) * time.Microsecond; got < 120*time.Millisecond || got > 10*time.Second {
		t.Errorf("3 lists answered after 40 ms of latency each summed to %v, want at least 120ms", got)
	}
}
