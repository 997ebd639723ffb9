package node_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"

	"github.com/openblock-csi/openblock-csi/pkg/csicap"
	"github.com/openblock-csi/openblock-csi/pkg/driver"
	"github.com/openblock-csi/openblock-csi/pkg/node/nodetest"
)

// Data written through a published volume survives unpublish, unstage and
// a second stage: the filesystem is mounted again, never made again.
func TestStageTwiceKeepsData(t *testing.T) {
	for _, fs := range filesystems {
		t.Run(fs, func(t *testing.T) {
			nodetest.RequireRoot(t)
			requireMkfs(t, fs)
			e := newEnv(t)
			v := e.newVolume(t, fsDiskSize)
			vc := csicap.Mount(fs)

			e.mustStagePublish(t, v, vc)
			uuid := fsUUID(t, v.dev)
			if fs == "xfs" && !strings.Contains(mountOptions(t, v.staging), "nouuid") {
				t.Fatalf("xfs staged without nouuid: %s", mountOptions(t, v.staging))
			}
			data := randomBytes(t, 12<<10)
			writeSynced(t, filepath.Join(v.target, "pattern.bin"), data)
			e.mustTeardown(t, v)
			if u := fsUUID(t, v.dev); u != uuid {
				t.Fatalf("filesystem UUID %s -> %s across teardown", uuid, u)
			}

			e.mustStagePublish(t, v, vc)
			got, err := os.ReadFile(filepath.Join(v.target, "pattern.bin"))
			if err != nil {
				t.Fatalf("read back after restage: %v (reformatted?)", err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes differing from the %d written", len(got), len(data))
			}
			if u := fsUUID(t, v.dev); u != uuid {
				t.Fatalf("filesystem UUID %s -> %s: the volume was reformatted", uuid, u)
			}
			if fs == "xfs" && !strings.Contains(mountOptions(t, v.staging), "nouuid") {
				t.Fatalf("xfs restaged without nouuid: %s", mountOptions(t, v.staging))
			}
			e.mustTeardown(t, v)
		})
	}
}

// A raw block volume is not staged; publishing binds the device itself, so
// bytes written through the target are the device's bytes.
func TestRawBlockPublish(t *testing.T) {
	e := newEnv(t)
	v := e.newVolume(t, 64*mib)
	vc := csicap.Block()

	if err := e.stage(t, v, vc); err != nil {
		t.Fatalf("NodeStageVolume (block): %v", err)
	}
	if n := mountCount(t, v.staging); n != 0 {
		t.Fatalf("block stage mounted something at %s (%d layers)", v.staging, n)
	}
	if err := e.publish(t, v, vc); err != nil {
		t.Fatalf("NodePublishVolume (block): %v", err)
	}
	if n := mountCount(t, v.target); n != 1 {
		t.Fatalf("%d mount layers at the block target, want 1", n)
	}
	var devSt, tgtSt unix.Stat_t
	if err := unix.Stat(v.dev, &devSt); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat(v.target, &tgtSt); err != nil {
		t.Fatal(err)
	}
	if tgtSt.Mode&unix.S_IFMT != unix.S_IFBLK || tgtSt.Rdev != devSt.Rdev {
		t.Fatalf("target mode %o rdev %d:%d, want the block device %s (%d:%d)", tgtSt.Mode, unix.Major(tgtSt.Rdev), unix.Minor(tgtSt.Rdev),
			v.dev, unix.Major(devSt.Rdev), unix.Minor(devSt.Rdev))
	}

	const off = 5*mib + 4096
	data := randomBytes(t, 16<<10)
	nodetest.WriteAt(t, v.target, off, data)
	if got := nodetest.ReadAt(t, v.dev, off, len(data)); !bytes.Equal(got, data) {
		t.Fatal("bytes read from the loop device differ from those written through the target")
	}
	// And the other way round, through the backing file, which only sees
	// what reached the device.
	if got := nodetest.ReadAt(t, v.backing, off, len(data)); !bytes.Equal(got, data) {
		t.Fatal("backing file does not hold the bytes written through the target")
	}

	if err := e.unpublish(t, v); err != nil {
		t.Fatalf("NodeUnpublishVolume (block): %v", err)
	}
	if _, err := os.Lstat(v.target); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("block target left behind: %v", err)
	}
	if err := e.unstage(t, v); err != nil {
		t.Fatalf("NodeUnstageVolume (block): %v", err)
	}
	if got := nodetest.ReadAt(t, v.dev, off, len(data)); !bytes.Equal(got, data) {
		t.Fatal("device data changed by unpublish")
	}
}

