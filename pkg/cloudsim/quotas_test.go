package cloudsim_test

import (
	"testing"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
)

func TestQuotaSets(t *testing.T) {
	_, admin := start(t, cloudsim.Config{})
	user := login(t, admin.base, cloudsim.AltUser, cloudsim.DefaultPassword, cloudsim.AltProject)
	r := admin.cinder("GET", "/os-quota-sets/"+cloudsim.AltProject, nil)
	q := obj(r.body, "quota_set")
	if r.code != 200 || q["id"] != cloudsim.AltProject || q["volumes"] != float64(1000) || q["volumes_lvmdriver-1"] != float64(-1) {
		t.Fatalf("show: %d %s", r.code, r.raw)
	}
	if r := admin.cinder("GET", "/os-quota-sets/"+cloudsim.AltProject+"/defaults", nil); obj(r.body, "quota_set")["gigabytes"] != float64(100000) {
		t.Fatalf("defaults: %s", r.raw)
	}
	expectFault(t, user.cinder("PUT", "/os-quota-sets/"+cloudsim.AltProject, map[string]any{"quota_set": map[string]any{"volumes": 1}}), 403, "forbidden", "Policy")
	r = admin.cinder("PUT", "/os-quota-sets/"+cloudsim.AltProject, map[string]any{"quota_set": map[string]any{"volumes": 1, "gigabytes": -1}})
	if r.code != 200 || obj(r.body, "quota_set")["volumes"] != float64(1) {
		t.Fatalf("update: %d %s", r.code, r.raw)
	}
	expectFault(t, admin.cinder("PUT", "/os-quota-sets/"+cloudsim.AltProject, map[string]any{"quota_set": map[string]any{"bogus": 1}}), 400, "badRequest", "Bad key")
	user.createVolume(map[string]any{"size": 1})
	expectFault(t, user.cinder("POST", "/volumes", map[string]any{"volume": map[string]any{"size": 1}}), 413, "overLimit", "VolumeLimitExceeded")
	r = admin.cinder("GET", "/os-quota-sets/"+cloudsim.AltProject+"?usage=true", nil)
	if u := obj(r.body, "quota_set", "volumes"); u["in_use"] != float64(1) || u["limit"] != float64(1) {
		t.Fatalf("usage: %s", r.raw)
	}
	if r := admin.cinder("DELETE", "/os-quota-sets/"+cloudsim.AltProject, nil); r.code != 200 {
		t.Fatalf("delete: %d", r.code)
	}
	user.createVolume(map[string]any{"size": 1})
	// per_volume_gigabytes.
	admin.cinder("PUT", "/os-quota-sets/"+cloudsim.AltProject, map[string]any{"quota_set": map[string]any{"per_volume_gigabytes": 2}})
	expectFault(t, user.cinder("POST", "/volumes", map[string]any{"volume": map[string]any{"size": 3}}), 413, "overLimit", "VolumeSizeExceedsLimit")
}

func TestQuotaClassDefault(t *testing.T) {
	_, admin := start(t, cloudsim.Config{})
	r := admin.cinder("GET", "/os-quota-class-sets/default", nil)
	if obj(r.body, "quota_class_set")["id"] != "default" {
		t.Fatalf("show class: %s", r.raw)
	}
	r = admin.cinder("PUT", "/os-quota-class-sets/default", map[string]any{"quota_class_set": map[string]any{"snapshots": 7}})
	if r.code != 200 || obj(r.body, "quota_class_set")["snapshots"] != float64(7) {
		t.Fatalf("update class: %d %s", r.code, r.raw)
	}
	if r := admin.cinder("GET", "/os-quota-sets/anyproject/defaults", nil); obj(r.body, "quota_set")["snapshots"] != float64(7) {
		t.Fatalf("defaults after class update: %s", r.raw)
	}
}
