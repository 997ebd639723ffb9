package openstack

import (
	"sort"
	"strings"
)

// Volume types: the profile's, plus those made or changed through the API
// (kept in the state). Admins manage them; private types are seen only by
// admins and the projects given access.

func (s *Handler) typeRoutes(h func(string, handlerFunc)) {
	p := "/volume/{ver}/{project}/types"
	h("GET "+p, s.listTypes)
	h("POST "+p, s.createType)
	h("GET "+p+"/{id}", s.getType)
	h("PUT "+p+"/{id}", s.updateType)
	h("DELETE "+p+"/{id}", s.deleteType)
	h("GET "+p+"/{id}/extra_specs", s.listExtraSpecs)
	h("POST "+p+"/{id}/extra_specs", s.createExtraSpecs)
	h("GET "+p+"/{id}/extra_specs/{key}", s.extraSpec)
	h("PUT "+p+"/{id}/extra_specs/{key}", s.extraSpec)
	h("DELETE "+p+"/{id}/extra_specs/{key}", s.extraSpec)
	h("POST "+p+"/{id}/action", s.typeAction)
	h("GET "+p+"/{id}/os-volume-type-access", s.listTypeAccess)
	s.encryptionRoutes(h)
}

// allTypes lists the types in force, the profile's first (under s.mu).
func (s *Handler) allTypes() []*VolumeType {
	var out []*VolumeType
	seen := map[string]bool{}
	for i := range s.prof.types {
		t := &s.prof.types[i]
		if s.st.DeletedTypes[t.ID] {
			continue
		}
		if o := s.st.Types[t.ID]; o != nil {
			t = o
		}
		seen[t.ID] = true
		out = append(out, t)
	}
	var extra []*VolumeType
	for id, t := range s.st.Types {
		if !seen[id] {
			extra = append(extra, t)
		}
	}
	sort.Slice(extra, func(i, j int) bool { return extra[i].Name < extra[j].Name })
	return append(out, extra...)
}

// volumeType finds a type by name or id; "" is the default type.
func (s *Handler) volumeType(nameOrID string) (*VolumeType, *apiError) {
	if nameOrID == "" {
		nameOrID = s.prof.defaultType
	}
	for _, t := range s.allTypes() {
		if t.Name == nameOrID || t.ID == nameOrID {
			return t, nil
		}
	}
	return nil, errNotFound("Volume type with name %s could not be found.", nameOrID)
}

// multiattachType: the type's extra spec multiattach="<is> True" makes
// its volumes attachable to several servers (Cinder since Queens).
func (s *Handler) multiattachType(typeName string) bool {
	t, _ := s.volumeType(typeName)
	return t != nil && strings.EqualFold(strings.Join(strings.Fields(t.ExtraSpecs["multiattach"]), " "), "<is> true")
}

func (s *Handler) encrypted(typeName string) bool {
	t, _ := s.volumeType(typeName)
	return t != nil && t.Encryption != nil
}

func (c *call) canSeeType(t *VolumeType) bool {
	if !t.Private || c.isAdmin() {
		return true
	}
	for _, p := range t.Access {
		if p == c.project {
			return true
		}
	}
	return false
}

// visibleType is a type the caller may use, or 404.
func (s *Handler) visibleType(c *call, id string) (*VolumeType, *apiError) {
	t, _ := s.volumeType(id)
	if t == nil || !c.canSeeType(t) {
		return nil, errNotFound("Volume type %s could not be found.", id)
	}
	return t, nil
}

// editableType returns the state's own copy of a type, to change it.
func (s *Handler) editableType(t *VolumeType) *VolumeType {
	if o := s.st.Types[t.ID]; o != nil {
		return o
	}
	cp := *t
	cp.ExtraSpecs = copyMeta(t.ExtraSpecs)
	cp.Access = append([]string(nil), t.Access...)
	if s.st.Types == nil {
		s.st.Types = map[string]*VolumeType{}
	}
	s.st.Types[cp.ID] = &cp
	return &cp
}

// typeView: kind viewChange is the create/update answer, which carries no
// qos_specs_id.
func (c *call) typeView(t *VolumeType, kind viewKind) map[string]any {
	m := map[string]any{
		"id": t.ID, "name": t.Name, "description": nullable(t.Description),
		"extra_specs": copyMeta(t.ExtraSpecs), "is_public": !t.Private,
	}
	if kind == viewShow {
		m["os-volume-type-access:is_public"] = !t.Private
		m["qos_specs_id"] = nil
	}
	return m
}

