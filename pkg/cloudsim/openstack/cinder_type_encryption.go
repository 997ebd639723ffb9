package openstack

import "net/http"

// Volume type encryption specs: the type API only (no key manager here).

func (s *Handler) encryptionRoutes(h func(string, handlerFunc)) {
	p := "/volume/{ver}/{project}/types/{id}/encryption"
	h("GET "+p, s.encryption)
	h("POST "+p, s.encryption)
	h("GET "+p+"/{key}", s.encryptionItem)
	h("PUT "+p+"/{key}", s.encryptionItem)
	h("DELETE "+p+"/{key}", s.encryptionItem)
}

func encryptionView(t *VolumeType, withIDs bool) map[string]any {
	e := t.Encryption
	m := map[string]any{"provider": e.Provider, "control_location": e.ControlLocation,
		"cipher": nullable(e.Cipher), "key_size": nil}
	if e.KeySize != nil {
		m["key_size"] = *e.KeySize
	}
	if withIDs {
		m["volume_type_id"] = t.ID
		m["encryption_id"] = e.ID
	}
	return m
}

type encryptionBody struct {
	Encryption *struct {
		Provider        *string `json:"provider"`
		ControlLocation *string `json:"control_location"`
		Cipher          *string `json:"cipher"`
		KeySize         *int    `json:"key_size"`
	} `json:"encryption"`
}

func (s *Handler) typeInUse(t *VolumeType) bool {
	for _, v := range s.st.Volumes {
		if v.VolumeType == t.Name {
			return true
		}
	}
	return false
}

// encryption serves GET (the spec, or {} if none) and POST (create).
func (s *Handler) encryption(c *call) {
	var body encryptionBody
	if c.r.Method == http.MethodPost {
		if e := c.adminOnly("volume_extension:volume_type_encryption:create"); e != nil {
			c.fail(e)
			return
		}
		if e := c.decode(&body); e != nil {
			c.fail(e)
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, e := s.visibleType(c, c.r.PathValue("id"))
	if e != nil {
		c.fail(errNotFound("Volume type %s could not be found.", c.r.PathValue("id")))
		return
	}
	if c.r.Method == http.MethodGet {
		if t.Encryption == nil {
			c.json(200, map[string]any{})
			return
		}
		m := encryptionView(t, true)
		m["deleted"] = false
		m["created_at"] = t.Encryption.CreatedAt
		m["updated_at"] = nil
		m["deleted_at"] = nil
		c.json(200, m)
		return
	}
	b := body.Encryption
	if b == nil || b.Provider == nil || *b.Provider == "" {
		c.fail(errBadRequest("Invalid input received: provider must be specified."))
		return
	}
	if t.Encryption != nil {
		c.fail(errConflict("Volume type encryption for type %s already exists.", t.ID))
		return
	}
	if s.typeInUse(t) {
		c.fail(errBadRequest("Invalid volume type: Cannot create encryption specs. Volume type in use."))
		return
	}
	enc := &TypeEncryption{ID: newID(), Provider: *b.Provider, ControlLocation: "front-end", KeySize: b.KeySize,
		CreatedAt: ts(now())}
	if b.ControlLocation != nil {
		if *b.ControlLocation != "front-end" && *b.ControlLocation != "back-end" {
			c.fail(errBadRequest("Invalid input received: Valid control location are: ['front-end', 'back-end']"))
			return
		}
		enc.ControlLocation = *b.ControlLocation
	}
	if b.Cipher != nil {
		enc.Cipher = *b.Cipher
	}
	t = s.editableType(t)
	t.Encryption = enc
	c.persist()
	c.json(200, map[string]any{"encryption": encryptionView(t, true)})
}

// encryptionItem: GET one field, PUT (update; {key} is "provider" by
// convention) and DELETE (remove the spec).
func (s *Handler) encryptionItem(c *call) {
	var body encryptionBody
	if c.r.Method != http.MethodGet {
		if e := c.adminOnly("volume_extension:volume_type_encryption:update"); e != nil {
			c.fail(e)
			return
		}
	}
	if c.r.Method == http.MethodPut {
		if e := c.decode(&body); e != nil {
			c.fail(e)
			return
		}
		if body.Encryption == nil {
			c.fail(errBadRequest("Missing required element 'encryption' in request body."))
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, e := s.visibleType(c, c.r.PathValue("id"))
	if e != nil {
		c.fail(errNotFound("Volume type %s could not be found.", c.r.PathValue("id")))
		return
	}
	if t.Encryption == nil {
		c.fail(errNotFound("Volume type encryption for type %s does not exist.", t.ID))
		return
	}
	switch c.r.Method {
	case http.MethodGet:
		key := c.r.PathValue("key")
		v, ok := encryptionView(t, true)[key]
		if !ok {
			c.fail(errNotFound("Volume type encryption for type %s does not exist.", t.ID))
			return
		}
		c.json(200, map[string]any{key: v})
	case http.MethodPut:
		if s.typeInUse(t) {
			c.fail(errBadRequest("Invalid volume type: Cannot update encryption specs. Volume type in use."))
			return
		}
		t = s.editableType(t)
		enc := *t.Encryption
		b := body.Encryption
		out := map[string]any{}
		if b.Provider != nil {
			enc.Provider, out["provider"] = *b.Provider, *b.Provider
		}
		if b.ControlLocation != nil {
			enc.ControlLocation, out["control_location"] = *b.ControlLocation, *b.ControlLocation
		}
		if b.Cipher != nil {
			enc.Cipher, out["cipher"] = *b.Cipher, *b.Cipher
		}
		if b.KeySize != nil {
			enc.KeySize, out["key_size"] = b.KeySize, *b.KeySize
		}
		t.Encryption = &enc
		c.persist()
		c.json(200, map[string]any{"encryption": out})
	case http.MethodDelete:
		if s.typeInUse(t) {
			c.fail(errBadRequest("Invalid volume type: Cannot delete encryption specs. Volume type in use."))
			return
		}
		t = s.editableType(t)
		t.Encryption = nil
		c.persist()
		c.json(202, nil)
	}
}
