package driver

import (
	"strconv"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/openblock-csi/openblock-csi/pkg/csicap"
)

const (
	volA    = "5b8e6d2c-1a2b-4c3d-9e8f-0123456789ab"
	staging = "/var/lib/kubelet/plugins/staging/a"
	target  = "/var/lib/kubelet/pods/p/volumes/a/mount"
)

func pubCtx(serial string, size int64) map[string]string {
	return map[string]string{PubSerial: serial, PubSizeBytes: strconv.FormatInt(size, 10), PubSerialLength: "20"}
}

func stageReq(vc *csi.VolumeCapability, pc map[string]string, vctx map[string]string) *csi.NodeStageVolumeRequest {
	return &csi.NodeStageVolumeRequest{VolumeId: volA, StagingTargetPath: staging, VolumeCapability: vc, PublishContext: pc, VolumeContext: vctx}
}

func TestNodeStageFormatsAndMounts(t *testing.T) {
	e := newEnv(t, nil)
	dev := e.ops.addDisk("vdb", volA, 2*GiB)
	vc := csicap.Mount("")
	vc.GetMount().MountFlags = []string{"noatime"}
	req := stageReq(vc, pubCtx(volA, 2*GiB), map[string]string{CtxFSType: "xfs", CtxMkfsOptions: `-L "my data" -m crc=1`})
	for range 2 { // the second stage is idempotent
		if _, err := e.n.NodeStageVolume(ctxT(t), req); err != nil {
			t.Fatal(err)
		}
	}
	if len(e.ops.formats) != 1 || e.ops.formats[0] != dev+" xfs -L my data -m crc=1 | noatime" {
		t.Fatalf("FormatAndMount calls = %q", e.ops.formats)
	}
	if st, _ := e.ops.MountState(staging); !st.Mounted || st.Device != dev {
		t.Fatalf("staging mount = %+v", st)
	}
	// The capability's fs type wins over the volume context.
	e2 := newEnv(t, nil)
	e2.ops.addDisk("vdb", volA, 2*GiB)
	if _, err := e2.n.NodeStageVolume(ctxT(t), stageReq(csicap.Mount("ext3"), pubCtx(volA, 2*GiB), map[string]string{CtxFSType: "xfs"})); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(e2.ops.formats[0], " ext3") {
		t.Errorf("formatted as %q, want ext3", e2.ops.formats[0])
	}
}

func TestNodeStageRefusesSmallerDevice(t *testing.T) {
	e := newEnv(t, nil)
	e.ops.addDisk("vdb", volA, GiB)
	_, err := e.n.NodeStageVolume(ctxT(t), stageReq(csicap.Mount(""), pubCtx(volA, 2*GiB), nil))
	wantCode(t, err, codes.FailedPrecondition)
	if len(e.ops.formats) != 0 {
		t.Fatalf("device touched despite size mismatch: %q", e.ops.formats)
	}
}

