package driver

import (
	"context"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/fake"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
	"github.com/openblock-csi/openblock-csi/pkg/csicap"
)

const testNode = "server-1"

type env struct {
	d     *Driver
	id    *Identity
	c     *Controller
	n     *Node
	cloud *fake.Cloud
	ops   *fakeOps
}

// newEnv returns a driver in mode all over a fake cloud (capabilities
// changed by mod) and fake node operations.
func newEnv(t *testing.T, mod func(*cloud.Capabilities)) *env {
	t.Helper()
	caps := fake.DefaultCapabilities()
	if mod != nil {
		mod(&caps)
	}
	c := fake.New(fake.Config{Capabilities: &caps, Servers: []string{testNode, "server-2"}, Delay: 5 * time.Millisecond})
	ops := newFakeOps()
	w := waiter.New(c, waiter.Options{InitialDelay: 2 * time.Millisecond, Interval: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	d, err := New(Config{Mode: ModeAll, Cloud: c, Waiter: w, NodeOps: ops, NodeID: testNode, Zone: "nova", StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return &env{d: d, id: d.identity, c: d.controller, n: d.node, cloud: c, ops: ops}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func createReq(name string, gib int64) *csi.CreateVolumeRequest {
	return &csi.CreateVolumeRequest{
		Name:               name,
		CapacityRange:      &csi.CapacityRange{RequiredBytes: gib * GiB},
		VolumeCapabilities: []*csi.VolumeCapability{csicap.Mount("")},
	}
}

func (e *env) mustCreate(t *testing.T, name string, gib int64) *csi.Volume {
	t.Helper()
	resp, err := e.c.CreateVolume(ctxT(t), createReq(name, gib))
	if err != nil {
		t.Fatalf("CreateVolume %s: %v", name, err)
	}
	return resp.GetVolume()
}

func (e *env) mustPublish(t *testing.T, volID, nodeID string) map[string]string {
	t.Helper()
	resp, err := e.c.ControllerPublishVolume(ctxT(t), &csi.ControllerPublishVolumeRequest{
		VolumeId: volID, NodeId: nodeID, VolumeCapability: csicap.Mount(""),
	})
	if err != nil {
		t.Fatalf("ControllerPublishVolume: %v", err)
	}
	return resp.GetPublishContext()
}

func (e *env) mustUnpublish(t *testing.T, volID, nodeID string) {
	t.Helper()
	if _, err := e.c.ControllerUnpublishVolume(ctxT(t), &csi.ControllerUnpublishVolumeRequest{VolumeId: volID, NodeId: nodeID}); err != nil {
		t.Fatalf("ControllerUnpublishVolume: %v", err)
	}
}

// wantCode fails unless err carries code.
func wantCode(t *testing.T, err error, code codes.Code) {
	t.Helper()
	if got := status.Code(err); got != code {
		t.Fatalf("code = %s (%v), want %s", got, err, code)
	}
}
