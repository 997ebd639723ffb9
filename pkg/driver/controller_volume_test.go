package driver

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/fake"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
	"github.com/openblock-csi/openblock-csi/pkg/csicap"
)

func TestCreateVolumeRoundsUpAndRecordsRequest(t *testing.T) {
	e := newEnv(t, nil)
	req := createReq("pvc-1", 0)
	req.CapacityRange = &csi.CapacityRange{RequiredBytes: GiB + GiB/2}
	req.Parameters = map[string]string{
		ParamType: "ssd", ParamFSType: "xfs", ParamMkfsOptions: "-m crc=1",
		ParamPVCName: "data", ParamPVCNamespace: "shop", ParamPVName: "pvc-1",
	}
	resp, err := e.c.CreateVolume(ctxT(t), req)
	if err != nil {
		t.Fatal(err)
	}
	v := resp.GetVolume()
	if v.GetCapacityBytes() != 2*GiB {
		t.Errorf("capacity = %d, want 2 GiB", v.GetCapacityBytes())
	}
	if got := v.GetVolumeContext(); got[CtxFSType] != "xfs" || got[CtxMkfsOptions] != "-m crc=1" {
		t.Errorf("volume context = %v", got)
	}
	if top := v.GetAccessibleTopology(); len(top) != 1 || top[0].GetSegments()[TopologyZoneKey] != "nova" {
		t.Errorf("topology = %v, want zone nova", top)
	}
	cv, err := e.cloud.GetVolume(ctxT(t), v.GetVolumeId())
	if err != nil {
		t.Fatal(err)
	}
	if cv.Name != "pvc-1" || cv.VolumeType != "ssd" || cv.Status != cloud.StatusAvailable {
		t.Errorf("cloud volume = %+v", cv)
	}
	for k, want := range map[string]string{MetaRequestName: "pvc-1", ParamPVCName: "data", ParamPVCNamespace: "shop", ParamPVName: "pvc-1"} {
		if cv.Metadata[k] != want {
			t.Errorf("metadata[%s] = %q, want %q", k, cv.Metadata[k], want)
		}
	}
}

func TestCreateVolumeIdempotent(t *testing.T) {
	e := newEnv(t, nil)
	a := e.mustCreate(t, "same", 1)
	b := e.mustCreate(t, "same", 1)
	if a.GetVolumeId() != b.GetVolumeId() {
		t.Fatalf("second create made %s, first %s", b.GetVolumeId(), a.GetVolumeId())
	}
	if n := e.cloud.Calls("CreateVolume"); n != 1 {
		t.Errorf("CreateVolume called %d times, want 1", n)
	}
	_, err := e.c.CreateVolume(ctxT(t), &csi.CreateVolumeRequest{
		Name: "same", VolumeCapabilities: []*csi.VolumeCapability{csicap.Mount("")},
		CapacityRange: &csi.CapacityRange{RequiredBytes: 2 * GiB, LimitBytes: 2 * GiB},
	})
	wantCode(t, err, codes.AlreadyExists)
}

