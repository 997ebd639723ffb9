package cloudsim_test

import (
	"strings"
	"testing"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
)

func keysWithPrefix(m map[string]any, prefixes ...string) []string {
	var out []string
	for k := range m {
		for _, p := range prefixes {
			if strings.HasPrefix(k, p) {
				out = append(out, k)
			}
		}
	}
	return out
}

// Cinder shows os-vol-* fields to admins only, and only in show and detail
// answers; os-volume-replication:* is gone.
func TestVolumeViewRoleAware(t *testing.T) {
	_, admin := start(t, cloudsim.Config{})
	user := login(t, admin.base, cloudsim.AltUser, cloudsim.DefaultPassword, cloudsim.AltProject)
	r := user.cinder("POST", "/volumes", map[string]any{"volume": map[string]any{"size": 1}})
	if r.code != 202 {
		t.Fatalf("create: %d %s", r.code, r.raw)
	}
	id := str(obj(r.body, "volume"), "id")
	if k := keysWithPrefix(obj(r.body, "volume"), "os-vol", "os-volume-replication"); len(k) > 0 {
		t.Fatalf("create answer to a user has %v", k)
	}
	v := user.waitVolume(id, "available")
	if k := keysWithPrefix(v, "os-vol", "migration_status"); len(k) > 0 {
		t.Fatalf("user sees %v", k)
	}
	r = user.cinder("PUT", "/volumes/"+id, map[string]any{"volume": map[string]any{"name": "x"}})
	if k := keysWithPrefix(obj(r.body, "volume"), "os-vol"); r.code != 200 || len(k) > 0 {
		t.Fatalf("update: %d, has %v", r.code, k)
	}

	aid := admin.createVolume(map[string]any{"size": 1})
	r = admin.cinder("POST", "/volumes", map[string]any{"volume": map[string]any{"size": 1}})
	if k := keysWithPrefix(obj(r.body, "volume"), "os-vol", "os-volume-replication"); len(k) > 0 {
		t.Fatalf("create answer to an admin has %v", k)
	}
	av := admin.waitVolume(aid, "available")
	if av["os-vol-tenant-attr:tenant_id"] != cloudsim.DefaultProject || !strings.Contains(str(av, "os-vol-host-attr:host"), "@") {
		t.Fatalf("admin view: %v", av)
	}
	if _, ok := av["os-vol-mig-status-attr:migstat"]; !ok {
		t.Fatalf("admin view lacks migstat: %v", av)
	}
}

// Fields added by later microversions appear only when asked for.
func TestVolumeViewMicroversions(t *testing.T) {
	_, admin := start(t, cloudsim.Config{})
	id := admin.createVolume(map[string]any{"size": 1})
	v := admin.waitVolume(id, "available")
	for _, k := range []string{"cluster_name", "service_uuid", "shared_targets", "provider_id", "group_id", "volume_type_id", "consumes_quota"} {
		if _, ok := v[k]; ok {
			t.Errorf("3.0 shows %s", k)
		}
	}
	admin.headers = map[string]string{"OpenStack-API-Version": "volume 3.70"}
	v = obj(admin.cinder("GET", "/volumes/"+id, nil).body, "volume")
	for _, k := range []string{"cluster_name", "service_uuid", "shared_targets", "provider_id", "group_id", "volume_type_id", "consumes_quota"} {
		if _, ok := v[k]; !ok {
			t.Errorf("3.70 admin view lacks %s", k)
		}
	}
	user := login(t, admin.base, cloudsim.AltUser, cloudsim.DefaultPassword, cloudsim.AltProject)
	user.headers = admin.headers
	uid := user.createVolume(map[string]any{"size": 1})
	v = obj(user.cinder("GET", "/volumes/"+uid, nil).body, "volume")
	for _, k := range []string{"cluster_name", "provider_id"} {
		if _, ok := v[k]; ok {
			t.Errorf("3.70 user view shows admin field %s", k)
		}
	}
	if _, ok := v["group_id"]; !ok {
		t.Errorf("3.70 user view lacks group_id")
	}
}

// Updating a snapshot answers without the extended attributes.
func TestSnapshotUpdateView(t *testing.T) {
	_, c := start(t, cloudsim.Config{})
	id := c.createVolume(map[string]any{"size": 1})
	c.waitVolume(id, "available")
	r := c.cinder("POST", "/snapshots", map[string]any{"snapshot": map[string]any{"volume_id": id}})
	sid := str(obj(r.body, "snapshot"), "id")
	c.waitSnapshot(sid, "available")
	r = c.cinder("PUT", "/snapshots/"+sid, map[string]any{"snapshot": map[string]any{"name": "n"}})
	if k := keysWithPrefix(obj(r.body, "snapshot"), "os-extended"); r.code != 200 || len(k) > 0 {
		t.Fatalf("update: %d, has %v", r.code, k)
	}
	if s := c.waitSnapshot(sid, "available"); s["os-extended-snapshot-attributes:progress"] != "100%" {
		t.Fatalf("show lacks progress: %v", s)
	}
}

// While a volume is attaching its view lists no attachment yet.
func TestAttachingShowsNoAttachment(t *testing.T) {
	sim, c := start(t, cloudsim.Config{})
	id := c.createVolume(map[string]any{"size": 1})
	c.waitVolume(id, "available")
	sim.SetFaults(cloudsim.Faults{Stuck: []string{cloudsim.OpAttach}})
	if r := c.attach(cloudsim.DefaultServerID, id); r.code != 200 {
		t.Fatalf("attach: %d %s", r.code, r.raw)
	}
	v := c.waitVolume(id, "attaching")
	if a := v["attachments"].([]any); len(a) != 0 {
		t.Fatalf("attaching volume lists %v", a)
	}
	sim.SetFaults(cloudsim.Faults{})
	id2 := c.createVolume(map[string]any{"size": 1})
	c.waitVolume(id2, "available")
	c.attach(cloudsim.DefaultServerID, id2)
	v = c.waitVolume(id2, "in-use")
	if a := v["attachments"].([]any); len(a) != 1 || str(a[0].(map[string]any), "attached_at") == "" {
		t.Fatalf("in-use volume attachments: %v", a)
	}
}
