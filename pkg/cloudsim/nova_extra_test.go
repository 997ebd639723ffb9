package cloudsim_test

import (
	"testing"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
)

func TestNovaLimitsZonesFlavors(t *testing.T) {
	_, admin := start(t, cloudsim.Config{})
	user := login(t, admin.base, cloudsim.AltUser, cloudsim.DefaultPassword, cloudsim.AltProject)
	r := user.nova("GET", "/limits", nil)
	if abs := obj(r.body, "limits", "absolute"); r.code != 200 || abs["maxTotalInstances"] == nil || abs["maxSecurityGroups"] == nil {
		t.Fatalf("limits: %d %s", r.code, r.raw)
	}
	user.headers = map[string]string{"OpenStack-API-Version": "compute 2.60"}
	if abs := obj(user.nova("GET", "/limits", nil).body, "limits", "absolute"); abs["maxSecurityGroups"] != nil || abs["maxPersonality"] != nil {
		t.Fatalf("2.60 limits keep dropped fields: %v", abs)
	}
	expectFault(t, user.nova("GET", "/os-availability-zone/detail", nil), 403, "forbidden", "Policy")
	r = admin.nova("GET", "/os-availability-zone/detail", nil)
	zones := map[string]bool{}
	for _, z := range r.body["availabilityZoneInfo"].([]any) {
		zones[str(z.(map[string]any), "zoneName")] = true
	}
	if !zones["nova"] || !zones["internal"] {
		t.Fatalf("zones: %s", r.raw)
	}
	r = user.nova("GET", "/flavors/detail", nil)
	fl := r.body["flavors"].([]any)
	if len(fl) == 0 || obj(fl[0].(map[string]any))["ram"] == nil {
		t.Fatalf("flavors: %s", r.raw)
	}
	if r := user.nova("GET", "/flavors/1", nil); str(obj(r.body, "flavor"), "name") != "m1.tiny" {
		t.Fatalf("flavor: %s", r.raw)
	}
	expectFault(t, user.nova("GET", "/flavors/zz", nil), 404, "itemNotFound", "zz")
}
