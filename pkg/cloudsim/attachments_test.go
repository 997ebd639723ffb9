package cloudsim_test

import (
	"testing"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
)

// The attachments API: reserve, give a connector, complete, delete.
func TestCinderAttachmentsAPI(t *testing.T) {
	_, c := start(t, cloudsim.Config{})
	id := c.createVolume(map[string]any{"size": 1})
	c.waitVolume(id, "available")
	body := map[string]any{"attachment": map[string]any{"volume_uuid": id, "instance_uuid": cloudsim.DefaultServerID}}
	expectFault(t, c.cinder("POST", "/attachments", body), 404, "itemNotFound", "could not be found")
	c.headers = map[string]string{"OpenStack-API-Version": "volume 3.44"}
	r := c.cinder("POST", "/attachments", body)
	att := obj(r.body, "attachment")
	aid := str(att, "id")
	if r.code != 200 || str(att, "status") != "reserved" {
		t.Fatalf("create: %d %s", r.code, r.raw)
	}
	if v := c.waitVolume(id, "reserved"); len(v["attachments"].([]any)) != 0 {
		t.Fatalf("reserved volume lists attachments: %v", v["attachments"])
	}
	r = c.cinder("PUT", "/attachments/"+aid, map[string]any{"attachment": map[string]any{"connector": map[string]any{"mountpoint": "/dev/vdb"}}})
	if r.code != 200 || str(obj(r.body, "attachment"), "status") != "attaching" {
		t.Fatalf("update: %d %s", r.code, r.raw)
	}
	if r := c.cinder("POST", "/attachments/"+aid+"/action", map[string]any{"os-complete": nil}); r.code != 204 {
		t.Fatalf("complete: %d %s", r.code, r.raw)
	}
	v := c.waitVolume(id, "in-use")
	if a := v["attachments"].([]any); len(a) != 1 || str(a[0].(map[string]any), "attachment_id") != aid {
		t.Fatalf("in-use attachments: %v", a)
	}
	r = c.cinder("GET", "/attachments/detail", nil)
	if l := r.body["attachments"].([]any); len(l) != 1 || str(l[0].(map[string]any), "status") != "attached" {
		t.Fatalf("list: %s", r.raw)
	}
	if r := c.cinder("DELETE", "/attachments/"+aid, nil); r.code != 200 {
		t.Fatalf("delete: %d %s", r.code, r.raw)
	}
	c.waitVolume(id, "available")
	expectFault(t, c.cinder("GET", "/attachments/"+aid, nil), 404, "itemNotFound", aid)
}
