package driver

import (
	"context"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/klog/v2"

	"github.com/openblock-csi/openblock-csi/pkg/node"
)

func (n *Node) NodePublishVolume(ctx context.Context, req *csi.NodePublishVolumeRequest) (*csi.NodePublishVolumeResponse, error) {
	volID, vc := req.GetVolumeId(), req.GetVolumeCapability()
	if volID == "" {
		return nil, invalid("volume id is missing")
	}
	target, err := n.nodePath("target path", req.GetTargetPath())
	if err != nil {
		return nil, err
	}
	if err := checkCapability(vc, true); err != nil {
		return nil, err
	}
	staging, err := n.nodePath("staging target path", req.GetStagingTargetPath())
	if err != nil {
		return nil, err
	}
	if target == staging {
		return nil, invalid("target path and staging target path are both %s", target)
	}
	readOnly := req.GetReadonly() || readOnlyMode(vc) || req.GetPublishContext()[PubReadOnly] == "true"
	release, err := hold(&n.inFlight, "node/"+volID, "volume "+volID)
	if err != nil {
		return nil, err
	}
	defer release()

	prior, hadPrior, err := n.checkClaim(volID, target, node.KindPublish)
	if err != nil {
		return nil, err
	}
	if vc.GetAccessMode().GetMode() == csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER {
		if err := n.refuseSecondTarget(volID, target); err != nil {
			return nil, err
		}
	}
	rec := node.Record{Path: target, VolumeID: volID, Kind: node.KindPublish, Block: isBlock(vc)}
	source, flags := "", vc.GetMount().GetMountFlags()
	if rec.Block {
		if rec.Device, err = n.blockDevice(ctx, req, target, prior, hadPrior, readOnly); err != nil {
			return nil, err
		}
		source, flags = rec.Device, nil
	} else {
		if rec.Device, err = n.stagedDevice(volID, staging); err != nil {
			return nil, err
		}
		rec.Staging, source = staging, staging
	}
	if err := n.bind(rec, prior, hadPrior, source, readOnly, flags); err != nil {
		return nil, err
	}
	klog.FromContext(ctx).V(2).Info("Volume published", "target", target, "readOnly", readOnly)
	return &csi.NodePublishVolumeResponse{}, nil
}

// blockDevice finds the disk a raw block publish binds, refusing a
// read-only mode another publish of it contradicts.
func (n *Node) blockDevice(ctx context.Context, req *csi.NodePublishVolumeRequest, target string, prior node.Record, hadPrior, readOnly bool) (string, error) {
	volID := req.GetVolumeId()
	ref, err := n.diskRef(volID, req.GetPublishContext())
	if err != nil {
		return "", err
	}
	dev, err := n.findDisk(ctx, volID, ref)
	if err != nil {
		return "", err
	}
	if hadPrior && prior.ReadOnly != readOnly {
		return "", alreadyExists("volume %s is published at %s with read-only %v", volID, target, prior.ReadOnly)
	}
	if err := n.checkBlockMode(volID, target, dev, readOnly); err != nil {
		return "", err
	}
	return dev, nil
}

// stagedDevice is the device of volID staged at staging. The staging path
// must hold this volume by the node's own record: publishing another
// volume's staging path would hand its data to this volume's pod.
func (n *Node) stagedDevice(volID, staging string) (string, error) {
	staged, ok, err := n.ledger.Get(staging)
	if err != nil {
		return "", failed(err, "reading the node's record of %s", staging)
	}
	if !ok || staged.VolumeID != volID || staged.Kind != node.KindStage {
		return "", precondition("volume %s is not staged at %s", volID, staging)
	}
	st, err := n.ops.MountState(staging)
	if err != nil {
		return "", failed(err, "inspecting staging path %s", staging)
	}
	if !st.Mounted || st.Corrupted || !node.SameDevice(st.Device, staged.Device) {
		return "", precondition("volume %s is not staged at %s", volID, staging)
	}
	return staged.Device, nil
}

// bind records rec and bind-mounts source at its path; a failure undoes
// what this call made.
func (n *Node) bind(rec node.Record, prior node.Record, hadPrior bool, source string, readOnly bool, flags []string) error {
	volID, target := rec.VolumeID, rec.Path
	if err := n.refuseOtherMount(volID, target, rec.Device); err != nil {
		return err
	}
	existed, err := n.ops.PathExists(target)
	if err != nil {
		return failed(err, "checking %s", target)
	}
	rec.Created = !existed
	if rec.Block && readOnly {
		// A read-only bind of a device node does not stop writes to the
		// device; its read-only flag does.
		was, err := n.ops.SetDeviceReadOnly(rec.Device, true)
		if err != nil {
			return failed(err, "making %s read-only for volume %s", rec.Device, volID)
		}
		rec.ReadOnly, rec.SetRO = true, !was
	}
	// Recorded before it is mounted: a crash in between leaves a record
	// of nothing, which unpublish clears, never a mount without a record.
	undo := func() {
		n.undoCreate(target, existed)
		if rec.SetRO {
			_, _ = n.ops.SetDeviceReadOnly(rec.Device, false)
		}
		if !hadPrior {
			_ = n.ledger.Delete(target)
		}
	}
	if err := n.record(rec, prior, hadPrior); err != nil {
		undo()
		return err
	}
	if err := n.ops.BindMount(source, target, readOnly, flags); err != nil {
		undo()
		return failed(err, "bind-mounting volume %s at %s", volID, target)
	}
	return nil
}

func (n *Node) NodeUnpublishVolume(ctx context.Context, req *csi.NodeUnpublishVolumeRequest) (*csi.NodeUnpublishVolumeResponse, error) {
	volID := req.GetVolumeId()
	if volID == "" {
		return nil, invalid("volume id is missing")
	}
	target, err := n.nodePath("target path", req.GetTargetPath())
	if err != nil {
		return nil, err
	}
	release, err := hold(&n.inFlight, "node/"+volID, "volume "+volID)
	if err != nil {
		return nil, err
	}
	defer release()
	if err := n.release(ctx, volID, target, node.KindPublish); err != nil {
		return nil, err
	}
	return &csi.NodeUnpublishVolumeResponse{}, nil
}
