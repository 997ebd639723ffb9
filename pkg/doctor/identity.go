package doctor

import (
	"context"
	"fmt"
	"strings"

	"github.com/openblock-csi/openblock-csi/pkg/metadata"
)

// resolveIdentity finds the node id and zone the way the node plugin does,
// with the node plugin's own readers (package metadata): the flags, else the
// metadata service, else the config drive, else (id only) the DMI product
// UUID. The details say where each came from and why earlier sources were
// passed over. The readers' file errors name the file; the details name it
// already, so plainErr keeps only the reason.
func resolveIdentity(ctx context.Context, opts Options) (id, zone Result) {
	id, zone = Result{Name: "node id"}, Result{Name: "zone"}
	var tried []string
	var md *metadata.Document
	var mdSource string
	need := func() bool { return opts.NodeID == "" || opts.Zone == "" }

	if need() {
		svc := metadata.Options{ServiceURL: opts.MetadataURL, Timeout: opts.MetadataTimeout}
		if m, err := metadata.FromService(ctx, svc); err == nil {
			md, mdSource = m, "metadata service "+opts.MetadataURL
		} else {
			tried = append(tried, "metadata service: "+err.Error())
		}
	}
	if need() && md == nil {
		if m, err := metadata.FromConfigDrive(opts.ConfigDriveDir); err == nil {
			md, mdSource = m, "config drive "+opts.ConfigDriveDir
		} else {
			tried = append(tried, "config drive "+opts.ConfigDriveDir+": "+plainErr(err).Error())
		}
	}

	switch {
	case opts.NodeID != "" && md != nil && md.UUID != "" && !strings.EqualFold(md.UUID, opts.NodeID):
		id.Status, id.Detail = Warn, fmt.Sprintf("--node-id %s differs from the server id %s that the %s reports", opts.NodeID, md.UUID, mdSource)
		id.Fix = "the node id must be the server's id as the compute API knows it, or attachments go to another server; drop --node-id or correct it"
	case opts.NodeID != "":
		id.Status, id.Detail = Pass, opts.NodeID+" (from --node-id)"
	case md != nil && md.UUID != "":
		id.Status, id.Detail = Pass, md.UUID+" (from "+mdSource+")"
	default:
		if u, err := metadata.FromProductUUID(opts.DMIProductUUID); err == nil {
			id.Status, id.Detail = Pass, u+" (from "+opts.DMIProductUUID+")"
			if len(tried) > 0 {
				id.Detail += "; passed over " + strings.Join(tried, "; ")
			}
		} else {
			tried = append(tried, opts.DMIProductUUID+": "+plainErr(err).Error())
			id.Status, id.Detail = Fail, "cannot tell this node's server id: "+strings.Join(tried, "; ")
			id.Fix = "pass --node-id with the server's id (`openstack server show NAME -f value -c id`), or let the node plugin reach " +
				opts.MetadataURL + " (hostNetwork) or read " + opts.DMIProductUUID + " (runs as root)"
		}
	}

	switch {
	case opts.Zone != "":
		zone.Status, zone.Detail = Pass, opts.Zone+" (from --zone)"
	case md != nil && md.AvailabilityZone != "":
		zone.Status, zone.Detail = Pass, md.AvailabilityZone+" (from "+mdSource+")"
	default:
		zone.Status, zone.Detail = Warn, "unknown: neither --zone nor the metadata service or config drive tell it; the node reports no topology"
		zone.Fix = "pass --zone with the node's availability zone (the volume API's zone name) if volumes must stay in this node's zone"
	}
	return id, zone
}
