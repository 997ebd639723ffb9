package node_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openblock-csi/openblock-csi/pkg/csicap"
	"github.com/openblock-csi/openblock-csi/pkg/node/nodetest"
)

// After the cloud grows the disk, NodeExpandVolume grows the filesystem
// online and the stats show the new size, less the same overhead as before.
func TestExpandVolume(t *testing.T) {
	const grown = 2 * fsDiskSize
	for _, fs := range filesystems {
		t.Run(fs, func(t *testing.T) {
			nodetest.RequireRoot(t)
			requireMkfs(t, fs)
			e := newEnv(t)
			g := stageWithData(t, e, fs)
			v, vc, before := g.v, g.vc, g.before

			nodetest.GrowLoopDevice(t, v.dev, v.backing, grown)
			req := &csi.NodeExpandVolumeRequest{
				VolumeId: v.id, VolumePath: v.target, StagingTargetPath: v.staging,
				CapacityRange: &csi.CapacityRange{RequiredBytes: grown}, VolumeCapability: vc,
			}
			if strings.HasPrefix(fs, "ext") && !nodetest.HasCapability(unix.CAP_SYS_RESOURCE) {
				// resize2fs cannot grow a mounted ext4 without it; the driver
				// must say so rather than report a growth that did not happen.
				_, err := e.node.NodeExpandVolume(rpcCtx(t), req)
				if err == nil {
					if after, _ := e.stats(t, v, v.target); after.GetTotal() <= before.GetTotal() {
						t.Fatalf("NodeExpandVolume succeeded but the filesystem stayed at %d bytes", after.GetTotal())
					}
				}
				t.Skipf("needs CAP_SYS_RESOURCE: ext4 online resize (resize2fs on a mounted fs) is refused without it (NodeExpandVolume returned %s)", status.Code(err))
			}
			resp, err := e.node.NodeExpandVolume(rpcCtx(t), req)
			if err != nil {
				t.Fatalf("NodeExpandVolume: %v", err)
			}
			if resp.GetCapacityBytes() != grown {
				t.Errorf("NodeExpandVolume capacity %d, want the device's %d", resp.GetCapacityBytes(), grown)
			}

			g.checkGrown(t, e, grown, "expansion")
			e.mustTeardown(t, v)
		})
	}
}

// NodeGetVolumeStats reports what the filesystem really holds.
func TestVolumeStatsFilesystem(t *testing.T) {
	const written = 4 * mib
	const files = 16
	for _, fs := range filesystems {
		t.Run(fs, func(t *testing.T) {
			nodetest.RequireRoot(t)
			requireMkfs(t, fs)
			e := newEnv(t)
			v := e.newVolume(t, fsDiskSize)
			e.mustStagePublish(t, v, csicap.Mount(fs))

			b0, i0 := e.stats(t, v, v.target)
			if b0.GetTotal() <= fsDiskSize/2 || b0.GetTotal() > fsDiskSize {
				t.Fatalf("total %d bytes for a %d-byte disk", b0.GetTotal(), int64(fsDiskSize))
			}
			if b0.GetAvailable() <= 0 || b0.GetUsed() < 0 || b0.GetAvailable()+b0.GetUsed() > b0.GetTotal() {
				t.Fatalf("inconsistent usage %v", b0)
			}
			if s, _ := e.stats(t, v, v.staging); s.GetTotal() != b0.GetTotal() {
				t.Fatalf("staging path total %d, target %d", s.GetTotal(), b0.GetTotal())
			}

			writeSynced(t, filepath.Join(v.target, "blob"), randomBytes(t, int(written)))
			// btrfs accounts fsync'ed data in statfs only once the
			// transaction commits; syncfs commits it, as time would.
			syncFS(t, v.target)
			b1, _ := e.stats(t, v, v.target)
			if b1.GetUsed()-b0.GetUsed() < written {
				t.Fatalf("used %d -> %d after writing %d bytes", b0.GetUsed(), b1.GetUsed(), written)
			}
			if b0.GetAvailable()-b1.GetAvailable() < written {
				t.Fatalf("available %d -> %d after writing %d bytes", b0.GetAvailable(), b1.GetAvailable(), written)
			}

			for i := range files {
				writeSynced(t, filepath.Join(v.target, fmt.Sprintf("f%02d", i)), nil)
			}
			syncFS(t, v.target)
			_, i1 := e.stats(t, v, v.target)
			if i0 == nil || i1 == nil {
				t.Fatalf("no INODES usage reported for %s", fs)
			}
			if fs == "btrfs" {
				// btrfs allocates inodes on demand and reports no inode
				// counts in statfs; zero is the honest answer.
				if i1.GetTotal() != 0 || i1.GetUsed() != 0 {
					t.Fatalf("btrfs inodes %v, want zeros as statfs reports", i1)
				}
			} else if i1.GetUsed()-i0.GetUsed() < files {
				t.Fatalf("inodes used %d -> %d after creating %d files", i0.GetUsed(), i1.GetUsed(), files)
			}
			e.mustTeardown(t, v)
		})
	}
}

// For a raw block volume the total is the device size, as the pod sees it.
func TestVolumeStatsRawBlock(t *testing.T) {
	e := newEnv(t)
	v := e.newVolume(t, 48*mib)
	e.mustStagePublish(t, v, csicap.Block())
	resp, err := e.node.NodeGetVolumeStats(rpcCtx(t), &csi.NodeGetVolumeStatsRequest{VolumeId: v.id, VolumePath: v.target})
	if err != nil {
		t.Fatalf("NodeGetVolumeStats: %v", err)
	}
	if u := resp.GetUsage(); len(u) != 1 || u[0].GetUnit() != csi.VolumeUsage_BYTES || u[0].GetTotal() != 48*mib {
		t.Fatalf("usage %v, want one BYTES entry with total %d", u, 48*mib)
	}
	e.mustTeardown(t, v)
}

