// Package integration drives the CSI driver over gRPC with the real
// OpenStack provider talking HTTP to the cloud simulator: the whole path a
// PVC takes, including (as root) formatting, mounting and reading back data
// through loop devices.
package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
	"github.com/openblock-csi/openblock-csi/pkg/cloudconfig"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/simtest"
	"github.com/openblock-csi/openblock-csi/pkg/csicap"
	"github.com/openblock-csi/openblock-csi/pkg/driver"
	"github.com/openblock-csi/openblock-csi/pkg/node"
	"github.com/openblock-csi/openblock-csi/pkg/provider"
)

const gib = int64(1) << 30

type env struct {
	ctl    csi.ControllerClient
	nodeC  csi.NodeClient
	cloud  cloud.Cloud
	sim    *cloudsim.Sim
	nodeID string
	tmp    string
}

func start(t *testing.T, profile string, api int) *env {
	t.Helper()
	return startWith(t, cloudsim.Config{Profile: profile, Timing: "fast"}, api)
}

// startWith starts the simulator with cfg (its LocalServerID and ByIDDir
// are set here) and the driver in front of it; hostOpts adjust the node's
// host configuration.
func startWith(t *testing.T, simCfg cloudsim.Config, api int, hostOpts ...func(*node.HostConfig)) *env {
	t.Helper()
	tmp := t.TempDir()
	byID := filepath.Join(tmp, "by-id")
	nodeID := uuid.NewString()
	simCfg.LocalServerID, simCfg.ByIDDir = nodeID, byID
	profile := simCfg.Profile
	sim, base := simtest.Start(t, simCfg)
	conf := simtest.CloudConfig{Profile: profile, APIVersion: api}.Write(t, tmp, base)
	cc, err := cloudconfig.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c, err := provider.New(ctx, cc, provider.Options{UserAgent: "integration"})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	w := waiter.New(c, waiter.Options{InitialDelay: 20 * time.Millisecond, Interval: 50 * time.Millisecond})
	t.Cleanup(w.Close)
	hostCfg := node.HostConfig{ByIDDir: byID, FindTimeout: 20 * time.Second, PollInterval: 50 * time.Millisecond, UdevTriggerInterval: -1}
	for _, o := range hostOpts {
		o(&hostCfg)
	}
	d, err := driver.New(driver.Config{
		Mode: driver.ModeAll, Cloud: c, Waiter: w, NodeID: nodeID, Zone: "nova",
		NodeOps: node.NewHost(hostCfg), KubeletDirs: []string{tmp},
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	sock := filepath.Join(tmp, "csi.sock")
	lis, err := driver.Listen("unix://" + sock)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx, lis) }()
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		<-done
	})
	return &env{ctl: csi.NewControllerClient(conn), nodeC: csi.NewNodeClient(conn), cloud: c, sim: sim, nodeID: nodeID, tmp: tmp}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func wantCode(t *testing.T, err error, code codes.Code) {
	t.Helper()
	if got := status.Code(err); got != code {
		t.Fatalf("code = %s (%v), want %s", got, err, code)
	}
}

func canMount() string {
	if os.Geteuid() != 0 {
		return "needs root: formats and mounts loop devices"
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		return "needs loop devices"
	}
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		return "needs mkfs.ext4"
	}
	return ""
}

func (e *env) create(t *testing.T, name string, src *csi.VolumeContentSource) *csi.Volume {
	t.Helper()
	resp, err := e.ctl.CreateVolume(ctxT(t), &csi.CreateVolumeRequest{
		Name: name, CapacityRange: &csi.CapacityRange{RequiredBytes: gib},
		VolumeCapabilities: []*csi.VolumeCapability{csicap.Mount("ext4")}, VolumeContentSource: src,
		Parameters: map[string]string{driver.ParamPVCName: name, driver.ParamPVCNamespace: "it"},
	})
	if err != nil {
		t.Fatalf("CreateVolume %s: %v", name, err)
	}
	t.Cleanup(func() {
		// Best effort on failure paths; the happy path deletes explicitly.
		_, _ = e.ctl.ControllerUnpublishVolume(context.Background(), &csi.ControllerUnpublishVolumeRequest{VolumeId: resp.GetVolume().GetVolumeId(), NodeId: e.nodeID})
		_, _ = e.ctl.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: resp.GetVolume().GetVolumeId()})
	})
	return resp.GetVolume()
}