func TestCreateVolumeValidation(t *testing.T) {
	e := newEnv(t, func(c *cloud.Capabilities) { c.MaxSizeGiB = 100; c.MinSizeGiB = 1 })
	multi := csicap.Mount("")
	multi.AccessMode.Mode = csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER
	cases := []struct {
		name string
		mod  func(*csi.CreateVolumeRequest)
		code codes.Code
	}{
		{"no name", func(r *csi.CreateVolumeRequest) { r.Name = "" }, codes.InvalidArgument},
		{"no caps", func(r *csi.CreateVolumeRequest) { r.VolumeCapabilities = nil }, codes.InvalidArgument},
		{"nil cap", func(r *csi.CreateVolumeRequest) { r.VolumeCapabilities = []*csi.VolumeCapability{nil} }, codes.InvalidArgument},
		{"no access type", func(r *csi.CreateVolumeRequest) { r.VolumeCapabilities[0].AccessType = nil }, codes.InvalidArgument},
		{"bad fs", func(r *csi.CreateVolumeRequest) { r.VolumeCapabilities = []*csi.VolumeCapability{csicap.Mount("ntfs")} }, codes.InvalidArgument},
		{"unknown param", func(r *csi.CreateVolumeRequest) { r.Parameters = map[string]string{"iops": "3"} }, codes.InvalidArgument},
		{"bad mkfs", func(r *csi.CreateVolumeRequest) { r.Parameters = map[string]string{ParamMkfsOptions: `-L "x`} }, codes.InvalidArgument},
		{"multi writer", func(r *csi.CreateVolumeRequest) { r.VolumeCapabilities = []*csi.VolumeCapability{multi} }, codes.InvalidArgument},
		{"too big", func(r *csi.CreateVolumeRequest) { r.CapacityRange.RequiredBytes = 101 * GiB }, codes.OutOfRange},
		{"limit below a GiB", func(r *csi.CreateVolumeRequest) { r.CapacityRange = &csi.CapacityRange{LimitBytes: GiB / 2} }, codes.OutOfRange},
		{"required over limit", func(r *csi.CreateVolumeRequest) {
			r.CapacityRange = &csi.CapacityRange{RequiredBytes: 3 * GiB, LimitBytes: 2 * GiB}
		}, codes.InvalidArgument},
		{"negative", func(r *csi.CreateVolumeRequest) { r.CapacityRange = &csi.CapacityRange{RequiredBytes: -1} }, codes.InvalidArgument},
		{"huge", func(r *csi.CreateVolumeRequest) { r.CapacityRange = &csi.CapacityRange{RequiredBytes: 1<<63 - 1} }, codes.OutOfRange},
		{"bad zone", func(r *csi.CreateVolumeRequest) { r.Parameters = map[string]string{ParamAvailability: "mars"} }, codes.InvalidArgument},
		{"missing snapshot", func(r *csi.CreateVolumeRequest) {
			r.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: "nope"}}}
		}, codes.NotFound},
		{"missing source volume", func(r *csi.CreateVolumeRequest) {
			r.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: "../../servers"}}}
		}, codes.NotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := createReq("v-"+tc.name, 1)
			tc.mod(req)
			_, err := e.c.CreateVolume(ctxT(t), req)
			wantCode(t, err, tc.code)
		})
	}
	if n := e.cloud.Calls("CreateVolume"); n != 0 {
		t.Errorf("invalid requests reached the cloud %d times", n)
	}
}

