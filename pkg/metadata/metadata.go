// Package metadata finds out which server the node plugin runs on and in
// which zone: from flags, else the OpenStack metadata service, else a
// config drive, else the DMI product UUID (which Nova sets to the
// instance id).
package metadata

import (
	"context"
	"errors"
	"fmt"
	"net/http"
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
	fill := func(md *Document, source string) {
		if id.NodeID == "" && md.UUID != "" {
			id.NodeID, id.NodeIDSource = md.UUID, source
		}
		if id.Zone == "" && md.AvailabilityZone != "" {
			id.Zone, id.ZoneSource = md.AvailabilityZone, source
		}
	}
	if (id.NodeID == "" || id.Zone == "") && o.ServiceURL != "-" {
		md, err := FromService(ctx, o)
		if err != nil {
			errs = append(errs, fmt.Errorf("metadata service: %w", err))
			klog.V(2).InfoS("Metadata service not usable", "err", err)
		} else {
			fill(md, "metadata service")
		}
	}
	if (id.NodeID == "" || id.Zone == "") && o.ConfigDrive != "" {
		md, err := FromConfigDrive(o.ConfigDrive)
		if err != nil {
			errs = append(errs, fmt.Errorf("config drive: %w", err))
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
		u, err := FromProductUUID(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("product uuid: %w", err))
		} else {
			id.NodeID, id.NodeIDSource = u, "product uuid"
		}
	}
	if id.NodeID == "" {
		return id, fmt.Errorf("no node id: set --node-id (%w)", errors.Join(errs...))
	}
	return id, nil
}
