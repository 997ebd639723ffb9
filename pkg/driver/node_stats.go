package driver

import (
	"context"
	"fmt"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/klog/v2"
)

// volumeAt checks a path that should hold a published (or staged) volume
// and returns it resolved: NotFound unless the node's record says volID
// is there and the path still exists.
func (d *Driver) volumeAt(volID, path string) (string, error) {
	if path == "" {
		return "", invalid("volume path is missing")
	}
	res, _, err := d.volumeRecord(volID, path)
	if err != nil {
		return "", err
	}
	ok, err := d.ops.PathExists(res)
	if err != nil {
		return "", failed(err, "checking %s", res)
	}
	if !ok {
		return "", notFound("volume %s is not at %s: the path does not exist", volID, path)
	}
	return res, nil
}

func (d *Driver) NodeGetVolumeStats(ctx context.Context, req *csi.NodeGetVolumeStatsRequest) (*csi.NodeGetVolumeStatsResponse, error) {
	volID, path := req.GetVolumeId(), req.GetVolumePath()
	if volID == "" {
		return nil, invalid("volume id is missing")
	}
	path, err := d.volumeAt(volID, path)
	if err != nil {
		return nil, err
	}
	block, err := d.ops.IsBlockDevice(path)
	if err != nil {
		return nil, failed(err, "inspecting %s", path)
	}
	if block {
		size, err := d.ops.DeviceSize(path)
		if err != nil {
			return nil, failed(err, "reading the size of %s", path)
		}
		return &csi.NodeGetVolumeStatsResponse{Usage: []*csi.VolumeUsage{{Unit: csi.VolumeUsage_BYTES, Total: size}}}, nil
	}
	st, err := d.ops.MountState(path)
	if err != nil {
		return nil, failed(err, "inspecting %s", path)
	}
	if !st.Mounted {
		return nil, notFound("volume %s is not mounted at %s", volID, path)
	}
	fs, err := d.ops.FSStats(path)
	if err != nil {
		return nil, failed(err, "reading filesystem usage at %s", path)
	}
	return &csi.NodeGetVolumeStatsResponse{Usage: []*csi.VolumeUsage{
		{Unit: csi.VolumeUsage_BYTES, Total: fs.TotalBytes, Available: fs.AvailableBytes, Used: fs.UsedBytes},
		{Unit: csi.VolumeUsage_INODES, Total: fs.TotalInodes, Available: fs.FreeInodes, Used: fs.UsedInodes},
	}}, nil
}

func (d *Driver) NodeExpandVolume(ctx context.Context, req *csi.NodeExpandVolumeRequest) (*csi.NodeExpandVolumeResponse, error) {
	volID, path := req.GetVolumeId(), req.GetVolumePath()
	if volID == "" {
		return nil, invalid("volume id is missing")
	}
	if vc := req.GetVolumeCapability(); vc != nil {
		if err := checkCapability(vc, true); err != nil {
			return nil, err
		}
	}
	path, err := d.volumeAt(volID, path)
	if err != nil {
		return nil, err
	}
	if sp := req.GetStagingTargetPath(); sp != "" {
		if _, err := d.nodePath("staging target path", sp); err != nil {
			return nil, err
		}
	}
	if !d.inFlight.Insert("node/" + volID) {
		return nil, aborted("volume " + volID)
	}
	defer d.inFlight.Delete("node/" + volID)

	block, err := d.ops.IsBlockDevice(path)
	if err != nil {
		return nil, failed(err, "inspecting %s", path)
	}
	if block || isBlock(req.GetVolumeCapability()) {
		// Nothing to grow: the pod sees the larger device directly.
		size, err := d.ops.DeviceSize(path)
		if err != nil {
			return nil, failed(err, "reading the size of %s", path)
		}
		return &csi.NodeExpandVolumeResponse{CapacityBytes: size}, nil
	}
	dev, err := d.ops.DeviceForMount(path)
	if err != nil {
		return nil, notFound("volume %s is not mounted at %s: %v", volID, path, err)
	}
	if err := d.ops.Resize(dev, path); err != nil {
		return nil, failed(err, "growing the filesystem of volume %s on %s", volID, dev)
	}
	size, err := d.ops.DeviceSize(dev)
	if err != nil {
		return nil, failed(err, "reading the size of %s", dev)
	}
	klog.V(2).InfoS("Filesystem grown", "volume", volID, "device", dev, "bytes", size)
	return &csi.NodeExpandVolumeResponse{CapacityBytes: size}, nil
}

// NodeGetVolumeHealth looks at the paths it is given, each of which must
// be one the node recorded for this volume (else NotFound): a staging or publish
// path that is missing, unmounted or corrupted makes the volume
// inaccessible; a staging mount gone read-only (the kernel's answer to
// filesystem errors, since the driver never stages read-only) degrades
// it. Without paths nothing adverse is known.
func (d *Driver) NodeGetVolumeHealth(ctx context.Context, req *csi.NodeGetVolumeHealthRequest) (*csi.NodeGetVolumeHealthResponse, error) {
	volID := req.GetVolumeId()
	if volID == "" {
		return nil, invalid("volume id is missing")
	}
	h := &csi.VolumeHealth{VolumeId: volID}
	add := func(kind csi.VolumeHealthErrorType, reason, format string, args ...any) {
		h.HealthStatuses = append(h.HealthStatuses, &csi.VolumeHealth_VolumeHealthEntry{Status: kind, Reason: reason, Message: fmt.Sprintf(format, args...)})
	}
	for _, p := range []struct {
		path    string
		staging bool
	}{{req.GetStagingTargetPath(), true}, {req.GetVolumePublishPath(), false}} {
		if p.path == "" {
			continue
		}
		if err := checkPath("path", p.path); err != nil {
			return nil, err
		}
		res, _, err := d.volumeRecord(volID, p.path)
		if err != nil {
			return nil, err
		}
		p.path = res
		ok, err := d.ops.PathExists(p.path)
		if err != nil {
			return nil, failed(err, "checking %s", p.path)
		}
		if !ok {
			add(csi.VolumeHealthErrorType_INACCESSIBLE, "PathMissing", "%s does not exist", p.path)
			continue
		}
		if block, _ := d.ops.IsBlockDevice(p.path); block {
			continue
		}
		st, err := d.ops.MountState(p.path)
		switch {
		case err != nil:
			return nil, failed(err, "inspecting %s", p.path)
		case !st.Mounted:
			add(csi.VolumeHealthErrorType_INACCESSIBLE, "NotMounted", "%s is not mounted", p.path)
		case st.Corrupted:
			add(csi.VolumeHealthErrorType_INACCESSIBLE, "CorruptedMount", "the mount at %s is corrupted (the device may be gone)", p.path)
		case p.staging && st.ReadOnly:
			add(csi.VolumeHealthErrorType_DEGRADED, "ReadOnlyFilesystem", "the filesystem at %s is read-only; the kernel remounts it so after I/O errors", p.path)
		}
	}
	return &csi.NodeGetVolumeHealthResponse{VolumeHealth: h}, nil
}
