package guest_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openblock-csi/openblock-csi/pkg/driver"
)

// The demo's lifecycle on a hot-plugged disk: create, attach, find by
// serial, format, mount, write, snapshot, restore, read back, delete.
func caseLifecycle(t *testing.T, ctx context.Context, e *env) {
	v := e.create(t, ctx, "guest-lifecycle", 1, nil)
	v.up(ctx)
	v.write(ctx, "hello", "written by the guest for "+v.id)
	snap, err := e.ctrl.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{SourceVolumeId: v.id, Name: "guest-lifecycle-snap"})
	if err != nil {
		t.Fatalf("CreateSnapshot: %v", err)
	}
	snapID := snap.GetSnapshot().GetSnapshotId()
	t.Cleanup(func() {
		_, _ = e.ctrl.DeleteSnapshot(context.Background(), &csi.DeleteSnapshotRequest{SnapshotId: snapID})
	})
	r := e.create(t, ctx, "guest-lifecycle-restored", 1, &csi.VolumeContentSource{
		Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snapID}},
	})
	r.up(ctx)
	if got, want := r.read(ctx, "hello"), "written by the guest for "+v.id; got != want {
		t.Fatalf("restored volume holds %q, want %q", got, want)
	}
	r.down(ctx)
	v.down(ctx)
}

// A volume extended while attached and mounted: the guest sees the disk
// grow (Nova's block_resize) and NodeExpandVolume grows the filesystem in
// place, which needs CAP_SYS_RESOURCE for ext4 (the guest's root has it).
func onlineExpand(fs string) func(t *testing.T, ctx context.Context, e *env) {
	return func(t *testing.T, ctx context.Context, e *env) {
		v := e.createFS(t, ctx, "guest-online-expand-"+fs, 1, nil, fs)
		v.up(ctx)
		if got := v.fsType(ctx); got != fs {
			t.Fatalf("staged as %q, want %s", got, fs)
		}
		v.write(ctx, "before", "kept across the resize")
		before := v.fsBytes(ctx)
		resp, err := e.ctrl.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{
			VolumeId: v.id, CapacityRange: &csi.CapacityRange{RequiredBytes: 2 << 30}, VolumeCapability: mountCap(fs),
		})
		if err != nil {
			t.Fatalf("ControllerExpandVolume: %v", err)
		}
		if !resp.GetNodeExpansionRequired() {
			t.Fatal("ControllerExpandVolume says the node need not grow the filesystem")
		}
		if _, err := e.node.NodeExpandVolume(ctx, &csi.NodeExpandVolumeRequest{
			VolumeId: v.id, VolumePath: v.target, StagingTargetPath: v.staging,
			CapacityRange: &csi.CapacityRange{RequiredBytes: 2 << 30}, VolumeCapability: mountCap(fs),
		}); err != nil {
			t.Fatalf("NodeExpandVolume: %v", err)
		}
		after := v.fsBytes(ctx)
		if after < before+(900<<20) {
			t.Fatalf("mounted %s is %d bytes after growing to 2 GiB (was %d)", fs, after, before)
		}
		if got := v.read(ctx, "before"); got != "kept across the resize" {
			t.Fatalf("data after the resize: %q", got)
		}
		v.down(ctx)
	}
}

// Extended while detached: the next stage finds a larger disk and grows
// the filesystem before it is used.
func caseOfflineGrowth(t *testing.T, ctx context.Context, e *env) {
	v := e.create(t, ctx, "guest-offline-growth", 1, nil)
	v.up(ctx)
	before := v.fsBytes(ctx)
	v.down(ctx)
	if _, err := e.ctrl.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{
		VolumeId: v.id, CapacityRange: &csi.CapacityRange{RequiredBytes: 2 << 30}, VolumeCapability: mountCap("ext4"),
	}); err != nil {
		t.Fatalf("ControllerExpandVolume: %v", err)
	}
	v.up(ctx)
	if after := v.fsBytes(ctx); after < before+(900<<20) {
		t.Fatalf("ext4 is %d bytes after staging the 2 GiB disk (was %d)", after, before)
	}
	v.down(ctx)
}

// The disk appears seconds after ControllerPublish returned: NodeStage
// waits for it and formats it once; a second stage keeps what was written.
func caseLateDisk(t *testing.T, ctx context.Context, e *env) {
	v := e.create(t, ctx, "guest-late-disk", 1, nil)
	e.delayPlugs(t, ctx, 6*time.Second)
	v.attach(ctx)
	e.delayPlugs(t, ctx, 0)
	if n := len(e.vm.Plugged()); n != 0 {
		t.Fatalf("the delayed disk is plugged already (%d plugged)", n)
	}
	began := time.Now()
	v.stage(ctx)
	t.Logf("NodeStage returned %s after ControllerPublish", time.Since(began).Round(100*time.Millisecond))
	if errs := e.srv.PlugErrors(); len(errs) > 0 {
		t.Fatalf("delayed plug: %v", errs)
	}
	v.publish(ctx)
	v.write(ctx, "first", "made on the first stage")
	uuid1 := v.fsUUID(ctx)
	if _, err := e.node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: v.id, TargetPath: v.target}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: v.id, StagingTargetPath: v.staging}); err != nil {
		t.Fatal(err)
	}
	v.stage(ctx)
	v.publish(ctx)
	if uuid2 := v.fsUUID(ctx); uuid2 != uuid1 {
		t.Fatalf("filesystem %s became %s: formatted twice", uuid1, uuid2)
	}
	if got := v.read(ctx, "first"); got != "made on the first stage" {
		t.Fatalf("data after restaging: %q", got)
	}
	v.down(ctx)
}

