package driver

import (
	"context"
	"errors"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/klog/v2"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
)

// ControllerUnpublishVolume detaches. A volume that is not attached, gone,
// or whose server is gone is detached as far as the CO is concerned.
func (c *Controller) ControllerUnpublishVolume(ctx context.Context, req *csi.ControllerUnpublishVolumeRequest) (*csi.ControllerUnpublishVolumeResponse, error) {
	volID, nodeID := req.GetVolumeId(), req.GetNodeId()
	if volID == "" {
		return nil, invalid("volume id is missing")
	}
	if !wellFormedID(volID) || (nodeID != "" && !wellFormedID(nodeID)) {
		return &csi.ControllerUnpublishVolumeResponse{}, nil
	}
	release, err := hold(&c.inFlight, "volume/"+volID, "volume "+volID)
	if err != nil {
		return nil, err
	}
	defer release()

	nodes := []string{nodeID}
	if nodeID == "" {
		// No node: detach from every server, as the spec asks.
		vol, err := c.cloud.GetVolume(ctx, volID)
		if cloud.IsNotFound(err) {
			return &csi.ControllerUnpublishVolumeResponse{}, nil
		}
		if err != nil {
			return nil, failed(err, "reading volume %s", volID)
		}
		nodes = nil
		for _, a := range vol.Attachments {
			nodes = append(nodes, a.ServerID)
		}
	}
	for _, n := range nodes {
		if err := c.detach(ctx, volID, n); err != nil {
			return nil, err
		}
	}
	return &csi.ControllerUnpublishVolumeResponse{}, nil
}

func (c *Controller) detach(ctx context.Context, volID, nodeID string) error {
	err := c.cloud.DetachVolume(ctx, nodeID, volID)
	switch {
	case err == nil:
	case cloud.IsNotFound(err):
		return nil
	case errors.Is(err, cloud.ErrWrongState):
		vol, gerr := c.cloud.GetVolume(ctx, volID)
		switch {
		case cloud.IsNotFound(gerr):
			return nil
		case gerr != nil:
			return failed(err, "detaching volume %s from node %s", volID, nodeID)
		case vol.Status == cloud.StatusDetaching:
			// Under way already; wait below.
		case !vol.AttachedTo(nodeID) && vol.Status != cloud.StatusAttaching:
			return nil
		default:
			return failed(err, "detaching volume %s from node %s (status %s); retry when it settles", volID, nodeID, vol.RawStatus)
		}
	default:
		return failed(err, "detaching volume %s from node %s", volID, nodeID)
	}
	vol, err := c.waiter.WaitVolumeOp(ctx, waiter.OpDetach, volID, func(v *cloud.Volume) (bool, error) {
		return !v.AttachedTo(nodeID) && v.Status != cloud.StatusDetaching, nil
	})
	if cloud.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return failed(err, "waiting for volume %s to detach from node %s", volID, nodeID)
	}
	if key := MetaReadOnlyPrefix + nodeID; vol.Metadata[key] == "true" {
		// The next publish to this node chooses its mode afresh.
		if err := c.cloud.SetVolumeMetadata(ctx, volID, map[string]string{key: "false"}); err != nil && !cloud.IsNotFound(err) {
			return failed(err, "clearing the read-only mark of volume %s for node %s", volID, nodeID)
		}
	}
	klog.FromContext(ctx).V(2).Info("Volume detached", "from", nodeID)
	return nil
}
