package driver

import (
	"context"
	"sort"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
)

// Mutable parameters: what a Kubernetes VolumeAttributesClass may set, at
// creation and later through ControllerModifyVolume.
const (
	// MutableType is the volume type to change to (Cinder os-retype).
	MutableType = "type"
	// MutableMigrationPolicy allows a retype that moves the data to another
	// backend: never (the default) or on-demand.
	MutableMigrationPolicy = "migrationPolicy"
)

type mutableParams struct {
	volumeType string
	migration  cloud.MigrationPolicy
}

func parseMutableParams(p map[string]string) (mutableParams, error) {
	out := mutableParams{migration: cloud.MigrationNever}
	for k, v := range p {
		switch k {
		case MutableType:
			if strings.TrimSpace(v) == "" {
				return out, invalid("mutable parameter %s is empty", k)
			}
			out.volumeType = v
		case MutableMigrationPolicy:
			switch cloud.MigrationPolicy(v) {
			case cloud.MigrationNever, cloud.MigrationOnDemand:
				out.migration = cloud.MigrationPolicy(v)
			default:
				return out, invalid("mutable parameter %s: %q is not never or on-demand", k, v)
			}
		default:
			known := []string{MutableType, MutableMigrationPolicy}
			sort.Strings(known)
			return out, invalid("unknown mutable parameter %q (known: %s)", k, strings.Join(known, ", "))
		}
	}
	return out, nil
}

// ControllerModifyVolume changes a volume's type. It is idempotent: a
// volume already of the type answers OK without a call to change it.
func (c *Controller) ControllerModifyVolume(ctx context.Context, req *csi.ControllerModifyVolumeRequest) (*csi.ControllerModifyVolumeResponse, error) {
	id := req.GetVolumeId()
	if id == "" {
		return nil, invalid("volume id is required")
	}
	if !c.caps.Retype {
		return nil, status.Error(codes.Unimplemented, "this cloud cannot change a volume's type")
	}
	mp, err := parseMutableParams(req.GetMutableParameters())
	if err != nil {
		return nil, err
	}
	if !wellFormedID(id) {
		return nil, notFound("volume %s not found", id)
	}
	release, err := hold(&c.inFlight, "volume/"+id, "volume "+id)
	if err != nil {
		return nil, err
	}
	defer release()

	v, err := c.getVolume(ctx, id)
	if err != nil {
		return nil, err
	}
	if mp.volumeType == "" || v.VolumeType == mp.volumeType {
		return &csi.ControllerModifyVolumeResponse{}, nil
	}
	// A retype from an earlier call may still be under way.
	if v.Status != cloud.StatusBusy {
		if err := c.cloud.RetypeVolume(ctx, id, mp.volumeType, mp.migration); err != nil {
			return nil, failed(err, "changing volume %s from type %q to %q", id, v.VolumeType, mp.volumeType)
		}
	}
	v, err = c.waiter.WaitVolumeOp(ctx, waiter.OpRetype, id, func(v *cloud.Volume) (bool, error) {
		return v.Status == cloud.StatusAvailable || v.Status == cloud.StatusInUse, nil
	})
	if err != nil {
		return nil, failed(err, "waiting for volume %s to change to type %q", id, mp.volumeType)
	}
	if v.VolumeType != mp.volumeType {
		// Cinder's scheduler refused it after accepting the call: the
		// new type is on another backend and migration was not allowed,
		// or no backend can take it. Retrying will not help.
		hint := ""
		if mp.migration == cloud.MigrationNever {
			hint = "; if the type is on another backend, allow moving the data with " + MutableMigrationPolicy + ": on-demand"
		}
		return nil, invalid("volume %s kept type %q: the cloud did not change it to %q%s", id, v.VolumeType, mp.volumeType, hint)
	}
	return &csi.ControllerModifyVolumeResponse{}, nil
}
