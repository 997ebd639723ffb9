package soak

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/lunanode"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
	simlunanode "github.com/openblock-csi/openblock-csi/pkg/cloudsim/lunanode"
	"github.com/openblock-csi/openblock-csi/pkg/csicap"
	"github.com/openblock-csi/openblock-csi/test/harness"
)

// Reproductions of bugs the soak found, smallest first, kept as
// regression tests now that they are fixed.

// controllerOnly starts backend's simulator and a controller-mode driver
// and returns a controller and identity client.
func controllerOnly(t *testing.T, backend string) (*harness.Sim, csi.ControllerClient, csi.IdentityClient) {
	return controllerOnlyWith(t, backend, nil)
}

// controllerOnlyWith is controllerOnly with the simulator's handler
// wrapped (nil: as it is). The controller's log goes to the test's log
// when the test fails.
func controllerOnlyWith(t *testing.T, backend string, wrap func(http.Handler) http.Handler) (*harness.Sim, csi.ControllerClient, csi.IdentityClient) {
	t.Helper()
	b, err := harness.Lookup(backend)
	if err != nil {
		t.Fatal(err)
	}
	if wrap == nil {
		wrap = func(h http.Handler) http.Handler { return h }
	}
	bin := harness.MustSharedDriver(t)
	work := t.TempDir()
	sim, err := harness.StartSimHandler(b.SimConfig(filepath.Join(work, "sim"), filepath.Join(work, "by-id")),
		func(s *cloudsim.Sim) http.Handler { return wrap(s.Handler()) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	cfg, err := b.WriteCloudConfig(work, sim.URL)
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(work, "controller.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := harness.StartDriver(ctx, harness.DriverOptions{
		Binary: bin, Dir: work, CloudConfig: cfg, Mode: "controller", ExtraArgs: []string{"--metadata-url=-", "-v=2"},
		Stderr: logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("controller log (tail):\n%s", tail(filepath.Join(work, "controller.log"), 40))
		}
	})
	ic := csi.NewIdentityClient(p.Conn)
	if err := harness.WaitReady(ctx, func(ctx context.Context) error {
		_, err := ic.GetPluginInfo(ctx, &csi.GetPluginInfoRequest{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return sim, csi.NewControllerClient(p.Conn), ic
}

// A CreateVolume from a snapshot that is retried (its answer lost, the
// provisioner restarted) must find the volume it made. On Lunanode the API
// reports no source snapshot and volumes carry no metadata; the soak found
// the retry answering AlreadyExists forever (fixed; kept as a regression
// test).
func TestLunanodeCreateFromSnapshotRetried(t *testing.T) {
	_, cc, _ := controllerOnly(t, "lunanode")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	caps := []*csi.VolumeCapability{csicap.Mount("ext4")}
	src, err := cc.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "repro-src", VolumeCapabilities: caps,
		CapacityRange: &csi.CapacityRange{RequiredBytes: gib}})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := cc.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "repro-snap", SourceVolumeId: src.Volume.VolumeId})
	if err != nil {
		t.Fatal(err)
	}
	req := &csi.CreateVolumeRequest{Name: "repro-restored", VolumeCapabilities: caps,
		CapacityRange: &csi.CapacityRange{RequiredBytes: gib},
		VolumeContentSource: &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
			Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snap.Snapshot.SnapshotId}}}}
	first, err := cc.CreateVolume(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := cc.CreateVolume(ctx, req)
	if err != nil {
		t.Fatalf("retrying the same CreateVolume: %v", err)
	}
	if again.Volume.VolumeId != first.Volume.VolumeId {
		t.Fatalf("retry answered %s, first call %s", again.Volume.VolumeId, first.Volume.VolumeId)
	}
}

// Probe on a Lunanode controller must answer ready: the soak found it
// reading the quota, which Lunanode does not offer, so the livenessprobe
// sidecar would have restarted a healthy controller forever (fixed; kept as
// a regression test).
func TestLunanodeProbeReady(t *testing.T) {
	_, _, ic := controllerOnly(t, "lunanode")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := ic.Probe(ctx, &csi.ProbeRequest{})
	if err != nil {
		t.Fatalf("Probe: %v", err)
	}
	if !resp.GetReady().GetValue() {
		t.Fatal("Probe: not ready")
	}
}

// A backup that fails must leave its volume usable, as Cinder does (the
// volume goes back to its previous status; only the backup is in error).
// The simulator once left the volume in error_backing-up, which cannot be
// deleted, detached or backed up again (fixed; kept as a regression test).
func TestReproSimFailedBackupStrandsVolume(t *testing.T) {
	sim, cc, _ := controllerOnly(t, "cinder-v3")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	vol, err := cc.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "repro-vol", VolumeCapabilities: []*csi.VolumeCapability{csicap.Mount("ext4")},
		CapacityRange: &csi.CapacityRange{RequiredBytes: gib}})
	if err != nil {
		t.Fatal(err)
	}
	// More failures than the driver remakes a failed backup within one
	// request (3 times), so the request fails.
	sim.SetFaults(cloudsim.Faults{FailNext: map[string]int{cloudsim.OpBackup: 4}})
	if _, err := cc.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "repro-backup", SourceVolumeId: vol.Volume.VolumeId,
		Parameters: map[string]string{"type": "backup"}}); err == nil {
		t.Fatal("the backup was to fail")
	}
	for _, v := range sim.State().Volumes {
		if v.ID == vol.Volume.VolumeId && v.Status != "available" {
			t.Errorf("after a failed backup the volume is %s, want available", v.Status)
		}
	}
	if _, err := cc.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: vol.Volume.VolumeId}); err != nil {
		t.Errorf("DeleteVolume after a failed backup: %v", err)
	}
}

// Two clients with the same credentials (a restarted controller and its
// predecessor, doctor next to a running controller, two replicas in a
// rolling update) sign the same request in the same second with the same
// nonce; LunaNode-style replay protection refuses the second one. The
// client must sign it again with the next nonce rather than report bad
// credentials (the soak saw Unauthenticated errors after each controller
// restart; fixed, kept as a regression test).
func TestReproLunanodeNonceAcrossClients(t *testing.T) {
	b, _ := harness.Lookup("lunanode")
	work := t.TempDir()
	sim, err := harness.StartSim(b.SimConfig(filepath.Join(work, "sim"), filepath.Join(work, "by-id")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	newClient := func() *lunanode.Cloud {
		c, err := lunanode.New(lunanode.Config{APIURL: sim.URL + "/lunanode/api/", APIID: simlunanode.DefaultAPIID, APIKey: simlunanode.DefaultAPIKey})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	first, second := newClient(), newClient()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := first.ListVolumes(ctx, cloud.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := second.ListVolumes(ctx, cloud.ListOptions{}); err != nil {
		t.Fatalf("a second client with the same credentials: %v", err)
	}
	// A controller that polled the same listing several times a second ran
	// its nonces for it ahead of the clock; the controller started after
	// it was killed signs that listing first, with nonces its predecessor
	// used. The soak saw every restart refused for ten seconds.
	for range 40 {
		if _, err := first.ListVolumes(ctx, cloud.ListOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := newClient().ListVolumes(ctx, cloud.ListOptions{}); err != nil {
		t.Fatalf("a client started after one whose nonces ran ahead: %v", err)
	}
}