// A disk smaller than the volume is not the volume (or not fully visible):
// NodeStage refuses it before reading its format, let alone formatting it.
func TestStageRefusesSmallerDevice(t *testing.T) {
	requireMkfs(t, "ext4")
	e := newEnv(t)
	v := e.newVolume(t, 64*mib)
	v.size = 128 * mib // what the controller says the volume holds

	// Not a filesystem, but bytes whose any change shows.
	head := randomBytes(t, int(mib))
	nodetest.WriteAt(t, v.dev, 0, head)
	if !blkidFindsNothing(t, v.dev) {
		t.Fatal("random bytes look like a filesystem to blkid; cannot run the test")
	}

	err := e.stage(t, v, csicap.Mount("ext4"))
	wantCode(t, err, codes.FailedPrecondition, "NodeStageVolume on a smaller device")
	if n := mountCount(t, v.staging); n != 0 {
		t.Fatalf("refused device mounted at %s", v.staging)
	}
	if !blkidFindsNothing(t, v.dev) {
		t.Fatal("refused device now holds a filesystem")
	}
	if got := nodetest.ReadAt(t, v.dev, 0, int(mib)); !bytes.Equal(got, head) {
		t.Fatal("first MiB of the refused device changed")
	}
}

// Repeated calls, as kubelet makes after a timeout, change nothing: one
// mount layer each, and teardown twice succeeds.
func TestNodeCallsIdempotent(t *testing.T) {
	requireMkfs(t, "ext4")
	e := newEnv(t)
	v := e.newVolume(t, 64*mib)
	vc := csicap.Mount("ext4")

	for i := range 2 {
		if err := e.stage(t, v, vc); err != nil {
			t.Fatalf("NodeStageVolume #%d: %v", i+1, err)
		}
	}
	if n := mountCount(t, v.staging); n != 1 {
		t.Fatalf("%d mount layers at the staging path after two stages, want 1", n)
	}
	for i := range 2 {
		if err := e.publish(t, v, vc); err != nil {
			t.Fatalf("NodePublishVolume #%d: %v", i+1, err)
		}
	}
	if n := mountCount(t, v.target); n != 1 {
		t.Fatalf("%d mount layers at the target after two publishes, want 1", n)
	}
	for i := range 2 {
		if err := e.unpublish(t, v); err != nil {
			t.Fatalf("NodeUnpublishVolume #%d: %v", i+1, err)
		}
	}
	for i := range 2 {
		if err := e.unstage(t, v); err != nil {
			t.Fatalf("NodeUnstageVolume #%d: %v", i+1, err)
		}
	}
	checkReleased(t, v)
}

// The disk goes away under a staged, published volume (detached by the
// cloud, or the node lost it): unpublish and unstage still succeed and
// leave nothing behind. The disk "vanishes" by shrinking the loop device
// to zero bytes (every I/O fails) and asking for its detach, which the
// kernel completes once the last mount is gone.
func TestUnstageAfterDeviceVanished(t *testing.T) {
	requireMkfs(t, "ext4")
	e := newEnv(t)
	dev, backing := ownLoopDevice(t, 64*mib)
	v := e.volumeOn(t, dev, backing, 64*mib)
	e.mustStagePublish(t, v, csicap.Mount("ext4"))
	writeSynced(t, filepath.Join(v.target, "f"), []byte("before the disk went away"))

	// What udev and the hypervisor do when the disk leaves.
	if err := os.Remove(filepath.Join(e.byID, "virtio-"+v.id[:serialLen])); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(backing, 0); err != nil {
		t.Fatal(err)
	}
	run(t, "losetup", "-c", dev)
	run(t, "losetup", "-d", dev) // deferred (autoclear) while mounted

	if err := e.unpublish(t, v); err != nil {
		t.Fatalf("NodeUnpublishVolume after the disk vanished: %v", err)
	}
	if err := e.unstage(t, v); err != nil {
		t.Fatalf("NodeUnstageVolume after the disk vanished: %v", err)
	}
	checkReleased(t, v)
	if loopBacking(dev) == backing {
		t.Fatalf("%s still bound to %s after the last unmount", dev, backing)
	}
}

