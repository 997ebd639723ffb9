package soak

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/timing"
	"github.com/openblock-csi/openblock-csi/pkg/csicap"
	"github.com/openblock-csi/openblock-csi/test/harness"
)

// The long soak on HP Helion (cinder-v1, 1 call/s) leaked snapshots,
// backups and volumes that went to error after the request that created
// them had timed out, and a source volume that could not be deleted while
// such a snapshot of it remained. These reproduce it in seconds: the
// simulator's operations are slowed so that the CO's attempt ends before
// the cloud fails the resource.

// slowEnv is a controller against the helion simulator whose snapshot,
// backup and create operations take several seconds.
type slowEnv struct {
	t    *testing.T
	sim  *harness.Sim
	bin  string
	work string
	cfg  string
	p    *harness.DriverProcess
	cc   csi.ControllerClient
	// held: names attemptUntilHeld saw the cloud make (the sweep may
	// have removed them since, once they failed).
	held map[string]bool
}

func newSlowEnv(t *testing.T) *slowEnv {
	t.Helper()
	durs := timing.Fast
	durs.Create, durs.Snapshot, durs.Backup = 5*time.Second, 5*time.Second, 5*time.Second
	return newSlowEnvWith(t, durs)
}

// newSlowEnvWith is newSlowEnv with the simulator's operations taking durs.
func newSlowEnvWith(t *testing.T, durs timing.Profile) *slowEnv {
	t.Helper()
	b, err := harness.Lookup("cinder-v1")
	if err != nil {
		t.Fatal(err)
	}
	e := &slowEnv{t: t, bin: harness.MustSharedDriver(t), work: t.TempDir(), held: map[string]bool{}}
	sc := b.SimConfig(filepath.Join(e.work, "sim"), filepath.Join(e.work, "by-id"))
	sc.Durations = &durs
	if e.sim, err = harness.StartSim(sc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.sim.Close() })
	if e.cfg, err = b.WriteCloudConfig(e.work, e.sim.URL); err != nil {
		t.Fatal(err)
	}
	// The first controller does not sweep while a test sets up what it
	// has a restarted one find; the in-request remakes and the watch of
	// what a request stopped waiting for are its own.
	e.startWith("--sweep-delay=3m")
	t.Cleanup(func() { e.p.Stop() })
	return e
}

func (e *slowEnv) start() { e.startWith() }

func (e *slowEnv) startWith(args ...string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log, err := os.OpenFile(filepath.Join(e.work, "controller.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { log.Close() })
	p, err := harness.StartDriver(ctx, harness.DriverOptions{
		Binary: e.bin, Dir: e.work, CloudConfig: e.cfg, Mode: "controller", Stdout: log, Stderr: log,
		ExtraArgs: append([]string{"--metadata-url=-", "-v=2"}, args...),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.p, e.cc = p, csi.NewControllerClient(p.Conn)
}

// restart kills the controller with SIGKILL and starts a new one.
func (e *slowEnv) restart() {
	e.t.Helper()
	e.p.Kill()
	os.Remove(filepath.Join(e.work, "csi.sock"))
	e.start()
}

// retry sends fn until it succeeds, as a sidecar does, for at most d.
func retry(t *testing.T, d time.Duration, what string, fn func(context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := fn(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no success within %s: %v", what, d, err)
		}
		time.Sleep(time.Second)
	}
}

// until polls the simulator's state until cond holds, for at most d.
func (e *slowEnv) until(d time.Duration, what string, cond func(cloudsim.StateDump) bool) {
	e.t.Helper()
	deadline := time.Now().Add(d)
	for !cond(e.sim.State()) {
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: not within %s; the cloud holds %v\ncontroller log (tail):\n%s", what, d, harness.Leftovers(e.sim),
				tail(filepath.Join(e.work, "controller.log"), 40))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// mustHold checks the setup: the cloud has made each named resource.
func (e *slowEnv) mustHold(names ...string) {
	e.t.Helper()
	st := e.sim.State()
	for _, n := range names {
		if id, _ := named(st, n); id == "" && !e.held[n] {
			e.t.Fatalf("setup: %s was not created before the attempt ended; the cloud holds %v\ncontroller log (tail):\n%s",
				n, harness.Leftovers(e.sim), tail(filepath.Join(e.work, "controller.log"), 30))
		}
	}
}

func (e *slowEnv) mustVolume(name string) string {
	e.t.Helper()
	var id string
	retry(e.t, time.Minute, "CreateVolume "+name, func(ctx context.Context) error {
		resp, err := e.cc.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: name, CapacityRange: &csi.CapacityRange{RequiredBytes: gib},
			VolumeCapabilities: []*csi.VolumeCapability{csicap.Mount("ext4")}})
		id = resp.GetVolume().GetVolumeId()
		return err
	})
	return id
}

// attemptUntilHeld sends attempts that must each end before the cloud is
// done, as a CO's would, until the cloud holds a resource called name. At
// 1 call/s an attempt can end before it makes its create call at all
// (the clean-up's calls came first); the CO then simply tries again.
func (e *slowEnv) attemptUntilHeld(name, what string, fn func(context.Context) error) {
	e.t.Helper()
	for range 5 {
		timesOut(e.t, what, fn)
		if id, _ := named(e.sim.State(), name); id != "" {
			e.held[name] = true
			return
		}
	}
}

// timesOut sends one attempt that must end before the cloud is done.
func timesOut(t *testing.T, what string, fn func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3500*time.Millisecond)
	defer cancel()
	err := fn(ctx)
	if c := status.Code(err); c != codes.DeadlineExceeded && c != codes.Unavailable {
		t.Fatalf("%s: want the attempt to run out of time, got %v", what, err)
	}
}

func named(st cloudsim.StateDump, name string) (id, state string) {
	for _, v := range st.Volumes {
		if v.Name == name {
			return v.ID, v.Status
		}
	}
	for _, s := range st.Snapshots {
		if s.Name == name {
			return s.ID, s.Status
		}
	}
	for _, b := range st.Backups {
		if b.Name == name {
			return b.ID, b.Status
		}
	}
	return "", ""
}

func inError(names ...string) func(cloudsim.StateDump) bool {
	return func(st cloudsim.StateDump) bool {
		for _, n := range names {
			if _, s := named(st, n); !strings.HasPrefix(s, "error") {
				return false
			}
		}
		return true
	}
}

func empty(st cloudsim.StateDump) bool { return len(harness.StateLeftovers(st)) == 0 }

// A snapshot, a backup and a volume whose creation outlasted the CO's
// attempt, then failed, after which the CO gave up on them (a
// VolumeSnapshot or PVC deleted before it got a handle): the driver must
// remove all three, and the source volume must still be deletable.
func TestReproErrorAfterDeadlineLeaks(t *testing.T) {
	e := newSlowEnv(t)
	src := e.mustVolume("leak-src")
	e.sim.SetFaults(cloudsim.Faults{FailNext: map[string]int{cloudsim.OpSnapshot: 1, cloudsim.OpBackup: 1, cloudsim.OpCreate: 1}})
	e.attemptUntilHeld("leak-snap", "CreateSnapshot leak-snap", func(ctx context.Context) error {
		_, err := e.cc.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "leak-snap", SourceVolumeId: src})
		return err
	})
	e.attemptUntilHeld("leak-backup", "CreateSnapshot leak-backup", func(ctx context.Context) error {
		_, err := e.cc.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "leak-backup", SourceVolumeId: src,
			Parameters: map[string]string{"type": "backup"}})
		return err
	})
	e.attemptUntilHeld("leak-vol", "CreateVolume leak-vol", func(ctx context.Context) error {
		_, err := e.cc.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "leak-vol", CapacityRange: &csi.CapacityRange{RequiredBytes: gib},
			VolumeCapabilities: []*csi.VolumeCapability{csicap.Mount("ext4")}})
		return err
	})
	e.mustHold("leak-snap", "leak-backup", "leak-vol")
	// The CO never learns their ids, so it never deletes them; it deletes
	// the source volume, as a user deleting the PVC does.
	retry(t, 90*time.Second, "DeleteVolume "+src, func(ctx context.Context) error {
		_, err := e.cc.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: src})
		return err
	})
	e.until(60*time.Second, "the cloud empty", empty)
}