func TestCreateVolumeZoneFromTopology(t *testing.T) {
	e := newEnv(t, nil)
	req := createReq("zoned", 1)
	req.AccessibilityRequirements = &csi.TopologyRequirement{
		Requisite: []*csi.Topology{{Segments: map[string]string{TopologyZoneKey: "nova"}}, {Segments: map[string]string{TopologyZoneKey: "az2"}}},
		Preferred: []*csi.Topology{{Segments: map[string]string{TopologyZoneKey: "az2"}}},
	}
	resp, err := e.c.CreateVolume(ctxT(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if z := resp.GetVolume().GetAccessibleTopology()[0].GetSegments()[TopologyZoneKey]; z != "az2" {
		t.Errorf("zone = %s, want the preferred az2", z)
	}
	req = createReq("nowhere", 1)
	req.AccessibilityRequirements = &csi.TopologyRequirement{Requisite: []*csi.Topology{{Segments: map[string]string{TopologyZoneKey: "mars"}}}}
	_, err = e.c.CreateVolume(ctxT(t), req)
	wantCode(t, err, codes.InvalidArgument)
}

// Under WaitForFirstConsumer the first preferred topology is the zone of
// the node the scheduler chose: a StorageClass availability parameter must
// not move the volume away from it, or the pod's node could not attach it.
// Without topology the parameter is the zone.
func TestCreateVolumeNodeZoneWinsOverAvailabilityParameter(t *testing.T) {
	e := newEnv(t, nil)
	req := createReq("wffc", 1)
	req.Parameters = map[string]string{ParamAvailability: "nova"}
	req.AccessibilityRequirements = &csi.TopologyRequirement{
		Requisite: []*csi.Topology{{Segments: map[string]string{TopologyZoneKey: "nova"}}, {Segments: map[string]string{TopologyZoneKey: "az2"}}},
		Preferred: []*csi.Topology{{Segments: map[string]string{TopologyZoneKey: "az2"}}, {Segments: map[string]string{TopologyZoneKey: "nova"}}},
	}
	resp, err := e.c.CreateVolume(ctxT(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if z := resp.GetVolume().GetAccessibleTopology()[0].GetSegments()[TopologyZoneKey]; z != "az2" {
		t.Errorf("zone = %s, want az2, the selected node's", z)
	}
	if v, _ := e.cloud.GetVolume(ctxT(t), resp.GetVolume().GetVolumeId()); v == nil || v.Zone != "az2" {
		t.Errorf("cloud volume %+v, want it created in az2", v)
	}

	req = createReq("immediate-no-topology", 1)
	req.Parameters = map[string]string{ParamAvailability: "nova"}
	resp, err = e.c.CreateVolume(ctxT(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if z := resp.GetVolume().GetAccessibleTopology()[0].GetSegments()[TopologyZoneKey]; z != "nova" {
		t.Errorf("zone = %s, want nova, the parameter's", z)
	}
}

// A volume the cloud fails while the request waits is deleted and made
// again within the same request: the CO's next attempt would pay a lookup
// and a second delete for it first.
func TestCreateVolumeErrorStateRemadeWithinRequest(t *testing.T) {
	e := newEnv(t, nil)
	e.cloud.FailNextCreates(maxRemakes)
	resp, err := e.c.CreateVolume(ctxT(t), createReq("unlucky", 1))
	if err != nil {
		t.Fatalf("CreateVolume after %d failed creates: %v", maxRemakes, err)
	}
	id := resp.GetVolume().GetVolumeId()
	if v, err := e.cloud.GetVolume(ctxT(t), id); err != nil || v.Status != cloud.StatusAvailable {
		t.Fatalf("answered volume %s: %+v, %v; want it available", id, v, err)
	}
	if n := e.cloud.VolumeCount(); n != 1 {
		t.Fatalf("%d volumes in the cloud, want only the answered one (the failed ones deleted)", n)
	}
}

func TestCreateVolumeErrorStateLeavesNoVolume(t *testing.T) {
	e := newEnv(t, nil)
	e.cloud.FailNextCreates(maxRemakes + 1)
	_, err := e.c.CreateVolume(ctxT(t), createReq("doomed", 1))
	wantCode(t, err, codes.Internal)
	deadline := time.Now().Add(2 * time.Second)
	for e.cloud.VolumeCount() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := e.cloud.VolumeCount(); n != 0 {
		t.Fatalf("%d volumes left after a failed create", n)
	}
	// The retry succeeds with a fresh volume.
	if v := e.mustCreate(t, "doomed", 1); v.GetVolumeId() == "" {
		t.Fatal("no volume on retry")
	}
}

func TestCreateVolumeConcurrentSameNameAborted(t *testing.T) {
	e := newEnv(t, nil)
	e.cloud.SetLatency(50 * time.Millisecond)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() { _, errs[0] = e.c.CreateVolume(ctxT(t), createReq("race", 1)) })
	for e.c.inFlight.Len() == 0 {
		time.Sleep(time.Millisecond)
	}
	_, errs[1] = e.c.CreateVolume(ctxT(t), createReq("race", 1))
	wg.Wait()
	if errs[0] != nil {
		t.Fatalf("first create: %v", errs[0])
	}
	wantCode(t, errs[1], codes.Aborted)
}

func TestCreateVolumeQuota(t *testing.T) {
	e := newEnv(t, nil)
	_, err := e.c.CreateVolume(ctxT(t), createReq("big", 1001))
	wantCode(t, err, codes.ResourceExhausted)
}

func TestCreateFromSnapshotAndClone(t *testing.T) {
	e := newEnv(t, nil)
	src := e.mustCreate(t, "src", 2)
	snap, err := e.c.CreateSnapshot(ctxT(t), &csi.CreateSnapshotRequest{Name: "snap", SourceVolumeId: src.GetVolumeId()})
	if err != nil {
		t.Fatal(err)
	}
	req := createReq("restored", 1) // smaller than the snapshot: grows to it
	req.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snap.GetSnapshot().GetSnapshotId()}}}
	resp, err := e.c.CreateVolume(ctxT(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetVolume().GetCapacityBytes() != 2*GiB || resp.GetVolume().GetContentSource() == nil {
		t.Errorf("restored volume = %v", resp.GetVolume())
	}
	v, _ := e.cloud.GetVolume(ctxT(t), resp.GetVolume().GetVolumeId())
	if v.SourceSnapshotID != snap.GetSnapshot().GetSnapshotId() {
		t.Errorf("source snapshot = %q", v.SourceSnapshotID)
	}
	// Same name, other source: AlreadyExists.
	req2 := createReq("restored", 1)
	req2.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: src.GetVolumeId()}}}
	_, err = e.c.CreateVolume(ctxT(t), req2)
	wantCode(t, err, codes.AlreadyExists)

	req3 := createReq("clone", 2)
	req3.VolumeContentSource = req2.VolumeContentSource
	resp, err = e.c.CreateVolume(ctxT(t), req3)
	if err != nil {
		t.Fatal(err)
	}
	v, _ = e.cloud.GetVolume(ctxT(t), resp.GetVolume().GetVolumeId())
	if v.SourceVolumeID != src.GetVolumeId() {
		t.Errorf("clone source = %q", v.SourceVolumeID)
	}
}

func TestCloneUnsupported(t *testing.T) {
	e := newEnv(t, func(c *cloud.Capabilities) { c.Clone = false })
	src := e.mustCreate(t, "src", 1)
	req := createReq("clone", 1)
	req.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: src.GetVolumeId()}}}
	_, err := e.c.CreateVolume(ctxT(t), req)
	wantCode(t, err, codes.InvalidArgument)
}