// A volume holding another filesystem than its StorageClass asks for is
// refused, not reformatted: its data stays and can still be staged as what
// it is.
func TestStageRefusesOtherFilesystem(t *testing.T) {
	requireMkfs(t, "ext4")
	e := newEnv(t)
	v := e.newVolume(t, fsDiskSize)
	e.mustStagePublish(t, v, csicap.Mount("ext4"))
	data := randomBytes(t, 4<<10)
	writeSynced(t, filepath.Join(v.target, "kept.bin"), data)
	uuid := fsUUID(t, v.dev)
	e.mustTeardown(t, v)

	for _, other := range []string{"xfs", "btrfs"} {
		err := e.stage(t, v, csicap.Mount(other))
		wantCode(t, err, codes.FailedPrecondition, "NodeStageVolume as "+other+" on an ext4 disk")
		if n := mountCount(t, v.staging); n != 0 {
			t.Fatalf("ext4 disk mounted at %s when staged as %s", v.staging, other)
		}
	}
	if u := fsUUID(t, v.dev); u != uuid {
		t.Fatalf("filesystem UUID %s -> %s: reformatted", uuid, u)
	}
	e.mustStagePublish(t, v, csicap.Mount("ext4"))
	if got, err := os.ReadFile(filepath.Join(v.target, "kept.bin")); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("data after refused stages: %v (equal %v)", err, bytes.Equal(got, data))
	}
	e.mustTeardown(t, v)
}

// Without an fsType in the capability the volume context's (from the
// StorageClass) applies, and its mkfs options reach mkfs as argv entries.
func TestStageUsesVolumeContext(t *testing.T) {
	requireMkfs(t, "xfs")
	e := newEnv(t)
	v := e.newVolume(t, fsDiskSize)
	vc := csicap.Mount("")
	_, err := e.node.NodeStageVolume(rpcCtx(t), &csi.NodeStageVolumeRequest{
		VolumeId: v.id, StagingTargetPath: v.staging, VolumeCapability: vc,
		PublishContext: v.publishContext(),
		VolumeContext:  map[string]string{driver.CtxFSType: "xfs", driver.CtxMkfsOptions: `-L "ob data"`},
	})
	if err != nil {
		t.Fatalf("NodeStageVolume: %v", err)
	}
	for tag, want := range map[string]string{"TYPE": "xfs", "LABEL": "ob data"} {
		out, err := exec.Command("blkid", "-p", "-s", tag, "-o", "value", v.dev).CombinedOutput()
		if got := strings.TrimSpace(string(out)); err != nil || got != want {
			t.Fatalf("blkid %s = %q (%v), want %q", tag, got, err, want)
		}
	}
	if !strings.Contains(mountOptions(t, v.staging), "nouuid") {
		t.Fatalf("xfs staged without nouuid: %s", mountOptions(t, v.staging))
	}
	if err := e.publish(t, v, vc); err != nil {
		t.Fatalf("NodePublishVolume: %v", err)
	}
	e.mustTeardown(t, v)
}

// A read-only publish is read-only to the pod while the staging mount
// stays writable; publishing what is not staged is refused.
func TestPublishReadOnlyAndUnstaged(t *testing.T) {
	requireMkfs(t, "ext4")
	e := newEnv(t)
	v := e.newVolume(t, 64*mib)
	vc := csicap.Mount("ext4")
	wantCode(t, e.publish(t, v, vc), codes.FailedPrecondition, "NodePublishVolume before NodeStageVolume")
	if n := mountCount(t, v.target); n != 0 {
		t.Fatalf("unstaged volume published at %s", v.target)
	}

	if err := e.stage(t, v, vc); err != nil {
		t.Fatalf("NodeStageVolume: %v", err)
	}
	_, err := e.node.NodePublishVolume(rpcCtx(t), &csi.NodePublishVolumeRequest{
		VolumeId: v.id, StagingTargetPath: v.staging, TargetPath: v.target,
		VolumeCapability: vc, PublishContext: v.publishContext(), Readonly: true,
	})
	if err != nil {
		t.Fatalf("NodePublishVolume read-only: %v", err)
	}
	if err := os.WriteFile(filepath.Join(v.target, "x"), []byte("x"), 0o600); !errors.Is(err, unix.EROFS) {
		t.Fatalf("write through a read-only publish: %v, want EROFS", err)
	}
	writeSynced(t, filepath.Join(v.staging, "y"), []byte("staging stays writable"))
	e.mustTeardown(t, v)
}
