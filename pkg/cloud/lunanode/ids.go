package lunanode

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// volumeRef is a parsed volume id "region/numericid".
type volumeRef struct {
	region string
	id     string // decimal digits as LunaNode sends them
	num    uint64
}

func (r volumeRef) String() string { return r.region + "/" + r.id }

// snapshotRef is a parsed snapshot id "region/uuid".
type snapshotRef struct {
	region string
	id     string
}

func (r snapshotRef) String() string { return r.region + "/" + r.id }

// parseVolumeID parses strictly; anything else cannot name a volume of ours
// and is ErrNotFound (see the package comment).
func (c *Cloud) parseVolumeID(id string) (volumeRef, error) {
	region, rest, ok := strings.Cut(id, "/")
	if !ok || !slices.Contains(c.regions, region) || !isDigits(rest) {
		return volumeRef{}, cloud.Errorf(cloud.ErrNotFound, "volume %q: not a LunaNode volume id (region/number)", id)
	}
	n, err := strconv.ParseUint(rest, 10, 64)
	if err != nil {
		return volumeRef{}, cloud.Errorf(cloud.ErrNotFound, "volume %q: not a LunaNode volume id (region/number)", id)
	}
	return volumeRef{region: region, id: rest, num: n}, nil
}

// parseSnapshotID parses "region/uuid" strictly, like parseVolumeID.
func (c *Cloud) parseSnapshotID(id string) (snapshotRef, error) {
	region, rest, ok := strings.Cut(id, "/")
	if !ok || !slices.Contains(c.regions, region) || !isSnapshotUUID(rest) {
		return snapshotRef{}, cloud.Errorf(cloud.ErrNotFound, "snapshot %q: not a LunaNode snapshot id (region/uuid)", id)
	}
	return snapshotRef{region: region, id: rest}, nil
}

func isDigits(s string) bool {
	if s == "" || len(s) > 19 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// isSnapshotUUID accepts the UUID text LunaNode uses (hex and dashes).
func isSnapshotUUID(s string) bool {
	if len(s) < 8 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F' || r == '-') {
			return false
		}
	}
	return true
}

// compareVolumeRefs is the listing order: region, then numeric id.
func compareVolumeRefs(a, b volumeRef) int {
	return cmp.Or(cmp.Compare(a.region, b.region), cmp.Compare(a.num, b.num))
}
