// Package metadata finds out which server the node plugin runs on and in
// which zone: from flags, else the OpenStack metadata service, else a
// config drive, else the DMI product UUID (which Nova sets to the
// instance id).
package metadata

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
	"time"

	"k8s.io/klog/v2"
)

// Defaults.
const (
	DefaultServiceURL      = "http://169.254.169.254"
	DefaultProductUUIDPath = "/sys/class/dmi/id/product_uuid"
	metaDataPath           = "openstack/latest/meta_data.json"
	defaultTimeout         = 5 * time.Second
)

// Options says where to look. Empty NodeID/Zone mean "find out".
type Options struct {
	NodeID string
	Zone   string
	// ServiceURL is the metadata service; "-" disables it.
	ServiceURL string
	// ConfigDrive is where the config drive is mounted ("" skips it).
	ConfigDrive string
	// ProductUUIDPath is read last; "-" disables it.
	ProductUUIDPath string
	// Timeout bounds the metadata service request.
	Timeout time.Duration
	Client  *http.Client
}

// Identity is the node's id and zone and where each came from.
type Identity struct {
	NodeID, Zone             string
	NodeIDSource, ZoneSource string
}

// metaData is the part of meta_data.json the driver uses.
type metaData struct {
	UUID             string `json:"uuid"`
	AvailabilityZone string `json:"availability_zone"`
}

// Resolve returns the node identity. A missing node id is an error; a
// missing zone is not (the cloud may have none).
func Resolve(ctx context.Context, o Options) (Identity, error) {
	id := Identity{NodeID: o.NodeID, Zone: o.Zone}
	if id.NodeID != "" {
		id.NodeIDSource = "flag"
	}
	if id.Zone != "" {
		id.ZoneSource = "flag"
	}
	var errs []error
	fill := func(md *metaData, source string) {
		if id.NodeID == "" && md.UUID != "" {
			id.NodeID, id.NodeIDSource = md.UUID, source
		}
		if id.Zone == "" && md.AvailabilityZone != "" {
			id.Zone, id.ZoneSource = md.AvailabilityZone, source
		}
	}
	if (id.NodeID == "" || id.Zone == "") && o.ServiceURL != "-" {
		md, err := fromService(ctx, o)
		if err != nil {
			errs = append(errs, err)
			klog.V(2).InfoS("Metadata service not usable", "err", err)
		} else {
			fill(md, "metadata service")
		}
	}
	if (id.NodeID == "" || id.Zone == "") && o.ConfigDrive != "" {
		md, err := fromConfigDrive(o.ConfigDrive)
		if err != nil {
			errs = append(errs, err)
			klog.V(2).InfoS("Config drive not usable", "err", err)
		} else {
			fill(md, "config drive")
		}
	}
	if id.NodeID == "" && o.ProductUUIDPath != "-" {
		p := o.ProductUUIDPath
		if p == "" {
			p = DefaultProductUUIDPath
		}
		u, err := fromProductUUID(p)
		if err != nil {
			errs = append(errs, err)
		} else {
			id.NodeID, id.NodeIDSource = u, "product uuid"
		}
	}
	if id.NodeID == "" {
		return id, fmt.Errorf("no node id: set --node-id (%w)", errors.Join(errs...))
	}
	return id, nil
}

func fromService(ctx context.Context, o Options) (*metaData, error) {
	base := o.ServiceURL
	if base == "" {
		base = DefaultServiceURL
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	client := o.Client
	if client == nil {
		client = &http.Client{Timeout: timeout}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	url := strings.TrimRight(base, "/") + "/" + metaDataPath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("metadata service: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("metadata service: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metadata service: %s returned %s", url, resp.Status)
	}
	return decode(io.LimitReader(resp.Body, 1<<20), "metadata service")
}

func fromConfigDrive(dir string) (*metaData, error) {
	f, err := os.Open(filepath.Join(dir, metaDataPath))
	if err != nil {
		return nil, fmt.Errorf("config drive: %w", err)
	}
	defer f.Close()
	return decode(io.LimitReader(f, 1<<20), "config drive")
}

func decode(r io.Reader, source string) (*metaData, error) {
	var md metaData
	if err := json.NewDecoder(r).Decode(&md); err != nil {
		return nil, fmt.Errorf("%s: meta_data.json: %w", source, err)
	}
	return &md, nil
}

// fromProductUUID reads the DMI product UUID, which libvirt under Nova
// sets to the instance UUID. Some firmware reports it upper-case; Nova ids
// are lower-case.
func fromProductUUID(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("product uuid: %w", err)
	}
	u := strings.ToLower(strings.TrimSpace(string(b)))
	if u == "" {
		return "", fmt.Errorf("product uuid: %s is empty", path)
	}
	return u, nil
}
