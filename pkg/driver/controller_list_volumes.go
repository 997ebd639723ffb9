package driver

import (
	"context"
	"errors"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// listPageLimit is the page size asked for when the CO sets no
// max_entries: a CO that sets none wants everything.
const listPageLimit = 1000

// collect reads pages from marker until limit items (0: all) or the end;
// it returns the items and the marker to continue from ("" at the end).
func collect[T any](ctx context.Context, list func(context.Context, cloud.ListOptions) (cloud.Page[T], error), opts cloud.ListOptions, limit int) ([]T, string, error) {
	var out []T
	for range 10000 {
		opts.Limit = listPageLimit
		if limit > 0 {
			opts.Limit = limit - len(out)
		}
		page, err := list(ctx, opts)
		if err != nil {
			return nil, "", err
		}
		out = append(out, page.Items...)
		if page.NextMarker == "" || page.NextMarker == opts.Marker || len(page.Items) == 0 {
			return out, "", nil
		}
		if limit > 0 && len(out) >= limit {
			return out, page.NextMarker, nil
		}
		opts.Marker = page.NextMarker
	}
	return out, "", nil
}

// badToken reports a starting token the cloud did not accept.
func badToken(token string, err error) error {
	if errors.Is(err, cloud.ErrInvalid) || cloud.IsNotFound(err) {
		return status.Errorf(codes.Aborted, "starting token %q is not valid (the entry it names may have been deleted): %v", token, err)
	}
	return failed(err, "listing")
}

func (c *Controller) ListVolumes(ctx context.Context, req *csi.ListVolumesRequest) (*csi.ListVolumesResponse, error) {
	vols, next, err := c.volumePage(ctx, req.GetMaxEntries(), req.GetStartingToken())
	if err != nil {
		return nil, err
	}
	resp := &csi.ListVolumesResponse{NextToken: next}
	for i := range vols {
		v := &vols[i]
		resp.Entries = append(resp.Entries, &csi.ListVolumesResponse_Entry{
			Volume: c.csiVolume(v, volumeParams{}, nil),
			Status: &csi.ListVolumesResponse_VolumeStatus{PublishedNodeIds: publishedNodes(v)},
		})
	}
	return resp, nil
}

func publishedNodes(v *cloud.Volume) []string {
	var ids []string
	for _, a := range v.Attachments {
		ids = append(ids, a.ServerID)
	}
	return ids
}

// volumePage is one page of volumes for ListVolumes and
// ControllerListVolumeHealth, whose tokens are the cloud's markers.
func (c *Controller) volumePage(ctx context.Context, maxEntries int32, token string) ([]cloud.Volume, string, error) {
	if maxEntries < 0 {
		return nil, "", invalid("max_entries must not be negative")
	}
	if token != "" && !wellFormedID(token) {
		return nil, "", status.Errorf(codes.Aborted, "starting token %q is not valid", token)
	}
	vols, next, err := collect(ctx, c.cloud.ListVolumes, cloud.ListOptions{Marker: token}, int(maxEntries))
	if err != nil {
		return nil, "", c.listErr(token, err, "volumes")
	}
	return vols, next, nil
}

func (c *Controller) listErr(token string, err error, what string) error {
	if token != "" {
		return badToken(token, err)
	}
	return failed(err, "listing %s", what)
}
