package driver

import (
	"context"

	"github.com/container-storage-interface/spec/lib/go/csi"
)

// volumeAt checks a path that should hold a published (or staged) volume
// and returns it resolved: NotFound unless the node's record says volID
// is there and the path still exists.
func (n *Node) volumeAt(volID, path string) (string, error) {
	if path == "" {
		return "", invalid("volume path is missing")
	}
	res, _, err := n.volumeRecord(volID, path)
	if err != nil {
		return "", err
	}
	ok, err := n.ops.PathExists(res)
	if err != nil {
		return "", failed(err, "checking %s", res)
	}
	if !ok {
		return "", notFound("volume %s is not at %s: the path does not exist", volID, path)
	}
	return res, nil
}

func (n *Node) NodeGetVolumeStats(ctx context.Context, req *csi.NodeGetVolumeStatsRequest) (*csi.NodeGetVolumeStatsResponse, error) {
	volID, path := req.GetVolumeId(), req.GetVolumePath()
	if volID == "" {
		return nil, invalid("volume id is missing")
	}
	path, err := n.volumeAt(volID, path)
	if err != nil {
		return nil, err
	}
	block, err := n.ops.IsBlockDevice(path)
	if err != nil {
		return nil, failed(err, "inspecting %s", path)
	}
	if block {
		size, err := n.ops.DeviceSize(path)
		if err != nil {
			return nil, failed(err, "reading the size of %s", path)
		}
		return &csi.NodeGetVolumeStatsResponse{Usage: []*csi.VolumeUsage{{Unit: csi.VolumeUsage_BYTES, Total: size}}}, nil
	}
	st, err := n.ops.MountState(path)
	if err != nil {
		return nil, failed(err, "inspecting %s", path)
	}
	if !st.Mounted {
		return nil, notFound("volume %s is not mounted at %s", volID, path)
	}
	fs, err := n.ops.FSStats(path)
	if err != nil {
		return nil, failed(err, "reading filesystem usage at %s", path)
	}
	return &csi.NodeGetVolumeStatsResponse{Usage: []*csi.VolumeUsage{
		{Unit: csi.VolumeUsage_BYTES, Total: fs.TotalBytes, Available: fs.AvailableBytes, Used: fs.UsedBytes},
		{Unit: csi.VolumeUsage_INODES, Total: fs.TotalInodes, Available: fs.FreeInodes, Used: fs.UsedInodes},
	}}, nil
}