func TestDeleteVolume(t *testing.T) {
	e := newEnv(t, nil)
	_, err := e.c.DeleteVolume(ctxT(t), &csi.DeleteVolumeRequest{})
	wantCode(t, err, codes.InvalidArgument)

	before := e.cloud.TotalCalls()
	if _, err := e.c.DeleteVolume(ctxT(t), &csi.DeleteVolumeRequest{VolumeId: "a/../../b"}); err != nil {
		t.Fatalf("malformed id: %v", err)
	}
	if e.cloud.TotalCalls() != before {
		t.Error("a malformed id reached the cloud")
	}
	if _, err := e.c.DeleteVolume(ctxT(t), &csi.DeleteVolumeRequest{VolumeId: "6f1c7a4e-0000-0000-0000-000000000000"}); err != nil {
		t.Fatalf("absent volume: %v", err)
	}

	v := e.mustCreate(t, "attached", 1)
	e.mustPublish(t, v.GetVolumeId(), testNode)
	_, err = e.c.DeleteVolume(ctxT(t), &csi.DeleteVolumeRequest{VolumeId: v.GetVolumeId()})
	wantCode(t, err, codes.FailedPrecondition)

	w := e.mustCreate(t, "with-snap", 1)
	if _, err := e.c.CreateSnapshot(ctxT(t), &csi.CreateSnapshotRequest{Name: "s", SourceVolumeId: w.GetVolumeId()}); err != nil {
		t.Fatal(err)
	}
	_, err = e.c.DeleteVolume(ctxT(t), &csi.DeleteVolumeRequest{VolumeId: w.GetVolumeId()})
	wantCode(t, err, codes.FailedPrecondition)

	x := e.mustCreate(t, "plain", 1)
	if _, err := e.c.DeleteVolume(ctxT(t), &csi.DeleteVolumeRequest{VolumeId: x.GetVolumeId()}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cloud.GetVolume(ctxT(t), x.GetVolumeId()); !cloud.IsNotFound(err) {
		t.Fatalf("volume still exists after DeleteVolume returned: %v", err)
	}
}

func TestListVolumesPaginates(t *testing.T) {
	e := newEnv(t, nil)
	var ids []string
	for i := range 5 {
		ids = append(ids, e.mustCreate(t, fmt.Sprintf("l%d", i), 1).GetVolumeId())
	}
	e.mustPublish(t, ids[1], testNode)
	seen := map[string][]string{}
	token := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		resp, err := e.c.ListVolumes(ctxT(t), &csi.ListVolumesRequest{MaxEntries: 2, StartingToken: token})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetEntries()) > 2 {
			t.Fatalf("page of %d entries with max 2", len(resp.GetEntries()))
		}
		for _, en := range resp.GetEntries() {
			seen[en.GetVolume().GetVolumeId()] = en.GetStatus().GetPublishedNodeIds()
		}
		if token = resp.GetNextToken(); token == "" {
			break
		}
	}
	if len(seen) != 5 {
		t.Fatalf("listed %d volumes, want 5", len(seen))
	}
	if got := seen[ids[1]]; len(got) != 1 || got[0] != testNode {
		t.Errorf("published nodes of %s = %v", ids[1], got)
	}
	all, err := e.c.ListVolumes(ctxT(t), &csi.ListVolumesRequest{})
	if err != nil || len(all.GetEntries()) != 5 || all.GetNextToken() != "" {
		t.Fatalf("unbounded list = %d entries, token %q, %v", len(all.GetEntries()), all.GetNextToken(), err)
	}
	_, err = e.c.ListVolumes(ctxT(t), &csi.ListVolumesRequest{StartingToken: "no-such-marker"})
	wantCode(t, err, codes.Aborted)
	_, err = e.c.ListVolumes(ctxT(t), &csi.ListVolumesRequest{StartingToken: "bad token"})
	wantCode(t, err, codes.Aborted)
}

