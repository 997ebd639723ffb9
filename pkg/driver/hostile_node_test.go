package driver

import (
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/openblock-csi/openblock-csi/pkg/csicap"
)

const (
	volB     = "0c1d2e3f-4a5b-4c6d-8e7f-abcdefabcdef"
	targetB  = "/var/lib/kubelet/pods/q/volumes/b/mount"
	stagingB = "/var/lib/kubelet/plugins/staging/b"
)

// stagedAndPublished stages and publishes volume A at staging/target.
func stagedAndPublished(t *testing.T) *env {
	t.Helper()
	e := newEnv(t, nil)
	e.ops.addDisk("vdb", volA, GiB)
	e.ops.addDisk("vdc", volB, GiB)
	if _, err := e.n.NodeStageVolume(ctxT(t), stageReq(csicap.Mount(""), pubCtx(volA, GiB), nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.n.NodePublishVolume(ctxT(t), &csi.NodePublishVolumeRequest{VolumeId: volA, StagingTargetPath: staging, TargetPath: target, VolumeCapability: csicap.Mount(""), PublishContext: pubCtx(volA, GiB)}); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestNodePathsOutsideKubeletDirRefused(t *testing.T) {
	e := newEnv(t, nil)
	e.ops.addDisk("vdb", volA, GiB)
	for _, p := range []string{"/etc", "/etc/passwd", "/", "/var/lib/kubelet", "/var/lib/kubelet/../../../etc", "/var/lib/kubeletx/a", "/usr/bin/mount"} {
		_, err := e.n.NodeStageVolume(ctxT(t), &csi.NodeStageVolumeRequest{VolumeId: volA, StagingTargetPath: p, VolumeCapability: csicap.Mount(""), PublishContext: pubCtx(volA, GiB)})
		wantCode(t, err, codes.InvalidArgument)
		_, err = e.n.NodeUnstageVolume(ctxT(t), &csi.NodeUnstageVolumeRequest{VolumeId: volA, StagingTargetPath: p})
		wantCode(t, err, codes.InvalidArgument)
		_, err = e.n.NodePublishVolume(ctxT(t), &csi.NodePublishVolumeRequest{VolumeId: volA, StagingTargetPath: staging, TargetPath: p, VolumeCapability: csicap.Block(), PublishContext: pubCtx(volA, GiB)})
		wantCode(t, err, codes.InvalidArgument)
		_, err = e.n.NodeUnpublishVolume(ctxT(t), &csi.NodeUnpublishVolumeRequest{VolumeId: volA, TargetPath: p})
		wantCode(t, err, codes.InvalidArgument)
		_, err = e.n.NodeGetVolumeStats(ctxT(t), &csi.NodeGetVolumeStatsRequest{VolumeId: volA, VolumePath: p})
		wantCode(t, err, codes.NotFound)
	}
	if len(e.ops.mounts) != 0 {
		t.Errorf("refusals mounted: %v", e.ops.mounts)
	}
}

func TestNodeOtherVolumesMountsLeftAlone(t *testing.T) {
	e := stagedAndPublished(t)
	// B published where A is: AlreadyExists, A untouched.
	_, err := e.n.NodePublishVolume(ctxT(t), &csi.NodePublishVolumeRequest{VolumeId: volB, StagingTargetPath: stagingB, TargetPath: target, VolumeCapability: csicap.Block(), PublishContext: pubCtx(volB, GiB)})
	wantCode(t, err, codes.AlreadyExists)
	// B staged on A's staging path.
	_, err = e.n.NodeStageVolume(ctxT(t), &csi.NodeStageVolumeRequest{VolumeId: volB, StagingTargetPath: staging, VolumeCapability: csicap.Mount(""), PublishContext: pubCtx(volB, GiB)})
	wantCode(t, err, codes.AlreadyExists)
	// B published from A's staging path: A's data for B's pod.
	_, err = e.n.NodePublishVolume(ctxT(t), &csi.NodePublishVolumeRequest{VolumeId: volB, StagingTargetPath: staging, TargetPath: targetB, VolumeCapability: csicap.Mount(""), PublishContext: pubCtx(volB, GiB)})
	wantCode(t, err, codes.FailedPrecondition)
	// B's unpublish/unstage at A's paths: refused, A still mounted.
	_, err = e.n.NodeUnpublishVolume(ctxT(t), &csi.NodeUnpublishVolumeRequest{VolumeId: volB, TargetPath: target})
	wantCode(t, err, codes.FailedPrecondition)
	_, err = e.n.NodeUnstageVolume(ctxT(t), &csi.NodeUnstageVolumeRequest{VolumeId: volB, StagingTargetPath: staging})
	wantCode(t, err, codes.FailedPrecondition)
	// B's stats at A's path: NotFound, not A's usage.
	_, err = e.n.NodeGetVolumeStats(ctxT(t), &csi.NodeGetVolumeStatsRequest{VolumeId: volB, VolumePath: target})
	wantCode(t, err, codes.NotFound)
	_, err = e.n.NodeGetVolumeHealth(ctxT(t), &csi.NodeGetVolumeHealthRequest{VolumeId: volB, VolumePublishPath: target})
	wantCode(t, err, codes.NotFound)
	_, err = e.n.NodeExpandVolume(ctxT(t), &csi.NodeExpandVolumeRequest{VolumeId: volB, VolumePath: target})
	wantCode(t, err, codes.NotFound)
	if m, ok := e.ops.mounts[target]; !ok || m.device != "/dev/vdb" {
		t.Fatalf("A's publish changed: %+v %v", m, ok)
	}
	if m, ok := e.ops.mounts[staging]; !ok || m.device != "/dev/vdb" {
		t.Fatalf("A's stage changed: %+v %v", m, ok)
	}
	// A's own teardown still works, and is idempotent.
	for range 2 {
		if _, err := e.n.NodeUnpublishVolume(ctxT(t), &csi.NodeUnpublishVolumeRequest{VolumeId: volA, TargetPath: target}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.n.NodeUnstageVolume(ctxT(t), &csi.NodeUnstageVolumeRequest{VolumeId: volA, StagingTargetPath: staging}); err != nil {
			t.Fatal(err)
		}
	}
	if len(e.ops.mounts) != 0 {
		t.Errorf("mounts left: %v", e.ops.mounts)
	}
}

// An unknown volume at a path with nothing mounted is OK and changes
// nothing; a directory the plugin did not create is never removed.
func TestNodeUnknownVolumeChangesNothing(t *testing.T) {
	e := newEnv(t, nil)
	e.ops.dirs[target] = true
	e.ops.dirs[staging] = true
	if _, err := e.n.NodeUnpublishVolume(ctxT(t), &csi.NodeUnpublishVolumeRequest{VolumeId: volB, TargetPath: target}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.n.NodeUnstageVolume(ctxT(t), &csi.NodeUnstageVolumeRequest{VolumeId: volB, StagingTargetPath: staging}); err != nil {
		t.Fatal(err)
	}
	if !e.ops.dirs[target] || !e.ops.dirs[staging] {
		t.Errorf("paths removed for an unknown volume: %v", e.ops.dirs)
	}
}

// A failed stage removes the staging directory it created, and only that.
func TestNodeFailedStageLeavesNothing(t *testing.T) {
	e := newEnv(t, nil)
	e.ops.addDisk("vdb", volA, GiB)
	e.ops.failMount = true
	_, err := e.n.NodeStageVolume(ctxT(t), stageReq(csicap.Mount("ext4"), pubCtx(volA, GiB), nil))
	wantCode(t, err, codes.Internal)
	if e.ops.dirs[staging] {
		t.Error("failed stage left the staging directory it created")
	}
	// One kubelet made is kept.
	e.ops.dirs[staging] = true
	e.ops.disks["/dev/vdb"].fs = ""
	_, err = e.n.NodeStageVolume(ctxT(t), stageReq(csicap.Mount("ext4"), pubCtx(volA, GiB), nil))
	wantCode(t, err, codes.Internal)
	if !e.ops.dirs[staging] {
		t.Error("failed stage removed a staging directory it did not create")
	}
}

// A mount made before the node kept records is released when the disk
// whose serial is the volume id is what is mounted there, and the path is
// kept; any other unrecorded mount is left alone.
func TestNodeReleasesUnrecordedMountOfItsDisk(t *testing.T) {
	e := newEnv(t, nil)
	e.ops.addDisk("vdb", volA, GiB)
	e.ops.addDisk("vdc", volB, GiB)
	e.ops.mounts[target] = fakeMount{source: "/dev/vdb", device: "/dev/vdb"}
	e.ops.mounts[targetB] = fakeMount{source: "/dev/vdc", device: "/dev/vdc"}
	_, err := e.n.NodeUnpublishVolume(ctxT(t), &csi.NodeUnpublishVolumeRequest{VolumeId: volA, TargetPath: targetB})
	wantCode(t, err, codes.FailedPrecondition)
	if _, ok := e.ops.mounts[targetB]; !ok {
		t.Fatal("another disk's unrecorded mount was unmounted")
	}
	if _, err := e.n.NodeUnpublishVolume(ctxT(t), &csi.NodeUnpublishVolumeRequest{VolumeId: volA, TargetPath: target}); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.ops.mounts[target]; ok {
		t.Fatal("the volume's own unrecorded mount was not released")
	}
	if !e.ops.dirs[target] {
		t.Error("an unrecorded path was removed")
	}
}

// A read-only raw block publish makes the device read-only (a read-only
// bind of a device node would not stop writes), as long as a read-only
// publish of it remains; a read-write publish of the same device at the
// same time is refused.
func TestNodeReadOnlyBlock(t *testing.T) {
	e := newEnv(t, nil)
	e.ops.addDisk("vdb", volA, GiB)
	ro := csicap.Block()
	ro.AccessMode.Mode = csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY
	pub := func(path string, vc *csi.VolumeCapability, readOnly bool) error {
		_, err := e.n.NodePublishVolume(ctxT(t), &csi.NodePublishVolumeRequest{VolumeId: volA, StagingTargetPath: staging, TargetPath: path, VolumeCapability: vc, PublishContext: pubCtx(volA, GiB), Readonly: readOnly})
		return err
	}
	unpub := func(path string) {
		t.Helper()
		if _, err := e.n.NodeUnpublishVolume(ctxT(t), &csi.NodeUnpublishVolumeRequest{VolumeId: volA, TargetPath: path}); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub(target, csicap.Block(), true); err != nil {
		t.Fatal(err)
	}
	if !e.ops.roDevs["/dev/vdb"] {
		t.Fatal("read-only block publish left the device writable")
	}
	if err := pub(targetB, ro, false); err != nil {
		t.Fatal(err)
	}
	wantCode(t, pub(target, csicap.Block(), false), codes.AlreadyExists)
	wantCode(t, pub(target+"-rw", csicap.Block(), false), codes.FailedPrecondition)
	unpub(target)
	if !e.ops.roDevs["/dev/vdb"] {
		t.Fatal("device writable while a read-only publish remains")
	}
	unpub(targetB)
	if e.ops.roDevs["/dev/vdb"] {
		t.Fatal("device still read-only after its last read-only publish")
	}
	if err := pub(target+"-rw", csicap.Block(), false); err != nil {
		t.Fatal(err)
	}
}

// A failed stage or publish leaves neither a directory it created nor a
// record, and the device's read-only flag as it was.
func TestNodeFailedMountLeavesNoRecord(t *testing.T) {
	e := newEnv(t, nil)
	e.ops.addDisk("vdb", volA, GiB)
	e.ops.failMount = true
	_, err := e.n.NodeStageVolume(ctxT(t), stageReq(csicap.Mount("ext4"), pubCtx(volA, GiB), nil))
	wantCode(t, err, codes.Internal)
	_, err = e.n.NodePublishVolume(ctxT(t), &csi.NodePublishVolumeRequest{VolumeId: volA, StagingTargetPath: staging, TargetPath: target, VolumeCapability: csicap.Block(), PublishContext: pubCtx(volA, GiB), Readonly: true})
	wantCode(t, err, codes.Internal)
	for _, p := range []string{staging, target} {
		if _, ok, _ := e.n.ledger.Get(p); ok {
			t.Errorf("a failed call left a record of %s", p)
		}
		if e.ops.dirs[p] {
			t.Errorf("a failed call left %s", p)
		}
	}
	if e.ops.roDevs["/dev/vdb"] {
		t.Error("a failed read-only publish left the device read-only")
	}
}
