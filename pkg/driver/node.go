package driver

import (
	"context"
	"strconv"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/klog/v2"

	"github.com/openblock-csi/openblock-csi/pkg/node"
)

// diskRef is what the node knows about the disk from ControllerPublish.
type diskRef struct {
	serial    string
	serialLen int
	sizeBytes int64
}

func (d *Driver) diskRef(volID string, pc map[string]string) (diskRef, error) {
	ref := diskRef{serial: pc[PubSerial], serialLen: d.cfg.SerialLength}
	if ref.serial == "" {
		// Only ControllerPublish makes a publish context: without one the
		// volume is not attached here, or does not exist at all.
		return ref, notFound("volume %s is not published to this node (the publish context has no %q)", volID, PubSerial)
	}
	if s := pc[PubSerialLength]; s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return ref, invalid("publish context %s=%q is not a length", PubSerialLength, s)
		}
		ref.serialLen = n
	}
	s := pc[PubSizeBytes]
	if s == "" {
		return ref, invalid("publish context has no %q; was the volume published by this driver?", PubSizeBytes)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return ref, invalid("publish context %s=%q is not a size", PubSizeBytes, s)
	}
	ref.sizeBytes = n
	return ref, nil
}

// findDisk finds the volume's disk by serial and checks its size: a disk
// smaller than the volume is not this volume (or not fully visible yet),
// and is refused before anything touches it. Larger is fine: the volume
// was expanded after it was published.
func (d *Driver) findDisk(ctx context.Context, volID string, ref diskRef) (string, error) {
	dev, err := d.ops.FindDevice(ctx, ref.serial, ref.serialLen)
	if err != nil {
		return "", failed(err, "finding the disk of volume %s (serial %s)", volID, ref.serial)
	}
	size, err := d.ops.DeviceSize(dev)
	if err != nil {
		return "", failed(err, "reading the size of %s", dev)
	}
	if size < ref.sizeBytes {
		return "", precondition("disk %s found for volume %s has %d bytes, the volume %d; refusing to use it", dev, volID, size, ref.sizeBytes)
	}
	return dev, nil
}

func (d *Driver) NodeStageVolume(ctx context.Context, req *csi.NodeStageVolumeRequest) (*csi.NodeStageVolumeResponse, error) {
	volID, vc := req.GetVolumeId(), req.GetVolumeCapability()
	if volID == "" {
		return nil, invalid("volume id is missing")
	}
	staging, err := d.nodePath("staging target path", req.GetStagingTargetPath())
	if err != nil {
		return nil, err
	}
	if err := checkCapability(vc, true); err != nil {
		return nil, err
	}
	if isBlock(vc) {
		// Raw block: NodePublish binds the device itself.
		return &csi.NodeStageVolumeResponse{}, nil
	}
	ref, err := d.diskRef(volID, req.GetPublishContext())
	if err != nil {
		return nil, err
	}
	fsType := vc.GetMount().GetFsType()
	if fsType == "" {
		fsType = req.GetVolumeContext()[CtxFSType]
	}
	fsType, err = node.NormalizeFSType(fsType)
	if err != nil {
		return nil, invalid("%v", err)
	}
	mkfs, err := splitArgs(req.GetVolumeContext()[CtxMkfsOptions])
	if err != nil {
		return nil, invalid("volume context %s: %v", CtxMkfsOptions, err)
	}
	if !d.inFlight.Insert("node/" + volID) {
		return nil, aborted("volume " + volID)
	}
	defer d.inFlight.Delete("node/" + volID)

	prior, hadPrior, err := d.checkClaim(volID, staging, node.KindStage)
	if err != nil {
		return nil, err
	}
	dev, err := d.findDisk(ctx, volID, ref)
	if err != nil {
		return nil, err
	}
	if err := d.refuseOtherMount(volID, staging, dev); err != nil {
		return nil, err
	}
	existed, err := d.ops.PathExists(staging)
	if err != nil {
		return nil, failed(err, "checking %s", staging)
	}
	// Recorded before it is mounted, as in NodePublishVolume.
	if err := d.record(node.Record{Path: staging, VolumeID: volID, Kind: node.KindStage, Device: dev, Created: !existed}, prior, hadPrior); err != nil {
		return nil, err
	}
	formatted, err := d.ops.FormatAndMount(ctx, dev, staging, fsType, mkfs, vc.GetMount().GetMountFlags())
	if err != nil {
		d.undoCreate(staging, existed)
		if !hadPrior {
			_ = d.ledger.Delete(staging)
		}
		return nil, failed(err, "mounting volume %s (%s) at %s", volID, dev, staging)
	}
	// A volume expanded while detached comes back larger than its
	// filesystem; a filesystem made just now fills its device.
	need := false
	if !formatted {
		if need, err = d.ops.NeedResize(dev, staging); err != nil {
			return nil, failed(err, "checking whether the filesystem on %s needs to grow", dev)
		}
	}
	if need {
		if err := d.ops.Resize(dev, staging); err != nil {
			return nil, failed(err, "growing the filesystem on %s", dev)
		}
		klog.V(2).InfoS("Filesystem grown at stage", "volume", volID, "device", dev)
	}
	klog.V(2).InfoS("Volume staged", "volume", volID, "device", dev, "path", staging, "fsType", fsType)
	return &csi.NodeStageVolumeResponse{}, nil
}