func TestGetCapacity(t *testing.T) {
	e := newEnv(t, nil)
	e.mustCreate(t, "c", 10)
	resp, err := e.c.GetCapacity(ctxT(t), &csi.GetCapacityRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetAvailableCapacity() != 990*GiB {
		t.Errorf("available = %d GiB, want 990", resp.GetAvailableCapacity()/GiB)
	}
	if resp.GetMaximumVolumeSize().GetValue() != 990*GiB || resp.GetMinimumVolumeSize().GetValue() != GiB {
		t.Errorf("max/min = %v/%v", resp.GetMaximumVolumeSize(), resp.GetMinimumVolumeSize())
	}
	_, err = e.c.GetCapacity(ctxT(t), &csi.GetCapacityRequest{Parameters: map[string]string{"bogus": "1"}})
	wantCode(t, err, codes.InvalidArgument)
}

func TestControllerGetVolumeAndHealth(t *testing.T) {
	e := newEnv(t, nil)
	v := e.mustCreate(t, "h", 1)
	e.mustPublish(t, v.GetVolumeId(), testNode)
	resp, err := e.c.ControllerGetVolume(ctxT(t), &csi.ControllerGetVolumeRequest{VolumeId: v.GetVolumeId()})
	if err != nil {
		t.Fatal(err)
	}
	if ids := resp.GetStatus().GetPublishedNodeIds(); len(ids) != 1 || ids[0] != testNode {
		t.Errorf("published = %v", ids)
	}
	h, err := e.c.ControllerGetVolumeHealth(ctxT(t), &csi.ControllerGetVolumeHealthRequest{VolumeId: v.GetVolumeId()})
	if err != nil || len(h.GetVolumeHealth().GetHealthStatuses()) != 0 {
		t.Fatalf("healthy volume: %v, %v", h, err)
	}
	e.cloud.SetVolumeStatus(v.GetVolumeId(), cloud.StatusError, "error_extending")
	h, err = e.c.ControllerGetVolumeHealth(ctxT(t), &csi.ControllerGetVolumeHealthRequest{VolumeId: v.GetVolumeId()})
	if err != nil {
		t.Fatal(err)
	}
	st := h.GetVolumeHealth().GetHealthStatuses()
	if len(st) != 1 || st[0].GetStatus() != csi.VolumeHealthErrorType_DEGRADED {
		t.Errorf("health of error_extending = %v", st)
	}
	_, err = e.c.ControllerGetVolume(ctxT(t), &csi.ControllerGetVolumeRequest{VolumeId: "missing"})
	wantCode(t, err, codes.NotFound)
}

func TestValidateVolumeCapabilities(t *testing.T) {
	e := newEnv(t, nil)
	v := e.mustCreate(t, "vvc", 1)
	resp, err := e.c.ValidateVolumeCapabilities(ctxT(t), &csi.ValidateVolumeCapabilitiesRequest{
		VolumeId: v.GetVolumeId(), VolumeCapabilities: []*csi.VolumeCapability{csicap.Mount("ext4")}})
	if err != nil || resp.GetConfirmed() == nil {
		t.Fatalf("supported capability not confirmed: %v %v", resp, err)
	}
	multi := csicap.Block()
	multi.AccessMode.Mode = csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER
	resp, err = e.c.ValidateVolumeCapabilities(ctxT(t), &csi.ValidateVolumeCapabilitiesRequest{
		VolumeId: v.GetVolumeId(), VolumeCapabilities: []*csi.VolumeCapability{multi}})
	if err != nil || resp.GetConfirmed() != nil || resp.GetMessage() == "" {
		t.Fatalf("multi-writer without multi-attach confirmed: %v %v", resp, err)
	}
	_, err = e.c.ValidateVolumeCapabilities(ctxT(t), &csi.ValidateVolumeCapabilitiesRequest{
		VolumeId: "gone", VolumeCapabilities: []*csi.VolumeCapability{csicap.Mount("")}})
	wantCode(t, err, codes.NotFound)
}

func TestExpandVolume(t *testing.T) {
	e := newEnv(t, nil)
	v := e.mustCreate(t, "grow", 1)
	resp, err := e.c.ControllerExpandVolume(ctxT(t), &csi.ControllerExpandVolumeRequest{
		VolumeId: v.GetVolumeId(), CapacityRange: &csi.CapacityRange{RequiredBytes: 3 * GiB}, VolumeCapability: csicap.Mount("")})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetCapacityBytes() != 3*GiB || !resp.GetNodeExpansionRequired() {
		t.Errorf("expand = %v", resp)
	}
	// Block volumes need nothing from the node.
	resp, err = e.c.ControllerExpandVolume(ctxT(t), &csi.ControllerExpandVolumeRequest{
		VolumeId: v.GetVolumeId(), CapacityRange: &csi.CapacityRange{RequiredBytes: 4 * GiB}, VolumeCapability: csicap.Block()})
	if err != nil || resp.GetNodeExpansionRequired() {
		t.Fatalf("block expand = %v, %v", resp, err)
	}

	off := newEnv(t, func(c *cloud.Capabilities) { c.Expansion = cloud.ExpansionOffline })
	w := off.mustCreate(t, "offline", 1)
	off.mustPublish(t, w.GetVolumeId(), testNode)
	_, err = off.c.ControllerExpandVolume(ctxT(t), &csi.ControllerExpandVolumeRequest{
		VolumeId: w.GetVolumeId(), CapacityRange: &csi.CapacityRange{RequiredBytes: 2 * GiB}})
	wantCode(t, err, codes.FailedPrecondition)

	none := newEnv(t, func(c *cloud.Capabilities) { c.Expansion = cloud.ExpansionNone })
	caps, _ := none.c.ControllerGetCapabilities(ctxT(t), &csi.ControllerGetCapabilitiesRequest{})
	for _, c := range caps.GetCapabilities() {
		if c.GetRpc().GetType() == csi.ControllerServiceCapability_RPC_EXPAND_VOLUME {
			t.Error("EXPAND_VOLUME advertised by a cloud without expansion")
		}
	}
	pc, _ := none.id.GetPluginCapabilities(ctxT(t), &csi.GetPluginCapabilitiesRequest{})
	for _, c := range pc.GetCapabilities() {
		if c.GetVolumeExpansion() != nil {
			t.Error("plugin VolumeExpansion advertised by a cloud without expansion")
		}
	}
	pc, _ = off.id.GetPluginCapabilities(ctxT(t), &csi.GetPluginCapabilitiesRequest{})
	found := false
	for _, c := range pc.GetCapabilities() {
		found = found || c.GetVolumeExpansion().GetType() == csi.PluginCapability_VolumeExpansion_OFFLINE
	}
	if !found {
		t.Error("offline cloud does not advertise OFFLINE expansion")
	}
}

func TestProbeCachesCloudCheck(t *testing.T) {
	e := newEnv(t, nil)
	for range 5 {
		resp, err := e.id.Probe(ctxT(t), &csi.ProbeRequest{})
		if err != nil || !resp.GetReady().GetValue() {
			t.Fatalf("probe = %v, %v", resp, err)
		}
	}
	if n := e.cloud.Calls("GetLimits"); n != 1 {
		t.Errorf("5 probes made %d cloud calls, want 1", n)
	}
	f := newEnv(t, nil)
	f.cloud.InjectError("GetLimits", &cloud.Error{Kind: cloud.ErrUnavailable, Message: "connection refused"})
	_, err := f.id.Probe(ctxT(t), &csi.ProbeRequest{})
	wantCode(t, err, codes.FailedPrecondition)
}

func TestErrorCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code codes.Code
	}{
		{cloud.Errorf(cloud.ErrNotFound, "x"), codes.NotFound},
		{cloud.Errorf(cloud.ErrAlreadyExists, "x"), codes.AlreadyExists},
		{cloud.Errorf(cloud.ErrInvalid, "x"), codes.InvalidArgument},
		{cloud.Errorf(cloud.ErrOutOfRange, "x"), codes.OutOfRange},
		{cloud.Errorf(cloud.ErrQuotaExceeded, "x"), codes.ResourceExhausted},
		{cloud.Errorf(cloud.ErrRateLimited, "x"), codes.Unavailable},
		{cloud.Errorf(cloud.ErrUnavailable, "x"), codes.Unavailable},
		{cloud.Errorf(cloud.ErrWrongState, "x"), codes.FailedPrecondition},
		{cloud.Errorf(cloud.ErrFailed, "x"), codes.Internal},
		{cloud.Errorf(cloud.ErrUnauthorized, "x"), codes.Unauthenticated},
		{fmt.Errorf("waiting: %w", context.DeadlineExceeded), codes.DeadlineExceeded},
		{fmt.Errorf("plain"), codes.Internal},
	} {
		if got := codeOf(failed(tc.err, "doing")); got != tc.code {
			t.Errorf("%v → %s, want %s", tc.err, got, tc.code)
		}
	}
}

