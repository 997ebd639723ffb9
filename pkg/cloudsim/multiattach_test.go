package cloudsim_test

import (
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
)

// A type with multiattach="<is> True" makes multiattach volumes; Nova
// attaches one to several servers, but only at compute 2.60 or later, and
// refuses a plain volume's second attach as Cinder's reserve does.
func TestMultiattachTypeAndNova(t *testing.T) {
	const second = "5f0c3c1e-7a2b-4d1e-9c3a-000000000002"
	_, c := start(t, cloudsim.Config{Profile: "generic", RateLimit: -1,
		Servers: []cloudsim.Server{{ID: cloudsim.DefaultServerID}, {ID: second}}})
	r := c.cinder("POST", "/types", map[string]any{"volume_type": map[string]any{
		"name": "shared", "extra_specs": map[string]string{"multiattach": "<is> True"}}})
	if r.code != 200 {
		t.Fatalf("create type: %d %s", r.code, r.raw)
	}
	shared := c.createVolume(map[string]any{"size": 1, "volume_type": "shared"})
	plain := c.createVolume(map[string]any{"size": 1})
	if v := c.waitVolume(shared, "available"); v["multiattach"] != true {
		t.Fatalf("volume of a multiattach type: multiattach = %v", v["multiattach"])
	}
	if v := c.waitVolume(plain, "available"); v["multiattach"] != false {
		t.Fatalf("volume of the default type: multiattach = %v", v["multiattach"])
	}

	// Before 2.60 Nova does not attach a multiattach volume at all.
	expectFault(t, c.attach(cloudsim.DefaultServerID, shared), 400, "badRequest", "only supported starting with compute API version 2.60")

	c.headers = map[string]string{"X-OpenStack-Nova-API-Version": "2.60"}
	for _, srv := range []string{cloudsim.DefaultServerID, second} {
		if r := c.attach(srv, shared); r.code != 200 {
			t.Fatalf("attach shared to %s: %d %s", srv, r.code, r.raw)
		}
		c.waitVolume(shared, "in-use")
	}
	v := waitAttachments(c, shared, 2)
	if atts, _ := v["attachments"].([]any); len(atts) != 2 {
		t.Fatalf("shared attachments = %v, want two", v["attachments"])
	}
	expectFault(t, c.attach(second, shared), 400, "badRequest", "already attached")

	if r := c.attach(cloudsim.DefaultServerID, plain); r.code != 200 {
		t.Fatalf("attach plain: %d %s", r.code, r.raw)
	}
	c.waitVolume(plain, "in-use")
	expectFault(t, c.attach(second, plain), 400, "badRequest", "status must be available")

	// Detaching one server leaves the other's attachment.
	if r := c.nova("DELETE", "/servers/"+cloudsim.DefaultServerID+"/os-volume_attachments/"+shared, nil); r.code != 202 {
		t.Fatalf("detach: %d %s", r.code, r.raw)
	}
	v = waitAttachments(c, shared, 1)
	atts, _ := v["attachments"].([]any)
	if len(atts) != 1 || str(atts[0].(map[string]any), "server_id") != second {
		t.Fatalf("after detaching one server: attachments %v", v["attachments"])
	}
}

// waitAttachments polls the volume until it lists n attachments (a second
// attach leaves the volume in-use while it runs).
func waitAttachments(c *client, id string, n int) map[string]any {
	c.t.Helper()
	var v map[string]any
	for i := 0; i < 200; i++ {
		v = obj(c.cinder("GET", "/volumes/"+id, nil).body, "volume")
		if atts, _ := v["attachments"].([]any); len(atts) == n && v["status"] == "in-use" {
			return v
		}
		time.Sleep(10 * time.Millisecond)
	}
	return v
}
