package driver

import (
	"context"
	"fmt"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

func wrapInt(v int64) *wrapperspb.Int64Value { return wrapperspb.Int64(v) }

// volumeHealth reports what the cloud says about a volume. A plain
// "error" volume never held data the pod can reach; error_extending and
// the like leave the data intact but the volume in need of attention.
func volumeHealth(v *cloud.Volume) *csi.VolumeHealth {
	h := &csi.VolumeHealth{VolumeId: v.ID}
	if !v.Status.IsError() {
		return h
	}
	raw := v.RawStatus
	if raw == "" {
		raw = string(v.Status)
	}
	kind := csi.VolumeHealthErrorType_DEGRADED
	if raw == "error" {
		kind = csi.VolumeHealthErrorType_INACCESSIBLE
	}
	h.HealthStatuses = []*csi.VolumeHealth_VolumeHealthEntry{{
		Status:  kind,
		Reason:  "CloudVolumeError",
		Message: fmt.Sprintf("the cloud reports volume %s in status %s", v.ID, raw),
	}}
	return h
}

func (c *Controller) ControllerGetVolumeHealth(ctx context.Context, req *csi.ControllerGetVolumeHealthRequest) (*csi.ControllerGetVolumeHealthResponse, error) {
	id := req.GetVolumeId()
	if id == "" {
		return nil, invalid("volume id is missing")
	}
	v, err := c.getVolume(ctx, id)
	if err != nil {
		return nil, err
	}
	return &csi.ControllerGetVolumeHealthResponse{VolumeHealth: volumeHealth(v)}, nil
}

func (c *Controller) ControllerListVolumeHealth(ctx context.Context, req *csi.ControllerListVolumeHealthRequest) (*csi.ControllerListVolumeHealthResponse, error) {
	vols, next, err := c.volumePage(ctx, req.GetMaxEntries(), req.GetStartingToken())
	if err != nil {
		return nil, err
	}
	resp := &csi.ControllerListVolumeHealthResponse{NextToken: next}
	for i := range vols {
		resp.Entries = append(resp.Entries, volumeHealth(&vols[i]))
	}
	return resp, nil
}
