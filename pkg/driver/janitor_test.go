package driver

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/fake"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
)

// eventually polls cond for up to 2 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 2s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *env) snapshotGone(id string) bool {
	_, err := e.cloud.GetSnapshot(context.Background(), id)
	return cloud.IsNotFound(err)
}

// A snapshot of this driver's that failed after its CreateSnapshot gave up
// no longer blocks deleting its volume; anyone else's snapshot still does.
func TestDeleteVolumeRemovesOwnFailedSnapshots(t *testing.T) {
	e := newEnv(t, nil)
	v := e.mustCreate(t, "src", 1)
	snap, err := e.c.CreateSnapshot(ctxT(t), &csi.CreateSnapshotRequest{Name: "failed-later", SourceVolumeId: v.GetVolumeId()})
	if err != nil {
		t.Fatal(err)
	}
	sid := snap.GetSnapshot().GetSnapshotId()
	e.cloud.SetSnapshotStatus(sid, cloud.StatusError, "error")

	other, err := e.cloud.CreateSnapshot(ctxT(t), cloud.CreateSnapshotRequest{Name: "someone-elses", VolumeID: v.GetVolumeId()})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "foreign snapshot available", func() bool {
		s, err := e.cloud.GetSnapshot(context.Background(), other.ID)
		return err == nil && s.Status == cloud.StatusAvailable
	})
	e.cloud.SetSnapshotStatus(other.ID, cloud.StatusError, "error")
	_, err = e.c.DeleteVolume(ctxT(t), &csi.DeleteVolumeRequest{VolumeId: v.GetVolumeId()})
	wantCode(t, err, codes.FailedPrecondition)
	if e.snapshotGone(other.ID) {
		t.Fatal("deleted a failed snapshot this driver did not make")
	}
	if err := e.cloud.DeleteSnapshot(ctxT(t), other.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "foreign snapshot deleted", func() bool { return e.snapshotGone(other.ID) })

	if _, err := e.c.DeleteVolume(ctxT(t), &csi.DeleteVolumeRequest{VolumeId: v.GetVolumeId()}); err != nil {
		t.Fatalf("DeleteVolume with only its own failed snapshot left: %v", err)
	}
	if !e.snapshotGone(sid) || e.cloud.VolumeCount() != 0 {
		t.Fatalf("left: snapshot gone %v, %d volumes", e.snapshotGone(sid), e.cloud.VolumeCount())
	}
}

// A retried CreateSnapshot (or backup) that finds the failed resource of
// an earlier attempt by its name replaces it and answers with a new one.
func TestCreateSnapshotReplacesFailedAttempt(t *testing.T) {
	e := newEnv(t, nil)
	v := e.mustCreate(t, "src", 1)
	for _, params := range []map[string]string{nil, {"type": "backup"}} {
		req := &csi.CreateSnapshotRequest{Name: "snap" + params["type"], SourceVolumeId: v.GetVolumeId(), Parameters: params}
		first, err := e.c.CreateSnapshot(ctxT(t), req)
		if err != nil {
			t.Fatal(err)
		}
		old := first.GetSnapshot().GetSnapshotId()
		backupID, isBackup := strings.CutPrefix(old, BackupPrefix)
		if isBackup {
			e.cloud.SetBackupStatus(backupID, cloud.StatusError, "error")
		} else {
			e.cloud.SetSnapshotStatus(old, cloud.StatusError, "error")
		}
		again, err := e.c.CreateSnapshot(ctxT(t), req)
		if err != nil {
			t.Fatalf("retry over a failed %s: %v", req.Name, err)
		}
		if s := again.GetSnapshot(); s.GetSnapshotId() == old || !s.GetReadyToUse() {
			t.Fatalf("retry answered %s (ready %v), the failed one was %s", s.GetSnapshotId(), s.GetReadyToUse(), old)
		}
		// Deleted, not waited for: it goes shortly after.
		eventually(t, "the failed "+old+" deleted", func() bool {
			got, err := e.c.lookupSnapshot(ctxT(t), old)
			return err == nil && got == nil
		})
	}
}

