package driver

import (
	"context"
	"errors"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/lookup"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
	"github.com/openblock-csi/openblock-csi/pkg/inflight"
)

// Controller is the CSI Controller service: it creates, attaches, resizes
// and snapshots volumes through the cloud port, and cleans up what it
// created that failed. It holds no host state.
type Controller struct {
	csi.UnimplementedControllerServer

	cloud  cloud.Cloud
	waiter *waiter.Waiter
	lookup *lookup.Names
	caps   cloud.Capabilities

	// inFlight holds the names and ids of operations under way; a second
	// request on one of them gets Aborted.
	inFlight inflight.Set
	// janitor: failed resources being watched or removed in the background.
	janitor janitor
	twins   twinState

	// zoneMap and ignoreVolumeAZ translate between compute and volume
	// zones (controller_zones.go).
	zoneMap        map[string]string
	ignoreVolumeAZ bool
	attachTimeout  time.Duration
	sweepDelay     time.Duration
	sweepInterval  time.Duration
}

func newController(cfg Config) (*Controller, error) {
	if cfg.Cloud == nil {
		return nil, errors.New("controller mode needs a cloud")
	}
	c := &Controller{
		cloud: cfg.Cloud, waiter: cfg.Waiter, lookup: cfg.Lookup, caps: cfg.Cloud.Capabilities(),
		zoneMap: cfg.ZoneMap, ignoreVolumeAZ: cfg.IgnoreVolumeAZ, attachTimeout: cfg.AttachTimeout,
		sweepDelay: cfg.SweepDelay, sweepInterval: cfg.SweepInterval,
		twins: twinState{started: time.Now()},
	}
	if cfg.ControllerStateDir != "" {
		// Without a journal the controller is as safe, only dearer after a
		// restart (it lists the project): no reason to refuse to serve.
		found, err := c.twins.openTwinJournal(cfg.ControllerStateDir)
		if err != nil {
			klog.ErrorS(err, "Could not open the twin journal; a restarted controller lists the project instead", "dir", cfg.ControllerStateDir)
		} else {
			// A predecessor's journal says what a listing would guess.
			c.twins.probed = found
			klog.InfoS("Twin journal open", "dir", cfg.ControllerStateDir, "predecessor", found, "pendingCreates", len(c.twins.unanswered))
		}
	}
	if c.waiter == nil {
		c.waiter = waiter.New(cfg.Cloud, waiter.Options{})
	}
	if c.lookup == nil {
		c.lookup = lookup.New(cfg.Cloud, c.waiter.Options())
	}
	return c, nil
}

// checkCloud is the controller's readiness: a quota read, the cheapest
// authenticated call.
func (c *Controller) checkCloud(ctx context.Context) error {
	_, err := c.cloud.GetLimits(ctx)
	if errors.Is(err, cloud.ErrUnsupported) {
		// No quota API (Lunanode): a one-entry listing is the next
		// cheapest authenticated call.
		_, err = c.cloud.ListVolumes(ctx, cloud.ListOptions{Limit: 1})
	}
	if err != nil {
		return status.Errorf(codes.FailedPrecondition, "cloud %s is not reachable: %v", c.cloud.Name(), err)
	}
	return nil
}

func (c *Controller) ControllerGetCapabilities(context.Context, *csi.ControllerGetCapabilitiesRequest) (*csi.ControllerGetCapabilitiesResponse, error) {
	types := []csi.ControllerServiceCapability_RPC_Type{
		csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME,
		csi.ControllerServiceCapability_RPC_PUBLISH_UNPUBLISH_VOLUME,
		csi.ControllerServiceCapability_RPC_LIST_VOLUMES,
		csi.ControllerServiceCapability_RPC_LIST_VOLUMES_PUBLISHED_NODES,
		csi.ControllerServiceCapability_RPC_GET_CAPACITY,
		csi.ControllerServiceCapability_RPC_GET_VOLUME,
		csi.ControllerServiceCapability_RPC_GET_VOLUME_HEALTH,
		csi.ControllerServiceCapability_RPC_LIST_VOLUME_HEALTH,
	}
	if c.caps.Snapshots || c.caps.Backups {
		types = append(types,
			csi.ControllerServiceCapability_RPC_CREATE_DELETE_SNAPSHOT,
			csi.ControllerServiceCapability_RPC_LIST_SNAPSHOTS,
			csi.ControllerServiceCapability_RPC_GET_SNAPSHOT)
	}
	if c.caps.Clone {
		types = append(types, csi.ControllerServiceCapability_RPC_CLONE_VOLUME)
	}
	if c.caps.Expansion != cloud.ExpansionNone {
		types = append(types, csi.ControllerServiceCapability_RPC_EXPAND_VOLUME)
	}
	if c.caps.Retype {
		types = append(types, csi.ControllerServiceCapability_RPC_MODIFY_VOLUME)
	}
	// One node, several writers: RWO's meaning; RWOP is
	// SINGLE_NODE_SINGLE_WRITER, which the node holds to one target.
	types = append(types, csi.ControllerServiceCapability_RPC_SINGLE_NODE_MULTI_WRITER)
	if c.caps.VolumeMetadata {
		// Each node's publish mode is kept in the volume's metadata.
		types = append(types, csi.ControllerServiceCapability_RPC_PUBLISH_READONLY)
	}
	resp := &csi.ControllerGetCapabilitiesResponse{}
	for _, t := range types {
		resp.Capabilities = append(resp.Capabilities, &csi.ControllerServiceCapability{
			Type: &csi.ControllerServiceCapability_Rpc{Rpc: &csi.ControllerServiceCapability_RPC{Type: t}}})
	}
	return resp, nil
}