func (d *Driver) NodeUnstageVolume(ctx context.Context, req *csi.NodeUnstageVolumeRequest) (*csi.NodeUnstageVolumeResponse, error) {
	volID := req.GetVolumeId()
	if volID == "" {
		return nil, invalid("volume id is missing")
	}
	staging, err := d.nodePath("staging target path", req.GetStagingTargetPath())
	if err != nil {
		return nil, err
	}
	if !d.inFlight.Insert("node/" + volID) {
		return nil, aborted("volume " + volID)
	}
	defer d.inFlight.Delete("node/" + volID)
	if err := d.release(ctx, volID, staging, node.KindStage); err != nil {
		return nil, err
	}
	return &csi.NodeUnstageVolumeResponse{}, nil
}

func (d *Driver) NodePublishVolume(ctx context.Context, req *csi.NodePublishVolumeRequest) (*csi.NodePublishVolumeResponse, error) {
	volID, vc := req.GetVolumeId(), req.GetVolumeCapability()
	if volID == "" {
		return nil, invalid("volume id is missing")
	}
	target, err := d.nodePath("target path", req.GetTargetPath())
	if err != nil {
		return nil, err
	}
	if err := checkCapability(vc, true); err != nil {
		return nil, err
	}
	staging, err := d.nodePath("staging target path", req.GetStagingTargetPath())
	if err != nil {
		return nil, err
	}
	if target == staging {
		return nil, invalid("target path and staging target path are both %s", target)
	}
	readOnly := req.GetReadonly() || readOnlyMode(vc)
	if !d.inFlight.Insert("node/" + volID) {
		return nil, aborted("volume " + volID)
	}
	defer d.inFlight.Delete("node/" + volID)

	prior, hadPrior, err := d.checkClaim(volID, target, node.KindPublish)
	if err != nil {
		return nil, err
	}
	rec := node.Record{Path: target, VolumeID: volID, Kind: node.KindPublish, Block: isBlock(vc)}
	source, flags := "", vc.GetMount().GetMountFlags()
	if isBlock(vc) {
		ref, err := d.diskRef(volID, req.GetPublishContext())
		if err != nil {
			return nil, err
		}
		if rec.Device, err = d.findDisk(ctx, volID, ref); err != nil {
			return nil, err
		}
		if hadPrior && prior.ReadOnly != readOnly {
			return nil, alreadyExists("volume %s is published at %s with read-only %v", volID, target, prior.ReadOnly)
		}
		if err := d.checkBlockMode(volID, target, rec.Device, readOnly); err != nil {
			return nil, err
		}
		source, flags = rec.Device, nil
	} else {
		// The staging path must hold this volume by the node's own
		// record: publishing another volume's staging path would hand
		// its data to this volume's pod.
		staged, ok, err := d.ledger.Get(staging)
		if err != nil {
			return nil, failed(err, "reading the node's record of %s", staging)
		}
		if !ok || staged.VolumeID != volID || staged.Kind != node.KindStage {
			return nil, precondition("volume %s is not staged at %s", volID, staging)
		}
		st, err := d.ops.MountState(staging)
		if err != nil {
			return nil, failed(err, "inspecting staging path %s", staging)
		}
		if !st.Mounted || st.Corrupted || !node.SameDevice(st.Device, staged.Device) {
			return nil, precondition("volume %s is not staged at %s", volID, staging)
		}
		rec.Device, rec.Staging, source = staged.Device, staging, staging
	}
	if err := d.refuseOtherMount(volID, target, rec.Device); err != nil {
		return nil, err
	}
	existed, err := d.ops.PathExists(target)
	if err != nil {
		return nil, failed(err, "checking %s", target)
	}
	rec.Created = !existed
	if rec.Block && readOnly {
		// A read-only bind of a device node does not stop writes to the
		// device; its read-only flag does.
		was, err := d.ops.SetDeviceReadOnly(rec.Device, true)
		if err != nil {
			return nil, failed(err, "making %s read-only for volume %s", rec.Device, volID)
		}
		rec.ReadOnly, rec.SetRO = true, !was
	}
	// Recorded before it is mounted: a crash in between leaves a record
	// of nothing, which unpublish clears, never a mount without a record.
	undo := func() {
		d.undoCreate(target, existed)
		if rec.SetRO {
			_, _ = d.ops.SetDeviceReadOnly(rec.Device, false)
		}
		if !hadPrior {
			_ = d.ledger.Delete(target)
		}
	}
	if err := d.record(rec, prior, hadPrior); err != nil {
		undo()
		return nil, err
	}
	if err := d.ops.BindMount(source, target, readOnly, flags); err != nil {
		undo()
		return nil, failed(err, "bind-mounting volume %s at %s", volID, target)
	}
	klog.V(2).InfoS("Volume published", "volume", volID, "target", target, "readOnly", readOnly)
	return &csi.NodePublishVolumeResponse{}, nil
}

