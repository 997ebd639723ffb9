package driver

import (
	"context"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

func (c *Controller) ControllerGetVolume(ctx context.Context, req *csi.ControllerGetVolumeRequest) (*csi.ControllerGetVolumeResponse, error) {
	id := req.GetVolumeId()
	if id == "" {
		return nil, invalid("volume id is missing")
	}
	v, err := c.getVolume(ctx, id)
	if err != nil {
		return nil, err
	}
	return &csi.ControllerGetVolumeResponse{
		Volume: c.csiVolume(v, volumeParams{}, nil),
		Status: &csi.ControllerGetVolumeResponse_VolumeStatus{PublishedNodeIds: publishedNodes(v)},
	}, nil
}

// getVolume reads a volume; NotFound for ids that cannot exist.
func (c *Controller) getVolume(ctx context.Context, id string) (*cloud.Volume, error) {
	if !wellFormedID(id) {
		return nil, notFound("volume %s not found", id)
	}
	v, err := c.cloud.GetVolume(ctx, id)
	if err != nil {
		return nil, failed(err, "reading volume %s", id)
	}
	return v, nil
}
