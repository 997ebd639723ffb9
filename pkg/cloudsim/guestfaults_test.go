package cloudsim_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
)

// recordingHost stands for a guest: it keeps what was plugged, and what
// the fault knobs asked of it.
type recordingHost struct {
	mu      sync.Mutex
	plugged map[string]bool
	delay   time.Duration
	pulled  []string
}

func (h *recordingHost) Plug(_ context.Context, serial, _ string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.plugged[serial] = true
	return nil
}

func (h *recordingHost) Unplug(_ context.Context, serial string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.plugged, serial)
	return nil
}

func (h *recordingHost) Resize(context.Context, string, int64) error { return nil }

func (h *recordingHost) DelayPlugs(d time.Duration) {
	h.mu.Lock()
	h.delay = d
	h.mu.Unlock()
}

func (h *recordingHost) SurpriseUnplug(_ context.Context, serial string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.plugged, serial)
	h.pulled = append(h.pulled, serial)
	return nil
}

// The guest's fault knobs through the /_sim API: a plug delay reaches the
// guest, a surprise unplug pulls the named disk (the cloud keeps it
// attached) and only a plugged one; a later detach still succeeds.
func TestGuestFaultsThroughSimAPI(t *testing.T) {
	const local = "0a0b0c0d-1111-4222-8333-444455556666"
	h := &recordingHost{plugged: map[string]bool{}}
	_, c := start(t, cloudsim.Config{LocalServerID: local, Guest: h})
	if r := c.raw("PUT", "/_sim/faults", `{"plug_delay_ms": 2500}`); r.code != 200 || r.body["plug_delay_ms"] != float64(2500) {
		t.Fatalf("PUT plug_delay_ms: %d %s", r.code, r.raw)
	}
	h.mu.Lock()
	delay := h.delay
	h.mu.Unlock()
	if delay != 2500*time.Millisecond {
		t.Fatalf("the guest's plug delay is %s, want 2.5s", delay)
	}
	id := c.createVolume(map[string]any{"size": 1})
	c.waitVolume(id, "available")
	if r := c.attach(local, id); r.code != 200 {
		t.Fatal(r.raw)
	}
	c.waitVolume(id, "in-use")
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.mu.Lock()
		ok := h.plugged[id]
		h.mu.Unlock()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the attached volume was never plugged into the guest")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r := c.raw("POST", "/_sim/faults/unplug", `{"serial": "not-attached"}`); r.code != 404 {
		t.Fatalf("unplug of a serial nothing has: %d %s", r.code, r.raw)
	}
	if r := c.raw("POST", "/_sim/faults/unplug", `{"serial": "`+id+`"}`); r.code != 204 {
		t.Fatalf("unplug: %d %s", r.code, r.raw)
	}
	h.mu.Lock()
	pulled, still := h.pulled, h.plugged[id]
	h.mu.Unlock()
	if len(pulled) != 1 || pulled[0] != id || still {
		t.Fatalf("pulled %v, still plugged %v", pulled, still)
	}
	if v := c.waitVolume(id, "in-use"); v == nil {
		t.Fatal("the cloud forgot the attachment")
	}
	if r := c.nova("DELETE", "/servers/"+local+"/os-volume_attachments/"+id, nil); r.code != 202 {
		t.Fatalf("detach after the pull: %d %s", r.code, r.raw)
	}
	c.waitVolume(id, "available")
}

// Without a guest the knobs are refused, not silently ignored.
func TestGuestFaultsRefusedWithoutGuest(t *testing.T) {
	_, c := start(t, cloudsim.Config{})
	if r := c.raw("PUT", "/_sim/faults", `{"plug_delay_ms": 100}`); r.code != 400 {
		t.Fatalf("PUT plug_delay_ms without a guest: %d %s", r.code, r.raw)
	}
	if r := c.raw("POST", "/_sim/faults/unplug", `{"serial": "x"}`); r.code != 409 {
		t.Fatalf("unplug without a guest: %d %s", r.code, r.raw)
	}
}
