package openstack

import (
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/disk"
	"k8s.io/klog/v2"
)

// Attachments through Nova: attach, detach and the local loop devices.
// Every function runs with s.mu held.

func (s *Handler) attachmentsOf(serverID string) []*Attachment {
	var out []*Attachment
	for _, v := range s.st.Volumes {
		for _, a := range v.Attachments {
			if a.ServerID == serverID {
				out = append(out, a)
			}
		}
	}
	return out
}

// nextDevice is the advisory name: the lowest free /dev/vdX after vda
// (the boot disk), given the server's attachments.
func (s *Handler) nextDevice(attached []*Attachment) string {
	used := map[string]bool{"/dev/vda": true}
	for _, a := range attached {
		used[a.Device] = true
	}
	first := 'b'
	if d := s.prof.firstDevice; len(d) == len("/dev/vdb") {
		first = rune(d[len(d)-1])
	}
	for ch := first; ch <= 'z'; ch++ {
		if d := "/dev/vd" + string(ch); !used[d] {
			return d
		}
	}
	return "/dev/vdzz"
}

func (s *Handler) attachVolume(c *call, srv *Server, volumeID string) (*Attachment, *apiError) {
	v, e := s.volume(c.scope(), volumeID)
	if e != nil {
		return nil, e
	}
	for _, a := range v.Attachments {
		if a.ServerID == srv.ID {
			return nil, errBadRequest("Invalid volume: volume %s already attached", v.ID)
		}
	}
	if v.Multiattach && !microAtLeast(c.micro, 2, 60) {
		// Nova's MultiattachNotSupportedOldMicroversion, for the first
		// attach as for the others.
		return nil, errBadRequest("Multiattach volumes are only supported starting with compute API version 2.60.")
	}
	if !(v.Status == "available" || (v.Status == "in-use" && v.Multiattach)) {
		return nil, errBadRequest("Invalid volume: Volume %s status must be available or downloading to reserve, but the current status is %s.", v.ID, v.Status)
	}
	if s.prof.rules.SameZoneAttach && v.Zone != srv.Zone {
		return nil, errBadRequest("Invalid volume: Instance %s and volume %s are not in the same availability_zone. Instance is in %s. Volume is in %s", srv.ID, v.ID, srv.Zone, v.Zone)
	}
	// One walk of every volume for both uses: a project of 11,000.
	attached := s.attachmentsOf(srv.ID)
	if max := s.prof.rules.MaxVolumesPerServer; max > 0 && len(attached)+1 >= max {
		return nil, errForbidden("The maximum allowed number of disk devices (%d) to attach to a single instance has been exceeded.", max)
	}
	a := &Attachment{ID: newID(), ServerID: srv.ID, Device: s.nextDevice(attached), HostName: srv.Name, Status: "attaching"}
	v.Attachments = append(v.Attachments, a)
	if v.Status == "available" {
		v.Status = "attaching"
	}
	v.UpdatedAt = now()
	s.scheduleAttach(v.ID, a.ID)
	return a, nil
}

func (s *Handler) scheduleAttach(volID, attID string) {
	s.later(OpAttach, s.durs.Attach, func() {
		v := s.st.Volumes[volID]
		if v == nil {
			return
		}
		a := findAttachment(v, attID)
		if a == nil || a.Status != "attaching" {
			return
		}
		v.UpdatedAt = now()
		if s.faults.TakeFailure(OpAttach) {
			removeAttachment(v, attID)
			v.Status = "error_attaching"
			return
		}
		a.Status, a.AttachedAt = "attached", now()
		v.Status = "in-use"
		if s.localStore(a.ServerID) != nil {
			s.showDevice(volID, attID)
		}
	})
}

// showDevice makes the attached volume a local disk once the guest would
// see it, s.durs.Device after the attachment is reported done, unless it
// has been detached by then.
func (s *Handler) showDevice(volID, attID string) {
	show := func() {
		v := s.st.Volumes[volID]
		if v == nil {
			return
		}
		if a := findAttachment(v, attID); a != nil && a.Status == "attached" {
			s.attachLocal(v, a.ServerID)
		}
	}
	if s.durs.Device <= 0 {
		show()
		return
	}
	s.later(OpDevice, s.durs.Device, show)
}

// localStore is the disk store of a server on this machine, or nil.
func (s *Handler) localStore(serverID string) *disk.Store {
	switch {
	case serverID == "":
		return nil
	case serverID == s.cfg.LocalServerID:
		return s.store
	}
	return s.others[serverID]
}

// attachLocal makes the volume a local disk of serverID (a server on this
// machine); a failure is logged, not fatal, because the API-level
// attachment is what clients see.
func (s *Handler) attachLocal(v *Volume, serverID string) {
	st := s.localStore(serverID)
	if st == nil {
		return
	}
	l, err := st.Attach(v.ID, v.ID)
	if err != nil {
		klog.ErrorS(err, "cloudsim: local attach failed", "volume", v.ID)
		return
	}
	switch {
	case l.Hosted:
		klog.V(2).InfoS("cloudsim: plugged into the local server's guest", "volume", v.ID, "serial", l.Serial)
	case !l.Loop:
		klog.InfoS("cloudsim: attached to the local server without a loop device (not root): the link points at the image file", "volume", v.ID, "link", l.Link)
	default:
		klog.V(2).InfoS("cloudsim: attached to the local server", "volume", v.ID, "device", l.Device, "link", l.Link)
	}
}

func findAttachment(v *Volume, attID string) *Attachment {
	for _, a := range v.Attachments {
		if a.ID == attID {
			return a
		}
	}
	return nil
}

func removeAttachment(v *Volume, attID string) {
	out := v.Attachments[:0]
	for _, a := range v.Attachments {
		if a.ID != attID {
			out = append(out, a)
		}
	}
	v.Attachments = out
}

func (s *Handler) detachVolume(c *call, srv *Server, volumeID string) *apiError {
	v := s.st.Volumes[volumeID]
	var a *Attachment
	if v != nil && v.ProjectID == c.project {
		for _, x := range v.Attachments {
			if x.ServerID == srv.ID {
				a = x
			}
		}
	}
	if a == nil {
		return errNotFound("volume_id not found: %s", volumeID)
	}
	if a.Status != "attached" || (v.Status != "in-use") {
		return errBadRequest("Invalid volume: Unable to detach volume. Volume status must be 'in-use' and attach_status must be 'attached' to detach.")
	}
	a.Status = "detaching"
	v.Status = "detaching"
	v.UpdatedAt = now()
	s.scheduleDetach(v.ID, a.ID)
	return nil
}

func (s *Handler) scheduleDetach(volID, attID string) {
	s.later(OpDetach, s.durs.Detach, func() {
		v := s.st.Volumes[volID]
		if v == nil {
			return
		}
		a := findAttachment(v, attID)
		if a == nil || a.Status != "detaching" {
			return
		}
		v.UpdatedAt = now()
		if s.faults.TakeFailure(OpDetach) {
			a.Status = "attached"
			v.Status = "error_detaching"
			return
		}
		s.finishDetach(v, a)
	})
}

func (s *Handler) finishDetach(v *Volume, a *Attachment) {
	if st := s.localStore(a.ServerID); st != nil {
		if err := st.Detach(v.ID, v.ID); err != nil {
			klog.ErrorS(err, "cloudsim: local detach failed", "volume", v.ID)
		}
	}
	removeAttachment(v, a.ID)
	v.Status = restingStatus(v)
}

// recover runs at start: local attachments are restored and interrupted
// transitions are scheduled again.
