package driver

import (
	"context"
	"slices"
	"strconv"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/klog/v2"

	"github.com/openblock-csi/openblock-csi/pkg/node"
)

func (n *Node) NodeStageVolume(ctx context.Context, req *csi.NodeStageVolumeRequest) (*csi.NodeStageVolumeResponse, error) {
	volID, vc := req.GetVolumeId(), req.GetVolumeCapability()
	if volID == "" {
		return nil, invalid("volume id is missing")
	}
	staging, err := n.nodePath("staging target path", req.GetStagingTargetPath())
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
	ref, err := n.diskRef(volID, req.GetPublishContext())
	if err != nil {
		return nil, err
	}
	fsType, mkfs, err := filesystem(vc, req.GetVolumeContext())
	if err != nil {
		return nil, err
	}
	// A read-only volume is staged read-only: never formatted, grown or
	// journal-replayed, since other servers may have it attached too.
	readOnly := readOnlyMode(vc) || req.GetPublishContext()[PubReadOnly] == "true"
	flags := vc.GetMount().GetMountFlags()
	if readOnly {
		flags = append(slices.Clone(flags), readOnlyMountOptions(fsType)...)
	}
	release, err := hold(&n.inFlight, "node/"+volID, "volume "+volID)
	if err != nil {
		return nil, err
	}
	defer release()

	prior, hadPrior, err := n.checkClaim(volID, staging, node.KindStage)
	if err != nil {
		return nil, err
	}
	dev, err := n.findDisk(ctx, volID, ref)
	if err != nil {
		return nil, err
	}
	if err := n.refuseOtherMount(volID, staging, dev); err != nil {
		return nil, err
	}
	existed, err := n.ops.PathExists(staging)
	if err != nil {
		return nil, failed(err, "checking %s", staging)
	}
	// Recorded before it is mounted, as in NodePublishVolume.
	if err := n.record(node.Record{Path: staging, VolumeID: volID, Kind: node.KindStage, Device: dev, Created: !existed}, prior, hadPrior); err != nil {
		return nil, err
	}
	formatted, err := n.ops.FormatAndMount(ctx, dev, staging, fsType, mkfs, flags)
	if err != nil {
		n.undoCreate(staging, existed)
		if !hadPrior {
			_ = n.ledger.Delete(staging)
		}
		return nil, failed(err, "mounting volume %s (%s) at %s", volID, dev, staging)
	}
	if !formatted && !readOnly {
		if err := n.growStaged(ctx, dev, staging); err != nil {
			return nil, err
		}
	}
	klog.FromContext(ctx).V(2).Info("Volume staged", "device", dev, "path", staging, "fsType", fsType)
	return &csi.NodeStageVolumeResponse{}, nil
}

// filesystem is the filesystem to stage with and the options to make it
// with: the capability's type, else the StorageClass's.
func filesystem(vc *csi.VolumeCapability, volCtx map[string]string) (fsType string, mkfs []string, err error) {
	fsType = vc.GetMount().GetFsType()
	if fsType == "" {
		fsType = volCtx[CtxFSType]
	}
	fsType, err = node.NormalizeFSType(fsType)
	if err != nil {
		return "", nil, invalid("%v", err)
	}
	mkfs, err = splitArgs(volCtx[CtxMkfsOptions])
	if err != nil {
		return "", nil, invalid("volume context %s: %v", CtxMkfsOptions, err)
	}
	return fsType, mkfs, nil
}

// readOnlyMountOptions mount a filesystem without a single write: ext3/4
// would replay its journal even on a read-only mount without noload.
func readOnlyMountOptions(fsType string) []string {
	switch fsType {
	case "ext3", "ext4":
		return []string{"ro", "noload"}
	case "xfs":
		return []string{"ro", "norecovery"}
	}
	return []string{"ro"}
}

// growStaged grows a filesystem found smaller than its device: a volume
// expanded while detached comes back larger than its filesystem. (One
// made just now fills its device, so the caller skips this.)
func (n *Node) growStaged(ctx context.Context, dev, staging string) error {
	need, err := n.ops.NeedResize(dev, staging)
	if err != nil {
		return failed(err, "checking whether the filesystem on %s needs to grow", dev)
	}
	if !need {
		return nil
	}
	if err := n.ops.Resize(dev, staging); err != nil {
		return failed(err, "growing the filesystem on %s", dev)
	}
	klog.FromContext(ctx).V(2).Info("Filesystem grown at stage", "device", dev)
	return nil
}

func (n *Node) NodeUnstageVolume(ctx context.Context, req *csi.NodeUnstageVolumeRequest) (*csi.NodeUnstageVolumeResponse, error) {
	volID := req.GetVolumeId()
	if volID == "" {
		return nil, invalid("volume id is missing")
	}
	staging, err := n.nodePath("staging target path", req.GetStagingTargetPath())
	if err != nil {
		return nil, err
	}
	release, err := hold(&n.inFlight, "node/"+volID, "volume "+volID)
	if err != nil {
		return nil, err
	}
	defer release()
	if err := n.release(ctx, volID, staging, node.KindStage); err != nil {
		return nil, err
	}
	return &csi.NodeUnstageVolumeResponse{}, nil
}

// diskRef is what the node knows about the disk from ControllerPublish.
type diskRef struct {
	serial    string
	serialLen int
	sizeBytes int64
}

func (n *Node) diskRef(volID string, pc map[string]string) (diskRef, error) {
	ref := diskRef{serial: pc[PubSerial], serialLen: n.serialLength}
	if ref.serial == "" {
		// Only ControllerPublish makes a publish context: without one the
		// volume is not attached here, or does not exist at all.
		return ref, notFound("volume %s is not published to this node (the publish context has no %q)", volID, PubSerial)
	}
	if s := pc[PubSerialLength]; s != "" {
		l, err := strconv.Atoi(s)
		if err != nil || l < 0 {
			return ref, invalid("publish context %s=%q is not a length", PubSerialLength, s)
		}
		ref.serialLen = l
	}
	s := pc[PubSizeBytes]
	if s == "" {
		return ref, invalid("publish context has no %q; was the volume published by this driver?", PubSizeBytes)
	}
	size, err := strconv.ParseInt(s, 10, 64)
	if err != nil || size <= 0 {
		return ref, invalid("publish context %s=%q is not a size", PubSizeBytes, s)
	}
	ref.sizeBytes = size
	return ref, nil
}

// findDisk finds the volume's disk by serial and checks its size: a disk
// smaller than the volume is not this volume (or not fully visible yet),
// and is refused before anything touches it. Larger is fine: the volume
// was expanded after it was published.
func (n *Node) findDisk(ctx context.Context, volID string, ref diskRef) (string, error) {
	dev, err := n.ops.FindDevice(ctx, ref.serial, ref.serialLen)
	if err != nil {
		return "", failed(err, "finding the disk of volume %s (serial %s)", volID, ref.serial)
	}
	size, err := n.ops.DeviceSize(dev)
	if err != nil {
		return "", failed(err, "reading the size of %s", dev)
	}
	if size < ref.sizeBytes {
		return "", precondition("disk %s found for volume %s has %d bytes, the volume %d; refusing to use it", dev, volID, size, ref.sizeBytes)
	}
	return dev, nil
}
