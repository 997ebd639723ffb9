package openstack

import (
	"encoding/json"
	"net/http"
)

// Cinder's attachments API (3.27; os-complete 3.44): how Nova attaches
// volumes since Queens. An attachment is reserved (no connector yet),
// attaching (connector given), then attached once completed.

func (s *Handler) attachmentRoutes(h func(string, handlerFunc)) {
	p := "/volume/{ver}/{project}/attachments"
	h("GET "+p, s.listCinderAttachments(false))
	h("GET "+p+"/detail", s.listCinderAttachments(true))
	h("POST "+p, s.createCinderAttachment)
	h("GET "+p+"/{id}", s.cinderAttachment)
	h("PUT "+p+"/{id}", s.updateCinderAttachment)
	h("DELETE "+p+"/{id}", s.cinderAttachment)
	h("POST "+p+"/{id}/action", s.cinderAttachmentAction)
}

// attachmentsAPI checks the microversion: the routes exist from 3.27.
func (c *call) attachmentsAPI() bool {
	if !c.microAtLeast(27) {
		c.fail(errNotFound("The resource could not be found."))
		return false
	}
	return true
}

func (c *call) cinderAttachmentView(v *Volume, a *Attachment, detail bool) map[string]any {
	status := a.Status
	m := map[string]any{"id": a.ID, "status": status, "instance": nullable(a.ServerID), "volume_id": v.ID}
	if !detail {
		return m
	}
	m["attach_mode"] = "rw"
	m["attached_at"], m["detached_at"] = nil, nil
	if !a.AttachedAt.IsZero() {
		m["attached_at"] = ts(a.AttachedAt)
	}
	m["connection_info"] = map[string]any{}
	if status != "reserved" {
		m["connection_info"] = map[string]any{"driver_volume_type": "local",
			"data":          map[string]any{"device_path": c.s.store.Path("volumes", v.ID), "volume_id": v.ID, "access_mode": "rw"},
			"attachment_id": a.ID}
	}
	return m
}

// findCinderAttachment finds an attachment by id in the caller's scope.
func (s *Handler) findCinderAttachment(c *call, id string) (*Volume, *Attachment, *apiError) {
	for _, v := range s.st.Volumes {
		if scope := c.scope(); scope != "" && v.ProjectID != scope {
			continue
		}
		if a := findAttachment(v, id); a != nil {
			return v, a, nil
		}
	}
	return nil, nil, errNotFound("VolumeAttachment %s could not be found.", id)
}

func (s *Handler) listCinderAttachments(detail bool) handlerFunc {
	return func(c *call) {
		if !c.attachmentsAPI() {
			return
		}
		inScope := c.listScope()
		s.mu.Lock()
		defer s.mu.Unlock()
		out := []any{}
		for _, v := range sortedVolumes(s.st.Volumes) {
			if !inScope(v.ProjectID) {
				continue
			}
			for _, a := range v.Attachments {
				out = append(out, c.cinderAttachmentView(v, a, detail))
			}
		}
		c.json(200, map[string]any{"attachments": out})
	}
}

type attachmentBody struct {
	Attachment *struct {
		VolumeUUID   string          `json:"volume_uuid"`
		InstanceUUID string          `json:"instance_uuid"`
		Connector    json.RawMessage `json:"connector"`
	} `json:"attachment"`
}

// connectorGiven reads a connector: nil/null is none; its mountpoint is
// the advisory device.
func connectorGiven(raw json.RawMessage) (bool, string) {
	if len(raw) == 0 || string(raw) == "null" {
		return false, ""
	}
	var con struct {
		Mountpoint string `json:"mountpoint"`
	}
	_ = json.Unmarshal(raw, &con)
	return true, con.Mountpoint
}

