package openstack

import (
	"encoding/json"
	"strings"
)

// volumeAction serves POST /volumes/{id}/action. Besides the user actions
// (os-extend, os-volume_upload_image) it accepts the calls Nova and admins
// make to Cinder, so tools that drive attach by hand work too.
func (s *Handler) volumeAction(c *call) {
	var body map[string]json.RawMessage
	if e := c.decode(&body); e != nil {
		c.fail(e)
		return
	}
	if len(body) != 1 {
		c.fail(errBadRequest("Malformed request body"))
		return
	}
	var name string
	var arg json.RawMessage
	for k, v := range body {
		name, arg = k, v
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, e := s.volume(c.scope(), c.r.PathValue("id"))
	if e != nil {
		c.fail(e)
		return
	}
	code, resp, e := s.runAction(c, v, name, arg)
	if e != nil {
		c.fail(e)
		return
	}
	c.persist()
	c.json(code, resp)
}

// scope is the project whose resources the call may name: an admin may name
// any project's (Cinder's admin context), "" here.
func (c *call) scope() string {
	if c.isAdmin() {
		return ""
	}
	return c.project
}

func (c *call) isAdmin() bool {
	if c.tok == nil {
		return false
	}
	u := c.s.userByID(c.tok.UserID)
	if u == nil {
		return false
	}
	for _, r := range u.Roles {
		if r == "admin" {
			return true
		}
	}
	return false
}

func (s *Handler) runAction(c *call, v *Volume, name string, arg json.RawMessage) (int, any, *apiError) {
	parse := func(dst any) *apiError {
		if len(arg) == 0 || string(arg) == "null" {
			return nil
		}
		if err := json.Unmarshal(arg, dst); err != nil {
			return errBadRequest("Invalid input received: %s: %v", name, err)
		}
		return nil
	}
	adminOnly := func() *apiError {
		if !c.isAdmin() {
			return errForbidden("Policy doesn't allow volume_extension:volume_admin_actions:%s to be performed.", strings.TrimPrefix(name, "os-"))
		}
		return nil
	}
	v.UpdatedAt = now()
	switch name {
	case "os-extend":
		var a struct {
			NewSize json.Number `json:"new_size"`
		}
		if e := parse(&a); e != nil {
			return 0, nil, e
		}
		n, err := a.NewSize.Int64()
		if err != nil {
			return 0, nil, errBadRequest("Invalid input received: New size for extend must be specified as an integer.")
		}
		return 202, nil, s.extendVolume(c, v, int(n))

	case "os-volume_upload_image":
		var a struct {
			ImageName       string   `json:"image_name"`
			Force           jsonBool `json:"force"`
			DiskFormat      string   `json:"disk_format"`
			ContainerFormat string   `json:"container_format"`
		}
		if e := parse(&a); e != nil {
			return 0, nil, e
		}
		if !(v.Status == "available" || (v.Status == "in-use" && bool(a.Force))) {
			return 0, nil, errBadRequest("Invalid volume: Volume %s status must be available or in-use, but current status is: %s.", v.ID, v.Status)
		}
		if a.DiskFormat == "" {
			a.DiskFormat = "raw"
		}
		if a.ContainerFormat == "" {
			a.ContainerFormat = "bare"
		}
		img := &Image{ID: newID(), Name: a.ImageName, ProjectID: c.project, VolumeID: v.ID, Size: v.Size, CreatedAt: now()}
		s.st.Images[img.ID] = img
		v.PrevStatus, v.Status = v.Status, "uploading"
		s.scheduleUpload(v.ID)
		t, _ := s.volumeType(v.VolumeType)
		var vt any
		if t != nil {
			vt = map[string]any{"id": t.ID, "name": t.Name, "is_public": true, "deleted": false, "description": nullable(t.Description)}
		}
		return 202, map[string]any{"os-volume_upload_image": map[string]any{
			"id": v.ID, "status": "uploading", "image_id": img.ID, "image_name": img.Name,
			"disk_format": a.DiskFormat, "container_format": a.ContainerFormat, "size": v.Size,
			"updated_at": ts(v.UpdatedAt), "display_description": nullable(v.Description), "volume_type": vt,
		}}, nil

	case "os-reserve":
		if v.Status != "available" {
			return 0, nil, errBadRequest("Invalid volume: Volume status must be available to reserve, but the status is %s.", v.Status)
		}
		v.Status = "attaching"
		return 202, nil, nil

	case "os-unreserve":
		if v.Status == "attaching" {
			v.Status = restingStatus(v)
		}
		return 202, nil, nil

	case "os-attach":
		var a struct {
			InstanceUUID string `json:"instance_uuid"`
			Mountpoint   string `json:"mountpoint"`
			HostName     string `json:"host_name"`
		}
		if e := parse(&a); e != nil {
			return 0, nil, e
		}
		if v.Status != "available" && v.Status != "attaching" && !(v.Status == "in-use" && v.Multiattach) {
			return 0, nil, errBadRequest("Invalid volume: Volume status must be available or attaching to attach, but the status is %s.", v.Status)
		}
		att := &Attachment{ID: newID(), ServerID: a.InstanceUUID, Device: a.Mountpoint, HostName: a.HostName, Status: "attached", AttachedAt: now()}
		v.Attachments = append(v.Attachments, att)
		s.attachLocal(v, a.InstanceUUID)
		v.Status = "in-use"
		return 202, nil, nil

	case "os-begin_detaching":
		if v.Status != "in-use" {
			return 0, nil, errBadRequest("Invalid volume: Unable to detach volume. Volume status must be 'in-use' and attach_status must be 'attached' to detach.")
		}
		v.Status = "detaching"
		return 202, nil, nil

	case "os-roll_detaching":
		if v.Status == "detaching" {
			v.Status = restingStatus(v)
		}
		return 202, nil, nil

	case "os-detach":
		var a struct {
			AttachmentID string `json:"attachment_id"`
		}
		if e := parse(&a); e != nil {
			return 0, nil, e
		}
		for _, att := range append([]*Attachment(nil), v.Attachments...) {
			if a.AttachmentID == "" || att.ID == a.AttachmentID {
				s.finishDetach(v, att)
			}
		}
		v.Status = restingStatus(v)
		return 202, nil, nil

	case "os-initialize_connection":
		data := map[string]any{"device_path": s.store.Path("volumes", v.ID), "volume_id": v.ID, "access_mode": "rw"}
		return 200, map[string]any{"connection_info": map[string]any{"driver_volume_type": "local", "data": data}}, nil

	case "os-terminate_connection":
		return 202, nil, nil

	case "os-set_bootable":
		var a struct {
			Bootable jsonBool `json:"bootable"`
		}
		if e := parse(&a); e != nil {
			return 0, nil, e
		}
		v.Bootable = bool(a.Bootable)
		return 200, nil, nil

	case "os-reset_status":
		if e := adminOnly(); e != nil {
			return 0, nil, e
		}
		var a struct {
			Status       string `json:"status"`
			AttachStatus string `json:"attach_status"`
		}
		if e := parse(&a); e != nil {
			return 0, nil, e
		}
		if a.AttachStatus == "detached" {
			for _, att := range append([]*Attachment(nil), v.Attachments...) {
				s.finishDetach(v, att)
			}
		}
		if a.Status != "" {
			v.Status = a.Status
		}
		return 202, nil, nil

	case "os-force_delete":
		if e := adminOnly(); e != nil {
			return 0, nil, e
		}
		for _, att := range append([]*Attachment(nil), v.Attachments...) {
			s.finishDetach(v, att)
		}
		v.Status = "deleting"
		s.scheduleVolumeDelete(v.ID)
		return 202, nil, nil
	}
	if code, resp, e, ok := s.moreVolumeActions(c, v, name, arg); ok {
		return code, resp, e
	}
	return 0, nil, errBadRequest("There is no such action: %s", name)
}
