package driver

import (
	"context"
	"errors"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/inflight"
	"github.com/openblock-csi/openblock-csi/pkg/node"
)

// Node is the CSI Node service: it finds the attached disk, formats,
// mounts, binds, grows and unmounts it through node.Ops, and touches only
// paths it recorded in its ledger. It holds no cloud.
type Node struct {
	csi.UnimplementedNodeServer

	ops    node.Ops
	roots  node.Roots
	ledger *node.Ledger

	nodeID string
	zone   string
	// maxVolumes is reported by NodeGetInfo; serialLength is used when a
	// publish context does not carry one.
	maxVolumes   int64
	serialLength int

	// inFlight holds the volumes with a node operation under way; a second
	// request on one of them gets Aborted.
	inFlight inflight.Set
}

// newNode: caps, when a cloud is configured in the same process, gives
// the defaults for the attach limit and serial length.
func newNode(cfg Config, caps *cloud.Capabilities) (*Node, error) {
	if cfg.NodeOps == nil {
		return nil, errors.New("node mode needs node operations")
	}
	if cfg.NodeID == "" {
		return nil, errors.New("node mode needs a node id")
	}
	n := &Node{ops: cfg.NodeOps, nodeID: cfg.NodeID, zone: cfg.Zone, maxVolumes: cfg.MaxVolumesPerNode, serialLength: cfg.SerialLength}
	if caps != nil {
		if n.maxVolumes == 0 {
			n.maxVolumes = int64(caps.MaxVolumesPerNode)
		}
		if n.serialLength == 0 {
			n.serialLength = caps.SerialLength
		}
	}
	if err := n.openState(cfg); err != nil {
		return nil, err
	}
	return n, nil
}

func (n *Node) NodeGetInfo(context.Context, *csi.NodeGetInfoRequest) (*csi.NodeGetInfoResponse, error) {
	resp := &csi.NodeGetInfoResponse{NodeId: n.nodeID, MaxVolumesPerNode: max(n.maxVolumes, 0)}
	if n.zone != "" {
		resp.AccessibleTopology = &csi.Topology{Segments: map[string]string{TopologyZoneKey: n.zone}}
	}
	return resp, nil
}

func (n *Node) NodeGetCapabilities(context.Context, *csi.NodeGetCapabilitiesRequest) (*csi.NodeGetCapabilitiesResponse, error) {
	resp := &csi.NodeGetCapabilitiesResponse{}
	for _, t := range []csi.NodeServiceCapability_RPC_Type{
		csi.NodeServiceCapability_RPC_STAGE_UNSTAGE_VOLUME,
		csi.NodeServiceCapability_RPC_EXPAND_VOLUME,
		csi.NodeServiceCapability_RPC_GET_VOLUME_STATS,
		csi.NodeServiceCapability_RPC_GET_VOLUME_HEALTH,
		csi.NodeServiceCapability_RPC_SINGLE_NODE_MULTI_WRITER,
	} {
		resp.Capabilities = append(resp.Capabilities, &csi.NodeServiceCapability{
			Type: &csi.NodeServiceCapability_Rpc{Rpc: &csi.NodeServiceCapability_RPC{Type: t}}})
	}
	return resp, nil
}
