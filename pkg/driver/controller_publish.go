package driver

import (
	"context"
	"errors"
	"strconv"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/klog/v2"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
)

// ControllerPublishVolume attaches the volume to the node's server. It
// calls attach straight away: the call's own error says whether the
// volume or server is missing or the volume busy, so the common path costs
// one attach call plus a share of the batched waits.
func (c *Controller) ControllerPublishVolume(ctx context.Context, req *csi.ControllerPublishVolumeRequest) (*csi.ControllerPublishVolumeResponse, error) {
	volID, nodeID := req.GetVolumeId(), req.GetNodeId()
	if volID == "" {
		return nil, invalid("volume id is missing")
	}
	if nodeID == "" {
		return nil, invalid("node id is missing")
	}
	if err := checkCapability(req.GetVolumeCapability(), c.caps.MultiAttach); err != nil {
		return nil, err
	}
	readOnly := req.GetReadonly()
	if readOnly && !c.caps.VolumeMetadata {
		// The mode of each node's publish is kept in volume metadata,
		// which this cloud does not have; PUBLISH_READONLY is not offered.
		return nil, invalid("readonly publish is not supported on this cloud (PUBLISH_READONLY is not offered); use a read-only access mode instead")
	}
	if !wellFormedID(volID) {
		return nil, notFound("volume %s not found", volID)
	}
	if !wellFormedID(nodeID) {
		return nil, notFound("node %s not found", nodeID)
	}
	release, err := hold(&c.inFlight, "volume/"+volID, "volume "+volID)
	if err != nil {
		return nil, err
	}
	defer release()

	if readOnly {
		if err := c.markReadOnly(ctx, volID, nodeID); err != nil {
			return nil, err
		}
	}
	if err := c.attach(ctx, volID, nodeID, readOnly); err != nil {
		return nil, err
	}
	vol, err := c.waitAttached(ctx, volID, nodeID)
	if err != nil {
		return nil, err
	}
	if roKey := MetaReadOnlyPrefix + nodeID; !readOnly && vol.Metadata[roKey] == "true" {
		// Left by a read-only publish that never attached: this node's
		// publish is read-write now.
		if err := c.cloud.SetVolumeMetadata(ctx, volID, map[string]string{roKey: "false"}); err != nil {
			return nil, failed(err, "recording the read-write publish of volume %s to node %s", volID, nodeID)
		}
	}
	klog.FromContext(ctx).V(2).Info("Volume attached", "readOnly", readOnly)
	pc := c.publishContext(vol)
	if readOnly {
		pc[PubReadOnly] = "true"
	}
	return &csi.ControllerPublishVolumeResponse{PublishContext: pc}, nil
}

// attach asks the cloud to attach; nil means there is an attach to wait
// for (this one, a retry's or one under way), else the answer to give.
func (c *Controller) attach(ctx context.Context, volID, nodeID string, readOnly bool) error {
	_, err := c.cloud.AttachVolume(ctx, nodeID, volID)
	roKey := MetaReadOnlyPrefix + nodeID
	switch {
	case err == nil:
	case cloud.IsNotFound(err):
		// Volume or server? Only now is a GET worth it.
		if _, gerr := c.cloud.GetVolume(ctx, volID); cloud.IsNotFound(gerr) {
			return notFound("volume %s not found", volID)
		} else if gerr != nil {
			return failed(err, "attaching volume %s to node %s", volID, nodeID)
		}
		return notFound("node %s not found: no server with that id (%v)", nodeID, err)
	case errors.Is(err, cloud.ErrWrongState), errors.Is(err, cloud.ErrAlreadyExists):
		vol, gerr := c.cloud.GetVolume(ctx, volID)
		if gerr != nil {
			return failed(gerr, "attaching volume %s to node %s", volID, nodeID)
		}
		switch {
		case vol.AttachedTo(nodeID) && !readOnly && vol.Metadata[roKey] == "true":
			return alreadyExists("volume %s is published to node %s read-only; it cannot be published there read-write too", volID, nodeID)
		case vol.AttachedTo(nodeID):
			// Already attached here (a retry): fall through to the wait.
		case vol.Status == cloud.StatusAttaching:
			// Another attach is under way; wait for it below and see
			// where it went.
		case len(vol.Attachments) > 0 && !vol.Multiattach:
			return precondition("volume %s is attached to %s; it cannot be attached to node %s too", volID, servers(vol), nodeID)
		default:
			return failed(err, "attaching volume %s to node %s (status %s)", volID, nodeID, vol.RawStatus)
		}
	case errors.Is(err, cloud.ErrOutOfRange), errors.Is(err, cloud.ErrAttachLimit):
		return exhausted("node %s cannot take more volumes: the server's disk limit is reached: %v", nodeID, err)
	default:
		return failed(err, "attaching volume %s to node %s", volID, nodeID)
	}
	return nil
}

