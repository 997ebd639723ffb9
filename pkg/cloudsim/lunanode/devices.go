package lunanode

import (
	"time"

	"k8s.io/klog/v2"
)

// showDevice makes v a disk of the local VM once the VM would see it: when
// the attachment is done plus Durations.Device. Without either duration it
// is done now, and a failure fails the call.
func (h *Handler) showDevice(v *Volume) error {
	id, ident := v.ID, v.Identification
	delay := time.Duration(float64(h.cfg.Durations.Attach+h.cfg.Durations.Device) * h.cfg.TimeScale)
	if delay <= 0 {
		_, err := h.cfg.Store.Attach(volumeDisk(id), ident)
		return err
	}
	var t *time.Timer
	t = time.AfterFunc(delay, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.closed || h.devices[id] != t {
			return // detached (or attached again) in the meantime
		}
		delete(h.devices, id)
		if _, err := h.cfg.Store.Attach(volumeDisk(id), ident); err != nil {
			klog.ErrorS(err, "lunanode sim: local attach failed", "volume", id)
		}
	})
	h.devices[id] = t
	return nil
}

// hideDevice forgets a local disk that has yet to appear.
func (h *Handler) hideDevice(id int) {
	if t, ok := h.devices[id]; ok {
		t.Stop()
		delete(h.devices, id)
	}
}