// mount stages and publishes a published volume, returning the target
// directory and a function that undoes both.
func (e *env) mount(t *testing.T, vol *csi.Volume, pc map[string]string, name string) (string, func()) {
	t.Helper()
	staging := filepath.Join(e.tmp, "staging-"+name)
	target := filepath.Join(e.tmp, "target-"+name)
	if err := os.MkdirAll(staging, 0o750); err != nil {
		t.Fatal(err)
	}
	id := vol.GetVolumeId()
	unmount := func() {
		_, err1 := e.nodeC.NodeUnpublishVolume(context.Background(), &csi.NodeUnpublishVolumeRequest{VolumeId: id, TargetPath: target})
		_, err2 := e.nodeC.NodeUnstageVolume(context.Background(), &csi.NodeUnstageVolumeRequest{VolumeId: id, StagingTargetPath: staging})
		if err1 != nil || err2 != nil {
			t.Errorf("unmount %s: %v / %v", name, err1, err2)
		}
	}
	if _, err := e.nodeC.NodeStageVolume(ctxT(t), &csi.NodeStageVolumeRequest{
		VolumeId: id, StagingTargetPath: staging, VolumeCapability: csicap.Mount("ext4"), PublishContext: pc, VolumeContext: vol.GetVolumeContext(),
	}); err != nil {
		t.Fatalf("NodeStageVolume: %v", err)
	}
	if _, err := e.nodeC.NodePublishVolume(ctxT(t), &csi.NodePublishVolumeRequest{
		VolumeId: id, StagingTargetPath: staging, TargetPath: target, VolumeCapability: csicap.Mount("ext4"), PublishContext: pc,
	}); err != nil {
		unmount()
		t.Fatalf("NodePublishVolume: %v", err)
	}
	return target, unmount
}

func (e *env) publish(t *testing.T, id string) map[string]string {
	t.Helper()
	resp, err := e.ctl.ControllerPublishVolume(ctxT(t), &csi.ControllerPublishVolumeRequest{VolumeId: id, NodeId: e.nodeID, VolumeCapability: csicap.Mount("ext4")})
	if err != nil {
		t.Fatalf("ControllerPublishVolume: %v", err)
	}
	return resp.GetPublishContext()
}

func (e *env) unpublish(t *testing.T, id string) {
	t.Helper()
	if _, err := e.ctl.ControllerUnpublishVolume(ctxT(t), &csi.ControllerUnpublishVolumeRequest{VolumeId: id, NodeId: e.nodeID}); err != nil {
		t.Fatalf("ControllerUnpublishVolume: %v", err)
	}
}

