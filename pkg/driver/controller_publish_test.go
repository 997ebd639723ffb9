package driver

import (
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/csicap"
)

func TestPublishUnpublish(t *testing.T) {
	e := newEnv(t, nil)
	v := e.mustCreate(t, "p", 3)
	pc := e.mustPublish(t, v.GetVolumeId(), testNode)
	if pc[PubSerial] != v.GetVolumeId() || pc[PubSizeBytes] != "3221225472" || pc[PubSerialLength] != "20" {
		t.Errorf("publish context = %v", pc)
	}
	// Idempotent: a second publish to the same node succeeds, attaches
	// nothing new.
	e.mustPublish(t, v.GetVolumeId(), testNode)
	cv, _ := e.cloud.GetVolume(ctxT(t), v.GetVolumeId())
	if !cv.AttachedTo(testNode) || len(cv.Attachments) != 1 {
		t.Fatalf("attachments = %v", cv.Attachments)
	}
	// Elsewhere: refused, not multi-attach.
	_, err := e.c.ControllerPublishVolume(ctxT(t), &csi.ControllerPublishVolumeRequest{VolumeId: v.GetVolumeId(), NodeId: "server-2", VolumeCapability: csicap.Mount("")})
	wantCode(t, err, codes.FailedPrecondition)

	for range 2 {
		if _, err := e.c.ControllerUnpublishVolume(ctxT(t), &csi.ControllerUnpublishVolumeRequest{VolumeId: v.GetVolumeId(), NodeId: testNode}); err != nil {
			t.Fatal(err)
		}
	}
	cv, _ = e.cloud.GetVolume(ctxT(t), v.GetVolumeId())
	if len(cv.Attachments) != 0 || cv.Status != cloud.StatusAvailable {
		t.Fatalf("after unpublish: %+v", cv)
	}
}

func TestPublishErrors(t *testing.T) {
	e := newEnv(t, nil)
	v := e.mustCreate(t, "p", 1)
	cases := []struct {
		name string
		req  *csi.ControllerPublishVolumeRequest
		code codes.Code
	}{
		{"no volume", &csi.ControllerPublishVolumeRequest{NodeId: testNode, VolumeCapability: csicap.Mount("")}, codes.InvalidArgument},
		{"no node", &csi.ControllerPublishVolumeRequest{VolumeId: v.GetVolumeId(), VolumeCapability: csicap.Mount("")}, codes.InvalidArgument},
		{"no capability", &csi.ControllerPublishVolumeRequest{VolumeId: v.GetVolumeId(), NodeId: testNode}, codes.InvalidArgument},
		{"unknown volume", &csi.ControllerPublishVolumeRequest{VolumeId: "fake-vol", NodeId: testNode, VolumeCapability: csicap.Mount("")}, codes.NotFound},
		{"unknown node", &csi.ControllerPublishVolumeRequest{VolumeId: v.GetVolumeId(), NodeId: "fake-node", VolumeCapability: csicap.Mount("")}, codes.NotFound},
		{"malformed node", &csi.ControllerPublishVolumeRequest{VolumeId: v.GetVolumeId(), NodeId: "../servers", VolumeCapability: csicap.Mount("")}, codes.NotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.c.ControllerPublishVolume(ctxT(t), tc.req)
			wantCode(t, err, tc.code)
		})
	}
}

func TestPublishAttachLimit(t *testing.T) {
	e := newEnv(t, func(c *cloud.Capabilities) { c.MaxVolumesPerNode = 1 })
	a, b := e.mustCreate(t, "a", 1), e.mustCreate(t, "b", 1)
	e.mustPublish(t, a.GetVolumeId(), testNode)
	_, err := e.c.ControllerPublishVolume(ctxT(t), &csi.ControllerPublishVolumeRequest{VolumeId: b.GetVolumeId(), NodeId: testNode, VolumeCapability: csicap.Mount("")})
	wantCode(t, err, codes.ResourceExhausted)
	info, _ := e.n.NodeGetInfo(ctxT(t), &csi.NodeGetInfoRequest{})
	if info.GetMaxVolumesPerNode() != 1 {
		t.Errorf("NodeGetInfo max volumes = %d, want the cloud's 1", info.GetMaxVolumesPerNode())
	}
}

func TestStuckAttachIsUndone(t *testing.T) {
	e := newEnv(t, nil)
	e.c.attachTimeout = 50 * time.Millisecond
	v := e.mustCreate(t, "stuck", 1)
	e.cloud.Stick(v.GetVolumeId())
	_, err := e.c.ControllerPublishVolume(ctxT(t), &csi.ControllerPublishVolumeRequest{VolumeId: v.GetVolumeId(), NodeId: testNode, VolumeCapability: csicap.Mount("")})
	wantCode(t, err, codes.DeadlineExceeded)
	if n := e.cloud.Calls("DetachVolume"); n != 1 {
		t.Errorf("stuck attach: %d detach calls, want 1", n)
	}
}

