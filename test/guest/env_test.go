package guest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/guest"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/guest/guesttest"
	"github.com/openblock-csi/openblock-csi/pkg/driver"
	"github.com/openblock-csi/openblock-csi/test/harness"
)

// env is one backend on one bus: the simulator whose local server is a
// guest, the controller on this machine, the node plugin in the guest.
type env struct {
	b    harness.Backend
	bus  guest.Bus
	vm   *guest.VM
	srv  *guest.Server
	sim  *harness.Sim
	ctrl csi.ControllerClient
	node csi.NodeClient
	// ctrlEndpoint is the controller's socket, for a csi-sanity child.
	ctrlEndpoint string
	// timings collects AttachTimings' figures.
	timings timings
}

func newEnv(t *testing.T, b harness.Backend, bus guest.Bus) *env {
	bin := harness.MustSharedDriver(t)
	vm := guesttest.Boot(t, guesttest.Options{
		NodeBinary: bin, NodeID: harness.LocalServerID, NodeArgs: []string{"--zone=" + b.Zone},
	})
	e := &env{b: b, bus: bus, vm: vm, srv: guest.NewServer(vm, bus)}
	dir := t.TempDir()
	cfg := b.SimConfig(filepath.Join(dir, "sim"), filepath.Join(dir, "by-id"))
	cfg.Guest = e.srv
	// 25 disks at once is the point of one case; the profiles' project
	// quotas (NHN's 10 volumes and snapshots) are tested elsewhere.
	cfg.Quota = &cloudsim.Quota{Volumes: 200, Snapshots: 200, Gigabytes: 10000, Backups: 50, BackupGigabytes: 1000}
	sim, err := harness.StartSim(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Registered after the guest's: runs first, unplugging what is left.
	t.Cleanup(func() {
		if err := sim.Close(); err != nil {
			t.Errorf("closing the simulator: %v", err)
		}
	})
	e.sim = sim
	cc, err := b.WriteCloudConfig(dir, sim.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := harness.StartDriver(ctx, harness.DriverOptions{Binary: bin, Dir: dir, CloudConfig: cc, Mode: "controller", Zone: b.Zone})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop() })
	e.ctrl = csi.NewControllerClient(p.Conn)
	e.ctrlEndpoint = p.Endpoint
	conn, err := grpc.NewClient("passthrough:///"+vm.Addr(guesttest.CSIPort), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	e.node = csi.NewNodeClient(conn)
	return e
}

func mountCap(fs string) *csi.VolumeCapability {
	return &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: fs}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
	}
}

// vol is one volume through its lifecycle, undone by cleanup in reverse.
type vol struct {
	e       *env
	t       *testing.T
	id      string
	fs      string
	pc      map[string]string
	staging string
	target  string
}

func (e *env) create(t *testing.T, ctx context.Context, name string, gib int64, src *csi.VolumeContentSource) *vol {
	t.Helper()
	return e.createFS(t, ctx, name, gib, src, "ext4")
}

func (e *env) createFS(t *testing.T, ctx context.Context, name string, gib int64, src *csi.VolumeContentSource, fs string) *vol {
	t.Helper()
	resp, err := e.ctrl.CreateVolume(ctx, &csi.CreateVolumeRequest{
		Name: name, CapacityRange: &csi.CapacityRange{RequiredBytes: gib << 30},
		VolumeCapabilities: []*csi.VolumeCapability{mountCap(fs)}, VolumeContentSource: src,
	})
	if err != nil {
		t.Fatalf("CreateVolume %s: %v", name, err)
	}
	v := &vol{e: e, t: t, id: resp.GetVolume().GetVolumeId(), fs: fs}
	v.staging = "/var/lib/kubelet/plugins/kubernetes.io/csi/pv/" + v.id + "/globalmount"
	v.target = "/var/lib/kubelet/pods/" + v.id + "/volumes/kubernetes.io~csi/pv/mount"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		v.teardown(ctx)
		if _, err := e.ctrl.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: v.id}); err != nil {
			t.Errorf("DeleteVolume %s: %v", v.id, err)
		}
	})
	return v
}

func (v *vol) attach(ctx context.Context) {
	v.t.Helper()
	resp, err := v.e.ctrl.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{
		VolumeId: v.id, NodeId: harness.LocalServerID, VolumeCapability: mountCap(v.fs),
	})
	if err != nil {
		v.t.Fatalf("ControllerPublishVolume %s: %v", v.id, err)
	}
	v.pc = resp.GetPublishContext()
}

func (v *vol) stageErr(ctx context.Context, pc map[string]string) error {
	if _, err := v.e.vm.Run(ctx, "mkdir", "-p", v.staging); err != nil {
		return err
	}
	_, err := v.e.node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{
		VolumeId: v.id, PublishContext: pc, StagingTargetPath: v.staging, VolumeCapability: mountCap(v.fs),
	})
	return err
}

