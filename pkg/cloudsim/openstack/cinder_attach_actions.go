package openstack

// The volume actions Nova (or an admin, or a tool driving an attachment by
// hand) calls on Cinder: reserve, attach, detach and their connection
// calls, and the admin's reset and force delete.

func (s *Handler) actReserve(c *call, v *Volume, a action) (int, any, *apiError) {
	if v.Status != "available" {
		return 0, nil, errBadRequest("Invalid volume: Volume status must be available to reserve, but the status is %s.", v.Status)
	}
	v.Status = "attaching"
	return 202, nil, nil
}

func (s *Handler) actUnreserve(c *call, v *Volume, a action) (int, any, *apiError) {
	if v.Status == "attaching" {
		v.Status = restingStatus(v)
	}
	return 202, nil, nil
}

func (s *Handler) actAttach(c *call, v *Volume, a action) (int, any, *apiError) {
	var arg struct {
		InstanceUUID string `json:"instance_uuid"`
		Mountpoint   string `json:"mountpoint"`
		HostName     string `json:"host_name"`
	}
	if e := a.parse(&arg); e != nil {
		return 0, nil, e
	}
	if v.Status != "available" && v.Status != "attaching" && !(v.Status == "in-use" && v.Multiattach) {
		return 0, nil, errBadRequest("Invalid volume: Volume status must be available or attaching to attach, but the status is %s.", v.Status)
	}
	att := &Attachment{ID: newID(), ServerID: arg.InstanceUUID, Device: arg.Mountpoint, HostName: arg.HostName, Status: "attached", AttachedAt: now()}
	v.Attachments = append(v.Attachments, att)
	s.attachLocal(v, arg.InstanceUUID)
	v.Status = "in-use"
	return 202, nil, nil
}

func (s *Handler) actBeginDetaching(c *call, v *Volume, a action) (int, any, *apiError) {
	if v.Status != "in-use" {
		return 0, nil, errBadRequest("Invalid volume: Unable to detach volume. Volume status must be 'in-use' and attach_status must be 'attached' to detach.")
	}
	v.Status = "detaching"
	return 202, nil, nil
}

func (s *Handler) actRollDetaching(c *call, v *Volume, a action) (int, any, *apiError) {
	if v.Status == "detaching" {
		v.Status = restingStatus(v)
	}
	return 202, nil, nil
}

func (s *Handler) actDetach(c *call, v *Volume, a action) (int, any, *apiError) {
	var arg struct {
		AttachmentID string `json:"attachment_id"`
	}
	if e := a.parse(&arg); e != nil {
		return 0, nil, e
	}
	for _, att := range append([]*Attachment(nil), v.Attachments...) {
		if arg.AttachmentID == "" || att.ID == arg.AttachmentID {
			s.finishDetach(v, att)
		}
	}
	v.Status = restingStatus(v)
	return 202, nil, nil
}

func (s *Handler) actInitializeConnection(c *call, v *Volume, a action) (int, any, *apiError) {
	data := map[string]any{"device_path": s.store.Path("volumes", v.ID), "volume_id": v.ID, "access_mode": "rw"}
	return 200, map[string]any{"connection_info": map[string]any{"driver_volume_type": "local", "data": data}}, nil
}

func (s *Handler) actTerminateConnection(c *call, v *Volume, a action) (int, any, *apiError) {
	return 202, nil, nil
}

func (s *Handler) actResetStatus(c *call, v *Volume, a action) (int, any, *apiError) {
	if e := a.adminOnly(c); e != nil {
		return 0, nil, e
	}
	var arg struct {
		Status       string `json:"status"`
		AttachStatus string `json:"attach_status"`
	}
	if e := a.parse(&arg); e != nil {
		return 0, nil, e
	}
	if arg.AttachStatus == "detached" {
		for _, att := range append([]*Attachment(nil), v.Attachments...) {
			s.finishDetach(v, att)
		}
	}
	if arg.Status != "" {
		v.Status = arg.Status
	}
	return 202, nil, nil
}

func (s *Handler) actForceDelete(c *call, v *Volume, a action) (int, any, *apiError) {
	if e := a.adminOnly(c); e != nil {
		return 0, nil, e
	}
	for _, att := range append([]*Attachment(nil), v.Attachments...) {
		s.finishDetach(v, att)
	}
	v.Status = "deleting"
	s.scheduleVolumeDelete(v.ID)
	return 202, nil, nil
}
