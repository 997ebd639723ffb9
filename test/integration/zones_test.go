package integration

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
	"github.com/openblock-csi/openblock-csi/pkg/csicap"
	"github.com/openblock-csi/openblock-csi/pkg/driver"
	"github.com/openblock-csi/openblock-csi/test/harness"
)

// A cloud whose one volume zone is "nova" while its servers sit in compute
// zones nova-a and nova-b, as many OpenStack clouds are laid out: the real
// driver binary, given a zone map, creates the volume for a node in nova-b
// in volume zone nova, reports it attachable from nova-a and nova-b, and
// attaches it to that node (Nova attaching across zones).
func TestZoneMapOnCloudWithOtherVolumeZones(t *testing.T) {
	const nodeB = "0b0b0b0b-1111-4222-8333-444455556666"
	b, err := harness.Lookup("cinder-v3")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin, err := harness.BuildDriver(dir)
	if err != nil {
		t.Fatal(err)
	}
	simCfg := b.SimConfig(filepath.Join(dir, "sim"), filepath.Join(dir, "by-id"))
	simCfg.Zones = []string{"nova"}
	simCfg.Servers = append(simCfg.Servers, cloudsim.Server{ID: nodeB, Name: "node-b", Zone: "nova-b"})
	sim, err := harness.StartSim(simCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	cfg := filepath.Join(dir, "cloud.conf")
	if err := os.WriteFile(cfg, []byte(b.CloudConfig(sim.URL)+"zone-map = nova-a:nova, nova-b:nova\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := harness.StartDriver(ctx, harness.DriverOptions{Binary: bin, Dir: dir, CloudConfig: cfg, Mode: "controller"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop() })
	ctrl := csi.NewControllerClient(p.Conn)

	resp, err := ctrl.CreateVolume(ctx, &csi.CreateVolumeRequest{
		Name: "zoned", CapacityRange: &csi.CapacityRange{RequiredBytes: 1 << 30},
		VolumeCapabilities: []*csi.VolumeCapability{csicap.Mount("ext4")},
		AccessibilityRequirements: &csi.TopologyRequirement{
			Requisite: []*csi.Topology{{Segments: map[string]string{driver.TopologyZoneKey: "nova-a"}}, {Segments: map[string]string{driver.TopologyZoneKey: "nova-b"}}},
			Preferred: []*csi.Topology{{Segments: map[string]string{driver.TopologyZoneKey: "nova-b"}}},
		},
	})
	if err != nil {
		t.Fatalf("CreateVolume: %v", err)
	}
	id := resp.GetVolume().GetVolumeId()
	t.Cleanup(func() { _, _ = ctrl.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: id}) })
	var zones []string
	for _, tp := range resp.GetVolume().GetAccessibleTopology() {
		zones = append(zones, tp.GetSegments()[driver.TopologyZoneKey])
	}
	if len(zones) != 2 || zones[0] != "nova-a" || zones[1] != "nova-b" {
		t.Errorf("topology %v, want [nova-a nova-b]", zones)
	}
	for _, v := range sim.State().Volumes {
		if v.ID == id && v.Zone != "nova" {
			t.Errorf("the cloud holds the volume in zone %q, want nova", v.Zone)
		}
	}
	if _, err := ctrl.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{
		VolumeId: id, NodeId: nodeB, VolumeCapability: csicap.Mount("ext4"),
	}); err != nil {
		t.Fatalf("ControllerPublishVolume to the node in nova-b: %v", err)
	}
	attached := false
	for _, a := range sim.State().Attachments {
		attached = attached || (a.VolumeID == id && a.ServerID == nodeB)
	}
	if !attached {
		t.Error("the cloud shows no attachment to node-b")
	}
	if _, err := ctrl.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: id, NodeId: nodeB}); err != nil {
		t.Fatalf("ControllerUnpublishVolume: %v", err)
	}
}
