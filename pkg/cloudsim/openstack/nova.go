package openstack

import (
	"fmt"
	"net/http"
	"strings"
)

const (
	computeMinMicro = "2.1"
	computeMaxMicro = "2.90"
)

func (s *Handler) volumeVersionDocs(base string) []any {
	mt := func(v string) []any {
		return []any{map[string]any{"base": "application/json", "type": "application/vnd.openstack.volume+json;version=" + v}}
	}
	return []any{
		map[string]any{"id": "v1.0", "status": "DEPRECATED", "version": "", "min_version": "", "updated": "2016-05-02T20:25:19Z",
			"links": []any{map[string]any{"href": base + "/volume/v1/", "rel": "self"}}, "media-types": mt("1")},
		map[string]any{"id": "v2.0", "status": "DEPRECATED", "version": "", "min_version": "", "updated": "2017-02-25T12:00:00Z",
			"links": []any{map[string]any{"href": base + "/volume/v2/", "rel": "self"}}, "media-types": mt("2")},
		map[string]any{"id": "v3.0", "status": "CURRENT", "version": volumeMaxMicro, "min_version": volumeMinMicro, "updated": "2022-08-31T00:00:00Z",
			"links": []any{map[string]any{"href": base + "/volume/v3/", "rel": "self"}}, "media-types": mt("3")},
	}
}

func (s *Handler) volumeVersions(c *call) {
	c.json(300, map[string]any{"versions": s.volumeVersionDocs(c.baseURL())})
}

func (s *Handler) volumeVersion(c *call) {
	want := map[string]string{"v1": "v1.0", "v2": "v2.0", "v3": "v3.0"}[c.r.PathValue("ver")]
	for _, d := range s.volumeVersionDocs(c.baseURL()) {
		if d.(map[string]any)["id"] == want {
			c.json(200, map[string]any{"versions": []any{d}})
			return
		}
	}
	c.fail(errNotFound("The resource could not be found."))
}

func (s *Handler) computeVersionDocs(base string) []any {
	return []any{
		map[string]any{"id": "v2.0", "status": "SUPPORTED", "version": "", "min_version": "", "updated": "2011-01-21T11:33:21Z",
			"links": []any{map[string]any{"href": base + "/compute/v2/", "rel": "self"}}},
		map[string]any{"id": "v2.1", "status": "CURRENT", "version": computeMaxMicro, "min_version": computeMinMicro, "updated": "2013-07-23T11:33:21Z",
			"links": []any{map[string]any{"href": base + "/compute/v2.1/", "rel": "self"}}},
	}
}

func (s *Handler) novaRoutes(mux *http.ServeMux) {
	for _, pat := range []string{"GET /compute", "GET /compute/{$}"} {
		s.register(mux, FaceNova, pat, false, func(c *call) {
			c.json(300, map[string]any{"versions": s.computeVersionDocs(c.baseURL())})
		})
	}
	for _, pat := range []string{"GET /compute/{ver}", "GET /compute/{ver}/{$}"} {
		s.register(mux, FaceNova, pat, false, func(c *call) {
			want := map[string]string{"v2": "v2.0", "v2.1": "v2.1"}[c.r.PathValue("ver")]
			for _, d := range s.computeVersionDocs(c.baseURL()) {
				if d.(map[string]any)["id"] == want {
					c.json(200, map[string]any{"version": d})
					return
				}
			}
			c.fail(errNotFound("The resource could not be found."))
		})
	}
	h := func(pattern string, fn handlerFunc) { s.handle(mux, FaceNova, pattern, s.novaVersioned(fn)) }
	p := "/compute/{ver}/{project}"
	h("GET "+p+"/servers", s.listServers(false))
	h("GET "+p+"/servers/detail", s.listServers(true))
	h("GET "+p+"/servers/{server}", s.getServer)
	h("GET "+p+"/servers/{server}/os-volume_attachments", s.listAttachments)
	h("POST "+p+"/servers/{server}/os-volume_attachments", s.postAttachment)
	h("GET "+p+"/servers/{server}/os-volume_attachments/{volume}", s.getAttachment)
	h("DELETE "+p+"/servers/{server}/os-volume_attachments/{volume}", s.delAttachment)
	h("GET "+p+"/os-availability-zone", s.availabilityZones)
	s.novaExtraRoutes(h)
}

