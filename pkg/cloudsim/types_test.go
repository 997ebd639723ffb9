package cloudsim_test

import (
	"testing"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
)

func TestVolumeTypesManage(t *testing.T) {
	_, admin := start(t, cloudsim.Config{})
	user := login(t, admin.base, cloudsim.AltUser, cloudsim.DefaultPassword, cloudsim.AltProject)
	expectFault(t, user.cinder("POST", "/types", map[string]any{"volume_type": map[string]any{"name": "x"}}), 403, "forbidden", "Policy")
	expectFault(t, admin.cinder("POST", "/types", map[string]any{"volume_type": map[string]any{"name": ""}}), 400, "badRequest", "empty")
	r := admin.cinder("POST", "/types", map[string]any{"volume_type": map[string]any{"name": "gold", "extra_specs": map[string]string{"a": "1"}}})
	if r.code != 200 {
		t.Fatalf("create type: %d %s", r.code, r.raw)
	}
	id := str(obj(r.body, "volume_type"), "id")
	expectFault(t, admin.cinder("POST", "/types", map[string]any{"volume_type": map[string]any{"name": "gold"}}), 409, "conflictingRequest", "already exists")
	if r := admin.cinder("PUT", "/types/"+id, map[string]any{"volume_type": map[string]any{"description": "d"}}); r.code != 200 || str(obj(r.body, "volume_type"), "description") != "d" {
		t.Fatalf("update type: %d %s", r.code, r.raw)
	}
	// Extra specs.
	if r := admin.cinder("POST", "/types/"+id+"/extra_specs", map[string]any{"extra_specs": map[string]string{"b": "2"}}); r.code != 200 {
		t.Fatalf("create specs: %d %s", r.code, r.raw)
	}
	if r := admin.cinder("GET", "/types/"+id+"/extra_specs", nil); obj(r.body, "extra_specs")["a"] != "1" || obj(r.body, "extra_specs")["b"] != "2" {
		t.Fatalf("list specs: %s", r.raw)
	}
	if r := admin.cinder("PUT", "/types/"+id+"/extra_specs/b", map[string]string{"b": "3"}); r.code != 200 || r.body["b"] != "3" {
		t.Fatalf("update spec: %d %s", r.code, r.raw)
	}
	expectFault(t, admin.cinder("PUT", "/types/"+id+"/extra_specs/b", map[string]string{"b": "3", "c": "4"}), 400, "badRequest", "too many")
	expectFault(t, admin.cinder("PUT", "/types/"+id+"/extra_specs/b", "null"), 400, "badRequest", "Malformed")
	expectFault(t, admin.cinder("GET", "/types/"+id+"/extra_specs/zz", nil), 404, "itemNotFound", "no extra specs")
	if r := admin.cinder("DELETE", "/types/"+id+"/extra_specs/a", nil); r.code != 202 {
		t.Fatalf("delete spec: %d", r.code)
	}
	// A volume of the type keeps it from being deleted.
	vid := admin.createVolume(map[string]any{"size": 1, "volume_type": "gold"})
	admin.waitVolume(vid, "available")
	expectFault(t, admin.cinder("DELETE", "/types/"+id, nil), 400, "badRequest", "in use")
	admin.cinder("DELETE", "/volumes/"+vid, nil)
	admin.waitVolume(vid, "")
	if r := admin.cinder("DELETE", "/types/"+id, nil); r.code != 202 {
		t.Fatalf("delete type: %d %s", r.code, r.raw)
	}
	expectFault(t, admin.cinder("GET", "/types/"+id, nil), 404, "itemNotFound", id)
}

func TestPrivateTypeAccess(t *testing.T) {
	_, admin := start(t, cloudsim.Config{})
	user := login(t, admin.base, cloudsim.AltUser, cloudsim.DefaultPassword, cloudsim.AltProject)
	r := admin.cinder("POST", "/types", map[string]any{"volume_type": map[string]any{"name": "secret", "os-volume-type-access:is_public": false}})
	id := str(obj(r.body, "volume_type"), "id")
	expectFault(t, user.cinder("POST", "/volumes", map[string]any{"volume": map[string]any{"size": 1, "volume_type": id}}), 404, "itemNotFound", "could not be found")
	if r := admin.cinder("POST", "/types/"+id+"/action", map[string]any{"addProjectAccess": map[string]any{"project": cloudsim.AltProject}}); r.code != 202 {
		t.Fatalf("add access: %d %s", r.code, r.raw)
	}
	r = admin.cinder("GET", "/types/"+id+"/os-volume-type-access", nil)
	if acc := r.body["volume_type_access"].([]any); len(acc) != 1 || str(acc[0].(map[string]any), "project_id") != cloudsim.AltProject {
		t.Fatalf("access list: %s", r.raw)
	}
	user.createVolume(map[string]any{"size": 1, "volume_type": id})
	found := false
	for _, x := range user.cinder("GET", "/types", nil).body["volume_types"].([]any) {
		found = found || str(x.(map[string]any), "id") == id
	}
	if !found {
		t.Fatal("the project given access does not list the type")
	}
}

func TestTypeEncryption(t *testing.T) {
	_, admin := start(t, cloudsim.Config{})
	r := admin.cinder("POST", "/types", map[string]any{"volume_type": map[string]any{"name": "luks"}})
	id := str(obj(r.body, "volume_type"), "id")
	if r := admin.cinder("GET", "/types/"+id+"/encryption", nil); r.code != 200 || len(r.body) != 0 {
		t.Fatalf("no encryption: %d %s", r.code, r.raw)
	}
	r = admin.cinder("POST", "/types/"+id+"/encryption", map[string]any{"encryption": map[string]any{"provider": "luks", "control_location": "front-end", "key_size": 256}})
	if r.code != 200 || str(obj(r.body, "encryption"), "volume_type_id") != id {
		t.Fatalf("create encryption: %d %s", r.code, r.raw)
	}
	if r := admin.cinder("GET", "/types/"+id+"/encryption/provider", nil); r.body["provider"] != "luks" {
		t.Fatalf("encryption item: %s", r.raw)
	}
	vid := admin.createVolume(map[string]any{"size": 1, "volume_type": "luks"})
	if v := admin.waitVolume(vid, "available"); v["encrypted"] != true {
		t.Fatalf("volume of an encrypted type: %v", v)
	}
}
