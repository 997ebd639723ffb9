package driver

import (
	"context"
	"errors"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

func (d *Driver) GetPluginInfo(context.Context, *csi.GetPluginInfoRequest) (*csi.GetPluginInfoResponse, error) {
	return &csi.GetPluginInfoResponse{Name: d.cfg.Name, VendorVersion: d.cfg.Version}, nil
}

func (d *Driver) GetPluginCapabilities(context.Context, *csi.GetPluginCapabilitiesRequest) (*csi.GetPluginCapabilitiesResponse, error) {
	svc := func(t csi.PluginCapability_Service_Type) *csi.PluginCapability {
		return &csi.PluginCapability{Type: &csi.PluginCapability_Service_{Service: &csi.PluginCapability_Service{Type: t}}}
	}
	caps := []*csi.PluginCapability{
		svc(csi.PluginCapability_Service_CONTROLLER_SERVICE),
		svc(csi.PluginCapability_Service_VOLUME_ACCESSIBILITY_CONSTRAINTS),
	}
	// Expansion is only known where a cloud is configured; a node-only
	// process has none and its answer is not used for expansion.
	exp := csi.PluginCapability_VolumeExpansion_UNKNOWN
	if d.cloud != nil {
		switch d.caps.Expansion {
		case cloud.ExpansionOnline:
			exp = csi.PluginCapability_VolumeExpansion_ONLINE
		case cloud.ExpansionOffline:
			exp = csi.PluginCapability_VolumeExpansion_OFFLINE
		}
	}
	if exp != csi.PluginCapability_VolumeExpansion_UNKNOWN {
		caps = append(caps, &csi.PluginCapability{Type: &csi.PluginCapability_VolumeExpansion_{
			VolumeExpansion: &csi.PluginCapability_VolumeExpansion{Type: exp}}})
	}
	return &csi.GetPluginCapabilitiesResponse{Capabilities: caps}, nil
}

// Probe checks the cloud (a quota read, the cheapest authenticated call)
// in controller mode; a success is reused for ProbeTTL so frequent
// liveness probes do not spend the cloud's rate limit.
func (d *Driver) Probe(ctx context.Context, _ *csi.ProbeRequest) (*csi.ProbeResponse, error) {
	if !d.cfg.Mode.HasController() {
		return &csi.ProbeResponse{Ready: wrapperspb.Bool(true)}, nil
	}
	d.probeMu.Lock()
	defer d.probeMu.Unlock()
	if time.Since(d.probeTime) < d.cfg.ProbeTTL {
		return &csi.ProbeResponse{Ready: wrapperspb.Bool(true)}, nil
	}
	_, err := d.cloud.GetLimits(ctx)
	if errors.Is(err, cloud.ErrUnsupported) {
		// No quota API (Lunanode): a one-entry listing is the next
		// cheapest authenticated call.
		_, err = d.cloud.ListVolumes(ctx, cloud.ListOptions{Limit: 1})
	}
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "cloud %s is not reachable: %v", d.cloud.Name(), err)
	}
	d.probeTime = time.Now()
	return &csi.ProbeResponse{Ready: wrapperspb.Bool(true)}, nil
}
