package openstack

import (
	"context"
	"slices"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// blockStorage is one Cinder API version. Implementations return raw
// errors; Cloud maps them (mapError) with the operation's description.
type blockStorage interface {
	createVolume(ctx context.Context, req cloud.CreateVolumeRequest) (*cloud.Volume, error)
	getVolume(ctx context.Context, id string) (*cloud.Volume, error)
	listVolumes(ctx context.Context, opts cloud.ListOptions) (cloud.Page[cloud.Volume], error)
	deleteVolume(ctx context.Context, id string) error
	extendVolume(ctx context.Context, id string, newSizeGiB int) error
	retypeVolume(ctx context.Context, id, newType string, migration cloud.MigrationPolicy) error
	setVolumeMetadata(ctx context.Context, id string, md map[string]string) error

	createSnapshot(ctx context.Context, req cloud.CreateSnapshotRequest) (*cloud.Snapshot, error)
	getSnapshot(ctx context.Context, id string) (*cloud.Snapshot, error)
	listSnapshots(ctx context.Context, opts cloud.ListOptions) (cloud.Page[cloud.Snapshot], error)
	deleteSnapshot(ctx context.Context, id string) error

	createBackup(ctx context.Context, req cloud.CreateBackupRequest) (*cloud.Backup, error)
	getBackup(ctx context.Context, id string) (*cloud.Backup, error)
	listBackups(ctx context.Context, opts cloud.ListOptions) (cloud.Page[cloud.Backup], error)
	deleteBackup(ctx context.Context, id string) error
	restoreBackup(ctx context.Context, backupID, volumeID string) error

	getLimits(ctx context.Context) (*cloud.Limits, error)
	availabilityZones(ctx context.Context) ([]string, error)
}

// pageAfter cuts one page out of a complete, stably ordered listing:
// the items after the one whose id is marker, at most limit of them.
// Used where the API has no marker (Cinder v1).
func pageAfter[T any](items []T, id func(T) string, marker string, limit int) (cloud.Page[T], error) {
	start := 0
	if marker != "" {
		i := slices.IndexFunc(items, func(it T) bool { return id(it) == marker })
		if i < 0 {
			return cloud.Page[T]{}, cloud.Errorf(cloud.ErrInvalid, "marker %s not found", marker)
		}
		start = i + 1
	}
	rest := items[start:]
	if limit <= 0 || limit >= len(rest) {
		return cloud.Page[T]{Items: rest}, nil
	}
	return cloud.Page[T]{Items: rest[:limit], NextMarker: id(rest[limit-1])}, nil
}

func copyMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return map[string]string{}
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