// markReadOnly records, before the attach, that nodeID gets the volume
// read-only; a volume already published read-write there is refused, as
// the spec asks of a publish incompatible with an earlier one.
func (c *Controller) markReadOnly(ctx context.Context, volID, nodeID string) error {
	key := MetaReadOnlyPrefix + nodeID
	vol, err := c.cloud.GetVolume(ctx, volID)
	switch {
	case cloud.IsNotFound(err):
		return notFound("volume %s not found", volID)
	case err != nil:
		return failed(err, "reading volume %s", volID)
	case vol.Metadata[key] == "true":
		return nil
	case vol.AttachedTo(nodeID):
		return alreadyExists("volume %s is published to node %s read-write; it cannot be published there read-only too", volID, nodeID)
	}
	if err := c.cloud.SetVolumeMetadata(ctx, volID, map[string]string{key: "true"}); err != nil {
		return failed(err, "recording the read-only publish of volume %s to node %s", volID, nodeID)
	}
	return nil
}

// waitAttached waits until the volume is in use by nodeID. An attach that
// stays in attaching past AttachTimeout is undone, so the CO's retry starts
// clean instead of waiting on a stuck one forever.
func (c *Controller) waitAttached(ctx context.Context, volID, nodeID string) (*cloud.Volume, error) {
	wctx, cancel := context.WithTimeout(ctx, c.attachTimeout)
	defer cancel()
	availableSeen := 0
	vol, err := c.waiter.WaitVolumeOp(wctx, waiter.OpAttach, volID, func(v *cloud.Volume) (bool, error) {
		if v.AttachedTo(nodeID) && v.Status == cloud.StatusInUse {
			return true, nil
		}
		if !v.AttachedTo(nodeID) && (v.Status == cloud.StatusAvailable || v.Status == cloud.StatusInUse) {
			// The attach ended without us: the hypervisor refused it, or
			// another node won the race.
			if availableSeen++; availableSeen >= 3 {
				return false, cloud.Errorf(cloud.ErrWrongState, "the attach did not complete; volume is %s with attachments to [%s]", v.RawStatus, servers(v))
			}
		}
		return false, nil
	})
	if err == nil {
		return vol, nil
	}
	if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		klog.FromContext(ctx).Info("Attach stuck; detaching so a retry starts clean", "timeout", c.attachTimeout)
		if derr := c.cloud.DetachVolume(context.WithoutCancel(ctx), nodeID, volID); derr != nil && !cloud.IsNotFound(derr) {
			klog.FromContext(ctx).Error(derr, "Detach of a stuck attach failed")
		}
	}
	return nil, failed(err, "waiting for volume %s to attach to node %s", volID, nodeID)
}

// publishContext carries what the node needs to find and verify the disk.
func (c *Controller) publishContext(v *cloud.Volume) map[string]string {
	serial := v.Serial
	if serial == "" {
		serial = v.ID
	}
	pc := map[string]string{
		PubSerial:    serial,
		PubSizeBytes: strconv.FormatInt(int64(v.SizeGiB)*GiB, 10),
	}
	if c.caps.SerialLength > 0 {
		pc[PubSerialLength] = strconv.Itoa(c.caps.SerialLength)
	}
	return pc
}
