package soak

import (
	"context"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/timing"
	"github.com/openblock-csi/openblock-csi/pkg/csicap"
)

// The long soak on HP Helion (1 call/s) saw runs of operations the cloud
// failed: each failure cost the CO an attempt, and each retry first looked
// the name up and deleted the failed resource again before making a new
// one, so a run of them outlasted the CO's budget for the step. A request
// now deletes what the cloud failed and makes it again itself: with two
// failures in a row of each kind, the CO's first attempt (the soak's
// attemptTimeout, as a sidecar's --timeout) gets a ready snapshot, backup
// and volume, and nothing failed is left behind.
func TestReproFailedRunWithinOneAttempt(t *testing.T) {
	e := newSlowEnvWith(t, timing.Fast)
	src := e.mustVolume("remake-src")
	e.sim.SetFaults(cloudsim.Faults{FailNext: map[string]int{cloudsim.OpSnapshot: 2, cloudsim.OpBackup: 2, cloudsim.OpCreate: 2}})

	first := func(what string, fn func(context.Context) error) {
		t.Helper()
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), attemptTimeout)
		defer cancel()
		if err := fn(ctx); err != nil {
			t.Fatalf("%s: the CO's first attempt failed after %s: %v\ncontroller log (tail):\n%s",
				what, time.Since(start).Round(time.Millisecond), err, tail(e.work+"/controller.log", 20))
		}
		t.Logf("%s: done in one attempt, %s", what, time.Since(start).Round(time.Millisecond))
	}
	first("CreateSnapshot remake-snap", func(ctx context.Context) error {
		resp, err := e.cc.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "remake-snap", SourceVolumeId: src})
		if err == nil && !resp.GetSnapshot().GetReadyToUse() {
			t.Errorf("snapshot %s answered not ready", resp.GetSnapshot().GetSnapshotId())
		}
		return err
	})
	first("CreateSnapshot remake-backup", func(ctx context.Context) error {
		_, err := e.cc.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "remake-backup", SourceVolumeId: src,
			Parameters: map[string]string{"type": "backup"}})
		return err
	})
	first("CreateVolume remake-vol", func(ctx context.Context) error {
		_, err := e.cc.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "remake-vol", CapacityRange: &csi.CapacityRange{RequiredBytes: gib},
			VolumeCapabilities: []*csi.VolumeCapability{csicap.Mount("ext4")}})
		return err
	})
	if left := e.sim.Faults().FailNext; left[cloudsim.OpSnapshot]+left[cloudsim.OpBackup]+left[cloudsim.OpCreate] != 0 {
		t.Fatalf("setup: failures not all fired: %v", left)
	}
	// The failed ones were deleted by the requests themselves.
	e.until(10*time.Second, "one of each name, none failed", func(st cloudsim.StateDump) bool {
		n := 0
		for _, v := range st.Volumes {
			if v.Status != "available" {
				return false
			}
			n++
		}
		for _, s := range st.Snapshots {
			if s.Status != "available" {
				return false
			}
			n++
		}
		for _, b := range st.Backups {
			if b.Status != "available" {
				return false
			}
			n++
		}
		return n == 4 // the source, the snapshot, the backup, the volume
	})
}