// A path that holds no volume is NotFound: missing, or a plain directory
// (a volume unmounted under kubelet's feet).
func TestVolumeStatsNotMounted(t *testing.T) {
	requireMkfs(t, "ext4")
	e := newEnv(t)
	v := e.newVolume(t, 64*mib)
	_, err := e.node.NodeGetVolumeStats(rpcCtx(t), &csi.NodeGetVolumeStatsRequest{VolumeId: v.id, VolumePath: v.staging})
	wantCode(t, err, codes.NotFound, "stats of an unmounted directory")
	_, err = e.node.NodeGetVolumeStats(rpcCtx(t), &csi.NodeGetVolumeStatsRequest{VolumeId: v.id, VolumePath: v.target})
	wantCode(t, err, codes.NotFound, "stats of a missing path")

	e.mustStagePublish(t, v, csicap.Mount("ext4"))
	if s, _ := e.stats(t, v, v.target); s.GetTotal() <= 0 {
		t.Fatalf("total %d for a published volume", s.GetTotal())
	}
	e.mustTeardown(t, v)
	_, err = e.node.NodeGetVolumeStats(rpcCtx(t), &csi.NodeGetVolumeStatsRequest{VolumeId: v.id, VolumePath: v.target})
	wantCode(t, err, codes.NotFound, "stats after unpublish")
}

// syncFS commits the whole filesystem mounted at dir (syncfs(2)).
func syncFS(t *testing.T, dir string) {
	t.Helper()
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		t.Fatalf("syncfs %s: %v", dir, err)
	}
}

// filledVolume is a volume staged and published with a filesystem,
// holding a file, before its disk grows.
type filledVolume struct {
	v      *volume
	vc     *csi.VolumeCapability
	data   []byte
	before *csi.VolumeUsage
}

func stageWithData(t *testing.T, e *env, fs string) filledVolume {
	t.Helper()
	g := filledVolume{v: e.newVolume(t, fsDiskSize), vc: csicap.Mount(fs), data: randomBytes(t, 8<<10)}
	e.mustStagePublish(t, g.v, g.vc)
	writeSynced(t, filepath.Join(g.v.target, "kept.bin"), g.data)
	g.before, _ = e.stats(t, g.v, g.v.target)
	return g
}

// checkGrown: the filesystem is about the device's new size less the
// overhead it had before, and the file reads back.
func (g filledVolume) checkGrown(t *testing.T, e *env, size int64, after string) {
	t.Helper()
	overhead := fsDiskSize - g.before.GetTotal()
	want := size - overhead
	now, _ := e.stats(t, g.v, g.v.target)
	t.Logf("total %d -> %d bytes (device %d -> %d)", g.before.GetTotal(), now.GetTotal(), int64(fsDiskSize), size)
	if d := now.GetTotal() - want; d > size*3/100 || -d > size*3/100 {
		t.Fatalf("total %d -> %d bytes after the disk grew %d -> %d (%s); want about %d (overhead %d)",
			g.before.GetTotal(), now.GetTotal(), int64(fsDiskSize), size, after, want, overhead)
	}
	if got, err := os.ReadFile(filepath.Join(g.v.target, "kept.bin")); err != nil || !bytes.Equal(got, g.data) {
		t.Fatalf("data after %s: %v (equal %v)", after, err, bytes.Equal(got, g.data))
	}
}

// A volume expanded while detached comes back larger than its filesystem;
// NodeStage grows the filesystem before the pod sees it.
func TestStageGrowsVolumeExpandedWhileDetached(t *testing.T) {
	const grown = 2 * fsDiskSize
	for _, fs := range filesystems {
		t.Run(fs, func(t *testing.T) {
			nodetest.RequireRoot(t)
			requireMkfs(t, fs)
			e := newEnv(t)
			g := stageWithData(t, e, fs)
			v, vc := g.v, g.vc
			e.mustTeardown(t, v)

			nodetest.GrowLoopDevice(t, v.dev, v.backing, grown)
			v.size = grown // ControllerPublish now reports the new size
			e.mustStagePublish(t, v, vc)
			g.checkGrown(t, e, grown, "growth at stage")
			e.mustTeardown(t, v)
		})
	}
}

// A raw block volume has nothing to grow: NodeExpandVolume reports the
// device's new size, which the pod already sees.
func TestExpandRawBlock(t *testing.T) {
	e := newEnv(t)
	v := e.newVolume(t, 64*mib)
	vc := csicap.Block()
	e.mustStagePublish(t, v, vc)
	nodetest.GrowLoopDevice(t, v.dev, v.backing, 96*mib)
	resp, err := e.node.NodeExpandVolume(rpcCtx(t), &csi.NodeExpandVolumeRequest{
		VolumeId: v.id, VolumePath: v.target, VolumeCapability: vc,
		CapacityRange: &csi.CapacityRange{RequiredBytes: 96 * mib},
	})
	if err != nil {
		t.Fatalf("NodeExpandVolume (block): %v", err)
	}
	if resp.GetCapacityBytes() != 96*mib {
		t.Fatalf("capacity %d, want %d", resp.GetCapacityBytes(), 96*mib)
	}
	if s, _ := e.stats(t, v, v.target); s.GetTotal() != 96*mib {
		t.Fatalf("stats total %d after growth, want %d", s.GetTotal(), 96*mib)
	}
	e.mustTeardown(t, v)
}
