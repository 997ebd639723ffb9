package cloudsim_test

import (
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
)

func (c *client) snapshotOf(vol string) string {
	c.t.Helper()
	r := c.cinder("POST", "/snapshots", map[string]any{"snapshot": map[string]any{"volume_id": vol}})
	if r.code != 202 {
		c.t.Fatalf("snapshot: %d %s", r.code, r.raw)
	}
	id := str(obj(r.body, "snapshot"), "id")
	c.waitSnapshot(id, "available")
	return id
}

func TestMetadataItems(t *testing.T) {
	_, c := start(t, cloudsim.Config{})
	id := c.createVolume(map[string]any{"size": 1, "metadata": map[string]string{"a": "1"}})
	c.waitVolume(id, "available")
	sid := c.snapshotOf(id)
	for _, base := range []string{"/volumes/" + id, "/snapshots/" + sid} {
		r := c.cinder("PUT", base+"/metadata/b", map[string]any{"meta": map[string]string{"b": "2"}})
		if r.code != 200 || obj(r.body, "meta")["b"] != "2" {
			t.Fatalf("%s PUT item: %d %s", base, r.code, r.raw)
		}
		if r := c.cinder("GET", base+"/metadata/b", nil); r.code != 200 || obj(r.body, "meta")["b"] != "2" {
			t.Fatalf("%s GET item: %d %s", base, r.code, r.raw)
		}
		expectFault(t, c.cinder("PUT", base+"/metadata/b", map[string]any{"meta": map[string]string{"c": "3"}}), 400, "badRequest", "mismatch")
		expectFault(t, c.cinder("GET", base+"/metadata/zz", nil), 404, "itemNotFound", "not found")
	}
}

func TestSnapshotAndBackupActions(t *testing.T) {
	_, admin := start(t, cloudsim.Config{})
	user := login(t, admin.base, cloudsim.AltUser, cloudsim.DefaultPassword, cloudsim.AltProject)
	id := user.createVolume(map[string]any{"size": 1})
	user.waitVolume(id, "available")
	sid := user.snapshotOf(id)
	expectFault(t, user.cinder("POST", "/snapshots/"+sid+"/action", map[string]any{"os-reset_status": map[string]any{"status": "creating"}}), 403, "forbidden", "Policy")
	if r := admin.cinder("POST", "/snapshots/"+sid+"/action", map[string]any{"os-reset_status": map[string]any{"status": "creating"}}); r.code != 202 {
		t.Fatalf("reset: %d %s", r.code, r.raw)
	}
	if r := user.cinder("POST", "/snapshots/"+sid+"/action", map[string]any{"os-update_snapshot_status": map[string]any{"status": "error", "progress": "80%"}}); r.code != 202 {
		t.Fatalf("update status: %d %s", r.code, r.raw)
	}
	sn := user.waitSnapshot(sid, "error")
	if sn["os-extended-snapshot-attributes:progress"] != "80%" {
		t.Fatalf("progress: %v", sn)
	}
	if r := admin.cinder("POST", "/snapshots/"+sid+"/action", map[string]any{"os-force_delete": map[string]any{}}); r.code != 202 {
		t.Fatalf("force delete: %d %s", r.code, r.raw)
	}
	user.waitSnapshot(sid, "")

	r := user.cinder("POST", "/backups", map[string]any{"backup": map[string]any{"volume_id": id}})
	bid := str(obj(r.body, "backup"), "id")
	user.waitBackup(bid, "available")
	if r := admin.cinder("POST", "/backups/"+bid+"/action", map[string]any{"os-reset_status": map[string]any{"status": "error"}}); r.code != 202 {
		t.Fatalf("backup reset: %d %s", r.code, r.raw)
	}
	user.waitBackup(bid, "error")
	if r := admin.cinder("POST", "/backups/"+bid+"/action", map[string]any{"os-force_delete": map[string]any{}}); r.code != 202 {
		t.Fatalf("backup force delete: %d %s", r.code, r.raw)
	}
	user.waitBackup(bid, "")
}

func TestCascadeDeleteAndSnapshotWithoutVolume(t *testing.T) {
	sim, c := start(t, cloudsim.Config{})
	id := c.createVolume(map[string]any{"size": 1})
	c.waitVolume(id, "available")
	c.snapshotOf(id)
	c.snapshotOf(id)
	expectFault(t, c.cinder("DELETE", "/volumes/"+id, nil), 400, "badRequest", "have snapshots")
	if r := c.cinder("DELETE", "/volumes/"+id+"?cascade=true", nil); r.code != 202 {
		t.Fatalf("cascade: %d %s", r.code, r.raw)
	}
	c.waitVolume(id, "")
	deadline := time.Now().Add(5 * time.Second)
	for len(sim.State().Snapshots) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("snapshots left after a cascade delete: %v", sim.State().Snapshots)
		}
		time.Sleep(10 * time.Millisecond)
	}
	expectFault(t, c.cinder("POST", "/snapshots", `{"snapshot":{"volume_id":null}}`), 404, "itemNotFound", "could not be found")
	expectFault(t, c.cinder("POST", "/snapshots", `{}`), 400, "badRequest", "Missing required element 'snapshot'")
}