func (s *Handler) listTypes(c *call) {
	// Cinder lists public types (and the project's private ones) unless an
	// admin asks for is_public=false (private only) or None (all).
	want := "public"
	if c.isAdmin() {
		switch strings.ToLower(c.r.URL.Query().Get("is_public")) {
		case "none":
			want = "all"
		case "false", "0", "no":
			want = "private"
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []any{}
	for _, t := range s.allTypes() {
		ok := want == "all" || (want == "private" && t.Private) || (want == "public" && (!t.Private || c.hasTypeAccess(t)))
		if ok {
			out = append(out, c.typeView(t, viewShow))
		}
	}
	c.json(200, map[string]any{"volume_types": out})
}

func (c *call) hasTypeAccess(t *VolumeType) bool {
	for _, p := range t.Access {
		if p == c.project {
			return true
		}
	}
	return false
}

func (s *Handler) getType(c *call) {
	id := c.r.PathValue("id")
	if id == "default" {
		id = ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, e := s.visibleType(c, id)
	if e != nil {
		c.fail(errNotFound("Volume type %s could not be found.", c.r.PathValue("id")))
		return
	}
	c.json(200, map[string]any{"volume_type": c.typeView(t, viewShow)})
}

type typeBody struct {
	VolumeType *struct {
		Name        *string           `json:"name"`
		Description *string           `json:"description"`
		IsPublic    *jsonBool         `json:"is_public"`
		AccessPub   *jsonBool         `json:"os-volume-type-access:is_public"`
		ExtraSpecs  map[string]string `json:"extra_specs"`
	} `json:"volume_type"`
}

func (s *Handler) createType(c *call) {
	if e := c.adminOnly("volume_extension:types_manage"); e != nil {
		c.fail(e)
		return
	}
	var body typeBody
	if e := c.decode(&body); e != nil {
		c.fail(e)
		return
	}
	if body.VolumeType == nil {
		c.fail(errBadRequest("Missing required element 'volume_type' in request body."))
		return
	}
	b := body.VolumeType
	if b.Name == nil || strings.TrimSpace(*b.Name) == "" {
		c.fail(errBadRequest("Invalid input received: Volume type name can not be empty."))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.allTypes() {
		if t.Name == *b.Name {
			c.fail(errConflict("Volume Type %s already exists.", *b.Name))
			return
		}
	}
	t := &VolumeType{ID: newID(), Name: *b.Name, ExtraSpecs: copyMeta(b.ExtraSpecs)}
	if b.Description != nil {
		t.Description = *b.Description
	}
	for _, p := range []*jsonBool{b.AccessPub, b.IsPublic} {
		if p != nil {
			t.Private = !bool(*p)
		}
	}
	if s.st.Types == nil {
		s.st.Types = map[string]*VolumeType{}
	}
	s.st.Types[t.ID] = t
	c.persist()
	m := c.typeView(t, viewChange)
	m["os-volume-type-access:is_public"] = !t.Private
	c.json(200, map[string]any{"volume_type": m})
}

func (s *Handler) updateType(c *call) {
	if e := c.adminOnly("volume_extension:types_manage"); e != nil {
		c.fail(e)
		return
	}
	var body typeBody
	if e := c.decode(&body); e != nil {
		c.fail(e)
		return
	}
	if body.VolumeType == nil {
		c.fail(errBadRequest("Missing required element 'volume_type' in request body."))
		return
	}
	b := body.VolumeType
	if b.Name != nil && strings.TrimSpace(*b.Name) == "" {
		c.fail(errBadRequest("Invalid input received: Volume type name can not be empty."))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, e := s.visibleType(c, c.r.PathValue("id"))
	if e != nil {
		c.fail(e)
		return
	}
	if b.Name != nil && *b.Name != t.Name {
		if o, _ := s.volumeType(*b.Name); o != nil {
			c.fail(errConflict("Volume Type %s already exists.", *b.Name))
			return
		}
	}
	t = s.editableType(t)
	if b.Name != nil {
		t.Name = *b.Name
	}
	if b.Description != nil {
		t.Description = *b.Description
	}
	if b.IsPublic != nil {
		t.Private = !bool(*b.IsPublic)
	}
	c.persist()
	c.json(200, map[string]any{"volume_type": c.typeView(t, viewChange)})
}

func (s *Handler) deleteType(c *call) {
	if e := c.adminOnly("volume_extension:types_manage"); e != nil {
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
	if t.Name == s.prof.defaultType {
		c.fail(errBadRequest("Invalid volume type: Default volume type can not be deleted."))
		return
	}
	for _, v := range s.st.Volumes {
		if v.VolumeType == t.Name {
			c.fail(errBadRequest("Invalid volume type: Target volume type is still in use."))
			return
		}
	}
	delete(s.st.Types, t.ID)
	for i := range s.prof.types {
		if s.prof.types[i].ID == t.ID {
			if s.st.DeletedTypes == nil {
				s.st.DeletedTypes = map[string]bool{}
			}
			s.st.DeletedTypes[t.ID] = true
		}
	}
	c.persist()
	c.json(202, nil)
}
