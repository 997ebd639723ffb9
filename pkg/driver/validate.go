package driver

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"unicode"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/openblock-csi/openblock-csi/pkg/mountopt"
	"github.com/openblock-csi/openblock-csi/pkg/node"
)

const (
	// GiB is the unit every supported cloud allocates in.
	GiB int64 = 1 << 30
	// maxNameLength is the longest resource name Cinder accepts; longer
	// names would be cut by the cloud and break lookups by name.
	maxNameLength = 255
	maxIDLength   = 255
)

// checkName validates a CreateVolume/CreateSnapshot name.
func checkName(what, name string) error {
	switch {
	case name == "":
		return invalid("%s name is missing", what)
	case len(name) > maxNameLength:
		return invalid("%s name is %d characters; at most %d are supported", what, len(name), maxNameLength)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return invalid("%s name contains control characters", what)
	}
	return nil
}

// wellFormedID reports whether id can be a cloud id at all. It guards the
// URL paths ids end up in: no query or fragment characters, no dot-dot
// segments, no whitespace. An id that fails cannot name an existing
// resource, so callers treat it as not found without asking the cloud.
func wellFormedID(id string) bool {
	if id == "" || len(id) > maxIDLength {
		return false
	}
	if strings.ContainsAny(id, "?#%\\") || strings.HasPrefix(id, "/") || strings.HasSuffix(id, "/") {
		return false
	}
	if strings.IndexFunc(id, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r > unicode.MaxASCII }) >= 0 {
		return false
	}
	return !slices.Contains(strings.Split(id, "/"), "..") && !slices.Contains(strings.Split(id, "/"), ".")
}

// checkPath validates a node path: required, absolute, no "..".
func checkPath(field, p string) error {
	switch {
	case p == "":
		return invalid("%s is missing", field)
	case strings.ContainsRune(p, 0):
		return invalid("%s contains a NUL byte", field)
	case !filepath.IsAbs(p):
		return invalid("%s %q must be an absolute path", field, p)
	case slices.Contains(strings.Split(p, "/"), ".."):
		return invalid("%s %q must not contain \"..\"", field, p)
	}
	return nil
}

// checkCapability validates one volume capability. multiAttach says
// whether the volume may be attached to several nodes at once.
func checkCapability(vc *csi.VolumeCapability, multiAttach bool) error {
	if vc == nil {
		return invalid("volume capability is missing")
	}
	am := vc.GetAccessMode()
	if am == nil {
		return invalid("volume capability has no access mode")
	}
	block := false
	switch vc.GetAccessType().(type) {
	case *csi.VolumeCapability_Block:
		block = true
	case *csi.VolumeCapability_Mount:
		if fs := vc.GetMount().GetFsType(); fs != "" {
			if _, err := node.NormalizeFSType(fs); err != nil {
				return invalid("%v", err)
			}
		}
		if vc.GetMount().GetVolumeMountGroup() != "" {
			return invalid("volume_mount_group is not supported; use fsGroup")
		}
		if err := mountopt.Check(vc.GetMount().GetMountFlags()); err != nil {
			return invalid("%v", err)
		}
	default:
		return invalid("volume capability must have access type block or mount")
	}
	switch am.GetMode() {
	case csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER,
		csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY,
		csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER,
		csi.VolumeCapability_AccessMode_SINGLE_NODE_MULTI_WRITER:
		// One node: the pods there share its one mount or device.
		return nil
	case csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY:
		if !multiAttach {
			return invalid("access mode %s needs multi-attach, which this cloud does not offer", am.GetMode())
		}
		// A filesystem is mounted read-only on every node.
		return nil
	case csi.VolumeCapability_AccessMode_MULTI_NODE_SINGLE_WRITER,
		csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER:
		if !multiAttach {
			return invalid("access mode %s needs multi-attach, which this cloud does not offer", am.GetMode())
		}
		if !block {
			return invalid("access mode %s is only supported for raw block volumes (volumeMode: Block): ext4 and xfs are not cluster filesystems, and one mounted on several nodes with a writer among them would be corrupted", am.GetMode())
		}
		return nil
	}
	return invalid("access mode %s is not supported", am.GetMode())
}

