package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/google/uuid"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
	"github.com/openblock-csi/openblock-csi/pkg/driver"
	"github.com/openblock-csi/openblock-csi/pkg/node"
	"github.com/openblock-csi/openblock-csi/pkg/node/nodetest"
)

// Two node plugins, each on its own server of the simulated cloud (two
// loop devices on the volume's one image, as two hypervisors see one
// multi-attach disk), share a raw block volume: bytes one node writes
// through its published device the other reads through its own, both
// ways; unpublishing one node leaves the other attached and its data.
func TestMultiattachSharedRawBlock(t *testing.T) {
	if why := canMount(); why != "" {
		t.Skip(why)
	}
	for _, api := range []int{3, 2} {
		t.Run("cinder-v"+string(rune('0'+api)), func(t *testing.T) { sharedRawBlock(t, api) })
	}
}

func sharedRawBlock(t *testing.T, api int) {
	types, err := cloudsim.ProfileVolumeTypes("generic")
	if err != nil {
		t.Fatal(err)
	}
	types = append(types, cloudsim.VolumeType{ID: uuid.NewString(), Name: "shared", ExtraSpecs: map[string]string{"multiattach": "<is> True"}})
	second := uuid.NewString()
	byID2 := filepath.Join(t.TempDir(), "by-id")
	e := startWith(t, cloudsim.Config{Profile: "generic", Timing: "fast", VolumeTypes: types,
		OtherLocal: []cloudsim.LocalServer{{ID: second, ByIDDir: byID2}}}, api)
	node2 := startNode(t, second, byID2, e.tmp)

	vc := &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER},
	}
	vol, err := e.ctl.CreateVolume(ctxT(t), &csi.CreateVolumeRequest{Name: "shared-" + uuid.NewString()[:8],
		CapacityRange:      &csi.CapacityRange{RequiredBytes: driver.GiB},
		VolumeCapabilities: []*csi.VolumeCapability{vc}, Parameters: map[string]string{driver.ParamType: "shared"}})
	if err != nil {
		t.Fatalf("CreateVolume: %v", err)
	}
	id := vol.GetVolume().GetVolumeId()
	t.Cleanup(func() {
		ctx := context.Background()
		_, _ = e.ctl.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: id})
		_, _ = e.ctl.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: id})
	})

	targets := map[string]string{}
	for _, n := range []struct {
		id string
		nc csi.NodeClient
	}{{e.nodeID, e.nodeC}, {second, node2}} {
		pub, err := e.ctl.ControllerPublishVolume(ctxT(t), &csi.ControllerPublishVolumeRequest{VolumeId: id, NodeId: n.id, VolumeCapability: vc})
		if err != nil {
			t.Fatalf("ControllerPublish to %s: %v", n.id, err)
		}
		target := filepath.Join(e.tmp, "pods", n.id, "dev")
		if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
			t.Fatal(err)
		}
		nodetest.CleanupMount(t, target)
		if _, err := n.nc.NodePublishVolume(ctxT(t), &csi.NodePublishVolumeRequest{VolumeId: id, TargetPath: target,
			StagingTargetPath: filepath.Join(e.tmp, "staging", n.id), VolumeCapability: vc, PublishContext: pub.GetPublishContext()}); err != nil {
			t.Fatalf("NodePublish on %s: %v", n.id, err)
		}
		targets[n.id] = target
	}
	a, b := targets[e.nodeID], targets[second]
	if sameDevice(t, a, b) {
		t.Fatalf("both nodes publish the same device node; the test would prove nothing")
	}

	fromA, fromB := randomBlock(t), randomBlock(t)
	writeDirect(t, a, 1<<20, fromA)
	if got := readDirect(t, b, 1<<20); !bytes.Equal(got, fromA) {
		t.Fatal("the second node does not read the bytes the first node wrote")
	}
	writeDirect(t, b, 5<<20, fromB)
	if got := readDirect(t, a, 5<<20); !bytes.Equal(got, fromB) {
		t.Fatal("the first node does not read the bytes the second node wrote")
	}

	// Unpublish the second node: only its attachment goes.
	if _, err := node2.NodeUnpublishVolume(ctxT(t), &csi.NodeUnpublishVolumeRequest{VolumeId: id, TargetPath: b}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ctl.ControllerUnpublishVolume(ctxT(t), &csi.ControllerUnpublishVolumeRequest{VolumeId: id, NodeId: second}); err != nil {
		t.Fatal(err)
	}
	cv, err := e.cloud.GetVolume(ctxT(t), id)
	if err != nil || !cv.AttachedTo(e.nodeID) || cv.AttachedTo(second) {
		t.Fatalf("after unpublishing the second node: %+v, %v", cv, err)
	}
	if got := readDirect(t, a, 5<<20); !bytes.Equal(got, fromB) {
		t.Fatal("the first node lost the data when the second detached")
	}
	if _, err := e.nodeC.NodeUnpublishVolume(ctxT(t), &csi.NodeUnpublishVolumeRequest{VolumeId: id, TargetPath: a}); err != nil {
		t.Fatal(err)
	}
}