func (v *vol) stage(ctx context.Context) {
	v.t.Helper()
	if err := v.stageErr(ctx, v.pc); err != nil {
		v.t.Fatalf("NodeStageVolume %s: %v", v.id, err)
	}
}

func (v *vol) publish(ctx context.Context) {
	v.t.Helper()
	if _, err := v.e.vm.Run(ctx, "mkdir", "-p", filepath.Dir(v.target)); err != nil {
		v.t.Fatal(err)
	}
	if _, err := v.e.node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{
		VolumeId: v.id, PublishContext: v.pc, StagingTargetPath: v.staging, TargetPath: v.target, VolumeCapability: mountCap(v.fs),
	}); err != nil {
		v.t.Fatalf("NodePublishVolume %s: %v", v.id, err)
	}
}

// up attaches, stages and publishes.
func (v *vol) up(ctx context.Context) {
	v.t.Helper()
	v.attach(ctx)
	v.stage(ctx)
	v.publish(ctx)
}

// down unpublishes, unstages and detaches, failing the test on an error.
func (v *vol) down(ctx context.Context) {
	v.t.Helper()
	if err := v.teardown(ctx); err != nil {
		v.t.Fatal(err)
	}
}

func (v *vol) teardown(ctx context.Context) error {
	if _, err := v.e.node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: v.id, TargetPath: v.target}); err != nil {
		return fmt.Errorf("NodeUnpublishVolume %s: %w", v.id, err)
	}
	if _, err := v.e.node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: v.id, StagingTargetPath: v.staging}); err != nil {
		return fmt.Errorf("NodeUnstageVolume %s: %w", v.id, err)
	}
	if _, err := v.e.ctrl.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: v.id, NodeId: harness.LocalServerID}); err != nil {
		return fmt.Errorf("ControllerUnpublishVolume %s: %w", v.id, err)
	}
	return nil
}

func (v *vol) write(ctx context.Context, name, data string) {
	v.t.Helper()
	if _, err := v.e.vm.RunStdin(ctx, []byte(data), "sh", "-c", `cat >"$1" && sync`, "sh", v.target+"/"+name); err != nil {
		v.t.Fatal(err)
	}
}

func (v *vol) read(ctx context.Context, name string) string {
	v.t.Helper()
	out, err := v.e.vm.Run(ctx, "cat", v.target+"/"+name)
	if err != nil {
		v.t.Fatal(err)
	}
	return out
}

// mounted lists the guest's mount points of this volume.
func (v *vol) mounted(ctx context.Context) []string {
	v.t.Helper()
	out, err := v.e.vm.Run(ctx, "cat", "/proc/mounts")
	if err != nil {
		v.t.Fatal(err)
	}
	var got []string
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 1 && strings.Contains(f[1], v.id) {
			got = append(got, f[1])
		}
	}
	return got
}

// fsBytes is the size of the filesystem mounted at the target.
func (v *vol) fsBytes(ctx context.Context) int64 {
	v.t.Helper()
	out, err := v.e.vm.Run(ctx, "df", "-k", v.target)
	if err != nil {
		v.t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var kb int64
	if f := strings.Fields(lines[len(lines)-1]); len(f) > 1 {
		fmt.Sscan(f[1], &kb)
	}
	if kb == 0 {
		v.t.Fatalf("df %s: %q", v.target, out)
	}
	return kb << 10
}

// serial is the disk's serial as the controller published it (the
// volume id for Cinder, the volume's identification for Lunanode).
func (v *vol) serial() string { return v.pc[driver.PubSerial] }

// link is the name udev gives the disk under /dev/disk/by-id on the
// env's bus: QEMU passes 20 characters of the serial on either bus.
func (e *env) link(serial string) string {
	if len(serial) > 20 {
		serial = serial[:20]
	}
	if e.bus == guest.VirtioSCSI {
		return "scsi-0QEMU_QEMU_HARDDISK_" + serial
	}
	return "virtio-" + serial
}

// simPost sends a fault request to the simulator's /_sim API, as an
// operator would.
func (e *env) simCall(ctx context.Context, method, path, body string, want int) error {
	req, err := http.NewRequestWithContext(ctx, method, e.sim.URL+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	return nil
}

// delayPlugs sets the guest's plug delay through /_sim/faults.
func (e *env) delayPlugs(t *testing.T, ctx context.Context, d time.Duration) {
	t.Helper()
	if err := e.simCall(ctx, "PUT", "/_sim/faults", fmt.Sprintf(`{"plug_delay_ms": %d}`, d.Milliseconds()), 200); err != nil {
		t.Fatal(err)
	}
}

// surpriseUnplug pulls the disk through /_sim/faults/unplug.
func (e *env) surpriseUnplug(t *testing.T, ctx context.Context, serial string) {
	t.Helper()
	if err := e.simCall(ctx, "POST", "/_sim/faults/unplug", fmt.Sprintf(`{"serial": %q}`, serial), 204); err != nil {
		t.Fatal(err)
	}
}