// TestDataSurvivesSnapshotAndBackup writes data through the node service,
// snapshots the volume both ways where the cloud has backups (on NHN
// Cloud, which publishes no backup API, a backup class is refused),
// restores each into a new volume and reads the data back.
func TestDataSurvivesSnapshotAndBackup(t *testing.T) {
	for _, tc := range []struct {
		name, profile string
		api           int
		backups       bool
	}{{"cinder-v3", "generic", 3, true}, {"cinder-v2", "generic", 2, true}, {"nhn", "nhn", 2, false}} {
		t.Run(tc.name, func(t *testing.T) {
			e := start(t, tc.profile, tc.api)
			skipNode := canMount()
			payload := []byte("openblock " + uuid.NewString())

			src := e.create(t, "pvc-src", nil)
			cv, err := e.cloud.GetVolume(ctxT(t), src.GetVolumeId())
			if err != nil {
				t.Fatal(err)
			}
			if cv.Metadata[driver.MetaRequestName] != "pvc-src" || cv.Metadata[driver.ParamPVCNamespace] != "it" || cv.SizeGiB != 1 {
				t.Errorf("cloud volume = %+v", cv)
			}
			pc := e.publish(t, src.GetVolumeId())
			if pc[driver.PubSerial] == "" || pc[driver.PubSizeBytes] != fmt.Sprint(gib) {
				t.Errorf("publish context = %v", pc)
			}
			if skipNode == "" {
				target, unmount := e.mount(t, src, pc, "src")
				if err := os.WriteFile(filepath.Join(target, "data"), payload, 0o644); err != nil {
					unmount()
					t.Fatal(err)
				}
				unmount()
			}
			e.unpublish(t, src.GetVolumeId())

			kinds := []string{"snapshot", "backup"}
			if !tc.backups {
				kinds = kinds[:1]
				_, err := e.ctl.CreateSnapshot(ctxT(t), &csi.CreateSnapshotRequest{
					Name: "snap-backup", SourceVolumeId: src.GetVolumeId(), Parameters: map[string]string{driver.ParamSnapshotType: "backup"},
				})
				if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "no backups") {
					t.Errorf("CreateSnapshot type backup on %s = %v; want InvalidArgument: this cloud has no backups", tc.name, err)
				}
			}
			var restored []string
			for _, kind := range kinds {
				snap, err := e.ctl.CreateSnapshot(ctxT(t), &csi.CreateSnapshotRequest{
					Name: "snap-" + kind, SourceVolumeId: src.GetVolumeId(), Parameters: map[string]string{driver.ParamSnapshotType: kind},
				})
				if err != nil {
					t.Fatalf("CreateSnapshot %s: %v", kind, err)
				}
				sid := snap.GetSnapshot().GetSnapshotId()
				if (kind == "backup") != strings.HasPrefix(sid, driver.BackupPrefix) || !snap.GetSnapshot().GetReadyToUse() {
					t.Fatalf("%s snapshot = %v", kind, snap.GetSnapshot())
				}
				t.Cleanup(func() { _, _ = e.ctl.DeleteSnapshot(context.Background(), &csi.DeleteSnapshotRequest{SnapshotId: sid}) })
				vol := e.create(t, "pvc-from-"+kind, &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
					Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: sid}}})
				restored = append(restored, vol.GetVolumeId())
				pc := e.publish(t, vol.GetVolumeId())
				if skipNode == "" {
					target, unmount := e.mount(t, vol, pc, kind)
					got, err := os.ReadFile(filepath.Join(target, "data"))
					unmount()
					if err != nil || !bytes.Equal(got, payload) {
						t.Fatalf("restored from %s: read %q, %v; want %q", kind, got, err, payload)
					}
				}
				e.unpublish(t, vol.GetVolumeId())
				if _, err := e.ctl.DeleteSnapshot(ctxT(t), &csi.DeleteSnapshotRequest{SnapshotId: sid}); err != nil {
					t.Fatalf("DeleteSnapshot %s: %v", kind, err)
				}
			}
			for _, id := range append(restored, src.GetVolumeId()) {
				if _, err := e.ctl.DeleteVolume(ctxT(t), &csi.DeleteVolumeRequest{VolumeId: id}); err != nil {
					t.Fatalf("DeleteVolume %s: %v", id, err)
				}
			}
			page, err := e.cloud.ListVolumes(ctxT(t), cloud.ListOptions{})
			if err != nil || len(page.Items) != 0 {
				t.Fatalf("volumes left after teardown: %d (%v)", len(page.Items), err)
			}
			if skipNode != "" {
				t.Skipf("the data was not written nor read back (%s); only the control-plane steps ran", skipNode)
			}
		})
	}
}

