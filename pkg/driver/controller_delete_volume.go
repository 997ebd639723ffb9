package driver

import (
	"context"
	"errors"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/klog/v2"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

func (c *Controller) DeleteVolume(ctx context.Context, req *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error) {
	id := req.GetVolumeId()
	if id == "" {
		return nil, invalid("volume id is missing")
	}
	if !wellFormedID(id) {
		// Cannot exist, so it is already deleted.
		return &csi.DeleteVolumeResponse{}, nil
	}
	release, err := hold(&c.inFlight, "volume/"+id, "volume "+id)
	if err != nil {
		return nil, err
	}
	defer release()
	c.probePredecessor(ctx)

	err = c.cloud.DeleteVolume(ctx, id)
	switch {
	case err == nil:
	case cloud.IsNotFound(err):
		c.settleTwins(ctx, c.volumeTwins(), id) // a retry of a delete whose answer was lost
		return &csi.DeleteVolumeResponse{}, nil
	case errors.Is(err, cloud.ErrWrongState):
		// Only now look at the volume, to say why.
		vol, gerr := c.cloud.GetVolume(ctx, id)
		switch {
		case cloud.IsNotFound(gerr):
			return &csi.DeleteVolumeResponse{}, nil
		case gerr != nil:
			return nil, failed(err, "deleting volume %s", id)
		case vol.Status == cloud.StatusDeleting:
			// Already going; wait below.
		case len(vol.Attachments) > 0:
			return nil, precondition("volume %s is attached to %s; unpublish it first", id, servers(vol))
		case vol.Status == cloud.StatusAvailable:
			if cerr := c.clearFailedSnapshots(ctx, id); cerr != nil {
				return nil, cerr
			}
			if err := c.cloud.DeleteVolume(ctx, id); err != nil && !cloud.IsNotFound(err) {
				return nil, failed(err, "deleting volume %s", id)
			}
		case vol.Status.IsError():
			return nil, failed(err, "deleting volume %s: it is in %s and the cloud refused to delete it", id, vol.RawStatus)
		default:
			return nil, failed(err, "deleting volume %s: it is %s; retry once that finishes", id, vol.RawStatus)
		}
	default:
		return nil, failed(err, "deleting volume %s", id)
	}
	if err := c.waiter.WaitVolumeGone(ctx, id); err != nil {
		return nil, failed(err, "waiting for volume %s to be deleted", id)
	}
	c.settleTwins(ctx, c.volumeTwins(), id)
	klog.FromContext(ctx).V(2).Info("Volume deleted")
	return &csi.DeleteVolumeResponse{}, nil
}

func servers(v *cloud.Volume) string {
	var s []string
	for _, a := range v.Attachments {
		s = append(s, a.ServerID)
	}
	return strings.Join(s, ", ")
}
