package driver

import (
	"context"
	"errors"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// GetCapacity reports the project's remaining quota. Quotas are per
// project, not per zone, so topology does not change the answer.
func (c *Controller) GetCapacity(ctx context.Context, req *csi.GetCapacityRequest) (*csi.GetCapacityResponse, error) {
	if _, err := parseVolumeParams(req.GetParameters()); err != nil {
		return nil, err
	}
	for _, vc := range req.GetVolumeCapabilities() {
		if err := checkCapability(vc, c.caps.MultiAttach); err != nil {
			return nil, err
		}
	}
	l, err := c.cloud.GetLimits(ctx)
	if errors.Is(err, cloud.ErrUnsupported) {
		// The cloud reports no quota: as unlimited as far as we know.
		l, err = &cloud.Limits{MaxTotalGiB: -1}, nil
	}
	if err != nil {
		return nil, failed(err, "reading quota")
	}
	// Unlimited: report the largest value rather than 0, which a CO reads
	// as "full".
	avail := int64(1<<63 - 1)
	if l.MaxTotalGiB >= 0 {
		avail = max(int64(l.MaxTotalGiB-l.UsedGiB), 0) * GiB
	}
	resp := &csi.GetCapacityResponse{AvailableCapacity: avail}
	if c.caps.MaxSizeGiB > 0 {
		resp.MaximumVolumeSize = wrapInt(min(avail, int64(c.caps.MaxSizeGiB)*GiB))
	}
	if c.caps.MinSizeGiB > 0 {
		resp.MinimumVolumeSize = wrapInt(int64(c.caps.MinSizeGiB) * GiB)
	}
	return resp, nil
}