func TestNodeStageValidation(t *testing.T) {
	e := newEnv(t, nil)
	e.ops.addDisk("vdb", volA, GiB)
	cases := []struct {
		name string
		req  *csi.NodeStageVolumeRequest
		code codes.Code
	}{
		{"no volume id", &csi.NodeStageVolumeRequest{StagingTargetPath: staging, VolumeCapability: csicap.Mount("")}, codes.InvalidArgument},
		{"no staging", &csi.NodeStageVolumeRequest{VolumeId: volA, VolumeCapability: csicap.Mount("")}, codes.InvalidArgument},
		{"relative staging", &csi.NodeStageVolumeRequest{VolumeId: volA, StagingTargetPath: "a/b", VolumeCapability: csicap.Mount("")}, codes.InvalidArgument},
		{"dotdot staging", &csi.NodeStageVolumeRequest{VolumeId: volA, StagingTargetPath: "/a/../etc", VolumeCapability: csicap.Mount("")}, codes.InvalidArgument},
		{"no capability", &csi.NodeStageVolumeRequest{VolumeId: volA, StagingTargetPath: staging}, codes.InvalidArgument},
		// No serial: never published here, or no such volume at all.
		{"no serial", stageReq(csicap.Mount(""), map[string]string{"device": "/dev/mock"}, nil), codes.NotFound},
		{"bad size", stageReq(csicap.Mount(""), map[string]string{PubSerial: volA, PubSizeBytes: "lots"}, nil), codes.InvalidArgument},
		{"bad fs", stageReq(csicap.Mount(""), pubCtx(volA, GiB), map[string]string{CtxFSType: "zfs"}), codes.InvalidArgument},
		{"bad mkfs", stageReq(csicap.Mount(""), pubCtx(volA, GiB), map[string]string{CtxMkfsOptions: `-L 'x`}), codes.InvalidArgument},
		{"no disk", stageReq(csicap.Mount(""), pubCtx("0000000-other-serial", GiB), nil), codes.NotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.n.NodeStageVolume(ctxT(t), tc.req)
			wantCode(t, err, tc.code)
		})
	}
}

