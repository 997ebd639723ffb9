package driver

import (
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/csicap"
)

func withFlags(flags ...string) *csi.VolumeCapability {
	vc := csicap.Mount("ext4")
	vc.GetMount().MountFlags = flags
	return vc
}

// Mount flags that change what or where is mounted are refused by every
// call that accepts a capability, naming the option.
func TestMountFlagsRefusedEverywhere(t *testing.T) {
	e := newEnv(t, nil)
	v := e.mustCreate(t, "flags", 1)
	for _, flag := range []string{"remount,ro", "bind", "loop=/dev/loop0", "rw,exec;reboot", "X-mount.mkdir", "x-systemd.automount", "helper=x", "move", "rbind"} {
		vc := withFlags(flag)
		calls := map[string]error{}
		req := createReq("flags-"+flag, 1)
		req.VolumeCapabilities = []*csi.VolumeCapability{vc}
		_, calls["CreateVolume"] = e.c.CreateVolume(ctxT(t), req)
		_, calls["ValidateVolumeCapabilities"] = e.c.ValidateVolumeCapabilities(ctxT(t), &csi.ValidateVolumeCapabilitiesRequest{VolumeId: v.GetVolumeId(), VolumeCapabilities: []*csi.VolumeCapability{vc}})
		_, calls["NodeStageVolume"] = e.n.NodeStageVolume(ctxT(t), stageReq(vc, pubCtx(v.GetVolumeId(), GiB), nil))
		_, calls["NodePublishVolume"] = e.n.NodePublishVolume(ctxT(t), &csi.NodePublishVolumeRequest{VolumeId: v.GetVolumeId(), StagingTargetPath: staging, TargetPath: target, VolumeCapability: vc, PublishContext: pubCtx(v.GetVolumeId(), GiB)})
		for call, err := range calls {
			if status.Code(err) != codes.InvalidArgument {
				t.Errorf("%s with mount flag %q: %v, want InvalidArgument", call, flag, err)
				continue
			}
			first, _, _ := strings.Cut(flag, ",")
			if !strings.Contains(status.Convert(err).Message(), "mount option") {
				t.Errorf("%s with mount flag %q: message %q does not name the option (%s)", call, flag, status.Convert(err).Message(), first)
			}
		}
	}
	if n := len(e.ops.mounts); n != 0 {
		t.Errorf("refused requests left %d mounts", n)
	}
}

func TestCreateVolumeTopologyChecked(t *testing.T) {
	e := newEnv(t, nil)
	for name, tr := range map[string]*csi.TopologyRequirement{
		"empty segments": {Requisite: []*csi.Topology{{Segments: map[string]string{}}}},
		"unknown key":    {Preferred: []*csi.Topology{{Segments: map[string]string{"badinput.example/../zone": "../../x\x00"}}}},
		"extra key":      {Requisite: []*csi.Topology{{Segments: map[string]string{TopologyZoneKey: "nova", "rack": "1"}}}},
		"bad value":      {Requisite: []*csi.Topology{{Segments: map[string]string{TopologyZoneKey: "../x"}}}},
	} {
		req := createReq("topo-"+strings.ReplaceAll(name, " ", "-"), 1)
		req.AccessibilityRequirements = tr
		_, err := e.c.CreateVolume(ctxT(t), req)
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
}

// Without EXPAND_VOLUME the answer is Unimplemented even for a request
// that is also malformed.
func TestExpandUnimplementedFirst(t *testing.T) {
	e := newEnv(t, func(c *cloud.Capabilities) { c.Expansion = cloud.ExpansionNone })
	_, err := e.c.ControllerExpandVolume(ctxT(t), &csi.ControllerExpandVolumeRequest{VolumeId: "x"})
	wantCode(t, err, codes.Unimplemented)
}

// A 403 that is not about credentials keeps its meaning: the server's disk
// limit is ResourceExhausted, a policy refusal PermissionDenied.
func TestForbiddenKinds(t *testing.T) {
	limit := failed(cloud.Errorf(cloud.ErrAttachLimit, "The maximum allowed number of disk devices (26) to attach to a single instance has been exceeded."), "attaching")
	if status.Code(limit) != codes.ResourceExhausted || !strings.Contains(status.Convert(limit).Message(), "limit of attached disks") {
		t.Errorf("disk limit: %v", limit)
	}
	if strings.Contains(status.Convert(limit).Message(), "credentials") {
		t.Errorf("disk limit blames the credentials: %v", limit)
	}
	policy := failed(cloud.Errorf(cloud.ErrForbidden, "Policy doesn't allow volume:create to be performed."), "creating")
	if status.Code(policy) != codes.PermissionDenied {
		t.Errorf("policy: %v", policy)
	}
}