// novaVersioned checks the path version and negotiates the compute microversion.
func (s *Handler) novaVersioned(fn handlerFunc) handlerFunc {
	return func(c *call) {
		ver := c.r.PathValue("ver")
		if ver != "v2" && ver != "v2.1" {
			c.fail(errNotFound("The resource could not be found."))
			return
		}
		c.micro = computeMinMicro
		if ver == "v2.1" {
			if h := c.r.Header.Get("OpenStack-API-Version"); h != "" {
				if f := strings.Fields(h); len(f) == 2 && f[0] == "compute" {
					c.micro = f[1]
				}
			} else if h := c.r.Header.Get("X-OpenStack-Nova-API-Version"); h != "" {
				c.micro = h
			}
			if c.micro == "latest" {
				c.micro = computeMaxMicro
			}
			if !microAtLeast(c.micro, 2, 1) || microAtLeast(c.micro, 2, 91) {
				c.fail(&apiError{code: 406, kind: "computeFault", msg: fmt.Sprintf("Version %s is not supported by the API. Minimum is %s and maximum is %s.", c.micro, computeMinMicro, computeMaxMicro)})
				return
			}
			c.w.Header().Set("OpenStack-API-Version", "compute "+c.micro)
			c.w.Header().Set("X-OpenStack-Nova-API-Version", c.micro)
			c.w.Header().Add("Vary", "OpenStack-API-Version, X-OpenStack-Nova-API-Version")
		}
		fn(c)
	}
}

func (c *call) serverView(srv *Server, detail bool) map[string]any {
	base := fmt.Sprintf("%s/compute/%s/%s/servers/%s", c.baseURL(), c.r.PathValue("ver"), c.project, srv.ID)
	m := map[string]any{"id": srv.ID, "name": srv.Name, "links": []any{map[string]any{"href": base, "rel": "self"}}}
	if !detail {
		return m
	}
	vols := []any{}
	for _, v := range sortedVolumes(c.s.st.Volumes) {
		for _, a := range v.Attachments {
			if a.ServerID == srv.ID {
				vols = append(vols, map[string]any{"id": v.ID, "delete_on_termination": false})
			}
		}
	}
	m["status"] = "ACTIVE"
	m["OS-EXT-AZ:availability_zone"] = srv.Zone
	m["OS-EXT-STS:vm_state"] = "active"
	m["OS-EXT-STS:power_state"] = 1
	m["OS-EXT-STS:task_state"] = nil
	m["tenant_id"] = c.project
	m["user_id"] = c.tok.UserID
	m["hostId"] = "sim-host"
	m["addresses"] = map[string]any{}
	m["metadata"] = map[string]any{}
	m["image"] = ""
	m["flavor"] = map[string]any{"id": "1", "links": []any{}}
	m["created"] = "2024-01-01T00:00:00Z"
	m["updated"] = "2024-01-01T00:00:00Z"
	m["accessIPv4"], m["accessIPv6"] = "", ""
	m["os-extended-volumes:volumes_attached"] = vols
	return m
}

func (s *Handler) server(id string) (*Server, *apiError) {
	if srv := s.cfg.server(id); srv != nil {
		return srv, nil
	}
	return nil, errNotFound("Instance %s could not be found.", id)
}

func (s *Handler) listServers(detail bool) handlerFunc {
	return func(c *call) {
		name := c.r.URL.Query().Get("name")
		s.mu.Lock()
		defer s.mu.Unlock()
		out := []any{}
		for i := range s.cfg.Servers {
			srv := &s.cfg.Servers[i]
			if name != "" && !strings.Contains(srv.Name, strings.Trim(name, "^$")) {
				continue
			}
			out = append(out, c.serverView(srv, detail))
		}
		c.json(200, map[string]any{"servers": out})
	}
}

