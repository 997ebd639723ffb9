package driver

import (
	"context"
	"errors"
	"strings"

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

func (d *Driver) ListVolumes(ctx context.Context, req *csi.ListVolumesRequest) (*csi.ListVolumesResponse, error) {
	vols, next, err := d.volumePage(ctx, req.GetMaxEntries(), req.GetStartingToken())
	if err != nil {
		return nil, err
	}
	resp := &csi.ListVolumesResponse{NextToken: next}
	for i := range vols {
		v := &vols[i]
		resp.Entries = append(resp.Entries, &csi.ListVolumesResponse_Entry{
			Volume: d.csiVolume(v, volumeParams{}, nil),
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

// Snapshot list tokens name the phase: "s:<marker>" walks snapshots,
// "b:<marker>" backups (which follow the snapshots).
const (
	tokSnapshots = "s:"
	tokBackups   = "b:"
)

func (d *Driver) ListSnapshots(ctx context.Context, req *csi.ListSnapshotsRequest) (*csi.ListSnapshotsResponse, error) {
	if req.GetMaxEntries() < 0 {
		return nil, invalid("max_entries must not be negative")
	}
	if id := req.GetSnapshotId(); id != "" {
		snap, err := d.lookupSnapshot(ctx, id)
		if err != nil {
			return nil, err
		}
		resp := &csi.ListSnapshotsResponse{}
		if snap != nil && (req.GetSourceVolumeId() == "" || snap.SourceVolumeId == req.GetSourceVolumeId()) {
			resp.Entries = []*csi.ListSnapshotsResponse_Entry{{Snapshot: snap}}
		}
		return resp, nil
	}
	volID := req.GetSourceVolumeId()
	if volID != "" && !wellFormedID(volID) {
		return &csi.ListSnapshotsResponse{}, nil
	}

	token := req.GetStartingToken()
	phase, marker := tokSnapshots, ""
	switch {
	case token == "":
	case strings.HasPrefix(token, tokSnapshots), strings.HasPrefix(token, tokBackups):
		phase, marker = token[:2], token[2:]
		if marker != "" && !wellFormedID(marker) {
			return nil, status.Errorf(codes.Aborted, "starting token %q is not valid", token)
		}
	default:
		return nil, status.Errorf(codes.Aborted, "starting token %q is not valid", token)
	}
	limit := int(req.GetMaxEntries())
	resp := &csi.ListSnapshotsResponse{}
	remaining := func() int {
		if limit == 0 {
			return 0
		}
		return limit - len(resp.Entries)
	}
	opts := cloud.ListOptions{VolumeID: volID, Marker: marker}

	if phase == tokSnapshots && d.caps.Snapshots {
		snaps, next, err := collect(ctx, d.cloud.ListSnapshots, opts, limit)
		if err != nil {
			return nil, d.listErr(token, err, "snapshots")
		}
		for i := range snaps {
			resp.Entries = append(resp.Entries, &csi.ListSnapshotsResponse_Entry{Snapshot: csiSnapshot(&snaps[i])})
		}
		if next != "" {
			resp.NextToken = tokSnapshots + next
			return resp, nil
		}
		phase, opts.Marker = tokBackups, ""
		if limit > 0 && remaining() == 0 {
			if d.caps.Backups {
				resp.NextToken = tokBackups
			}
			return resp, nil
		}
	}
	if phase == tokBackups && d.caps.Backups {
		backups, next, err := collect(ctx, d.cloud.ListBackups, opts, remaining())
		if err != nil {
			return nil, d.listErr(token, err, "backups")
		}
		for i := range backups {
			resp.Entries = append(resp.Entries, &csi.ListSnapshotsResponse_Entry{Snapshot: csiBackup(&backups[i])})
		}
		if next != "" {
			resp.NextToken = tokBackups + next
		}
	}
	return resp, nil
}

// volumePage is one page of volumes for ListVolumes and
// ControllerListVolumeHealth, whose tokens are the cloud's markers.
func (d *Driver) volumePage(ctx context.Context, maxEntries int32, token string) ([]cloud.Volume, string, error) {
	if maxEntries < 0 {
		return nil, "", invalid("max_entries must not be negative")
	}
	if token != "" && !wellFormedID(token) {
		return nil, "", status.Errorf(codes.Aborted, "starting token %q is not valid", token)
	}
	vols, next, err := collect(ctx, d.cloud.ListVolumes, cloud.ListOptions{Marker: token}, int(maxEntries))
	if err != nil {
		return nil, "", d.listErr(token, err, "volumes")
	}
	return vols, next, nil
}

func (d *Driver) listErr(token string, err error, what string) error {
	if token != "" {
		return badToken(token, err)
	}
	return failed(err, "listing %s", what)
}

// GetCapacity reports the project's remaining quota. Quotas are per
// project, not per zone, so topology does not change the answer.
func (d *Driver) GetCapacity(ctx context.Context, req *csi.GetCapacityRequest) (*csi.GetCapacityResponse, error) {
	if _, err := parseVolumeParams(req.GetParameters()); err != nil {
		return nil, err
	}
	for _, vc := range req.GetVolumeCapabilities() {
		if err := checkCapability(vc, d.caps.MultiAttach); err != nil {
			return nil, err
		}
	}
	l, err := d.cloud.GetLimits(ctx)
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
	if d.caps.MaxSizeGiB > 0 {
		resp.MaximumVolumeSize = wrapInt(min(avail, int64(d.caps.MaxSizeGiB)*GiB))
	}
	if d.caps.MinSizeGiB > 0 {
		resp.MinimumVolumeSize = wrapInt(int64(d.caps.MinSizeGiB) * GiB)
	}
	return resp, nil
}

func (d *Driver) ControllerGetVolume(ctx context.Context, req *csi.ControllerGetVolumeRequest) (*csi.ControllerGetVolumeResponse, error) {
	id := req.GetVolumeId()
	if id == "" {
		return nil, invalid("volume id is missing")
	}
	v, err := d.getVolume(ctx, id)
	if err != nil {
		return nil, err
	}
	return &csi.ControllerGetVolumeResponse{
		Volume: d.csiVolume(v, volumeParams{}, nil),
		Status: &csi.ControllerGetVolumeResponse_VolumeStatus{PublishedNodeIds: publishedNodes(v)},
	}, nil
}

// getVolume reads a volume; NotFound for ids that cannot exist.
func (d *Driver) getVolume(ctx context.Context, id string) (*cloud.Volume, error) {
	if !wellFormedID(id) {
		return nil, notFound("volume %s not found", id)
	}
	v, err := d.cloud.GetVolume(ctx, id)
	if err != nil {
		return nil, failed(err, "reading volume %s", id)
	}
	return v, nil
}

func (d *Driver) ValidateVolumeCapabilities(ctx context.Context, req *csi.ValidateVolumeCapabilitiesRequest) (*csi.ValidateVolumeCapabilitiesResponse, error) {
	id := req.GetVolumeId()
	if id == "" {
		return nil, invalid("volume id is missing")
	}
	if len(req.GetVolumeCapabilities()) == 0 {
		return nil, invalid("volume capabilities are missing")
	}
	if err := checkMountFlags(req.GetVolumeCapabilities()); err != nil {
		return nil, err
	}
	if _, err := d.getVolume(ctx, id); err != nil {
		return nil, err
	}
	if err := checkCapabilities(req.GetVolumeCapabilities(), d.caps.MultiAttach); err != nil {
		return &csi.ValidateVolumeCapabilitiesResponse{Message: status.Convert(err).Message()}, nil
	}
	if _, err := parseVolumeParams(req.GetParameters()); err != nil {
		return &csi.ValidateVolumeCapabilitiesResponse{Message: status.Convert(err).Message()}, nil
	}
	return &csi.ValidateVolumeCapabilitiesResponse{Confirmed: &csi.ValidateVolumeCapabilitiesResponse_Confirmed{
		VolumeContext:      req.GetVolumeContext(),
		VolumeCapabilities: req.GetVolumeCapabilities(),
		Parameters:         req.GetParameters(),
	}}, nil
}

// ControllerExpandVolume grows the volume in the cloud; the node grows the
// filesystem afterwards.
func (d *Driver) ControllerExpandVolume(ctx context.Context, req *csi.ControllerExpandVolumeRequest) (*csi.ControllerExpandVolumeResponse, error) {
	id := req.GetVolumeId()
	if id == "" {
		return nil, invalid("volume id is missing")
	}
	if d.caps.Expansion == cloud.ExpansionNone {
		// Without EXPAND_VOLUME the spec's answer is Unimplemented,
		// whatever else is wrong with the request.
		return nil, status.Errorf(codes.Unimplemented, "volumes on %s cannot be resized", d.cloud.Name())
	}
	if req.GetCapacityRange() == nil {
		return nil, invalid("capacity range is missing")
	}
	if vc := req.GetVolumeCapability(); vc != nil {
		if err := checkCapability(vc, d.caps.MultiAttach); err != nil {
			return nil, err
		}
	}
	newGiB, err := sizeRange(req.GetCapacityRange(), 0, d.caps.MinSizeGiB, d.caps.MaxSizeGiB)
	if err != nil {
		return nil, err
	}
	if !wellFormedID(id) {
		return nil, notFound("volume %s not found", id)
	}
	if !d.inFlight.Insert("volume/" + id) {
		return nil, aborted("volume " + id)
	}
	defer d.inFlight.Delete("volume/" + id)

	v, err := d.getVolume(ctx, id)
	if err != nil {
		return nil, err
	}
	nodeExpansion := !isBlock(req.GetVolumeCapability())
	if v.SizeGiB >= newGiB {
		return &csi.ControllerExpandVolumeResponse{CapacityBytes: int64(v.SizeGiB) * GiB, NodeExpansionRequired: nodeExpansion}, nil
	}
	if d.caps.Expansion == cloud.ExpansionOffline && len(v.Attachments) > 0 {
		return nil, precondition("volume %s is attached to %s and this cloud resizes only detached volumes; stop the pod using it first", id, servers(v))
	}
	if err := d.cloud.ExtendVolume(ctx, id, newGiB); err != nil {
		return nil, failed(err, "resizing volume %s to %d GiB", id, newGiB)
	}
	v, err = d.waiter.WaitVolume(ctx, id, func(v *cloud.Volume) (bool, error) {
		return v.SizeGiB >= newGiB && (v.Status == cloud.StatusAvailable || v.Status == cloud.StatusInUse), nil
	})
	if err != nil {
		return nil, failed(err, "waiting for volume %s to grow to %d GiB", id, newGiB)
	}
	return &csi.ControllerExpandVolumeResponse{CapacityBytes: int64(v.SizeGiB) * GiB, NodeExpansionRequired: nodeExpansion}, nil
}

func (d *Driver) ControllerGetCapabilities(context.Context, *csi.ControllerGetCapabilitiesRequest) (*csi.ControllerGetCapabilitiesResponse, error) {
	types := []csi.ControllerServiceCapability_RPC_Type{
		csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME,
		csi.ControllerServiceCapability_RPC_PUBLISH_UNPUBLISH_VOLUME,
		csi.ControllerServiceCapability_RPC_LIST_VOLUMES,
		csi.ControllerServiceCapability_RPC_LIST_VOLUMES_PUBLISHED_NODES,
		csi.ControllerServiceCapability_RPC_GET_CAPACITY,
		csi.ControllerServiceCapability_RPC_GET_VOLUME,
		csi.ControllerServiceCapability_RPC_GET_VOLUME_HEALTH,
		csi.ControllerServiceCapability_RPC_LIST_VOLUME_HEALTH,
	}
	if d.caps.Snapshots || d.caps.Backups {
		types = append(types,
			csi.ControllerServiceCapability_RPC_CREATE_DELETE_SNAPSHOT,
			csi.ControllerServiceCapability_RPC_LIST_SNAPSHOTS,
			csi.ControllerServiceCapability_RPC_GET_SNAPSHOT)
	}
	if d.caps.Clone {
		types = append(types, csi.ControllerServiceCapability_RPC_CLONE_VOLUME)
	}
	if d.caps.Expansion != cloud.ExpansionNone {
		types = append(types, csi.ControllerServiceCapability_RPC_EXPAND_VOLUME)
	}
	if d.caps.Retype {
		types = append(types, csi.ControllerServiceCapability_RPC_MODIFY_VOLUME)
	}
	resp := &csi.ControllerGetCapabilitiesResponse{}
	for _, t := range types {
		resp.Capabilities = append(resp.Capabilities, &csi.ControllerServiceCapability{
			Type: &csi.ControllerServiceCapability_Rpc{Rpc: &csi.ControllerServiceCapability_RPC{Type: t}}})
	}
	return resp, nil
}
