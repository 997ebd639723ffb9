package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/openblock-csi/openblock-csi/pkg/csicap"
	"github.com/openblock-csi/openblock-csi/test/harness"
)

const gib = 1 << 30

type demo struct {
	ctx     context.Context
	backend harness.Backend
	id      csi.IdentityClient
	ctrl    csi.ControllerClient
	node    csi.NodeClient
	work    string
	root    bool

	// undo runs in reverse on the way out, so a failure leaves nothing behind.
	undo []func()
}

func (d *demo) cleanup() {
	for i := len(d.undo) - 1; i >= 0; i-- {
		d.undo[i]()
	}
}

// step runs fn and prints its name and latency.
func step(name string, fn func() error) error {
	start := time.Now()
	err := fn()
	status := "ok"
	if err != nil {
		status = "FAILED: " + err.Error()
	}
	fmt.Printf("  %-44s %8.1f ms  %s\n", name, float64(time.Since(start).Microseconds())/1000, status)
	return err
}

// attached is a volume published to the node and, as root, staged and
// mounted at target.
type attached struct {
	volumeID, staging, target string
	staged                    bool
}

func (d *demo) walk() error {
	ctx := d.ctx
	if err := step("Probe", func() error {
		_, err := d.id.Probe(ctx, &csi.ProbeRequest{})
		return err
	}); err != nil {
		return err
	}

	var vol *csi.Volume
	if err := step("CreateVolume demo-data (1 GiB)", func() error {
		resp, err := d.ctrl.CreateVolume(ctx, &csi.CreateVolumeRequest{
			Name:               "demo-data",
			CapacityRange:      &csi.CapacityRange{RequiredBytes: 1 * gib},
			VolumeCapabilities: []*csi.VolumeCapability{csicap.Mount("ext4")},
			Parameters: map[string]string{
				"csi.storage.k8s.io/pvc/name":      "data",
				"csi.storage.k8s.io/pvc/namespace": "demo",
				"csi.storage.k8s.io/pv/name":       "pv-demo-data",
			},
		})
		if err == nil {
			vol = resp.Volume
		}
		return err
	}); err != nil {
		return err
	}
	d.undo = append(d.undo, func() { d.deleteVolume(vol.VolumeId) })
	fmt.Printf("    volume %s, %d GiB, topology %v\n", vol.VolumeId, vol.CapacityBytes/gib, vol.AccessibleTopology)

	src, err := d.attach(vol.VolumeId, "src")
	if err != nil {
		return err
	}
	payload := []byte(fmt.Sprintf("written by the openblock-csi demo at %s\n", time.Now().UTC().Format(time.RFC3339Nano)))
	if d.root {
		if err := step("write hello.txt (+fsync, sync)", func() error {
			return writeSynced(filepath.Join(src.target, "hello.txt"), payload)
		}); err != nil {
			return err
		}
	} else {
		fmt.Println("  (not root: no loop devices, so no format, mount, write or read back; run as root for the full walk)")
	}

	snapParams := map[string]string{}
	if !d.backend.SnapshotOfAttached {
		fmt.Printf("    %s cannot snapshot an attached volume: detaching first\n", d.backend.Name)
		if err := d.detach(src); err != nil {
			return err
		}
	}
	var snap *csi.Snapshot
	if err := step("CreateSnapshot demo-snap", func() error {
		resp, err := d.ctrl.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{
			Name: "demo-snap", SourceVolumeId: vol.VolumeId, Parameters: snapParams,
		})
		if err == nil {
			snap = resp.Snapshot
		}
		return err
	}); err != nil {
		return err
	}
	d.undo = append(d.undo, func() { d.deleteSnapshot(snap.SnapshotId) })
	fmt.Printf("    snapshot %s, ready %v\n", snap.SnapshotId, snap.ReadyToUse)

	var restored *csi.Volume
	if err := step("CreateVolume demo-restored from snapshot", func() error {
		resp, err := d.ctrl.CreateVolume(ctx, &csi.CreateVolumeRequest{
			Name:               "demo-restored",
			CapacityRange:      &csi.CapacityRange{RequiredBytes: 1 * gib},
			VolumeCapabilities: []*csi.VolumeCapability{csicap.Mount("ext4")},
			VolumeContentSource: &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
				Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snap.SnapshotId},
			}},
		})
		if err == nil {
			restored = resp.Volume
		}
		return err
	}); err != nil {
		return err
	}
	d.undo = append(d.undo, func() { d.deleteVolume(restored.VolumeId) })

	dst, err := d.attach(restored.VolumeId, "restored")
	if err != nil {
		return err
	}
	if d.root {
		if err := step("read hello.txt back from the restored volume", func() error {
			got, err := os.ReadFile(filepath.Join(dst.target, "hello.txt"))
			if err != nil {
				return err
			}
			if !bytes.Equal(got, payload) {
				return fmt.Errorf("read %q, wrote %q", got, payload)
			}
			fmt.Printf("    %q\n", bytes.TrimSpace(got))
			return nil
		}); err != nil {
			return err
		}
	}

	// Tear down in the order Kubernetes does, checking each call.
	for _, a := range []*attached{dst, src} {
		if err := d.detach(a); err != nil {
			return err
		}
	}
	if err := step("DeleteSnapshot demo-snap", func() error { return d.deleteSnapshot(snap.SnapshotId) }); err != nil {
		return err
	}
	for _, v := range []*csi.Volume{restored, vol} {
		if err := step("DeleteVolume "+v.VolumeId, func() error { return d.deleteVolume(v.VolumeId) }); err != nil {
			return err
		}
	}
	d.undo = nil
	return nil
}

