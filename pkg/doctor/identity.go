package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// metaDataPath is the OpenStack metadata document, served by the metadata
// service and stored on the config drive alike.
const metaDataPath = "openstack/latest/meta_data.json"

// metaData is the part of meta_data.json the driver uses.
type metaData struct {
	UUID             string `json:"uuid"`
	AvailabilityZone string `json:"availability_zone"`
}

// resolveIdentity finds the node id and zone the way the node plugin does:
// the flags, else the metadata service, else the config drive, else (id
// only) the DMI product UUID. The details say where each came from and why
// earlier sources were passed over.
func resolveIdentity(ctx context.Context, opts Options) (id, zone Result) {
	id, zone = Result{Name: "node id"}, Result{Name: "zone"}
	var tried []string
	var md *metaData
	var mdSource string
	need := func() bool { return opts.NodeID == "" || opts.Zone == "" }

	if need() {
		if m, err := fromMetadataService(ctx, opts); err == nil {
			md, mdSource = m, "metadata service "+opts.MetadataURL
		} else {
			tried = append(tried, "metadata service: "+err.Error())
		}
	}
	if need() && md == nil {
		if m, err := fromConfigDrive(opts.ConfigDriveDir); err == nil {
			md, mdSource = m, "config drive "+opts.ConfigDriveDir
		} else {
			tried = append(tried, "config drive "+opts.ConfigDriveDir+": "+err.Error())
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
		if u, err := fromDMI(opts.DMIProductUUID); err == nil {
			id.Status, id.Detail = Pass, u+" (from "+opts.DMIProductUUID+")"
			if len(tried) > 0 {
				id.Detail += "; passed over " + strings.Join(tried, "; ")
			}
		} else {
			tried = append(tried, opts.DMIProductUUID+": "+err.Error())
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

func fromMetadataService(ctx context.Context, opts Options) (*metaData, error) {
	ctx, cancel := context.WithTimeout(ctx, opts.MetadataTimeout)
	defer cancel()
	u := strings.TrimSuffix(opts.MetadataURL, "/") + "/" + metaDataPath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			return nil, fmt.Errorf("no answer within %s", opts.MetadataTimeout)
		}
		return nil, errors.New(strings.TrimPrefix(err.Error(), "Get \""+u+"\": "))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %d", u, resp.StatusCode)
	}
	return decodeMetaData(io.LimitReader(resp.Body, 1<<20))
}

func fromConfigDrive(dir string) (*metaData, error) {
	f, err := os.Open(filepath.Join(dir, metaDataPath))
	if err != nil {
		return nil, plainErr(err)
	}
	defer f.Close()
	return decodeMetaData(io.LimitReader(f, 1<<20))
}

func decodeMetaData(r io.Reader) (*metaData, error) {
	var md metaData
	if err := json.NewDecoder(r).Decode(&md); err != nil {
		return nil, fmt.Errorf("meta_data.json: %v", err)
	}
	if md.UUID == "" && md.AvailabilityZone == "" {
		return nil, errors.New("meta_data.json has neither uuid nor availability_zone")
	}
	return &md, nil
}

func fromDMI(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", plainErr(err)
	}
	u := strings.ToLower(strings.TrimSpace(string(b)))
	if u == "" || strings.Trim(u, "0-") == "" {
		return "", errors.New("empty or all-zero UUID")
	}
	return u, nil
}