func TestNodeStageResizesGrownDisk(t *testing.T) {
	e := newEnv(t, nil)
	dev := e.ops.addDisk("vdb", volA, GiB)
	if _, err := e.n.NodeStageVolume(ctxT(t), stageReq(csicap.Mount(""), pubCtx(volA, GiB), nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.n.NodeUnstageVolume(ctxT(t), &csi.NodeUnstageVolumeRequest{VolumeId: volA, StagingTargetPath: staging}); err != nil {
		t.Fatal(err)
	}
	e.ops.disks[dev].size = 2 * GiB // expanded while detached
	if _, err := e.n.NodeStageVolume(ctxT(t), stageReq(csicap.Mount(""), pubCtx(volA, GiB), nil)); err != nil {
		t.Fatal(err)
	}
	if len(e.ops.resized) != 1 {
		t.Fatalf("resized = %v, want one resize at stage", e.ops.resized)
	}
}

func TestNodePublishAndUnpublish(t *testing.T) {
	e := newEnv(t, nil)
	dev := e.ops.addDisk("vdb", volA, GiB)
	pub := &csi.NodePublishVolumeRequest{VolumeId: volA, StagingTargetPath: staging, TargetPath: target, VolumeCapability: csicap.Mount(""), PublishContext: pubCtx(volA, GiB), Readonly: true}
	_, err := e.n.NodePublishVolume(ctxT(t), pub)
	wantCode(t, err, codes.FailedPrecondition) // not staged yet

	if _, err := e.n.NodeStageVolume(ctxT(t), stageReq(csicap.Mount(""), pubCtx(volA, GiB), nil)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := e.n.NodePublishVolume(ctxT(t), pub); err != nil {
			t.Fatal(err)
		}
	}
	m := e.ops.mounts[target]
	if m.source != staging || !m.readOnly || m.device != dev {
		t.Fatalf("publish mount = %+v", m)
	}
	stats, err := e.n.NodeGetVolumeStats(ctxT(t), &csi.NodeGetVolumeStatsRequest{VolumeId: volA, VolumePath: target})
	if err != nil {
		t.Fatal(err)
	}
	if u := stats.GetUsage(); len(u) != 2 || u[0].GetTotal() != GiB || u[1].GetUnit() != csi.VolumeUsage_INODES || u[1].GetUsed() != 10 {
		t.Errorf("stats = %v", u)
	}
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
	_, err = e.n.NodeUnpublishVolume(ctxT(t), &csi.NodeUnpublishVolumeRequest{VolumeId: volA, TargetPath: "rel/path"})
	wantCode(t, err, codes.InvalidArgument)
	_, err = e.n.NodeUnpublishVolume(ctxT(t), &csi.NodeUnpublishVolumeRequest{TargetPath: target})
	wantCode(t, err, codes.InvalidArgument)
}

func TestNodeRawBlock(t *testing.T) {
	e := newEnv(t, nil)
	dev := e.ops.addDisk("vdc", volA, GiB)
	if _, err := e.n.NodeStageVolume(ctxT(t), stageReq(csicap.Block(), pubCtx(volA, GiB), nil)); err != nil {
		t.Fatal(err)
	}
	if len(e.ops.formats) != 0 || len(e.ops.mounts) != 0 {
		t.Fatal("block stage touched the device")
	}
	pub := &csi.NodePublishVolumeRequest{VolumeId: volA, StagingTargetPath: staging, TargetPath: target, VolumeCapability: csicap.Block(), PublishContext: pubCtx(volA, GiB)}
	if _, err := e.n.NodePublishVolume(ctxT(t), pub); err != nil {
		t.Fatal(err)
	}
	if m := e.ops.mounts[target]; m.source != dev || !m.block {
		t.Fatalf("block publish = %+v", m)
	}
	stats, err := e.n.NodeGetVolumeStats(ctxT(t), &csi.NodeGetVolumeStatsRequest{VolumeId: volA, VolumePath: target})
	if err != nil || len(stats.GetUsage()) != 1 || stats.GetUsage()[0].GetTotal() != GiB {
		t.Fatalf("block stats = %v, %v", stats, err)
	}
	exp, err := e.n.NodeExpandVolume(ctxT(t), &csi.NodeExpandVolumeRequest{VolumeId: volA, VolumePath: target})
	if err != nil || exp.GetCapacityBytes() != GiB || len(e.ops.resized) != 0 {
		t.Fatalf("block expand = %v, %v, resized %v", exp, err, e.ops.resized)
	}
}

func TestNodeExpandAndStatsErrors(t *testing.T) {
	e := newEnv(t, nil)
	dev := e.ops.addDisk("vdb", volA, GiB)
	if _, err := e.n.NodeStageVolume(ctxT(t), stageReq(csicap.Mount(""), pubCtx(volA, GiB), nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.n.NodePublishVolume(ctxT(t), &csi.NodePublishVolumeRequest{VolumeId: volA, StagingTargetPath: staging, TargetPath: target, VolumeCapability: csicap.Mount(""), PublishContext: pubCtx(volA, GiB)}); err != nil {
		t.Fatal(err)
	}
	e.ops.disks[dev].size = 3 * GiB
	exp, err := e.n.NodeExpandVolume(ctxT(t), &csi.NodeExpandVolumeRequest{VolumeId: volA, VolumePath: target, CapacityRange: &csi.CapacityRange{RequiredBytes: 3 * GiB}})
	if err != nil || exp.GetCapacityBytes() != 3*GiB || len(e.ops.resized) != 1 {
		t.Fatalf("expand = %v, %v, resized %v", exp, err, e.ops.resized)
	}
	for _, tc := range []struct {
		volID, path string
		code        codes.Code
	}{
		{"", target, codes.InvalidArgument},
		{volA, "", codes.InvalidArgument},
		{volA, "some/path", codes.NotFound},
		{volA, "/not/there", codes.NotFound},
	} {
		_, err := e.n.NodeGetVolumeStats(ctxT(t), &csi.NodeGetVolumeStatsRequest{VolumeId: tc.volID, VolumePath: tc.path})
		wantCode(t, err, tc.code)
		_, err = e.n.NodeExpandVolume(ctxT(t), &csi.NodeExpandVolumeRequest{VolumeId: tc.volID, VolumePath: tc.path})
		wantCode(t, err, tc.code)
	}
}

func TestNodeVolumeHealth(t *testing.T) {
	e := newEnv(t, nil)
	e.ops.addDisk("vdb", volA, GiB)
	// A path the volume was never staged at does not hold it.
	_, err := e.n.NodeGetVolumeHealth(ctxT(t), &csi.NodeGetVolumeHealthRequest{VolumeId: volA, StagingTargetPath: staging})
	wantCode(t, err, codes.NotFound)
	if _, err := e.n.NodeStageVolume(ctxT(t), stageReq(csicap.Mount(""), pubCtx(volA, GiB), nil)); err != nil {
		t.Fatal(err)
	}
	h, _ := e.n.NodeGetVolumeHealth(ctxT(t), &csi.NodeGetVolumeHealthRequest{VolumeId: volA, StagingTargetPath: staging})
	if st := h.GetVolumeHealth().GetHealthStatuses(); len(st) != 0 {
		t.Fatalf("healthy staged volume = %v", st)
	}
	m := e.ops.mounts[staging]
	m.readOnly = true // what the kernel does after ext4 errors
	e.ops.mounts[staging] = m
	h, _ = e.n.NodeGetVolumeHealth(ctxT(t), &csi.NodeGetVolumeHealthRequest{VolumeId: volA, StagingTargetPath: staging})
	if st := h.GetVolumeHealth().GetHealthStatuses(); len(st) != 1 || st[0].GetStatus() != csi.VolumeHealthErrorType_DEGRADED {
		t.Fatalf("read-only staged volume health = %v", st)
	}
	// The disk pulled from under the mounts: both paths are inaccessible,
	// although the filesystem still answers.
	if _, err := e.n.NodePublishVolume(ctxT(t), &csi.NodePublishVolumeRequest{VolumeId: volA, StagingTargetPath: staging, TargetPath: target, VolumeCapability: csicap.Mount(""), PublishContext: pubCtx(volA, GiB)}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{staging, target} {
		m := e.ops.mounts[p]
		m.readOnly, m.gone = false, true
		e.ops.mounts[p] = m
	}
	h, _ = e.n.NodeGetVolumeHealth(ctxT(t), &csi.NodeGetVolumeHealthRequest{VolumeId: volA, StagingTargetPath: staging, VolumePublishPath: target})
	if st := h.GetVolumeHealth().GetHealthStatuses(); len(st) != 2 || st[0].GetReason() != "DeviceGone" || st[1].GetStatus() != csi.VolumeHealthErrorType_INACCESSIBLE {
		t.Fatalf("volume whose disk was pulled: health = %v", st)
	}
	delete(e.ops.mounts, target)
	delete(e.ops.mounts, staging) // the mount vanished under the driver
	h, _ = e.n.NodeGetVolumeHealth(ctxT(t), &csi.NodeGetVolumeHealthRequest{VolumeId: volA, StagingTargetPath: staging})
	if st := h.GetVolumeHealth().GetHealthStatuses(); len(st) != 1 || st[0].GetStatus() != csi.VolumeHealthErrorType_INACCESSIBLE {
		t.Fatalf("staged volume whose mount is gone: health = %v", st)
	}
}

func TestNodeGetInfo(t *testing.T) {
	e := newEnv(t, nil)
	info, err := e.n.NodeGetInfo(ctxT(t), &csi.NodeGetInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if info.GetNodeId() != testNode || info.GetMaxVolumesPerNode() != 25 || info.GetAccessibleTopology().GetSegments()[TopologyZoneKey] != "nova" {
		t.Errorf("NodeGetInfo = %v", info)
	}
}

func TestSplitArgs(t *testing.T) {
	for in, want := range map[string][]string{
		"":                         nil,
		"-m 0":                     {"-m", "0"},
		`-L "my label"  -E x=1`:    {"-L", "my label", "-E", "x=1"},
		`-L 'a "b"' $(reboot) ;ls`: {"-L", `a "b"`, "$(reboot)", ";ls"},
		`a\ b`:                     {"a b"},
	} {
		got, err := splitArgs(in)
		if err != nil || strings.Join(got, "|") != strings.Join(want, "|") || len(got) != len(want) {
			t.Errorf("splitArgs(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{`"open`, `'open`, `trailing\`, `""`, "a\x00b"} {
		if _, err := splitArgs(bad); err == nil {
			t.Errorf("splitArgs(%q) accepted", bad)
		}
	}
}