func TestUnpublishGoneIsSuccess(t *testing.T) {
	e := newEnv(t, nil)
	v := e.mustCreate(t, "u", 1)
	// Never attached.
	if _, err := e.c.ControllerUnpublishVolume(ctxT(t), &csi.ControllerUnpublishVolumeRequest{VolumeId: v.GetVolumeId(), NodeId: testNode}); err != nil {
		t.Fatalf("not attached: %v", err)
	}
	// Volume gone.
	if _, err := e.c.ControllerUnpublishVolume(ctxT(t), &csi.ControllerUnpublishVolumeRequest{VolumeId: "gone", NodeId: testNode}); err != nil {
		t.Fatalf("volume gone: %v", err)
	}
	// Server gone (a dead node): the detach is done.
	e.mustPublish(t, v.GetVolumeId(), "server-2")
	e.cloud.RemoveServer("server-2")
	if _, err := e.c.ControllerUnpublishVolume(ctxT(t), &csi.ControllerUnpublishVolumeRequest{VolumeId: v.GetVolumeId(), NodeId: "server-2"}); err != nil {
		t.Fatalf("server gone: %v", err)
	}
	// No node id: detach from all.
	e.mustPublish(t, v.GetVolumeId(), testNode)
	if _, err := e.c.ControllerUnpublishVolume(ctxT(t), &csi.ControllerUnpublishVolumeRequest{VolumeId: v.GetVolumeId()}); err != nil {
		t.Fatal(err)
	}
	cv, _ := e.cloud.GetVolume(ctxT(t), v.GetVolumeId())
	if len(cv.Attachments) != 0 {
		t.Errorf("still attached to %v", cv.Attachments)
	}
	_, err := e.c.ControllerUnpublishVolume(ctxT(t), &csi.ControllerUnpublishVolumeRequest{})
	wantCode(t, err, codes.InvalidArgument)
}

// A read-only publish attaches as any other, tells the node in the
// publish context, and keeps its mode per node in the volume's metadata:
// a publish to the same node in the other mode is AlreadyExists, and the
// mode is chosen afresh after an unpublish.
func TestControllerPublishReadonly(t *testing.T) {
	e := newEnv(t, nil)
	v := e.mustCreate(t, "ro", 1)
	pub := func(ro bool) (*csi.ControllerPublishVolumeResponse, error) {
		return e.c.ControllerPublishVolume(ctxT(t), &csi.ControllerPublishVolumeRequest{
			VolumeId: v.GetVolumeId(), NodeId: testNode, VolumeCapability: csicap.Mount(""), Readonly: ro,
		})
	}
	resp, err := pub(true)
	if err != nil {
		t.Fatalf("readonly publish: %v", err)
	}
	if resp.GetPublishContext()[PubReadOnly] != "true" {
		t.Errorf("publish context = %v, want %s=true", resp.GetPublishContext(), PubReadOnly)
	}
	got, _ := e.cloud.GetVolume(ctxT(t), v.GetVolumeId())
	if !got.AttachedTo(testNode) || got.Metadata[MetaReadOnlyPrefix+testNode] != "true" {
		t.Fatalf("after readonly publish: attachments %+v, metadata %v", got.Attachments, got.Metadata)
	}
	if _, err := pub(true); err != nil {
		t.Fatalf("readonly publish again (a retry): %v", err)
	}
	_, err = pub(false)
	wantCode(t, err, codes.AlreadyExists)

	e.mustUnpublish(t, v.GetVolumeId(), testNode)
	got, _ = e.cloud.GetVolume(ctxT(t), v.GetVolumeId())
	if len(got.Attachments) != 0 || got.Metadata[MetaReadOnlyPrefix+testNode] == "true" {
		t.Fatalf("after unpublish: attachments %+v, metadata %v", got.Attachments, got.Metadata)
	}
	resp, err = pub(false)
	if err != nil {
		t.Fatalf("read-write publish after the readonly one ended: %v", err)
	}
	if _, ok := resp.GetPublishContext()[PubReadOnly]; ok {
		t.Errorf("read-write publish context = %v", resp.GetPublishContext())
	}
	_, err = pub(true)
	wantCode(t, err, codes.AlreadyExists)
}

// Without volume metadata (Lunanode) the mode cannot be kept per node:
// PUBLISH_READONLY is not offered and a readonly publish is refused
// before anything is attached.
func TestControllerPublishReadonlyRefusedWithoutMetadata(t *testing.T) {
	e := newEnv(t, func(c *cloud.Capabilities) { c.VolumeMetadata = false })
	caps, err := e.c.ControllerGetCapabilities(ctxT(t), &csi.ControllerGetCapabilitiesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range caps.GetCapabilities() {
		if c.GetRpc().GetType() == csi.ControllerServiceCapability_RPC_PUBLISH_READONLY {
			t.Errorf("PUBLISH_READONLY advertised without volume metadata")
		}
	}
	v := e.mustCreate(t, "ro", 1)
	_, err = e.c.ControllerPublishVolume(ctxT(t), &csi.ControllerPublishVolumeRequest{
		VolumeId: v.GetVolumeId(), NodeId: testNode, VolumeCapability: csicap.Mount(""), Readonly: true,
	})
	wantCode(t, err, codes.InvalidArgument)
	got, err := e.cloud.GetVolume(ctxT(t), v.GetVolumeId())
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Attachments) != 0 {
		t.Errorf("refused readonly publish attached the volume: %+v", got.Attachments)
	}
}