// A volume whose creation fails after CreateVolume stopped waiting is
// removed by the driver without another call from the CO.
func TestVolumeFailedAfterDeadlineRemoved(t *testing.T) {
	c := fake.New(fake.Config{Delay: 100 * time.Millisecond})
	w := waiter.New(c, waiter.Options{InitialDelay: 2 * time.Millisecond, Interval: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	drv, err := New(Config{Mode: ModeController, Cloud: c, Waiter: w})
	if err != nil {
		t.Fatal(err)
	}
	d := drv.controller
	c.FailNextCreates(1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err = d.CreateVolume(ctx, createReq("slow", 1))
	wantCode(t, err, codes.DeadlineExceeded)
	if c.VolumeCount() != 1 {
		t.Fatalf("setup: %d volumes, want the one being created", c.VolumeCount())
	}
	eventually(t, "failed volume removed", func() bool { return c.VolumeCount() == 0 })
}

// The sweep removes failed resources this driver made, and nothing else:
// not another's failed volume, not its own volume that failed an
// operation after creation (it holds data).
func TestSweepRemovesOnlyOwnFailures(t *testing.T) {
	e := newEnv(t, nil)
	ctx := ctxT(t)
	mk := func(name string, md map[string]string, fail bool) string {
		if fail {
			e.cloud.FailNextCreates(1)
		}
		v, err := e.cloud.CreateVolume(ctx, cloud.CreateVolumeRequest{Name: name, SizeGiB: 1, Metadata: md})
		if err != nil {
			t.Fatal(err)
		}
		return v.ID
	}
	own := mk("own", map[string]string{MetaRequestName: "own"}, true)
	foreign := mk("foreign", nil, true)
	used := mk("used", map[string]string{MetaRequestName: "used"}, false)
	eventually(t, "volumes settled", func() bool {
		v, err := e.cloud.GetVolume(ctx, used)
		return err == nil && v.Status == cloud.StatusAvailable
	})
	snap, err := e.c.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "own-snap", SourceVolumeId: used})
	if err != nil {
		t.Fatal(err)
	}
	e.cloud.SetVolumeStatus(used, cloud.StatusError, "error_extending")
	e.cloud.SetSnapshotStatus(snap.GetSnapshot().GetSnapshotId(), cloud.StatusError, "error")

	if err := e.c.sweep(ctx); err != nil {
		t.Fatal(err)
	}
	exists := func(id string) bool { _, err := e.cloud.GetVolume(ctx, id); return err == nil }
	eventually(t, "own failures removed", func() bool {
		return !exists(own) && e.snapshotGone(snap.GetSnapshot().GetSnapshotId())
	})
	if !exists(foreign) || !exists(used) {
		t.Fatalf("the sweep removed what it must not: foreign kept %v, used kept %v", exists(foreign), exists(used))
	}
}

// The sweep removes a volume made empty for a restore that its
// CreateVolume never finished (never answered, so never used) once it is
// older than the CO's retries, but not a recent one (the CO's next retry
// finishes it), nor one whose restore finished, nor one a CreateVolume is
// working on.
func TestSweepRemovesUnfinishedRestores(t *testing.T) {
	e := newEnv(t, nil)
	ctx := ctxT(t)
	mk := func(name string, md map[string]string) string {
		md[MetaRequestName] = name
		v, err := e.cloud.CreateVolume(ctx, cloud.CreateVolumeRequest{Name: name, SizeGiB: 1, Metadata: md})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.c.waiter.WaitVolume(ctx, v.ID, waiter.VolumeReady(cloud.StatusAvailable)); err != nil {
			t.Fatal(err)
		}
		return v.ID
	}
	const src = "backup:6f1c7a4e-0000-0000-0000-000000000001"
	abandoned := mk("abandoned", map[string]string{MetaSource: src})
	restored := mk("restored", map[string]string{MetaSource: src, MetaRestored: "6f1c7a4e-0000-0000-0000-000000000001"})
	busy := mk("busy", map[string]string{MetaSource: src})
	// The restore failed; its CreateVolume gave up or died. The restore
	// copied the backed-up volume's request name over this one's.
	failedRestore := mk("failed-restore", map[string]string{MetaSource: src})
	if err := e.cloud.SetVolumeMetadata(ctx, failedRestore, map[string]string{MetaRequestName: "the-backed-up-volume"}); err != nil {
		t.Fatal(err)
	}
	e.cloud.SetVolumeStatus(failedRestore, cloud.StatusError, "error_restoring")
	// Restored, and the restore put the backed-up volume's metadata in
	// place of this one's; its CreateVolume died before writing its own
	// back. The description, which a restore keeps, says it is ours.
	unreclaimed := mk("unreclaimed", map[string]string{MetaSource: src})
	if err := e.cloud.SetVolumeMetadata(ctx, unreclaimed, map[string]string{MetaRequestName: "the-backed-up-volume"}); err != nil {
		t.Fatal(err)
	}
	e.cloud.SetVolumeDescription(unreclaimed, "Kubernetes volume"+restoreNote+"6f1c7a4e-0000-0000-0000-000000000001)")
	// The same, but not described as ours: someone restored our backup
	// into a volume of theirs.
	theirs := mk("theirs", map[string]string{})
	if err := e.cloud.SetVolumeMetadata(ctx, theirs, map[string]string{MetaRequestName: "the-backed-up-volume"}); err != nil {
		t.Fatal(err)
	}
	// Not made for a restore: error_extending may hold data.
	extending := mk("failed-extend", map[string]string{})
	e.cloud.SetVolumeStatus(extending, cloud.StatusError, "error_extending")
	// Made a minute ago, between two of the CO's retries: the next one
	// finishes the restore.
	srcVol := e.mustCreate(t, "backed-up", 1)
	bk, err := e.c.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "bk", SourceVolumeId: srcVol.GetVolumeId(), Parameters: map[string]string{"type": "backup"}})
	if err != nil {
		t.Fatal(err)
	}
	between := mk("between-retries", map[string]string{MetaSource: bk.GetSnapshot().GetSnapshotId()})
	e.cloud.SetVolumeCreatedAt(between, time.Now().Add(-time.Minute))
	for _, id := range []string{abandoned, busy, unreclaimed} {
		e.cloud.SetVolumeCreatedAt(id, time.Now().Add(-restoreRetryWindow-time.Minute))
	}
	e.c.inFlight.Insert("volume-name/busy")
	defer e.c.inFlight.Delete("volume-name/busy")

	if err := e.c.sweep(ctx); err != nil {
		t.Fatal(err)
	}
	exists := func(id string) bool { _, err := e.cloud.GetVolume(ctx, id); return err == nil }
	eventually(t, "abandoned, unreclaimed and failed restores removed", func() bool {
		return !exists(abandoned) && !exists(failedRestore) && !exists(unreclaimed)
	})
	if !exists(restored) || !exists(busy) || !exists(extending) || !exists(theirs) || !exists(between) {
		t.Fatalf("removed what it must not: restored kept %v, in-flight kept %v, error_extending kept %v, someone else's restore kept %v, one between retries kept %v",
			exists(restored), exists(busy), exists(extending), exists(theirs), exists(between))
	}

	// A retry after the sweep finishes the restore in the volume it left.
	e.cloud.ResetCalls()
	req := createReq("between-retries", 1)
	req.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: bk.GetSnapshot().GetSnapshotId()}}}
	resp, err := e.c.CreateVolume(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.GetVolume().GetVolumeId(); got != between || e.cloud.Calls("RestoreBackup") != 1 || e.cloud.Calls("CreateVolume") != 0 {
		t.Fatalf("the retry answered volume %s (the sweep left %s) after %d restores and %d creates, want that volume restored once and none made",
			got, between, e.cloud.Calls("RestoreBackup"), e.cloud.Calls("CreateVolume"))
	}
}