// The acceptance budget for the batched waiter: 100 volumes through create
// → publish → unpublish → delete at once in ≤ 4.5 API calls per volume.
func TestLifecycleCallBudget(t *testing.T) {
	e := newEnv(t, func(c *cloud.Capabilities) { c.MaxVolumesPerNode = 0 })
	e.cloud.SetLatency(2 * time.Millisecond)
	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			ctx := ctxT(t)
			v, err := e.c.CreateVolume(ctx, createReq(fmt.Sprintf("bench-%d", i), 1))
			if err != nil {
				errs <- err
				return
			}
			id := v.GetVolume().GetVolumeId()
			if _, err := e.c.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: id, NodeId: testNode, VolumeCapability: csicap.Mount("")}); err != nil {
				errs <- err
				return
			}
			if _, err := e.c.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: id, NodeId: testNode}); err != nil {
				errs <- err
				return
			}
			if _, err := e.c.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: id}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := e.cloud.TotalCalls()
	perVolume := float64(total) / n
	t.Logf("%d calls for %d volumes: %.2f per volume (create %d attach %d detach %d delete %d get %d list %d)", total, n, perVolume,
		e.cloud.Calls("CreateVolume"), e.cloud.Calls("AttachVolume"), e.cloud.Calls("DetachVolume"), e.cloud.Calls("DeleteVolume"),
		e.cloud.Calls("GetVolume"), e.cloud.Calls("ListVolumes"))
	if perVolume > 4.5 {
		t.Errorf("%.2f calls per volume, budget 4.5", perVolume)
	}
	if e.cloud.VolumeCount() != 0 {
		t.Errorf("%d volumes left", e.cloud.VolumeCount())
	}
}

