package driver

import (
	"context"
	"fmt"

	"github.com/container-storage-interface/spec/lib/go/csi"
)

// NodeGetVolumeHealth looks at the paths it is given, each of which must
// be one the node recorded for this volume (else NotFound): a staging or publish
// path that is missing, unmounted or corrupted makes the volume
// inaccessible, as does a mount whose disk has left the node (unplugged
// behind the cloud's back); a staging mount gone read-only (the kernel's answer to
// filesystem errors, since the driver never stages read-only) degrades
// it. Without paths nothing adverse is known.
func (n *Node) NodeGetVolumeHealth(ctx context.Context, req *csi.NodeGetVolumeHealthRequest) (*csi.NodeGetVolumeHealthResponse, error) {
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
		res, _, err := n.volumeRecord(volID, p.path)
		if err != nil {
			return nil, err
		}
		p.path = res
		ok, err := n.ops.PathExists(p.path)
		if err != nil {
			return nil, failed(err, "checking %s", p.path)
		}
		if !ok {
			add(csi.VolumeHealthErrorType_INACCESSIBLE, "PathMissing", "%s does not exist", p.path)
			continue
		}
		block, _ := n.ops.IsBlockDevice(p.path)
		st, err := n.ops.MountState(p.path)
		if err != nil {
			return nil, failed(err, "inspecting %s", p.path)
		}
		if st.DeviceGone {
			// A filesystem whose disk was pulled still answers from its
			// caches, and a raw block target still stats: only the
			// kernel's list of disks tells.
			add(csi.VolumeHealthErrorType_INACCESSIBLE, "DeviceGone", "the disk mounted at %s (%s) is no longer attached to this node", p.path, st.Device)
			continue
		}
		if block {
			continue
		}
		switch {
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
