package driver

import (
	"context"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// Snapshot list tokens name the phase: "s:<marker>" walks snapshots,
// "b:<marker>" backups (which follow the snapshots).
const (
	tokSnapshots = "s:"
	tokBackups   = "b:"
)

func (c *Controller) ListSnapshots(ctx context.Context, req *csi.ListSnapshotsRequest) (*csi.ListSnapshotsResponse, error) {
	if req.GetMaxEntries() < 0 {
		return nil, invalid("max_entries must not be negative")
	}
	if id := req.GetSnapshotId(); id != "" {
		snap, err := c.lookupSnapshot(ctx, id)
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

	if phase == tokSnapshots && c.caps.Snapshots {
		snaps, next, err := collect(ctx, c.cloud.ListSnapshots, opts, limit)
		if err != nil {
			return nil, c.listErr(token, err, "snapshots")
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
			if c.caps.Backups {
				resp.NextToken = tokBackups
			}
			return resp, nil
		}
	}
	if phase == tokBackups && c.caps.Backups {
		backups, next, err := collect(ctx, c.cloud.ListBackups, opts, remaining())
		if err != nil {
			return nil, c.listErr(token, err, "backups")
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
