package openstack

import (
	"k8s.io/klog/v2"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/disk"
)

// The snapshot's part of the state machine: create and delete.

type snapshotRequest struct {
	VolumeID, Name, Description string
	Force                       *bool // nil: not given
	Metadata                    map[string]string
}

func (s *Handler) createSnapshot(c *call, req snapshotRequest) (*Snapshot, *apiError) {
	v, e := s.volume(c.scope(), req.VolumeID)
	if e != nil {
		return nil, e
	}
	// From 3.66 Cinder snapshots in-use volumes without force, and
	// refuses force=false.
	force := req.Force != nil && *req.Force
	if c.microAtLeast(66) {
		if req.Force != nil && !*req.Force {
			return nil, errBadRequest("Invalid input received: Setting the force flag to false is not supported since microversion 3.66.")
		}
		force = true
	}
	ok := v.Status == "available" ||
		(v.Status == "in-use" && force && s.prof.rules.SnapshotInUse == SnapshotInUseForce)
	if !ok {
		return nil, errBadRequest("Invalid volume: Volume %s status must be available, but current status is: %s.", v.ID, v.Status)
	}
	if e := s.checkQuota(c.project, 0, 1, v.Size); e != nil {
		return nil, e
	}
	sn := &Snapshot{ID: newID(), ProjectID: c.project, VolumeID: v.ID, Name: req.Name, Description: req.Description,
		Status: "creating", Size: v.Size, Metadata: copyMeta(req.Metadata), CreatedAt: now()}
	sn.UpdatedAt = sn.CreatedAt
	if err := s.store.Copy(disk.KindVolumes, v.ID, disk.KindSnapshots, sn.ID, int64(v.Size)*gib); err != nil {
		return nil, errInternal(err.Error())
	}
	s.st.Snapshots[sn.ID] = sn
	s.scheduleSnapshotCreate(sn.ID)
	return sn, nil
}

func (s *Handler) scheduleSnapshotCreate(id string) {
	s.later(OpSnapshot, s.durs.Snapshot, func() {
		sn := s.st.Snapshots[id]
		if sn == nil || sn.Status != "creating" {
			return
		}
		sn.Status = "available"
		if s.faults.TakeFailure(OpSnapshot) {
			sn.Status = "error"
		}
		sn.UpdatedAt = now()
	})
}

func (s *Handler) deleteSnapshot(c *call, id string) *apiError {
	sn, e := s.snapshot(c.scope(), id)
	if e != nil {
		return e
	}
	if sn.Status != "available" && sn.Status != "error" {
		return errBadRequest("Invalid snapshot: Volume Snapshot status must be available or error and must not be part of a group.")
	}
	sn.Status = "deleting"
	sn.UpdatedAt = now()
	s.scheduleSnapshotDelete(id)
	return nil
}

func (s *Handler) scheduleSnapshotDelete(id string) {
	s.later(OpSnapshotDelete, s.durs.Delete, func() {
		sn := s.st.Snapshots[id]
		if sn == nil || sn.Status != "deleting" {
			return
		}
		if s.faults.TakeFailure(OpSnapshotDelete) {
			sn.Status = "error_deleting"
			return
		}
		if err := s.store.Delete(disk.KindSnapshots, id); err != nil {
			klog.ErrorS(err, "cloudsim: deleting snapshot image", "snapshot", id)
		}
		delete(s.st.Snapshots, id)
	})
}