func (v *vol) fsUUID(ctx context.Context) string {
	v.t.Helper()
	out, err := v.e.vm.Run(ctx, "findmnt", "-n", "-o", "UUID", "--target", v.target)
	if err != nil || strings.TrimSpace(out) == "" {
		v.t.Fatalf("filesystem UUID at %s: %q %v", v.target, out, err)
	}
	return strings.TrimSpace(out)
}

// A disk whose serial matches but whose size is not the volume's is
// refused, and nothing is formatted or mounted.
func caseSizeMismatch(t *testing.T, ctx context.Context, e *env) {
	v := e.create(t, ctx, "guest-size-mismatch", 1, nil)
	v.attach(ctx)
	pc := map[string]string{}
	for k, val := range v.pc {
		pc[k] = val
	}
	size, err := strconv.ParseInt(pc[driver.PubSizeBytes], 10, 64)
	if err != nil {
		t.Fatalf("publish context %v: %v", v.pc, err)
	}
	pc[driver.PubSizeBytes] = strconv.FormatInt(2*size, 10)
	err = v.stageErr(ctx, pc)
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("NodeStage of a %d-byte disk for a %d-byte volume: %v, want FailedPrecondition", size, 2*size, err)
	}
	if m := v.mounted(ctx); len(m) != 0 {
		t.Fatalf("mounted after a refused stage: %v", m)
	}
	if out, _ := e.vm.Run(ctx, "sh", "-c", "blkid -p /dev/disk/by-id/"+e.link(v.serial())+" || true"); strings.Contains(out, "TYPE=") {
		t.Fatalf("the refused disk was formatted: %s", out)
	}
	v.down(ctx)
}

// The disk is pulled from under a mounted filesystem: the node reports it
// abnormal, unpublish and unstage still succeed and leave no mount, and
// attaching again brings the data back.
func caseSurpriseUnplug(t *testing.T, ctx context.Context, e *env) {
	v := e.create(t, ctx, "guest-surprise-unplug", 1, nil)
	v.up(ctx)
	v.write(ctx, "kept", "survives the unplug")
	e.surpriseUnplug(t, ctx, v.serial())
	v.down(ctx)
	if m := v.mounted(ctx); len(m) != 0 {
		t.Fatalf("stale mounts after unpublish and unstage: %v", m)
	}
	v.up(ctx)
	if got := v.read(ctx, "kept"); got != "survives the unplug" {
		t.Fatalf("data after re-attaching: %q", got)
	}
	v.down(ctx)
}

// After the disk is pulled, the volume-health RPC calls both paths
// inaccessible (the filesystem itself still answers statfs from its
// caches: CSI 1.13 has no condition in NodeGetVolumeStats, its
// VolumeCondition having given way to NodeGetVolumeHealth); before, it
// reports nothing adverse.
func caseSurpriseUnplugReported(t *testing.T, ctx context.Context, e *env) {
	v := e.create(t, ctx, "guest-surprise-reported", 1, nil)
	v.up(ctx)
	req := &csi.NodeGetVolumeHealthRequest{VolumeId: v.id, StagingTargetPath: v.staging, VolumePublishPath: v.target}
	h, err := e.node.NodeGetVolumeHealth(ctx, req)
	if err != nil || len(h.GetVolumeHealth().GetHealthStatuses()) != 0 {
		t.Fatalf("health of a healthy volume: %v, %v", h, err)
	}
	e.surpriseUnplug(t, ctx, v.serial())
	var st []*csi.VolumeHealth_VolumeHealthEntry
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		h, err = e.node.NodeGetVolumeHealth(ctx, req)
		if err != nil {
			t.Fatalf("NodeGetVolumeHealth after the pull: %v", err)
		}
		if st = h.GetVolumeHealth().GetHealthStatuses(); len(st) == 2 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if len(st) != 2 {
		t.Fatalf("NodeGetVolumeHealth after the pull reports %v, want both paths inaccessible", st)
	}
	for _, s := range st {
		if s.GetStatus() != csi.VolumeHealthErrorType_INACCESSIBLE || s.GetReason() != "DeviceGone" {
			t.Fatalf("after the pull: %v, want INACCESSIBLE DeviceGone", s)
		}
	}
	t.Logf("reported: %s", st[0].GetMessage())
	if stats, err := e.node.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: v.id, VolumePath: v.target}); err == nil {
		t.Logf("NodeGetVolumeStats after the pull still answers from the filesystem: %v", stats.GetUsage())
	}
	v.down(ctx)
	if m := v.mounted(ctx); len(m) != 0 {
		t.Fatalf("stale mounts after unpublish and unstage: %v", m)
	}
}
