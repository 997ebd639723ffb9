package driver

import (
	"fmt"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
)

func TestCreateSnapshotIdempotentAndConflicts(t *testing.T) {
	e := newEnv(t, nil)
	a := e.mustCreate(t, "a", 1)
	b := e.mustCreate(t, "b", 1)
	req := &csi.CreateSnapshotRequest{Name: "snap", SourceVolumeId: a.GetVolumeId(),
		Parameters: map[string]string{ParamVolumeSnapshotName: "daily", ParamVolumeSnapshotNamespace: "shop"}}
	s1, err := e.c.CreateSnapshot(ctxT(t), req)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := e.c.CreateSnapshot(ctxT(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if s1.GetSnapshot().GetSnapshotId() != s2.GetSnapshot().GetSnapshotId() || !s2.GetSnapshot().GetReadyToUse() {
		t.Fatalf("retry = %v, first %v", s2.GetSnapshot(), s1.GetSnapshot())
	}
	if e.cloud.Calls("CreateSnapshot") != 1 {
		t.Errorf("CreateSnapshot calls = %d", e.cloud.Calls("CreateSnapshot"))
	}
	cs, _ := e.cloud.GetSnapshot(ctxT(t), s1.GetSnapshot().GetSnapshotId())
	if cs.Metadata[ParamVolumeSnapshotName] != "daily" || cs.Metadata[MetaRequestName] != "snap" {
		t.Errorf("snapshot metadata = %v", cs.Metadata)
	}
	if s1.GetSnapshot().GetSizeBytes() != GiB || s1.GetSnapshot().GetCreationTime() == nil || s1.GetSnapshot().GetSourceVolumeId() != a.GetVolumeId() {
		t.Errorf("snapshot = %v", s1.GetSnapshot())
	}
	_, err = e.c.CreateSnapshot(ctxT(t), &csi.CreateSnapshotRequest{Name: "snap", SourceVolumeId: b.GetVolumeId()})
	wantCode(t, err, codes.AlreadyExists)
	_, err = e.c.CreateSnapshot(ctxT(t), &csi.CreateSnapshotRequest{Name: "x", SourceVolumeId: "missing"})
	wantCode(t, err, codes.NotFound)
	_, err = e.c.CreateSnapshot(ctxT(t), &csi.CreateSnapshotRequest{Name: "x", SourceVolumeId: a.GetVolumeId(), Parameters: map[string]string{"type": "tape"}})
	wantCode(t, err, codes.InvalidArgument)
	_, err = e.c.CreateSnapshot(ctxT(t), &csi.CreateSnapshotRequest{SourceVolumeId: a.GetVolumeId()})
	wantCode(t, err, codes.InvalidArgument)
	_, err = e.c.CreateSnapshot(ctxT(t), &csi.CreateSnapshotRequest{Name: "x"})
	wantCode(t, err, codes.InvalidArgument)
}

func TestSnapshotOfAttachedVolume(t *testing.T) {
	// Cinder: force is needed, and the driver sets it.
	e := newEnv(t, nil)
	v := e.mustCreate(t, "att", 1)
	e.mustPublish(t, v.GetVolumeId(), testNode)
	if _, err := e.c.CreateSnapshot(ctxT(t), &csi.CreateSnapshotRequest{Name: "s", SourceVolumeId: v.GetVolumeId()}); err != nil {
		t.Fatalf("forced snapshot of an attached volume: %v", err)
	}
	// Helion: forbidden; the error says what to do.
	h := newEnv(t, func(c *cloud.Capabilities) { c.SnapshotAttached = cloud.SnapshotAttachedForbidden })
	w := h.mustCreate(t, "att", 1)
	h.mustPublish(t, w.GetVolumeId(), testNode)
	_, err := h.c.CreateSnapshot(ctxT(t), &csi.CreateSnapshotRequest{Name: "s", SourceVolumeId: w.GetVolumeId()})
	wantCode(t, err, codes.FailedPrecondition)
	if !strings.Contains(err.Error(), "detach the volume or use a VolumeSnapshotClass with type: backup") {
		t.Errorf("message does not say what to do: %v", err)
	}
}

func TestBackupSnapshotsRoundTrip(t *testing.T) {
	e := newEnv(t, nil)
	v := e.mustCreate(t, "src", 2)
	resp, err := e.c.CreateSnapshot(ctxT(t), &csi.CreateSnapshotRequest{Name: "bk", SourceVolumeId: v.GetVolumeId(), Parameters: map[string]string{"type": "backup"}})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetSnapshot().GetSnapshotId()
	if !strings.HasPrefix(id, BackupPrefix) || !resp.GetSnapshot().GetReadyToUse() {
		t.Fatalf("backup snapshot = %v", resp.GetSnapshot())
	}
	if e.cloud.Calls("CreateBackup") != 1 || e.cloud.Calls("CreateSnapshot") != 0 {
		t.Errorf("backup made with CreateBackup %d / CreateSnapshot %d", e.cloud.Calls("CreateBackup"), e.cloud.Calls("CreateSnapshot"))
	}
	again, err := e.c.CreateSnapshot(ctxT(t), &csi.CreateSnapshotRequest{Name: "bk", SourceVolumeId: v.GetVolumeId(), Parameters: map[string]string{"type": "backup"}})
	if err != nil || again.GetSnapshot().GetSnapshotId() != id {
		t.Fatalf("backup retry = %v, %v", again, err)
	}
	req := createReq("from-backup", 1)
	req.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: id}}}
	nv, err := e.c.CreateVolume(ctxT(t), req)
	if err != nil {
		t.Fatal(err)
	}
	cv, _ := e.cloud.GetVolume(ctxT(t), nv.GetVolume().GetVolumeId())
	if cv.SourceBackupID != strings.TrimPrefix(id, BackupPrefix) || cv.SizeGiB != 2 {
		t.Errorf("volume from backup = %+v", cv)
	}
	got, err := e.c.GetSnapshot(ctxT(t), &csi.GetSnapshotRequest{SnapshotId: id})
	if err != nil || got.GetSnapshot().GetSnapshotId() != id {
		t.Fatalf("GetSnapshot(backup) = %v, %v", got, err)
	}
	if _, err := e.c.DeleteSnapshot(ctxT(t), &csi.DeleteSnapshotRequest{SnapshotId: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cloud.GetBackup(ctxT(t), strings.TrimPrefix(id, BackupPrefix)); !cloud.IsNotFound(err) {
		t.Fatalf("backup still there: %v", err)
	}
	if _, err := e.c.DeleteSnapshot(ctxT(t), &csi.DeleteSnapshotRequest{SnapshotId: id}); err != nil {
		t.Fatalf("second delete: %v", err)
	}
}

func TestBackupsUnsupported(t *testing.T) {
	e := newEnv(t, func(c *cloud.Capabilities) { c.Backups = false })
	v := e.mustCreate(t, "v", 1)
	_, err := e.c.CreateSnapshot(ctxT(t), &csi.CreateSnapshotRequest{Name: "bk", SourceVolumeId: v.GetVolumeId(), Parameters: map[string]string{"type": "backup"}})
	wantCode(t, err, codes.InvalidArgument)
}

func TestListSnapshotsAcrossSnapshotsAndBackups(t *testing.T) {
	e := newEnv(t, nil)
	v := e.mustCreate(t, "v", 1)
	w := e.mustCreate(t, "w", 1)
	want := map[string]bool{}
	for i := range 3 {
		s, err := e.c.CreateSnapshot(ctxT(t), &csi.CreateSnapshotRequest{Name: fmt.Sprintf("s%d", i), SourceVolumeId: v.GetVolumeId()})
		if err != nil {
			t.Fatal(err)
		}
		want[s.GetSnapshot().GetSnapshotId()] = true
	}
	for i := range 2 {
		s, err := e.c.CreateSnapshot(ctxT(t), &csi.CreateSnapshotRequest{Name: fmt.Sprintf("b%d", i), SourceVolumeId: w.GetVolumeId(), Parameters: map[string]string{"type": "backup"}})
		if err != nil {
			t.Fatal(err)
		}
		want[s.GetSnapshot().GetSnapshotId()] = true
	}
	got := map[string]bool{}
	token := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		resp, err := e.c.ListSnapshots(ctxT(t), &csi.ListSnapshotsRequest{MaxEntries: 2, StartingToken: token})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetEntries()) > 2 {
			t.Fatalf("%d entries with max 2", len(resp.GetEntries()))
		}
		for _, en := range resp.GetEntries() {
			if got[en.GetSnapshot().GetSnapshotId()] {
				t.Fatalf("%s listed twice", en.GetSnapshot().GetSnapshotId())
			}
			got[en.GetSnapshot().GetSnapshotId()] = true
		}
		if token = resp.GetNextToken(); token == "" {
			break
		}
	}
	if len(got) != len(want) {
		t.Fatalf("paged listing found %d of %d", len(got), len(want))
	}
	// After a first page, no max_entries returns the rest at once.
	first, _ := e.c.ListSnapshots(ctxT(t), &csi.ListSnapshotsRequest{MaxEntries: 2})
	rest, err := e.c.ListSnapshots(ctxT(t), &csi.ListSnapshotsRequest{StartingToken: first.GetNextToken()})
	if err != nil || len(rest.GetEntries()) != 3 {
		t.Fatalf("rest = %d entries, %v", len(rest.GetEntries()), err)
	}
	byVol, _ := e.c.ListSnapshots(ctxT(t), &csi.ListSnapshotsRequest{SourceVolumeId: w.GetVolumeId()})
	if len(byVol.GetEntries()) != 2 {
		t.Errorf("by source volume: %d entries, want the 2 backups", len(byVol.GetEntries()))
	}
	none, err := e.c.ListSnapshots(ctxT(t), &csi.ListSnapshotsRequest{SnapshotId: "none-exist-id"})
	if err != nil || len(none.GetEntries()) != 0 {
		t.Errorf("unknown id: %v, %v", none, err)
	}
	_, err = e.c.ListSnapshots(ctxT(t), &csi.ListSnapshotsRequest{StartingToken: "garbage"})
	wantCode(t, err, codes.Aborted)
}