// TestStageGivesUpWhenTheDiskNeverAppears: the cloud reports the volume
// attached but the node never sees its disk. NodeStage answers NotFound
// within its bound, formats and mounts nothing, and the volume still
// detaches and deletes cleanly.
func TestStageGivesUpWhenTheDiskNeverAppears(t *testing.T) {
	const findTimeout = time.Second
	e := startWith(t, cloudsim.Config{Profile: "generic", Timing: "fast", Faults: cloudsim.Faults{Stuck: []string{cloudsim.OpDevice}}}, 3,
		func(h *node.HostConfig) { h.FindTimeout = findTimeout })
	vol := e.create(t, "pvc-no-disk", nil)
	id := vol.GetVolumeId()
	pc := e.publish(t, id)
	staging := filepath.Join(e.tmp, "staging-no-disk")
	if err := os.MkdirAll(staging, 0o750); err != nil {
		t.Fatal(err)
	}
	_, err := e.nodeC.NodeStageVolume(ctxT(t), &csi.NodeStageVolumeRequest{
		VolumeId: id, StagingTargetPath: staging, VolumeCapability: csicap.Mount("ext4"), PublishContext: pc, VolumeContext: vol.GetVolumeContext(),
	})
	wantCode(t, err, codes.NotFound)
	if !strings.Contains(err.Error(), pc[driver.PubSerial]) {
		t.Errorf("the error does not name the serial it looked for: %v", err)
	}
	if mi, err := os.ReadFile("/proc/self/mountinfo"); err == nil && strings.Contains(string(mi), staging) {
		t.Errorf("%s is mounted after a failed stage", staging)
	}
	if ents, err := os.ReadDir(staging); err != nil || len(ents) != 0 {
		t.Errorf("staging directory: %d entries (%v), want it left empty", len(ents), err)
	}
	e.unpublish(t, id)
	if _, err := e.ctl.DeleteVolume(ctxT(t), &csi.DeleteVolumeRequest{VolumeId: id}); err != nil {
		t.Fatal(err)
	}
	if page, err := e.cloud.ListVolumes(ctxT(t), cloud.ListOptions{}); err != nil || len(page.Items) != 0 {
		t.Fatalf("volumes left: %d (%v)", len(page.Items), err)
	}
}

