package driver

import (
	"context"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// After a restart only the sweep is left to find a late twin: of two live
// volumes of this driver under one request name it removes the later, and
// leaves the earlier and anyone else's pairs alone.
func TestSweepRemovesLaterTwins(t *testing.T) {
	e := newEnv(t, nil)
	ctx := ctxT(t)
	mk := func(name string, md map[string]string) string { return cloudVolume(t, ctx, e, name, md) }
	own := map[string]string{MetaRequestName: "twin"}
	earlier, later := mk("twin", own), mk("twin", own)
	foreign1, foreign2 := mk("pair", nil), mk("pair", nil)
	exists := func(id string) bool { _, err := e.cloud.GetVolume(ctx, id); return err == nil }
	waitAvailable(t, ctx, e, earlier, later, foreign1, foreign2)
	if err := e.c.sweep(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the later twin removed", func() bool { return !exists(later) })
	if !exists(earlier) || !exists(foreign1) || !exists(foreign2) {
		t.Fatalf("the sweep removed what it must not: earlier kept %v, foreign kept %v and %v", exists(earlier), exists(foreign1), exists(foreign2))
	}
}

// A controller restarted after its predecessor answered a volume whose
// late twin has landed since: when the CO deletes the answered volume,
// the twin goes too, for once the answered one is gone nothing in the
// cloud tells the twin from a volume in use. Someone else's pair is left.
func TestDeleteRemovesTheLateTwinOfAPredecessorsAnswer(t *testing.T) {
	e := newEnv(t, nil)
	ctx := ctxT(t)
	mk := func(name string, md map[string]string) string { return cloudVolume(t, ctx, e, name, md) }
	answered, twin := mk("twin", map[string]string{MetaRequestName: "twin"}), mk("twin", map[string]string{MetaRequestName: "twin"})
	foreign1, foreign2 := mk("pair", nil), mk("pair", nil)
	exists := func(id string) bool { _, err := e.cloud.GetVolume(ctx, id); return err == nil }
	waitAvailable(t, ctx, e, answered, twin, foreign1, foreign2)
	if _, err := e.c.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: answered}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the twin removed with the answered volume", func() bool { return !exists(twin) })
	if _, err := e.c.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: foreign1}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if !exists(foreign2) {
		t.Fatal("deleting a volume not of this driver removed another of its name")
	}
}

// In one controller: a twin that lands after the answered volume was
// deleted is still removed by the watch, and one a later CreateVolume
// of the name answered is kept.
func TestWatchRemovesATwinLandingAfterTheDelete(t *testing.T) {
	saved := twinChecks
	twinChecks = []time.Duration{100 * time.Millisecond, time.Second, 2 * time.Second, 3 * time.Second}
	t.Cleanup(func() { twinChecks = saved })
	e := newEnv(t, nil)
	ctx := ctxT(t)
	e.c.twins.noteUnanswered("volume/twin") // a create of the name went unanswered
	answered := e.mustCreate(t, "twin", 1).GetVolumeId()
	if _, err := e.c.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: answered}); err != nil {
		t.Fatal(err)
	}
	late, err := e.cloud.CreateVolume(ctx, cloud.CreateVolumeRequest{Name: "twin", SizeGiB: 1, Metadata: map[string]string{MetaRequestName: "twin"}})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the late twin removed", func() bool { _, err := e.cloud.GetVolume(ctx, late.ID); return cloud.IsNotFound(err) })

	// The CO makes the name again: that answer is its own, not a twin.
	e.c.twins.noteUnanswered("volume/again")
	first := e.mustCreate(t, "again", 1).GetVolumeId()
	if _, err := e.c.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: first}); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	second := e.mustCreate(t, "again", 1).GetVolumeId()
	time.Sleep(time.Until(deleted.Add(3500 * time.Millisecond))) // past the watch's checks
	if _, err := e.cloud.GetVolume(ctx, second); err != nil {
		t.Fatalf("the volume a later CreateVolume answered was removed: %v", err)
	}
}

// cloudVolume makes a volume straight in the cloud, as a create the
// driver never answered would, a little after the one before it.
func cloudVolume(t *testing.T, ctx context.Context, e *env, name string, md map[string]string) string {
	t.Helper()
	v, err := e.cloud.CreateVolume(ctx, cloud.CreateVolumeRequest{Name: name, SizeGiB: 1, Metadata: md})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond) // distinct creation times
	return v.ID
}

func waitAvailable(t *testing.T, ctx context.Context, e *env, ids ...string) {
	t.Helper()
	eventually(t, "volumes available", func() bool {
		for _, id := range ids {
			if v, err := e.cloud.GetVolume(ctx, id); err != nil || v.Status != cloud.StatusAvailable {
				return false
			}
		}
		return true
	})
}