// stuckDelete is a cloud whose DeleteVolume hangs until its context ends,
// as one queued behind a 1 call/s limit does.
type stuckDelete struct {
	cloud.Cloud
	started chan struct{}
}

func (s *stuckDelete) DeleteVolume(ctx context.Context, id string) error {
	close(s.started)
	<-ctx.Done()
	return ctx.Err()
}

// The sweep holds a name while it removes that name's unfinished restore;
// a delete stuck behind the rate limit must not keep the CO's retries for
// the name answered Aborted for the sweep's whole deadline.
func TestSweepReleasesNameOfStuckRemoval(t *testing.T) {
	e := newEnv(t, nil)
	ctx := ctxT(t)
	v, err := e.cloud.CreateVolume(ctx, cloud.CreateVolumeRequest{Name: "stuck", SizeGiB: 1,
		Metadata: map[string]string{MetaRequestName: "stuck", MetaSource: "backup:6f1c7a4e-0000-0000-0000-000000000001"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.waiter.WaitVolume(ctx, v.ID, waiter.VolumeReady(cloud.StatusAvailable)); err != nil {
		t.Fatal(err)
	}
	e.cloud.SetVolumeCreatedAt(v.ID, time.Now().Add(-restoreRetryWindow-time.Minute))
	defer func(d time.Duration) { holdUnfinishedFor = d }(holdUnfinishedFor)
	holdUnfinishedFor = 200 * time.Millisecond
	stuck := &stuckDelete{Cloud: e.cloud, started: make(chan struct{})}
	e.c.cloud = stuck
	swept := make(chan error, 1)
	go func() { swept <- e.c.sweep(ctx) }()
	<-stuck.started
	eventually(t, "the name released while the removal is stuck", func() bool {
		if !e.c.inFlight.Insert("volume-name/stuck") {
			return false
		}
		e.c.inFlight.Delete("volume-name/stuck")
		return true
	})
	if err := <-swept; err != nil {
		t.Fatal(err)
	}
}
