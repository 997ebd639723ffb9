package driver

import (
	"context"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
)

// ControllerExpandVolume grows the volume in the cloud; the node grows the
// filesystem afterwards.
func (c *Controller) ControllerExpandVolume(ctx context.Context, req *csi.ControllerExpandVolumeRequest) (*csi.ControllerExpandVolumeResponse, error) {
	id := req.GetVolumeId()
	if id == "" {
		return nil, invalid("volume id is missing")
	}
	if c.caps.Expansion == cloud.ExpansionNone {
		// Without EXPAND_VOLUME the spec's answer is Unimplemented,
		// whatever else is wrong with the request.
		return nil, status.Errorf(codes.Unimplemented, "volumes on %s cannot be resized", c.cloud.Name())
	}
	if req.GetCapacityRange() == nil {
		return nil, invalid("capacity range is missing")
	}
	if vc := req.GetVolumeCapability(); vc != nil {
		if err := checkCapability(vc, c.caps.MultiAttach); err != nil {
			return nil, err
		}
	}
	newGiB, err := sizeRange(req.GetCapacityRange(), 0, c.caps.MinSizeGiB, c.caps.MaxSizeGiB)
	if err != nil {
		return nil, err
	}
	if !wellFormedID(id) {
		return nil, notFound("volume %s not found", id)
	}
	release, err := hold(&c.inFlight, "volume/"+id, "volume "+id)
	if err != nil {
		return nil, err
	}
	defer release()

	v, err := c.getVolume(ctx, id)
	if err != nil {
		return nil, err
	}
	nodeExpansion := !isBlock(req.GetVolumeCapability())
	if v.SizeGiB >= newGiB {
		return &csi.ControllerExpandVolumeResponse{CapacityBytes: int64(v.SizeGiB) * GiB, NodeExpansionRequired: nodeExpansion}, nil
	}
	if c.caps.Expansion == cloud.ExpansionOffline && len(v.Attachments) > 0 {
		return nil, precondition("volume %s is attached to %s and this cloud resizes only detached volumes; stop the pod using it first", id, servers(v))
	}
	if err := c.cloud.ExtendVolume(ctx, id, newGiB); err != nil {
		return nil, failed(err, "resizing volume %s to %d GiB", id, newGiB)
	}
	v, err = c.waiter.WaitVolumeOp(ctx, waiter.OpExtend, id, func(v *cloud.Volume) (bool, error) {
		return v.SizeGiB >= newGiB && (v.Status == cloud.StatusAvailable || v.Status == cloud.StatusInUse), nil
	})
	if err != nil {
		return nil, failed(err, "waiting for volume %s to grow to %d GiB", id, newGiB)
	}
	return &csi.ControllerExpandVolumeResponse{CapacityBytes: int64(v.SizeGiB) * GiB, NodeExpansionRequired: nodeExpansion}, nil
}
