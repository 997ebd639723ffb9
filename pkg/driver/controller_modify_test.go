package driver

import (
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/fake"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
)

func hasControllerCap(t *testing.T, d *Controller, want csi.ControllerServiceCapability_RPC_Type) bool {
	t.Helper()
	resp, err := d.ControllerGetCapabilities(ctxT(t), &csi.ControllerGetCapabilitiesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range resp.GetCapabilities() {
		if c.GetRpc().GetType() == want {
			return true
		}
	}
	return false
}

func modifyEnv(t *testing.T) (*Controller, *fake.Cloud) {
	caps := fake.DefaultCapabilities()
	c := fake.New(fake.Config{Capabilities: &caps, MigratingTypes: []string{"far"}, Delay: 5 * time.Millisecond})
	w := waiter.New(c, waiter.Options{InitialDelay: 2 * time.Millisecond, Interval: 5 * time.Millisecond})
	d, err := New(Config{Mode: ModeController, Cloud: c, Waiter: w, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return d.controller, c
}

func TestModifyVolumeChangesTypeOnce(t *testing.T) {
	d, c := modifyEnv(t)
	if !hasControllerCap(t, d, csi.ControllerServiceCapability_RPC_MODIFY_VOLUME) {
		t.Fatal("MODIFY_VOLUME not advertised on a cloud that retypes")
	}
	req := createReq("retyped", 1)
	req.Parameters = map[string]string{ParamType: "plain"}
	resp, err := d.CreateVolume(ctxT(t), req)
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetVolume().GetVolumeId()
	for range 2 {
		if _, err := d.ControllerModifyVolume(ctxT(t), &csi.ControllerModifyVolumeRequest{
			VolumeId: id, MutableParameters: map[string]string{MutableType: "gold"}}); err != nil {
			t.Fatal(err)
		}
	}
	if v, _ := c.GetVolume(ctxT(t), id); v == nil || v.VolumeType != "gold" {
		t.Errorf("volume %+v, want type gold", v)
	}
	if n := c.Calls("RetypeVolume"); n != 1 {
		t.Errorf("RetypeVolume called %d times, want 1 (the second modify finds the type already set)", n)
	}
}

// A type on another backend needs the data moved: refused under the
// default migration policy (the volume keeps its type), done on-demand.
func TestModifyVolumeMigrationPolicy(t *testing.T) {
	d, c := modifyEnv(t)
	resp, err := d.CreateVolume(ctxT(t), createReq("moving", 1))
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetVolume().GetVolumeId()
	_, err = d.ControllerModifyVolume(ctxT(t), &csi.ControllerModifyVolumeRequest{
		VolumeId: id, MutableParameters: map[string]string{MutableType: "far"}})
	wantCode(t, err, codes.InvalidArgument)
	if v, _ := c.GetVolume(ctxT(t), id); v == nil || v.VolumeType == "far" {
		t.Errorf("volume %+v changed type though migration was not allowed", v)
	}
	if _, err := d.ControllerModifyVolume(ctxT(t), &csi.ControllerModifyVolumeRequest{
		VolumeId: id, MutableParameters: map[string]string{MutableType: "far", MutableMigrationPolicy: "on-demand"}}); err != nil {
		t.Fatal(err)
	}
	if v, _ := c.GetVolume(ctxT(t), id); v == nil || v.VolumeType != "far" {
		t.Errorf("volume %+v, want type far after an on-demand retype", v)
	}
}

func TestModifyVolumeBadRequests(t *testing.T) {
	d, _ := modifyEnv(t)
	resp, err := d.CreateVolume(ctxT(t), createReq("bad-modify", 1))
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetVolume().GetVolumeId()
	for name, tc := range map[string]struct {
		req  *csi.ControllerModifyVolumeRequest
		code codes.Code
	}{
		"no id":          {&csi.ControllerModifyVolumeRequest{MutableParameters: map[string]string{MutableType: "gold"}}, codes.InvalidArgument},
		"unknown param":  {&csi.ControllerModifyVolumeRequest{VolumeId: id, MutableParameters: map[string]string{"iops": "3000"}}, codes.InvalidArgument},
		"bad policy":     {&csi.ControllerModifyVolumeRequest{VolumeId: id, MutableParameters: map[string]string{MutableType: "gold", MutableMigrationPolicy: "always"}}, codes.InvalidArgument},
		"empty type":     {&csi.ControllerModifyVolumeRequest{VolumeId: id, MutableParameters: map[string]string{MutableType: " "}}, codes.InvalidArgument},
		"missing volume": {&csi.ControllerModifyVolumeRequest{VolumeId: "00000000-0000-0000-0000-000000000000", MutableParameters: map[string]string{MutableType: "gold"}}, codes.NotFound},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := d.ControllerModifyVolume(ctxT(t), tc.req)
			wantCode(t, err, tc.code)
		})
	}
}

// The type a VolumeAttributesClass names at creation is the volume's type.
func TestCreateVolumeMutableType(t *testing.T) {
	d, c := modifyEnv(t)
	req := createReq("vac", 1)
	req.Parameters = map[string]string{ParamType: "plain"}
	req.MutableParameters = map[string]string{MutableType: "gold"}
	resp, err := d.CreateVolume(ctxT(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := c.GetVolume(ctxT(t), resp.GetVolume().GetVolumeId()); v == nil || v.VolumeType != "gold" {
		t.Errorf("volume %+v, want the class's type gold", v)
	}
}

func TestModifyVolumeUnimplementedWithoutRetype(t *testing.T) {
	e := newEnv(t, func(c *cloud.Capabilities) { c.Retype = false })
	if hasControllerCap(t, e.c, csi.ControllerServiceCapability_RPC_MODIFY_VOLUME) {
		t.Error("MODIFY_VOLUME advertised on a cloud that cannot retype")
	}
	_, err := e.c.ControllerModifyVolume(ctxT(t), &csi.ControllerModifyVolumeRequest{VolumeId: "x", MutableParameters: map[string]string{MutableType: "gold"}})
	wantCode(t, err, codes.Unimplemented)
}
