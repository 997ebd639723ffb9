package openstack

import (
	"encoding/json"
	"net/http"
)

// Extra specs, type access and encryption of volume types.

func (s *Handler) listExtraSpecs(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, e := s.visibleType(c, c.r.PathValue("id"))
	if e != nil {
		c.fail(e)
		return
	}
	c.json(200, map[string]any{"extra_specs": copyMeta(t.ExtraSpecs)})
}

// stringMap decodes a JSON object of strings; null or anything else is a 400.
func stringMap(raw json.RawMessage) (map[string]string, *apiError) {
	var m map[string]string
	if len(raw) == 0 || string(raw) == "null" || json.Unmarshal(raw, &m) != nil || m == nil {
		return nil, errBadRequest("Malformed request body")
	}
	return m, nil
}

func (s *Handler) createExtraSpecs(c *call) {
	if e := c.adminOnly("volume_extension:types_extra_specs:create"); e != nil {
		c.fail(e)
		return
	}
	var body struct {
		ExtraSpecs json.RawMessage `json:"extra_specs"`
	}
	if e := c.decode(&body); e != nil {
		c.fail(e)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, e := s.visibleType(c, c.r.PathValue("id"))
	if e != nil {
		c.fail(e)
		return
	}
	specs, e := stringMap(body.ExtraSpecs)
	if e != nil {
		c.fail(e)
		return
	}
	t = s.editableType(t)
	if t.ExtraSpecs == nil {
		t.ExtraSpecs = map[string]string{}
	}
	for k, v := range specs {
		t.ExtraSpecs[k] = v
	}
	c.persist()
	c.json(200, map[string]any{"extra_specs": specs})
}

// extraSpec serves GET, PUT and DELETE .../extra_specs/{key}.
func (s *Handler) extraSpec(c *call) {
	key := c.r.PathValue("key")
	if c.r.Method != http.MethodGet {
		if e := c.adminOnly("volume_extension:types_extra_specs:update"); e != nil {
			c.fail(e)
			return
		}
	}
	var raw json.RawMessage
	if c.r.Method == http.MethodPut {
		if e := c.decode(&raw); e != nil {
			c.fail(e)
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, e := s.visibleType(c, c.r.PathValue("id"))
	if e != nil {
		c.fail(e)
		return
	}
	switch c.r.Method {
	case http.MethodGet:
		v, ok := t.ExtraSpecs[key]
		if !ok {
			c.fail(errNotFound("Volume Type %s has no extra specs with key %s.", t.ID, key))
			return
		}
		c.json(200, map[string]string{key: v})
	case http.MethodPut:
		m, e := stringMap(raw)
		if e != nil {
			c.fail(e)
			return
		}
		if len(m) > 1 {
			c.fail(errBadRequest("Request body contains too many items."))
			return
		}
		v, ok := m[key]
		if !ok {
			c.fail(errBadRequest("Request body and URI mismatch"))
			return
		}
		t = s.editableType(t)
		if t.ExtraSpecs == nil {
			t.ExtraSpecs = map[string]string{}
		}
		t.ExtraSpecs[key] = v
		c.persist()
		c.json(200, map[string]string{key: v})
	case http.MethodDelete:
		if _, ok := t.ExtraSpecs[key]; !ok {
			c.fail(errNotFound("Volume Type %s has no extra specs with key %s.", t.ID, key))
			return
		}
		t = s.editableType(t)
		delete(t.ExtraSpecs, key)
		c.persist()
		c.json(202, nil)
	}
}

// typeAction is addProjectAccess / removeProjectAccess on a private type.
func (s *Handler) typeAction(c *call) {
	if e := c.adminOnly("volume_extension:volume_type_access:addProjectAccess"); e != nil {
		c.fail(e)
		return
	}
	name, arg, e := c.action()
	if e != nil {
		c.fail(e)
		return
	}
	var a struct {
		Project string `json:"project"`
	}
	if e := parseArg(name, arg, &a); e != nil {
		c.fail(e)
		return
	}
	if a.Project == "" {
		c.fail(errBadRequest("Missing required element 'project' in request body."))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, e := s.visibleType(c, c.r.PathValue("id"))
	if e != nil {
		c.fail(e)
		return
	}
	if !t.Private {
		c.fail(errBadRequest("Invalid volume type: Type access modification is not applicable to public volume type."))
		return
	}
	idx := -1
	for i, p := range t.Access {
		if p == a.Project {
			idx = i
		}
	}
	switch name {
	case "addProjectAccess":
		if idx >= 0 {
			c.fail(errConflict("Volume type access for %s / %s combination already exists.", t.ID, a.Project))
			return
		}
		t = s.editableType(t)
		t.Access = append(t.Access, a.Project)
	case "removeProjectAccess":
		if idx < 0 {
			c.fail(errNotFound("Volume type access not found for %s / %s combination.", t.ID, a.Project))
			return
		}
		t = s.editableType(t)
		t.Access = append(t.Access[:idx:idx], t.Access[idx+1:]...)
	default:
		c.fail(errBadRequest("There is no such action: %s", name))
		return
	}
	c.persist()
	c.json(202, nil)
}

func (s *Handler) listTypeAccess(c *call) {
	if e := c.adminOnly("volume_extension:volume_type_access"); e != nil {
		c.fail(e)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, e := s.visibleType(c, c.r.PathValue("id"))
	if e != nil {
		c.fail(e)
		return
	}
	if !t.Private {
		c.fail(errNotFound("Access list not available for public volume types."))
		return
	}
	out := []any{}
	for _, p := range t.Access {
		out = append(out, map[string]any{"volume_type_id": t.ID, "project_id": p})
	}
	c.json(200, map[string]any{"volume_type_access": out})
}