// attach publishes volumeID to the node and, as root, stages and mounts it.
func (d *demo) attach(volumeID, name string) (*attached, error) {
	ctx := d.ctx
	a := &attached{
		volumeID: volumeID,
		staging:  filepath.Join(d.work, "staging", name),
		target:   filepath.Join(d.work, "pods", name, "mount"),
	}
	var pubCtx map[string]string
	if err := step("ControllerPublishVolume "+name, func() error {
		resp, err := d.ctrl.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{
			VolumeId: volumeID, NodeId: harness.LocalServerID, VolumeCapability: csicap.Mount("ext4"),
		})
		if err == nil {
			pubCtx = resp.PublishContext
		}
		return err
	}); err != nil {
		return nil, err
	}
	d.undo = append(d.undo, func() { d.detach(a) })
	if !d.root {
		return a, nil
	}
	if err := os.MkdirAll(a.staging, 0o750); err != nil {
		return nil, err
	}
	if err := step("NodeStageVolume "+name+" (find by serial, mkfs if blank, mount)", func() error {
		_, err := d.node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{
			VolumeId: volumeID, PublishContext: pubCtx, StagingTargetPath: a.staging, VolumeCapability: csicap.Mount("ext4"),
		})
		return err
	}); err != nil {
		return nil, err
	}
	a.staged = true
	if err := step("NodePublishVolume "+name+" (bind mount)", func() error {
		_, err := d.node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{
			VolumeId: volumeID, PublishContext: pubCtx, StagingTargetPath: a.staging,
			TargetPath: a.target, VolumeCapability: csicap.Mount("ext4"),
		})
		return err
	}); err != nil {
		return nil, err
	}
	return a, nil
}

// detach undoes attach; it is safe to call twice.
func (d *demo) detach(a *attached) error {
	if a == nil || a.volumeID == "" {
		return nil
	}
	ctx := d.ctx
	if a.staged {
		if err := step("NodeUnpublishVolume "+filepath.Base(filepath.Dir(a.target)), func() error {
			_, err := d.node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: a.volumeID, TargetPath: a.target})
			return err
		}); err != nil {
			return err
		}
		if err := step("NodeUnstageVolume "+filepath.Base(a.staging), func() error {
			_, err := d.node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: a.volumeID, StagingTargetPath: a.staging})
			return err
		}); err != nil {
			return err
		}
		a.staged = false
	}
	err := step("ControllerUnpublishVolume "+a.volumeID, func() error {
		_, err := d.ctrl.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: a.volumeID, NodeId: harness.LocalServerID})
		return err
	})
	if err == nil {
		a.volumeID = ""
	}
	return err
}

func (d *demo) deleteVolume(id string) error {
	_, err := d.ctrl.DeleteVolume(d.ctx, &csi.DeleteVolumeRequest{VolumeId: id})
	return err
}

func (d *demo) deleteSnapshot(id string) error {
	_, err := d.ctrl.DeleteSnapshot(d.ctx, &csi.DeleteSnapshotRequest{SnapshotId: id})
	return err
}

// verifyNothingLeft checks the cloud's own state: every volume, snapshot and
// attachment the demo made is gone.
func (d *demo) verifyNothingLeft(sim *harness.Sim) error {
	left := harness.Leftovers(sim)
	if len(left) > 0 {
		return fmt.Errorf("left in the cloud after teardown: %v", left)
	}
	fmt.Println("  cloud state: no volume, snapshot, backup or attachment left")
	return nil
}

func writeSynced(path string, data []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	// The snapshot copies the backing image: flush the filesystem's
	// journal and metadata to the device first, as a freeze would.
	return syncFS(filepath.Dir(path))
}
