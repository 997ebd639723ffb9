package driver

import (
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// After a restart only the sweep is left to find a late twin: of two live
// volumes of this driver under one request name it removes the later, and
// leaves the earlier and anyone else's pairs alone.
func TestSweepRemovesLaterTwins(t *testing.T) {
	e := newEnv(t, nil)
	ctx := ctxT(t)
	mk := func(name string, md map[string]string) string {
		v, err := e.cloud.CreateVolume(ctx, cloud.CreateVolumeRequest{Name: name, SizeGiB: 1, Metadata: md})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // distinct creation times
		return v.ID
	}
	own := map[string]string{MetaRequestName: "twin"}
	earlier, later := mk("twin", own), mk("twin", own)
	foreign1, foreign2 := mk("pair", nil), mk("pair", nil)
	exists := func(id string) bool { _, err := e.cloud.GetVolume(ctx, id); return err == nil }
	eventually(t, "volumes available", func() bool {
		for _, id := range []string{earlier, later, foreign1, foreign2} {
			if v, err := e.cloud.GetVolume(ctx, id); err != nil || v.Status != cloud.StatusAvailable {
				return false
			}
		}
		return true
	})
	if err := e.c.sweep(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the later twin removed", func() bool { return !exists(later) })
	if !exists(earlier) || !exists(foreign1) || !exists(foreign2) {
		t.Fatalf("the sweep removed what it must not: earlier kept %v, foreign kept %v and %v", exists(earlier), exists(foreign1), exists(foreign2))
	}
}
