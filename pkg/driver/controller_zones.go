package driver

import (
	"slices"
	"sort"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// Topology is in compute zones, because that is what nodes report
// (NodeGetInfo). Many OpenStack clouds name their volume zones otherwise
// (compute nova-a, nova-b; volume nova): Config.ZoneMap translates, and
// Config.IgnoreVolumeAZ lets the cloud choose where it can attach across
// zones.

// pickZone chooses where a new volume goes: the compute zone it is for and
// the volume zone to create it in ("" lets the cloud choose). Where the
// request carries topology, it decides: the first preferred zone whose
// volume zone the cloud offers (under WaitForFirstConsumer, the zone of the
// node the scheduler chose), else the first such requisite zone. The
// StorageClass's availability parameter, a volume zone, is used only for a
// request without topology; with topology it must still name an offered
// zone, but a volume there could not be attached to the chosen node, so it
// does not override the node's zone.
func (c *Controller) pickZone(param string, tr *csi.TopologyRequirement) (compute, volume string, err error) {
	if err := checkTopology(tr); err != nil {
		return "", "", err
	}
	offered := func(z string) bool { return z == "" || len(c.caps.Zones) == 0 || slices.Contains(c.caps.Zones, z) }
	if param != "" && !offered(param) {
		return "", "", invalid("availability zone %q is not one of %v", param, c.caps.Zones)
	}
	var seen []string
	for _, list := range [][]*csi.Topology{tr.GetPreferred(), tr.GetRequisite()} {
		for _, t := range list {
			z := t.GetSegments()[TopologyZoneKey]
			if z == "" {
				continue
			}
			if vz := c.volumeZoneFor(z); offered(vz) {
				return z, vz, nil
			}
			if !slices.Contains(seen, z) {
				seen = append(seen, z)
			}
		}
	}
	if len(seen) > 0 {
		return "", "", invalid("none of the requested zones %v is offered by the cloud (%v)%s", seen, c.caps.Zones, c.zoneMapNote())
	}
	return "", param, nil
}

// volumeZoneFor is the volume zone for a compute zone: the mapped one,
// else none (the cloud chooses) under IgnoreVolumeAZ, else the same name.
func (c *Controller) volumeZoneFor(compute string) string {
	if v, ok := c.zoneMap[compute]; ok {
		return v
	}
	if c.ignoreVolumeAZ {
		return ""
	}
	return compute
}

func (c *Controller) zoneMapNote() string {
	if len(c.zoneMap) == 0 && !c.ignoreVolumeAZ {
		return "; if the cloud's compute and volume zones differ, set zone-map or ignore-volume-az in [BlockStorage]"
	}
	return ""
}

// topology is where a volume can be attached, in compute zones: under
// IgnoreVolumeAZ the compute zone it was made for (none known: anywhere);
// else every compute zone mapped to its volume zone, or the volume zone
// itself where nothing maps to it.
func (c *Controller) topology(v *cloud.Volume, compute string) []*csi.Topology {
	if c.ignoreVolumeAZ {
		if compute == "" {
			return nil
		}
		return zonesTopology([]string{compute})
	}
	zone := v.Zone
	if zone == "" {
		zone = c.caps.DefaultZone
	}
	if zone == "" {
		return nil
	}
	var computes []string
	for compute, vz := range c.zoneMap {
		if vz == zone {
			computes = append(computes, compute)
		}
	}
	if len(computes) == 0 {
		computes = []string{zone}
	}
	sort.Strings(computes)
	return zonesTopology(computes)
}

func zonesTopology(zones []string) []*csi.Topology {
	out := make([]*csi.Topology, 0, len(zones))
	for _, z := range zones {
		out = append(out, &csi.Topology{Segments: map[string]string{TopologyZoneKey: z}})
	}
	return out
}