// Lunanode has no quota API: Probe and GetCapacity still work.
func TestNoQuotaAPI(t *testing.T) {
	e := newEnv(t, nil)
	unsupported := &cloud.Error{Kind: cloud.ErrUnsupported, Message: "no quota"}
	e.cloud.InjectError("GetLimits", unsupported, unsupported)
	if _, err := e.id.Probe(ctxT(t), &csi.ProbeRequest{}); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if e.cloud.Calls("ListVolumes") != 1 {
		t.Errorf("probe without quota API made %d listings, want 1", e.cloud.Calls("ListVolumes"))
	}
	resp, err := e.c.GetCapacity(ctxT(t), &csi.GetCapacityRequest{})
	if err != nil || resp.GetAvailableCapacity() != 1<<63-1 {
		t.Fatalf("capacity = %v, %v", resp, err)
	}
}

// A cloud without metadata or source fields (Lunanode) must still let a
// retry of a create-from-snapshot find its volume.
func TestCreateFromSnapshotRetryWithoutSourceRecord(t *testing.T) {
	e := newEnv(t, nil)
	src := e.mustCreate(t, "src", 1)
	snap, err := e.c.CreateSnapshot(ctxT(t), &csi.CreateSnapshotRequest{Name: "snap", SourceVolumeId: src.GetVolumeId()})
	if err != nil {
		t.Fatal(err)
	}
	req := createReq("restored", 1)
	req.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snap.GetSnapshot().GetSnapshotId()}}}
	first, err := e.c.CreateVolume(ctxT(t), req)
	if err != nil {
		t.Fatal(err)
	}
	// Forget what the cloud knew about the source.
	e.cloud.ForgetSource(first.GetVolume().GetVolumeId())
	again, err := e.c.CreateVolume(ctxT(t), req)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if again.GetVolume().GetVolumeId() != first.GetVolume().GetVolumeId() {
		t.Fatalf("retry made a second volume")
	}
}

