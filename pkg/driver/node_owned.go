package driver

import (
	"context"
	"errors"
	"time"

	"k8s.io/klog/v2"

	"github.com/openblock-csi/openblock-csi/pkg/node"
)

// The node touches only what it made. NodeStage and NodePublish record in
// a ledger (node.Ledger) which volume and device they mount at each path
// and whether they created it; the unmounting calls, stats, expansion and
// health act on a path only when its record names the volume asked about,
// and nothing is ever mounted over another volume. A refusal happens
// before anything on the host is changed.

var errStillMounted = errors.New("still mounted after unmounting")

// checkClaim refuses to make a path volume volID's kind path when the
// ledger gives it to another volume or use: AlreadyExists.
func (n *Node) checkClaim(volID, path, kind string) (node.Record, bool, error) {
	rec, ok, err := n.ledger.Get(path)
	if err != nil {
		return rec, false, failed(err, "reading the node's record of %s", path)
	}
	if ok && (rec.VolumeID != volID || rec.Kind != kind) {
		return rec, false, alreadyExists("%s is the %s path of volume %s; not using it for volume %s", path, rec.Kind, rec.VolumeID, volID)
	}
	return rec, ok, nil
}

// refuseOtherMount answers AlreadyExists when something other than device
// is mounted at path, before anything is changed.
func (n *Node) refuseOtherMount(volID, path, device string) error {
	st, err := n.ops.MountState(path)
	if err != nil {
		return failed(err, "inspecting %s", path)
	}
	if !st.Mounted {
		return nil
	}
	if st.Corrupted || !node.SameDevice(st.Device, device) {
		return alreadyExists("%s already has %s mounted; not mounting volume %s (%s) over it", path, orUnknown(st.Device), volID, device)
	}
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown device"
	}
	return s
}

// record notes what was made at path; a repeated call keeps the first
// call's knowledge of whether the path was created.
func (n *Node) record(r node.Record, prior node.Record, hadPrior bool) error {
	if hadPrior {
		r.Created = prior.Created
		r.SetRO = r.SetRO || prior.SetRO
	}
	if err := n.ledger.Put(r); err != nil {
		return failed(err, "recording the mount of volume %s at %s", r.VolumeID, r.Path)
	}
	return nil
}

// undoCreate removes a path this call created when the call fails, so a
// failed NodeStage or NodePublish leaves nothing behind.
func (n *Node) undoCreate(path string, existed bool) {
	if !existed {
		_, _ = n.ops.RemoveIfEmpty(path)
	}
}

// release undoes what NodeStage (kind stage) or NodePublish (kind publish)
// made at path for volID: it unmounts only a mount of the recorded device
// and removes the path only if the record says it was created and it is
// empty. A path with no record of this volume that is not mounted is
// already released; one with something else mounted is left alone.
func (n *Node) release(ctx context.Context, volID, path, kind string) error {
	rec, ok, err := n.ledger.Get(path)
	if err != nil {
		return failed(err, "reading the node's record of %s", path)
	}
	st, err := n.ops.MountState(path)
	if err != nil {
		return failed(err, "inspecting %s", path)
	}
	switch {
	case ok && (rec.VolumeID != volID || rec.Kind != kind):
		if !st.Mounted {
			return nil
		}
		return precondition("%s is the %s path of volume %s, not the %s path of volume %s; left alone", path, rec.Kind, rec.VolumeID, kind, volID)
	case !ok:
		if !st.Mounted {
			return nil
		}
		if rec, ok = n.adopt(ctx, volID, path, kind, st); !ok {
			return precondition("%s is a mount this driver did not make for volume %s; left alone", path, volID)
		}
	}
	for range 3 {
		if !st.Mounted {
			break
		}
		if !st.Corrupted && !node.SameDevice(st.Device, rec.Device) {
			return precondition("%s has %s mounted, not %s of volume %s; left alone", path, orUnknown(st.Device), rec.Device, volID)
		}
		if err := n.ops.UnmountTop(path); err != nil {
			return failed(err, "unmounting volume %s from %s", volID, path)
		}
		if st, err = n.ops.MountState(path); err != nil {
			return failed(err, "inspecting %s", path)
		}
	}
	if st.Mounted {
		return failed(errStillMounted, "unmounting volume %s from %s", volID, path)
	}
	if rec.Created {
		if _, err := n.ops.RemoveIfEmpty(path); err != nil {
			return failed(err, "removing %s", path)
		}
	}
	if err := n.ledger.Delete(path); err != nil {
		return failed(err, "forgetting the mount of volume %s at %s", volID, path)
	}
	if rec.ReadOnly {
		return n.releaseReadOnly(rec)
	}
	return nil
}

