package soak

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/timing"
	"github.com/openblock-csi/openblock-csi/pkg/csicap"
	"github.com/openblock-csi/openblock-csi/pkg/driver"
)

// On Cinder v1 a volume from a backup is an empty volume and a restore
// into it. The long soak on HP Helion (1 call/s, controller kills) saw
// such CreateVolumes run out of attempts: a retry that found the volume
// available after the restore ran had no record of it and restored again,
// so with a restore longer than one attempt none ever completed. Here the
// restore outlasts every attempt and the controller is killed mid-restore:
// the retries must pick up the restore under way and finish, with the
// backup restored once.
func TestReproRestoreOutlastsAttempt(t *testing.T) {
	durs := timing.Fast
	durs.Restore = 6 * time.Second
	e := newSlowEnvWith(t, durs)
	src := e.mustVolume("restore-src")
	var backup string
	retry(t, time.Minute, "CreateSnapshot restore-backup", func(ctx context.Context) error {
		resp, err := e.cc.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "restore-backup", SourceVolumeId: src,
			Parameters: map[string]string{"type": "backup"}})
		backup = resp.GetSnapshot().GetSnapshotId()
		return err
	})
	req := &csi.CreateVolumeRequest{Name: "restore-vol", CapacityRange: &csi.CapacityRange{RequiredBytes: gib},
		VolumeCapabilities: []*csi.VolumeCapability{csicap.Mount("ext4")},
		VolumeContentSource: &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
			Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: backup}}}}
	create := func(ctx context.Context) error {
		_, err := e.cc.CreateVolume(ctx, req)
		return err
	}
	e.sim.ResetStats()
	for range 5 {
		// Each attempt runs out of time; one arriving while its predecessor,
		// past its deadline, still unwinds is answered Aborted, as a CO's is.
		ctx, cancel := context.WithTimeout(context.Background(), 3500*time.Millisecond)
		err := create(ctx)
		cancel()
		if c := status.Code(err); c != codes.DeadlineExceeded && c != codes.Unavailable && c != codes.Aborted {
			t.Fatalf("setup: CreateVolume restore-vol: want the attempt to run out of time, got %v", err)
		}
		if _, st := named(e.sim.State(), "restore-vol"); st == "restoring-backup" {
			break
		}
	}
	if _, st := named(e.sim.State(), "restore-vol"); st != "restoring-backup" {
		t.Fatalf("setup: restore-vol is %q, want it restoring when the controller is killed", st)
	}
	e.restart()

	// As the soak's CO: attempts shorter than the restore, retried at once.
	var codesSeen []string
	deadline := time.Now().Add(45 * time.Second)
	for done := false; !done; {
		if time.Now().After(deadline) {
			t.Fatalf("CreateVolume restore-vol did not complete within 45 s; attempts answered %s; the cloud holds %v\ncontroller log (tail):\n%s",
				strings.Join(codesSeen, " "), named2(e.sim.State(), "restore-vol"), tail(e.work+"/controller.log", 30))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3500*time.Millisecond)
		err := create(ctx)
		cancel()
		codesSeen = append(codesSeen, status.Code(err).String())
		if status.Code(err) == codes.Aborted {
			t.Errorf("attempt %d answered Aborted: the previous attempt, past its deadline, still holds the name: %v", len(codesSeen), err)
		}
		done = err == nil
		time.Sleep(100 * time.Millisecond)
	}
	restores := 0
	for route, n := range e.sim.Stats().ByRoute {
		if strings.HasSuffix(route, "/backups/{id}/restore") {
			restores += int(n)
		}
	}
	if restores != 1 {
		t.Errorf("the backup was restored %d times, want once (attempts answered %s)", restores, strings.Join(codesSeen, " "))
	}

	// The restore's last step gave the volume the backed-up volume's
	// metadata in place of the driver's: the driver put its own back, and
	// the CO's retry of a create whose answer was lost gets the same
	// volume without a second restore.
	retry(t, 30*time.Second, "CreateVolume restore-vol again", create)
	for route, n := range e.sim.Stats().ByRoute {
		if strings.HasSuffix(route, "/backups/{id}/restore") && int(n) != 1 {
			t.Errorf("the backup was restored %d times after a retry of the finished create, want once", n)
		}
	}
	for _, v := range e.sim.State().Volumes {
		if v.Name == "restore-vol" && (v.Metadata[driver.MetaRequestName] != "restore-vol" || v.Metadata[driver.MetaRestored] == "") {
			t.Errorf("restore-vol's metadata %v: the request name and restored backup are not the driver's", v.Metadata)
		}
	}
}

// named2 says which state the named resource is in, for messages.
func named2(st cloudsim.StateDump, name string) string {
	id, s := named(st, name)
	return fmt.Sprintf("%s %s (%s)", name, id, s)
}