// An encrypted StorageClass gets an encrypted volume or none: a type the
// cloud does not encrypt fails the create with InvalidArgument and the
// volume it made is deleted; an encrypted type passes; a cloud that cannot
// tell refuses the parameter before creating anything.
func TestCreateVolumeEncrypted(t *testing.T) {
	caps := fake.DefaultCapabilities()
	c := fake.New(fake.Config{Capabilities: &caps, EncryptedTypes: []string{"luks"}, Delay: 5 * time.Millisecond})
	w := waiter.New(c, waiter.Options{InitialDelay: 2 * time.Millisecond, Interval: 5 * time.Millisecond})
	drv, err := New(Config{Mode: ModeController, Cloud: c, Waiter: w, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	d := drv.controller
	req := createReq("secret", 1)
	req.Parameters = map[string]string{ParamEncrypted: "true", ParamType: "plain"}
	_, err = d.CreateVolume(ctxT(t), req)
	wantCode(t, err, codes.InvalidArgument)
	if err != nil && !strings.Contains(err.Error(), `type "plain" is not encrypted`) {
		t.Errorf("error %q does not say why", err)
	}
	vols, _ := c.ListVolumes(ctxT(t), cloud.ListOptions{})
	for _, v := range vols.Items {
		if v.Status != cloud.StatusDeleting {
			t.Errorf("volume %s (%s) left behind", v.ID, v.Status)
		}
	}

	req = createReq("secret-luks", 1)
	req.Parameters = map[string]string{ParamEncrypted: "true", ParamType: "luks"}
	resp, err := d.CreateVolume(ctxT(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := c.GetVolume(ctxT(t), resp.GetVolume().GetVolumeId()); v == nil || !v.Encrypted {
		t.Errorf("volume %+v, want an encrypted one", v)
	}

	req = createReq("bad-bool", 1)
	req.Parameters = map[string]string{ParamEncrypted: "yes please"}
	_, err = d.CreateVolume(ctxT(t), req)
	wantCode(t, err, codes.InvalidArgument)

	e := newEnv(t, func(c *cloud.Capabilities) { c.Encryption = false })
	req = createReq("cannot-tell", 1)
	req.Parameters = map[string]string{ParamEncrypted: "true"}
	_, err = e.c.CreateVolume(ctxT(t), req)
	wantCode(t, err, codes.InvalidArgument)
	if n := e.cloud.Calls("CreateVolume"); n != 0 {
		t.Errorf("CreateVolume reached a cloud that cannot report encryption %d times", n)
	}
}