// TestErrorCodesAgainstCloud checks that cloud-side refusals reach the CO
// with the right gRPC code.
func TestErrorCodesAgainstCloud(t *testing.T) {
	e := start(t, "generic", 3)
	vol := e.create(t, "pvc-errors", nil)
	id := vol.GetVolumeId()

	_, err := e.ctl.CreateVolume(ctxT(t), &csi.CreateVolumeRequest{Name: "x", VolumeCapabilities: []*csi.VolumeCapability{csicap.Mount("ext4")}, Parameters: map[string]string{"iops": "9000"}})
	wantCode(t, err, codes.InvalidArgument)
	_, err = e.ctl.CreateVolume(ctxT(t), &csi.CreateVolumeRequest{Name: "huge", VolumeCapabilities: []*csi.VolumeCapability{csicap.Mount("ext4")}, CapacityRange: &csi.CapacityRange{RequiredBytes: 500000 * gib}})
	wantCode(t, err, codes.ResourceExhausted)
	_, err = e.ctl.CreateVolume(ctxT(t), &csi.CreateVolumeRequest{Name: "pvc-errors", VolumeCapabilities: []*csi.VolumeCapability{csicap.Mount("ext4")}, CapacityRange: &csi.CapacityRange{RequiredBytes: 5 * gib}})
	wantCode(t, err, codes.AlreadyExists)

	_, err = e.ctl.ControllerPublishVolume(ctxT(t), &csi.ControllerPublishVolumeRequest{VolumeId: id, NodeId: uuid.NewString(), VolumeCapability: csicap.Mount("ext4")})
	wantCode(t, err, codes.NotFound)
	_, err = e.ctl.ControllerPublishVolume(ctxT(t), &csi.ControllerPublishVolumeRequest{VolumeId: uuid.NewString(), NodeId: e.nodeID, VolumeCapability: csicap.Mount("ext4")})
	wantCode(t, err, codes.NotFound)

	e.publish(t, id)
	_, err = e.ctl.DeleteVolume(ctxT(t), &csi.DeleteVolumeRequest{VolumeId: id})
	wantCode(t, err, codes.FailedPrecondition)
	e.unpublish(t, id)

	snap, err := e.ctl.CreateSnapshot(ctxT(t), &csi.CreateSnapshotRequest{Name: "pin", SourceVolumeId: id})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.ctl.DeleteVolume(ctxT(t), &csi.DeleteVolumeRequest{VolumeId: id})
	wantCode(t, err, codes.FailedPrecondition)
	if _, err := e.ctl.DeleteSnapshot(ctxT(t), &csi.DeleteSnapshotRequest{SnapshotId: snap.GetSnapshot().GetSnapshotId()}); err != nil {
		t.Fatal(err)
	}

	_, err = e.ctl.CreateSnapshot(ctxT(t), &csi.CreateSnapshotRequest{Name: "orphan", SourceVolumeId: uuid.NewString()})
	wantCode(t, err, codes.NotFound)
	_, err = e.ctl.ListVolumes(ctxT(t), &csi.ListVolumesRequest{StartingToken: uuid.NewString()})
	wantCode(t, err, codes.Aborted)
	_, err = e.ctl.ControllerExpandVolume(ctxT(t), &csi.ControllerExpandVolumeRequest{VolumeId: uuid.NewString(), CapacityRange: &csi.CapacityRange{RequiredBytes: 2 * gib}})
	wantCode(t, err, codes.NotFound)
	_, err = e.nodeC.NodeStageVolume(ctxT(t), &csi.NodeStageVolumeRequest{VolumeId: id, StagingTargetPath: "/tmp/../etc", VolumeCapability: csicap.Mount("ext4")})
	wantCode(t, err, codes.InvalidArgument)

	if _, err := e.ctl.DeleteVolume(ctxT(t), &csi.DeleteVolumeRequest{VolumeId: id}); err != nil {
		t.Fatal(err)
	}
}

// TestCallBudgetAgainstSimulator: 100 volumes at once through create →
// publish → unpublish → delete cost at most 4.5 cloud API calls each
// (Keystone excluded), thanks to batched waits and name lookups.
func TestCallBudgetAgainstSimulator(t *testing.T) {
	const n, perServer = 100, 20
	var servers []cloudsim.Server
	for i := range n / perServer {
		servers = append(servers, cloudsim.Server{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1), Name: fmt.Sprintf("node-%d", i), Zone: "nova"})
	}
	e := startWith(t, cloudsim.Config{Profile: "generic", Timing: "fast", Servers: servers}, 3)
	e.sim.ResetStats()
	errs := make(chan error, n)
	for i := range n {
		go func() {
			errs <- func() error {
				ctx := ctxT(t)
				v, err := e.ctl.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: fmt.Sprintf("bench-%d", i), CapacityRange: &csi.CapacityRange{RequiredBytes: gib}, VolumeCapabilities: []*csi.VolumeCapability{csicap.Mount("ext4")}})
				if err != nil {
					return err
				}
				id, nodeID := v.GetVolume().GetVolumeId(), servers[i%len(servers)].ID
				if _, err := e.ctl.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: id, NodeId: nodeID, VolumeCapability: csicap.Mount("ext4")}); err != nil {
					return err
				}
				if _, err := e.ctl.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: id, NodeId: nodeID}); err != nil {
					return err
				}
				_, err = e.ctl.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: id})
				return err
			}()
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	st := e.sim.Stats()
	calls := st.Total - st.ByFace["keystone"]
	t.Logf("%d API calls for %d volumes (%.2f each): %v", calls, n, float64(calls)/n, st.ByRoute)
	if per := float64(calls) / n; per > 4.5 {
		t.Errorf("%.2f calls per volume, budget 4.5", per)
	}
}