// checkMountFlags refuses any capability whose mount flags mountopt
// rejects; ValidateVolumeCapabilities answers that with an error, not an
// unconfirmed capability, since no volume could ever be mounted so.
func checkMountFlags(vcs []*csi.VolumeCapability) error {
	for _, vc := range vcs {
		if err := mountopt.Check(vc.GetMount().GetMountFlags()); err != nil {
			return invalid("%v", err)
		}
	}
	return nil
}

func checkCapabilities(vcs []*csi.VolumeCapability, multiAttach bool) error {
	if len(vcs) == 0 {
		return invalid("volume capabilities are missing")
	}
	for _, vc := range vcs {
		if err := checkCapability(vc, multiAttach); err != nil {
			return err
		}
	}
	return nil
}

func isBlock(vc *csi.VolumeCapability) bool { return vc.GetBlock() != nil }

// multiNodeMode names the first access mode in vcs that needs the volume
// on several nodes at once, or "".
func multiNodeMode(vcs []*csi.VolumeCapability) string {
	for _, vc := range vcs {
		switch m := vc.GetAccessMode().GetMode(); m {
		case csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY,
			csi.VolumeCapability_AccessMode_MULTI_NODE_SINGLE_WRITER,
			csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER:
			return m.String()
		}
	}
	return ""
}

func readOnlyMode(vc *csi.VolumeCapability) bool {
	switch vc.GetAccessMode().GetMode() {
	case csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY,
		csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY:
		return true
	}
	return false
}

// sizeRange turns a capacity range into whole GiB: at least floorGiB (a
// source's size) and the cloud's minimum, at most limit_bytes and the
// cloud's maximum.
func sizeRange(cr *csi.CapacityRange, floorGiB, minGiB, maxGiB int) (int, error) {
	req, lim := cr.GetRequiredBytes(), cr.GetLimitBytes()
	if req < 0 || lim < 0 {
		return 0, invalid("capacity range must not be negative")
	}
	if lim > 0 && req > lim {
		return 0, invalid("required_bytes %d exceeds limit_bytes %d", req, lim)
	}
	gib := req / GiB
	if req%GiB != 0 {
		gib++
	}
	gib = max(gib, 1, int64(floorGiB), int64(minGiB))
	if lim > 0 && gib > lim/GiB {
		return 0, outOfRange("the cloud allocates whole GiB (at least %d GiB here); limit_bytes %d cannot hold that", gib, lim)
	}
	if maxGiB > 0 && gib > int64(maxGiB) {
		return 0, outOfRange("%d GiB exceeds the cloud's maximum volume size of %d GiB", gib, maxGiB)
	}
	if gib > math.MaxInt32 {
		return 0, outOfRange("%d GiB is too large", gib)
	}
	return int(gib), nil
}

// checkTopology refuses topology requirements the driver would otherwise
// ignore: an empty segment map, or a key other than the driver's own. A
// CO only ever sends the keys NodeGetInfo reported, so anything else is a
// mistake that must not silently place a volume anywhere.
func checkTopology(tr *csi.TopologyRequirement) error {
	for _, list := range [][]*csi.Topology{tr.GetRequisite(), tr.GetPreferred()} {
		for _, t := range list {
			segs := t.GetSegments()
			if len(segs) == 0 {
				return invalid("a topology in the accessibility requirements has no segments")
			}
			for k, v := range segs {
				if k != TopologyZoneKey {
					return invalid("topology key %q is not known; the only key is %s", k, TopologyZoneKey)
				}
				if v == "" || strings.IndexFunc(v, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) || r == '/' }) >= 0 {
					return invalid("topology %s=%q is not a zone name", k, v)
				}
			}
		}
	}
	return nil
}