// startNode serves a node-only plugin for serverID whose disks appear in
// byID, on its own socket.
func startNode(t *testing.T, serverID, byID string, kubeletDirs ...string) csi.NodeClient {
	t.Helper()
	dir := t.TempDir()
	d, err := driver.New(driver.Config{Mode: driver.ModeNode, NodeID: serverID, Zone: "nova",
		NodeOps:     node.NewHost(node.HostConfig{ByIDDir: byID, FindTimeout: 20 * time.Second, PollInterval: 50 * time.Millisecond, UdevTriggerInterval: -1}),
		KubeletDirs: kubeletDirs, StateDir: filepath.Join(dir, "state")})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "node.sock")
	lis, err := driver.Listen("unix://" + sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
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
	return csi.NewNodeClient(conn)
}

const blockSize = 4096

func randomBlock(t *testing.T) []byte {
	b := make([]byte, blockSize)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// alignedBuf is a blockSize buffer aligned for O_DIRECT.
func alignedBuf() []byte {
	raw := make([]byte, 2*blockSize)
	off := blockSize - int(uintptr(unsafe.Pointer(&raw[0]))%blockSize)
	if off == blockSize {
		off = 0
	}
	return raw[off : off+blockSize]
}

// writeDirect and readDirect bypass the page cache of the device node, so
// what one node reads comes from the shared disk, not from a cache of its
// own.
func writeDirect(t *testing.T, dev string, off int64, data []byte) {
	t.Helper()
	fd, err := unix.Open(dev, unix.O_WRONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open %s: %v", dev, err)
	}
	defer unix.Close(fd)
	buf := alignedBuf()
	copy(buf, data)
	if n, err := unix.Pwrite(fd, buf, off); err != nil || n != len(buf) {
		t.Fatalf("write %s at %d: %d, %v", dev, off, n, err)
	}
	if err := unix.Fsync(fd); err != nil {
		t.Fatal(err)
	}
}

func readDirect(t *testing.T, dev string, off int64) []byte {
	t.Helper()
	fd, err := unix.Open(dev, unix.O_RDONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open %s: %v", dev, err)
	}
	defer unix.Close(fd)
	buf := alignedBuf()
	if n, err := unix.Pread(fd, buf, off); err != nil || n != len(buf) {
		t.Fatalf("read %s at %d: %d, %v", dev, off, n, err)
	}
	return append([]byte(nil), buf...)
}

func sameDevice(t *testing.T, a, b string) bool {
	var sa, sb unix.Stat_t
	if err := unix.Stat(a, &sa); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat(b, &sb); err != nil {
		t.Fatal(err)
	}
	return sa.Rdev == sb.Rdev
}