// A restore into the driver's empty volume ends by giving the volume the
// backed-up volume's metadata in place of the driver's (Cinder's backup
// driver). A controller killed after that, before it put its own back,
// leaves a volume that names another request: the CO's retry must take
// it as restored (not restore again, not AlreadyExists) and reclaim it.
func TestCreateFromBackupAfterRestoreReplacedMetadata(t *testing.T) {
	e := newEnv(t, nil)
	ctx := ctxT(t)
	src := e.mustCreate(t, "src", 1)
	bk, err := e.c.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "bk", SourceVolumeId: src.GetVolumeId(), Parameters: map[string]string{"type": "backup"}})
	if err != nil {
		t.Fatal(err)
	}
	backupID := strings.TrimPrefix(bk.GetSnapshot().GetSnapshotId(), BackupPrefix)
	// The earlier attempt's volume, as the restore left it.
	left, err := e.cloud.CreateVolume(ctx, cloud.CreateVolumeRequest{Name: "restored", SizeGiB: 1,
		Metadata: map[string]string{MetaRequestName: "src", MetaSource: "snapshot:the-backed-up-volumes-own"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.waiter.WaitVolume(ctx, left.ID, waiter.VolumeReady(cloud.StatusAvailable)); err != nil {
		t.Fatal(err)
	}
	e.cloud.ResetCalls()
	req := createReq("restored", 1)
	req.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: bk.GetSnapshot().GetSnapshotId()}}}
	got, err := e.c.CreateVolume(ctx, req)
	if err != nil {
		t.Fatalf("retry of the create: %v", err)
	}
	if got.GetVolume().GetVolumeId() != left.ID || e.cloud.Calls("RestoreBackup") != 0 || e.cloud.Calls("CreateVolume") != 0 {
		t.Fatalf("retry answered %s (left %s) after %d restores and %d creates", got.GetVolume().GetVolumeId(), left.ID, e.cloud.Calls("RestoreBackup"), e.cloud.Calls("CreateVolume"))
	}
	v, err := e.cloud.GetVolume(ctx, left.ID)
	if err != nil {
		t.Fatal(err)
	}
	if v.Metadata[MetaRequestName] != "restored" || v.Metadata[MetaRestored] != backupID || v.Metadata[MetaSource] != "backup:"+backupID {
		t.Fatalf("metadata after the retry: %v", v.Metadata)
	}
}