func (d *Driver) NodeUnpublishVolume(ctx context.Context, req *csi.NodeUnpublishVolumeRequest) (*csi.NodeUnpublishVolumeResponse, error) {
	volID := req.GetVolumeId()
	if volID == "" {
		return nil, invalid("volume id is missing")
	}
	target, err := d.nodePath("target path", req.GetTargetPath())
	if err != nil {
		return nil, err
	}
	if !d.inFlight.Insert("node/" + volID) {
		return nil, aborted("volume " + volID)
	}
	defer d.inFlight.Delete("node/" + volID)
	if err := d.release(ctx, volID, target, node.KindPublish); err != nil {
		return nil, err
	}
	return &csi.NodeUnpublishVolumeResponse{}, nil
}

func (d *Driver) NodeGetInfo(context.Context, *csi.NodeGetInfoRequest) (*csi.NodeGetInfoResponse, error) {
	resp := &csi.NodeGetInfoResponse{NodeId: d.cfg.NodeID, MaxVolumesPerNode: max(d.cfg.MaxVolumesPerNode, 0)}
	if d.cfg.Zone != "" {
		resp.AccessibleTopology = &csi.Topology{Segments: map[string]string{TopologyZoneKey: d.cfg.Zone}}
	}
	return resp, nil
}

func (d *Driver) NodeGetCapabilities(context.Context, *csi.NodeGetCapabilitiesRequest) (*csi.NodeGetCapabilitiesResponse, error) {
	resp := &csi.NodeGetCapabilitiesResponse{}
	for _, t := range []csi.NodeServiceCapability_RPC_Type{
		csi.NodeServiceCapability_RPC_STAGE_UNSTAGE_VOLUME,
		csi.NodeServiceCapability_RPC_EXPAND_VOLUME,
		csi.NodeServiceCapability_RPC_GET_VOLUME_STATS,
		csi.NodeServiceCapability_RPC_GET_VOLUME_HEALTH,
	} {
		resp.Capabilities = append(resp.Capabilities, &csi.NodeServiceCapability{
			Type: &csi.NodeServiceCapability_Rpc{Rpc: &csi.NodeServiceCapability_RPC{Type: t}}})
	}
	return resp, nil
}
