package driver

import (
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/openblock-csi/openblock-csi/pkg/cloud/fake"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
)

// A cloud whose only volume zone is "nova" while its nodes sit in compute
// zones nova-a and nova-b.
func zoneEnv(t *testing.T, mod func(*Config)) (*Controller, *fake.Cloud) {
	caps := fake.DefaultCapabilities()
	caps.Zones, caps.DefaultZone = []string{"nova"}, "nova"
	c := fake.New(fake.Config{Capabilities: &caps, Delay: 5 * time.Millisecond})
	cfg := Config{Mode: ModeController, Cloud: c, StateDir: t.TempDir(),
		Waiter: waiter.New(c, waiter.Options{InitialDelay: 2 * time.Millisecond, Interval: 5 * time.Millisecond})}
	if mod != nil {
		mod(&cfg)
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d.controller, c
}

func forNodeIn(name, zone string) *csi.CreateVolumeRequest {
	req := createReq(name, 1)
	req.AccessibilityRequirements = &csi.TopologyRequirement{
		Requisite: []*csi.Topology{{Segments: map[string]string{TopologyZoneKey: "nova-a"}}, {Segments: map[string]string{TopologyZoneKey: "nova-b"}}},
		Preferred: []*csi.Topology{{Segments: map[string]string{TopologyZoneKey: zone}}},
	}
	return req
}

func zonesOf(v *csi.Volume) []string {
	var out []string
	for _, t := range v.GetAccessibleTopology() {
		out = append(out, t.GetSegments()[TopologyZoneKey])
	}
	return out
}

func TestZonesDifferWithoutMapIsRefusedWithHint(t *testing.T) {
	d, c := zoneEnv(t, nil)
	_, err := d.CreateVolume(ctxT(t), forNodeIn("unmapped", "nova-b"))
	wantCode(t, err, codes.InvalidArgument)
	if err != nil && !strings.Contains(err.Error(), "zone-map") {
		t.Errorf("error %q does not point at zone-map", err)
	}
	if n := c.Calls("CreateVolume"); n != 0 {
		t.Errorf("CreateVolume reached the cloud %d times", n)
	}
}

// With a zone map the volume goes to the mapped volume zone and is
// reported attachable from every compute zone mapped to it.
func TestZoneMap(t *testing.T) {
	d, c := zoneEnv(t, func(cfg *Config) { cfg.ZoneMap = map[string]string{"nova-a": "nova", "nova-b": "nova"} })
	resp, err := d.CreateVolume(ctxT(t), forNodeIn("mapped", "nova-b"))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := c.GetVolume(ctxT(t), resp.GetVolume().GetVolumeId()); v == nil || v.Zone != "nova" {
		t.Errorf("cloud volume %+v, want it in volume zone nova", v)
	}
	if got := strings.Join(zonesOf(resp.GetVolume()), ","); got != "nova-a,nova-b" {
		t.Errorf("topology %s, want nova-a,nova-b", got)
	}
}

// ignore-volume-az: the cloud chooses the volume zone; the volume is
// reported in the compute zone it was made for.
func TestIgnoreVolumeAZ(t *testing.T) {
	d, c := zoneEnv(t, func(cfg *Config) { cfg.IgnoreVolumeAZ = true })
	resp, err := d.CreateVolume(ctxT(t), forNodeIn("ignored", "nova-b"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(zonesOf(resp.GetVolume()), ","); got != "nova-b" {
		t.Errorf("topology %s, want nova-b", got)
	}
	if v, _ := c.GetVolume(ctxT(t), resp.GetVolume().GetVolumeId()); v == nil || v.Zone != "nova" {
		t.Errorf("cloud volume %+v, want it in the cloud's default zone", v)
	}
	// A volume zone asked for by name still has to exist.
	req := createReq("bad-param", 1)
	req.Parameters = map[string]string{ParamAvailability: "nova-b"}
	_, err = d.CreateVolume(ctxT(t), req)
	wantCode(t, err, codes.InvalidArgument)
}
