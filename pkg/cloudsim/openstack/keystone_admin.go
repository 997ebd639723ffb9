package openstack

import (
	"net/http"
	"strings"
	"sync"
)

// The slice of Keystone v3's admin API that Tempest's credential helpers
// use: look up a domain, create and delete a project. Projects made here
// only exist to be named (quota targets); nobody can log in to them.

type projectRegistry struct {
	mu   sync.Mutex
	byID map[string]Project
}

func (s *Handler) keystoneAdminRoutes(mux *http.ServeMux) {
	s.handle(mux, FaceKeystone, "GET /identity/v3/domains", s.listDomains)
	s.handle(mux, FaceKeystone, "POST /identity/v3/projects", s.createProject)
	s.handle(mux, FaceKeystone, "DELETE /identity/v3/projects/{id}", s.deleteProject)
}

// keystoneAdmin checks the caller's token carries the admin role.
func (s *Handler) keystoneAdmin(c *call) bool {
	t := s.parseToken(c.r.Header.Get("X-Auth-Token"))
	if t == nil {
		unauthorized(c)
		return false
	}
	c.tok = t
	if !c.isAdmin() {
		keystoneError(c.w, 403, "Forbidden", "You are not authorized to perform the requested action.")
		return false
	}
	return true
}

func (s *Handler) listDomains(c *call) {
	if !s.keystoneAdmin(c) {
		return
	}
	out := []any{}
	if name := c.r.URL.Query().Get("name"); name == "" || strings.EqualFold(name, DefaultDomain) {
		out = append(out, map[string]any{"id": DefaultDomainID, "name": DefaultDomain, "enabled": true,
			"description": "The default domain", "links": map[string]any{"self": c.baseURL() + "/identity/v3/domains/" + DefaultDomainID}})
	}
	c.json(200, map[string]any{"domains": out})
}

func (s *Handler) createProject(c *call) {
	if !s.keystoneAdmin(c) {
		return
	}
	var body struct {
		Project *struct {
			Name        string `json:"name"`
			Description string `json:"description"`
			DomainID    string `json:"domain_id"`
		} `json:"project"`
	}
	if e := c.decode(&body); e != nil || body.Project == nil || body.Project.Name == "" {
		keystoneError(c.w, 400, "Bad Request", "Invalid input for field 'project': 'name' is a required property.")
		return
	}
	b := body.Project
	if b.DomainID == "" {
		b.DomainID = DefaultDomainID
	}
	if b.DomainID != DefaultDomainID {
		keystoneError(c.w, 404, "Not Found", "Could not find domain: "+b.DomainID+".")
		return
	}
	reg := &s.projects
	reg.mu.Lock()
	defer reg.mu.Unlock()
	for _, p := range reg.byID {
		if p.Name == b.Name {
			keystoneError(c.w, 409, "Conflict", "Conflict occurred attempting to store project - it is not permitted to have two projects with the same name in the same domain : "+b.Name+".")
			return
		}
	}
	if s.project(b.Name) != nil || s.projectByName(b.Name, b.DomainID, "") != nil {
		keystoneError(c.w, 409, "Conflict", "Conflict occurred attempting to store project - it is not permitted to have two projects with the same name in the same domain : "+b.Name+".")
		return
	}
	p := Project{ID: strings.ReplaceAll(newID(), "-", ""), Name: b.Name, DomainID: b.DomainID}
	if reg.byID == nil {
		reg.byID = map[string]Project{}
	}
	reg.byID[p.ID] = p
	c.json(201, map[string]any{"project": map[string]any{"id": p.ID, "name": p.Name, "domain_id": p.DomainID,
		"description": b.Description, "enabled": true, "is_domain": false, "parent_id": p.DomainID, "tags": []any{},
		"links": map[string]any{"self": c.baseURL() + "/identity/v3/projects/" + p.ID}}})
}

func (s *Handler) deleteProject(c *call) {
	if !s.keystoneAdmin(c) {
		return
	}
	reg := &s.projects
	reg.mu.Lock()
	defer reg.mu.Unlock()
	id := c.r.PathValue("id")
	if _, ok := reg.byID[id]; !ok {
		keystoneError(c.w, 404, "Not Found", "Could not find project: "+id+".")
		return
	}
	delete(reg.byID, id)
	c.json(204, nil)
}