func (s *Handler) createCinderAttachment(c *call) {
	if !c.attachmentsAPI() {
		return
	}
	var body attachmentBody
	if e := c.decode(&body); e != nil {
		c.fail(e)
		return
	}
	if body.Attachment == nil || body.Attachment.VolumeUUID == "" {
		c.fail(errBadRequest("Invalid input received: Must specify a volume_uuid."))
		return
	}
	b := body.Attachment
	s.mu.Lock()
	defer s.mu.Unlock()
	v, e := s.volume(c.scope(), b.VolumeUUID)
	if e != nil {
		c.fail(e)
		return
	}
	if !(v.Status == "available" || (v.Multiattach && (v.Status == "in-use" || v.Status == "reserved"))) {
		c.fail(errBadRequest("Invalid volume: Volume %s status must be available or in-use (multiattach), but the status is %s.", v.ID, v.Status))
		return
	}
	a := &Attachment{ID: newID(), ServerID: b.InstanceUUID, Status: "reserved"}
	if srv := s.cfg.server(b.InstanceUUID); srv != nil {
		a.HostName = srv.Name
	}
	if ok, dev := connectorGiven(b.Connector); ok {
		a.Status, a.Device = "attaching", dev
	}
	v.Attachments = append(v.Attachments, a)
	if v.Status == "available" {
		v.Status = a.Status
	}
	v.UpdatedAt = now()
	c.persist()
	c.json(200, map[string]any{"attachment": c.cinderAttachmentView(v, a, true)})
}

func (s *Handler) updateCinderAttachment(c *call) {
	if !c.attachmentsAPI() {
		return
	}
	var body attachmentBody
	if e := c.decode(&body); e != nil {
		c.fail(e)
		return
	}
	if body.Attachment == nil {
		c.fail(errBadRequest("Missing required element 'attachment' in request body."))
		return
	}
	ok, dev := connectorGiven(body.Attachment.Connector)
	if !ok {
		c.fail(errBadRequest("Invalid input received: Must specify a connector."))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, a, e := s.findCinderAttachment(c, c.r.PathValue("id"))
	if e != nil {
		c.fail(e)
		return
	}
	if a.Status != "reserved" && a.Status != "attaching" {
		c.fail(errBadRequest("Invalid volume: Attachment %s is %s; only a reserved attachment takes a connector.", a.ID, a.Status))
		return
	}
	a.Status, a.Device = "attaching", dev
	if v.Status == "reserved" {
		v.Status = "attaching"
	}
	v.UpdatedAt = now()
	c.persist()
	c.json(200, map[string]any{"attachment": c.cinderAttachmentView(v, a, true)})
}

// cinderAttachmentAction is os-complete (3.44): the attachment is in use.
func (s *Handler) cinderAttachmentAction(c *call) {
	if !c.attachmentsAPI() {
		return
	}
	name, _, e := c.action()
	if e != nil {
		c.fail(e)
		return
	}
	if name != "os-complete" || !c.microAtLeast(44) {
		c.fail(errBadRequest("There is no such action: %s", name))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, a, e := s.findCinderAttachment(c, c.r.PathValue("id"))
	if e != nil {
		c.fail(e)
		return
	}
	if a.Status != "attached" {
		a.Status, a.AttachedAt = "attached", now()
		s.attachLocal(v, a.ServerID)
	}
	v.Status = restingStatus(v)
	v.UpdatedAt = now()
	c.persist()
	c.json(204, nil)
}

// cinderAttachment serves GET and DELETE /attachments/{id}; a delete
// answers with the volume's remaining attachments, as Cinder does.
func (s *Handler) cinderAttachment(c *call) {
	if !c.attachmentsAPI() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, a, e := s.findCinderAttachment(c, c.r.PathValue("id"))
	if e != nil {
		c.fail(e)
		return
	}
	if c.r.Method == http.MethodGet {
		c.json(200, map[string]any{"attachment": c.cinderAttachmentView(v, a, true)})
		return
	}
	if a.Status == "attached" {
		s.finishDetach(v, a)
	} else {
		removeAttachment(v, a.ID)
		v.Status = restingStatus(v)
	}
	v.UpdatedAt = now()
	c.persist()
	rest := []any{}
	for _, x := range v.Attachments {
		rest = append(rest, c.cinderAttachmentView(v, x, false))
	}
	c.json(200, map[string]any{"attachments": rest})
}