// At 3.66 an in-use volume is snapshotted without force; force=false is refused.
func TestSnapshotInUse366(t *testing.T) {
	_, c := start(t, cloudsim.Config{})
	id := c.createVolume(map[string]any{"size": 1})
	c.waitVolume(id, "available")
	if r := c.attach(cloudsim.DefaultServerID, id); r.code != 200 {
		t.Fatalf("attach: %d %s", r.code, r.raw)
	}
	c.waitVolume(id, "in-use")
	expectFault(t, c.cinder("POST", "/snapshots", map[string]any{"snapshot": map[string]any{"volume_id": id}}), 400, "badRequest", "must be available")
	c.headers = map[string]string{"OpenStack-API-Version": "volume 3.66"}
	if r := c.cinder("POST", "/snapshots", map[string]any{"snapshot": map[string]any{"volume_id": id}}); r.code != 202 {
		t.Fatalf("3.66 snapshot of in-use: %d %s", r.code, r.raw)
	}
	expectFault(t, c.cinder("POST", "/snapshots", map[string]any{"snapshot": map[string]any{"volume_id": id, "force": false}}), 400, "badRequest", "force")
}

func TestBackupSemantics(t *testing.T) {
	_, c := start(t, cloudsim.Config{})
	c.headers = map[string]string{"OpenStack-API-Version": "volume 3.43"}
	id := c.createVolume(map[string]any{"size": 1, "metadata": map[string]string{"app": "db"}})
	c.waitVolume(id, "available")
	sid := c.snapshotOf(id)
	expectFault(t, c.cinder("POST", "/backups", map[string]any{"backup": map[string]any{"volume_id": id, "incremental": true}}), 400, "badRequest", "No backups available")
	r := c.cinder("POST", "/backups", map[string]any{"backup": map[string]any{"volume_id": id, "snapshot_id": sid}})
	bid := str(obj(r.body, "backup"), "id")
	if b := c.waitBackup(bid, "available"); b["snapshot_id"] != sid {
		t.Fatalf("backup from snapshot: %v", b)
	}
	r = c.cinder("POST", "/backups", map[string]any{"backup": map[string]any{"volume_id": id, "incremental": true}})
	inc := str(obj(r.body, "backup"), "id")
	if b := c.waitBackup(inc, "available"); b["is_incremental"] != true {
		t.Fatalf("incremental: %v", b)
	}
	if b := c.waitBackup(bid, "available"); b["has_dependent_backups"] != true {
		t.Fatalf("parent: %v", b)
	}
	expectFault(t, c.cinder("DELETE", "/backups/"+bid, nil), 400, "badRequest", "Incremental backups exist")
	r = c.cinder("POST", "/backups/"+bid+"/restore", map[string]any{"restore": map[string]any{}})
	vid := str(obj(r.body, "restore"), "volume_id")
	if v := c.waitVolume(vid, "available"); obj(v, "metadata")["app"] != "db" {
		t.Fatalf("restored volume lacks the source's metadata: %v", v)
	}
	r = c.cinder("PUT", "/backups/"+bid, map[string]any{"backup": map[string]any{"name": "renamed", "metadata": map[string]string{"x": "y"}}})
	if r.code != 200 || str(obj(r.body, "backup"), "name") != "renamed" {
		t.Fatalf("update backup: %d %s", r.code, r.raw)
	}
	if b := c.waitBackup(bid, "available"); obj(b, "metadata")["x"] != "y" {
		t.Fatalf("backup metadata: %v", b)
	}
}

func TestVolumeMoreActions(t *testing.T) {
	_, c := start(t, cloudsim.Config{})
	id := c.createVolume(map[string]any{"size": 1})
	c.waitVolume(id, "available")
	act := func(body any) resp { return c.cinder("POST", "/volumes/"+id+"/action", body) }
	if r := act(map[string]any{"os-update_readonly_flag": map[string]any{"readonly": true}}); r.code != 202 {
		t.Fatalf("readonly: %d %s", r.code, r.raw)
	}
	if v := c.waitVolume(id, "available"); obj(v, "metadata")["readonly"] != "True" {
		t.Fatalf("readonly not shown: %v", v)
	}
	if r := act(map[string]any{"os-retype": map[string]any{"new_type": "__DEFAULT__"}}); r.code != 202 {
		t.Fatalf("retype: %d %s", r.code, r.raw)
	}
	if v := c.waitVolume(id, "available"); v["volume_type"] != "__DEFAULT__" {
		t.Fatalf("retype: %v", v)
	}
	expectFault(t, act(map[string]any{"os-retype": map[string]any{"new_type": "nope"}}), 404, "itemNotFound", "nope")
	if r := act(map[string]any{"os-set_image_metadata": map[string]any{"metadata": map[string]string{"os_distro": "debian"}}}); r.code != 200 {
		t.Fatalf("set image metadata: %d %s", r.code, r.raw)
	}
	if r := act(map[string]any{"os-show_image_metadata": nil}); obj(r.body, "metadata")["os_distro"] != "debian" {
		t.Fatalf("show image metadata: %d %s", r.code, r.raw)
	}
	if v := c.waitVolume(id, "available"); obj(v, "volume_image_metadata")["os_distro"] != "debian" {
		t.Fatalf("volume_image_metadata: %v", v)
	}
	old := c.snapshotOf(id)
	latest := c.snapshotOf(id)
	expectFault(t, act(map[string]any{"revert": map[string]any{"snapshot_id": latest}}), 400, "badRequest", "no such action")
	c.headers = map[string]string{"OpenStack-API-Version": "volume 3.40"}
	expectFault(t, act(map[string]any{"revert": map[string]any{"snapshot_id": old}}), 400, "badRequest", "latest")
	if r := act(map[string]any{"revert": map[string]any{"snapshot_id": latest}}); r.code != 202 {
		t.Fatalf("revert: %d %s", r.code, r.raw)
	}
	c.waitVolume(id, "available")
}
