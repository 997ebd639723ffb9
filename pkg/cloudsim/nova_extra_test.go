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

// Nova keeps the tag (2.49+) and delete_on_termination (2.79+) an attach
// was given and shows them back (2.70+, 2.79+); the create answer keeps
// "id" at every microversion.
func TestNovaAttachTagAndDeleteOnTermination(t *testing.T) {
	sim, c := start(t, cloudsim.Config{})
	vol := c.createVolume(map[string]any{"size": 1})
	c.waitVolume(vol, "available")
	path := "/servers/" + cloudsim.DefaultServerID + "/os-volume_attachments"
	body := map[string]any{"volumeAttachment": map[string]any{"volumeId": vol, "tag": "data", "delete_on_termination": true}}

	c.headers = map[string]string{"OpenStack-API-Version": "compute 2.48"}
	expectFault(t, c.nova("POST", path, body), 400, "badRequest", "'tag' was unexpected")
	c.headers = map[string]string{"OpenStack-API-Version": "compute 2.78"}
	expectFault(t, c.nova("POST", path, body), 400, "badRequest", "'delete_on_termination' was unexpected")

	c.headers = map[string]string{"OpenStack-API-Version": "compute 2.90"}
	r := c.nova("POST", path, body)
	a := obj(r.body, "volumeAttachment")
	if r.code != 200 || a["tag"] != "data" || a["delete_on_termination"] != true || a["id"] != vol || a["attachment_id"] != nil {
		t.Fatalf("attach at 2.90: %d %s", r.code, r.raw)
	}
	c.waitVolume(vol, "in-use")
	r = c.nova("GET", path, nil)
	l := r.body["volumeAttachments"].([]any)
	if len(l) != 1 {
		t.Fatalf("list: %s", r.raw)
	}
	if a := l[0].(map[string]any); a["tag"] != "data" || a["delete_on_termination"] != true || a["attachment_id"] == nil || a["id"] != nil {
		t.Fatalf("list at 2.90: %s", r.raw)
	}
	if d := sim.State(); len(d.Attachments) != 1 || d.Attachments[0].Tag != "data" || !d.Attachments[0].DeleteOnTermination {
		t.Fatalf("state: %+v", d.Attachments)
	}
	c.headers = map[string]string{"OpenStack-API-Version": "compute 2.60"}
	if a := obj(c.nova("GET", path+"/"+vol, nil).body, "volumeAttachment"); a["tag"] != nil || a["delete_on_termination"] != nil || a["id"] != vol {
		t.Fatalf("show at 2.60 shows what 2.70/2.79 added: %v", a)
	}
}