// blockPublishes lists the raw block publishes of device other than the
// one at except.
func (n *Node) blockPublishes(device, except string) ([]node.Record, error) {
	all, err := n.ledger.All()
	if err != nil {
		return nil, failed(err, "reading the node's records")
	}
	var out []node.Record
	for _, r := range all {
		if r.Block && r.Kind == node.KindPublish && r.Path != except && node.SameDevice(r.Device, device) {
			out = append(out, r)
		}
	}
	return out, nil
}

// refuseSecondTarget holds a SINGLE_NODE_SINGLE_WRITER volume to one
// publish target on this node, by the node's records, which outlive
// restarts.
func (n *Node) refuseSecondTarget(volID, target string) error {
	all, err := n.ledger.All()
	if err != nil {
		return failed(err, "reading the node's records")
	}
	for _, r := range all {
		if r.Kind == node.KindPublish && r.VolumeID == volID && r.Path != target {
			return precondition("volume %s has access mode SINGLE_NODE_SINGLE_WRITER and is already published at %s; not publishing it at %s too", volID, r.Path, target)
		}
	}
	return nil
}

// checkBlockMode refuses a raw block publish whose read-only mode differs
// from another publish of the same device on this node: the device's
// read-only flag is one for all its users.
func (n *Node) checkBlockMode(volID, target, device string, readOnly bool) error {
	others, err := n.blockPublishes(device, target)
	if err != nil {
		return err
	}
	for _, r := range others {
		if r.ReadOnly != readOnly {
			return precondition("volume %s is published with read-only %v at %s on this node; its device cannot be read-only %v at %s at the same time", volID, r.ReadOnly, r.Path, readOnly, target)
		}
	}
	return nil
}

// releaseReadOnly clears the device's read-only flag after the last
// read-only publish that set it is gone, or hands the duty on.
func (n *Node) releaseReadOnly(rec node.Record) error {
	others, err := n.blockPublishes(rec.Device, rec.Path)
	if err != nil {
		return err
	}
	if len(others) > 0 {
		if rec.SetRO {
			next := others[0]
			next.SetRO = true
			if err := n.ledger.Put(next); err != nil {
				return failed(err, "recording the mount of volume %s at %s", next.VolumeID, next.Path)
			}
		}
		return nil
	}
	if rec.SetRO {
		if _, err := n.ops.SetDeviceReadOnly(rec.Device, false); err != nil {
			return failed(err, "making %s writable again", rec.Device)
		}
	}
	return nil
}

// adoptWait bounds the look for the disk of an unrecorded mount.
const adoptWait = 2 * time.Second

// adopt recognises a mount made before the node kept records (a driver
// upgraded under running pods): it is this volume's when the disk whose
// serial is the volume id is what is mounted there. Such a path is never
// removed, since nothing says the driver created it. Clouds whose disk
// serial is not the volume id have nothing to match, and are refused.
func (n *Node) adopt(ctx context.Context, volID, path, kind string, st node.MountState) (node.Record, bool) {
	if st.Corrupted || !wellFormedID(volID) {
		return node.Record{}, false
	}
	fctx, cancel := context.WithTimeout(ctx, adoptWait)
	defer cancel()
	dev, err := n.ops.FindDevice(fctx, volID, n.serialLength)
	if err != nil || !node.SameDevice(st.Device, dev) {
		return node.Record{}, false
	}
	klog.FromContext(ctx).Info("Releasing a mount made before the node kept records", "path", path, "device", dev)
	return node.Record{Path: path, VolumeID: volID, Kind: kind, Device: dev}, true
}