// The controller dies while a snapshot, a backup and a volume are being
// made, and all three fail. A CO that retries the snapshot by name gets a
// fresh one on its first retry; the backup and the volume, whose CO gave
// up, are removed by the restarted controller on its own.
func TestReproErrorAfterControllerKill(t *testing.T) {
	e := newSlowEnv(t)
	src := e.mustVolume("kill-src")
	e.sim.SetFaults(cloudsim.Faults{FailNext: map[string]int{cloudsim.OpSnapshot: 1, cloudsim.OpBackup: 1, cloudsim.OpCreate: 1}})
	e.attemptUntilHeld("kill-snap", "CreateSnapshot kill-snap", func(ctx context.Context) error {
		_, err := e.cc.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "kill-snap", SourceVolumeId: src})
		return err
	})
	e.attemptUntilHeld("kill-backup", "CreateSnapshot kill-backup", func(ctx context.Context) error {
		_, err := e.cc.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "kill-backup", SourceVolumeId: src,
			Parameters: map[string]string{"type": "backup"}})
		return err
	})
	e.attemptUntilHeld("kill-vol", "CreateVolume kill-vol", func(ctx context.Context) error {
		_, err := e.cc.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "kill-vol", CapacityRange: &csi.CapacityRange{RequiredBytes: gib},
			VolumeCapabilities: []*csi.VolumeCapability{csicap.Mount("ext4")}})
		return err
	})
	e.mustHold("kill-snap", "kill-backup", "kill-vol")
	e.restart()
	e.until(30*time.Second, "kill-snap in error", inError("kill-snap"))
	failedID, _ := named(e.sim.State(), "kill-snap")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := e.cc.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "kill-snap", SourceVolumeId: src})
	if err != nil {
		t.Fatalf("the first retry of CreateSnapshot after the restart: %v", err)
	}
	if id := resp.GetSnapshot().GetSnapshotId(); id == failedID || !resp.GetSnapshot().GetReadyToUse() {
		t.Fatalf("retry answered %s (ready %v); the failed one was %s", id, resp.GetSnapshot().GetReadyToUse(), failedID)
	}
	e.until(60*time.Second, "the failed backup and volume removed", func(st cloudsim.StateDump) bool {
		b, _ := named(st, "kill-backup")
		v, _ := named(st, "kill-vol")
		return b == "" && v == ""
	})
	for _, s := range e.sim.State().Snapshots {
		if s.ID == failedID {
			t.Fatalf("the failed snapshot %s is still there (%s)", s.ID, s.Status)
		}
	}
	snap := resp.GetSnapshot().GetSnapshotId()
	retry(t, time.Minute, "DeleteSnapshot", func(ctx context.Context) error {
		_, err := e.cc.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: snap})
		return err
	})
	retry(t, time.Minute, "DeleteVolume", func(ctx context.Context) error {
		_, err := e.cc.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: src})
		return err
	})
	e.until(30*time.Second, "the cloud empty", empty)
}
