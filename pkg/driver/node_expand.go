package driver

import (
	"context"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/klog/v2"
)

func (n *Node) NodeExpandVolume(ctx context.Context, req *csi.NodeExpandVolumeRequest) (*csi.NodeExpandVolumeResponse, error) {
	volID, path := req.GetVolumeId(), req.GetVolumePath()
	if volID == "" {
		return nil, invalid("volume id is missing")
	}
	if vc := req.GetVolumeCapability(); vc != nil {
		if err := checkCapability(vc, true); err != nil {
			return nil, err
		}
	}
	path, err := n.volumeAt(volID, path)
	if err != nil {
		return nil, err
	}
	if sp := req.GetStagingTargetPath(); sp != "" {
		if _, err := n.nodePath("staging target path", sp); err != nil {
			return nil, err
		}
	}
	release, err := hold(&n.inFlight, "node/"+volID, "volume "+volID)
	if err != nil {
		return nil, err
	}
	defer release()

	block, err := n.ops.IsBlockDevice(path)
	if err != nil {
		return nil, failed(err, "inspecting %s", path)
	}
	if block || isBlock(req.GetVolumeCapability()) {
		// Nothing to grow: the pod sees the larger device directly.
		size, err := n.ops.DeviceSize(path)
		if err != nil {
			return nil, failed(err, "reading the size of %s", path)
		}
		return &csi.NodeExpandVolumeResponse{CapacityBytes: size}, nil
	}
	dev, err := n.ops.DeviceForMount(path)
	if err != nil {
		return nil, notFound("volume %s is not mounted at %s: %v", volID, path, err)
	}
	if err := n.ops.Resize(dev, path); err != nil {
		return nil, failed(err, "growing the filesystem of volume %s on %s", volID, dev)
	}
	size, err := n.ops.DeviceSize(dev)
	if err != nil {
		return nil, failed(err, "reading the size of %s", dev)
	}
	klog.FromContext(ctx).V(2).Info("Filesystem grown", "device", dev, "bytes", size)
	return &csi.NodeExpandVolumeResponse{CapacityBytes: size}, nil
}
