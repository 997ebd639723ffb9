package driver

import (
	"context"
	"sync"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// Identity is the CSI Identity service: the driver's name and version, what
// it offers, and whether it is ready.
type Identity struct {
	csi.UnimplementedIdentityServer

	name, version string
	// expansion is what GetPluginCapabilities reports; UNKNOWN (left out)
	// where no cloud is configured.
	expansion csi.PluginCapability_VolumeExpansion_Type

	// ready checks what the process depends on (the cloud, in controller
	// mode); nil: always ready. A success is reused for readyTTL.
	ready     func(context.Context) error
	readyTTL  time.Duration
	readyMu   sync.Mutex
	readyTime time.Time
}

// newIdentity: caps is nil without a cloud; controller, when there is
// one, is what readiness checks.
func newIdentity(cfg Config, caps *cloud.Capabilities, controller *Controller) *Identity {
	id := &Identity{name: cfg.Name, version: cfg.Version, readyTTL: cfg.ProbeTTL}
	// Expansion is only known where a cloud is configured; a node-only
	// process has none and its answer is not used for expansion.
	if caps != nil {
		switch caps.Expansion {
		case cloud.ExpansionOnline:
			id.expansion = csi.PluginCapability_VolumeExpansion_ONLINE
		case cloud.ExpansionOffline:
			id.expansion = csi.PluginCapability_VolumeExpansion_OFFLINE
		}
	}
	if controller != nil {
		id.ready = controller.checkCloud
	}
	return id
}

func (id *Identity) GetPluginInfo(context.Context, *csi.GetPluginInfoRequest) (*csi.GetPluginInfoResponse, error) {
	return &csi.GetPluginInfoResponse{Name: id.name, VendorVersion: id.version}, nil
}

func (id *Identity) GetPluginCapabilities(context.Context, *csi.GetPluginCapabilitiesRequest) (*csi.GetPluginCapabilitiesResponse, error) {
	svc := func(t csi.PluginCapability_Service_Type) *csi.PluginCapability {
		return &csi.PluginCapability{Type: &csi.PluginCapability_Service_{Service: &csi.PluginCapability_Service{Type: t}}}
	}
	caps := []*csi.PluginCapability{
		svc(csi.PluginCapability_Service_CONTROLLER_SERVICE),
		svc(csi.PluginCapability_Service_VOLUME_ACCESSIBILITY_CONSTRAINTS),
	}
	if id.expansion != csi.PluginCapability_VolumeExpansion_UNKNOWN {
		caps = append(caps, &csi.PluginCapability{Type: &csi.PluginCapability_VolumeExpansion_{
			VolumeExpansion: &csi.PluginCapability_VolumeExpansion{Type: id.expansion}}})
	}
	return &csi.GetPluginCapabilitiesResponse{Capabilities: caps}, nil
}

// Probe runs the readiness check; a success is reused for the TTL so
// frequent liveness probes do not spend the cloud's rate limit.
func (id *Identity) Probe(ctx context.Context, _ *csi.ProbeRequest) (*csi.ProbeResponse, error) {
	if id.ready == nil {
		return &csi.ProbeResponse{Ready: wrapperspb.Bool(true)}, nil
	}
	id.readyMu.Lock()
	defer id.readyMu.Unlock()
	if time.Since(id.readyTime) < id.readyTTL {
		return &csi.ProbeResponse{Ready: wrapperspb.Bool(true)}, nil
	}
	if err := id.ready(ctx); err != nil {
		return nil, err
	}
	id.readyTime = time.Now()
	return &csi.ProbeResponse{Ready: wrapperspb.Bool(true)}, nil
}