func (s *Handler) getServer(c *call) {
	srv, e := s.server(c.r.PathValue("server"))
	if e != nil {
		c.fail(e)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c.json(200, map[string]any{"server": c.serverView(srv, true)})
}

// attachmentView is Nova's view of an attachment in a listing or a show.
func (c *call) attachmentView(v *Volume, a *Attachment) map[string]any {
	m := map[string]any{"device": a.Device, "serverId": a.ServerID, "volumeId": v.ID}
	if !microAtLeast(c.micro, 2, 89) {
		m["id"] = v.ID
	} else {
		m["attachment_id"] = a.ID
		m["bdm_uuid"] = a.ID
	}
	c.attachOptionsView(m, a)
	return m
}

// attachCreatedView is what POST os-volume_attachments answers: Nova never
// applied 2.89 there, so it keeps "id" and has no attachment_id or bdm_uuid.
func (c *call) attachCreatedView(v *Volume, a *Attachment) map[string]any {
	m := map[string]any{"id": v.ID, "device": a.Device, "serverId": a.ServerID, "volumeId": v.ID}
	c.attachOptionsView(m, a)
	return m
}

// attachOptionsView adds the tag (2.70+) and delete_on_termination (2.79+).
func (c *call) attachOptionsView(m map[string]any, a *Attachment) {
	if microAtLeast(c.micro, 2, 70) {
		m["tag"] = nil
		if a.Tag != "" {
			m["tag"] = a.Tag
		}
	}
	if microAtLeast(c.micro, 2, 79) {
		m["delete_on_termination"] = a.DeleteOnTermination
	}
}

func (s *Handler) listAttachments(c *call) {
	srv, e := s.server(c.r.PathValue("server"))
	if e != nil {
		c.fail(e)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []any{}
	for _, v := range sortedVolumes(s.st.Volumes) {
		for _, a := range v.Attachments {
			if a.ServerID == srv.ID {
				out = append(out, c.attachmentView(v, a))
			}
		}
	}
	c.json(200, map[string]any{"volumeAttachments": out})
}

func (s *Handler) postAttachment(c *call) {
	srv, e := s.server(c.r.PathValue("server"))
	if e != nil {
		c.fail(e)
		return
	}
	var body struct {
		VolumeAttachment *struct {
			VolumeID            string  `json:"volumeId"`
			Device              string  `json:"device"`
			Tag                 *string `json:"tag"`
			DeleteOnTermination *bool   `json:"delete_on_termination"`
		} `json:"volumeAttachment"`
	}
	if e := c.decode(&body); e != nil {
		c.fail(e)
		return
	}
	if body.VolumeAttachment == nil || body.VolumeAttachment.VolumeID == "" {
		c.fail(errBadRequest("Invalid input for field/attribute volumeAttachment. Value: None. None is not of type 'object'"))
		return
	}
	req := body.VolumeAttachment
	// Nova's schema takes tag from 2.49 and delete_on_termination from
	// 2.79 and refuses unknown keys before that.
	for _, opt := range []struct {
		name  string
		given bool
		from  int
	}{{"tag", req.Tag != nil, 49}, {"delete_on_termination", req.DeleteOnTermination != nil, 79}} {
		if opt.given && !microAtLeast(c.micro, 2, opt.from) {
			c.fail(errBadRequest("Invalid input for field/attribute volumeAttachment. Additional properties are not allowed ('%s' was unexpected)", opt.name))
			return
		}
	}
	if req.Tag != nil && len(*req.Tag) > 60 {
		c.fail(errBadRequest("Invalid input for field/attribute tag. Value: %s. '%s' is too long", *req.Tag, *req.Tag))
		return
	}
	if req.Tag != nil && strings.ContainsAny(*req.Tag, ",/") {
		c.fail(errBadRequest("Invalid input for field/attribute tag. Value: %s. '%s' does not match '^[^,/]*$'", *req.Tag, *req.Tag))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, e := s.attachVolume(c, srv, req.VolumeID)
	if e != nil {
		c.fail(e)
		return
	}
	if req.Tag != nil {
		a.Tag = *req.Tag
	}
	if req.DeleteOnTermination != nil {
		a.DeleteOnTermination = *req.DeleteOnTermination
	}
	c.persist()
	c.json(200, map[string]any{"volumeAttachment": c.attachCreatedView(s.st.Volumes[req.VolumeID], a)})
}

func (s *Handler) getAttachment(c *call) {
	srv, e := s.server(c.r.PathValue("server"))
	if e != nil {
		c.fail(e)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := c.r.PathValue("volume")
	if v := s.st.Volumes[id]; v != nil && v.ProjectID == c.project {
		for _, a := range v.Attachments {
			if a.ServerID == srv.ID {
				c.json(200, map[string]any{"volumeAttachment": c.attachmentView(v, a)})
				return
			}
		}
	}
	c.fail(errNotFound("volume_id not found: %s", id))
}

func (s *Handler) delAttachment(c *call) {
	srv, e := s.server(c.r.PathValue("server"))
	if e != nil {
		c.fail(e)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e = s.detachVolume(c, srv, c.r.PathValue("volume"))
	if e != nil {
		c.fail(e)
		return
	}
	c.persist()
	c.json(202, nil)
}

// imageRoutes is a minimal Glance: version document and the images that
// os-volume_upload_image created.
func (s *Handler) imageRoutes(mux *http.ServeMux) {
	for _, pat := range []string{"GET /image", "GET /image/{$}"} {
		s.register(mux, FaceImage, pat, false, func(c *call) {
			c.json(300, map[string]any{"versions": []any{map[string]any{"id": "v2.16", "status": "CURRENT",
				"links": []any{map[string]any{"href": c.baseURL() + "/image/v2/", "rel": "self"}}}}})
		})
	}
	view := func(img *Image) map[string]any {
		return map[string]any{"id": img.ID, "name": img.Name, "status": "active", "size": int64(img.Size) * gib,
			"owner": img.ProjectID, "visibility": "private", "disk_format": "raw", "container_format": "bare",
			"created_at": img.CreatedAt.Format("2006-01-02T15:04:05Z")}
	}
	s.register(mux, FaceImage, "GET /image/v2/images", true, func(c *call) {
		s.mu.Lock()
		defer s.mu.Unlock()
		out := []any{}
		for _, img := range s.st.Images {
			if img.ProjectID == c.tok.ProjectID {
				out = append(out, view(img))
			}
		}
		c.json(200, map[string]any{"images": out})
	})
	s.register(mux, FaceImage, "GET /image/v2/images/{id}", true, func(c *call) {
		s.mu.Lock()
		defer s.mu.Unlock()
		img := s.st.Images[c.r.PathValue("id")]
		if img == nil || img.ProjectID != c.tok.ProjectID {
			c.w.Header().Set("Content-Type", "text/plain")
			c.w.WriteHeader(404)
			fmt.Fprintf(c.w, "No image found with ID %s", c.r.PathValue("id"))
			return
		}
		c.json(200, view(img))
	})
}
