package openstack

import (
	"encoding/json"
	"net/http"
)

// Routes on single metadata items and the snapshot and backup actions.
func (s *Handler) cinderItemRoutes(h, backups func(string, handlerFunc)) {
	p := "/volume/{ver}/{project}"
	h("GET "+p+"/volumes/{id}/metadata/{key}", s.volumeMeta((*call).metadataItem))
	h("PUT "+p+"/volumes/{id}/metadata/{key}", s.volumeMeta((*call).metadataItem))
	h("GET "+p+"/snapshots/{id}/metadata/{key}", s.snapshotMeta((*call).metadataItem))
	h("PUT "+p+"/snapshots/{id}/metadata/{key}", s.snapshotMeta((*call).metadataItem))
	h("POST "+p+"/snapshots/{id}/action", s.snapshotAction)
	backups("POST "+p+"/backups/{id}/action", s.backupAction)
	backups("PUT "+p+"/backups/{id}", s.putBackup)
}

// putBackup updates a backup's name and description (3.9) and metadata (3.43).
func (s *Handler) putBackup(c *call) {
	if !c.microAtLeast(9) {
		c.fail(errNotFound("The resource could not be found."))
		return
	}
	var body struct {
		Backup *struct {
			Name        *string           `json:"name"`
			Description *string           `json:"description"`
			Metadata    map[string]string `json:"metadata"`
		} `json:"backup"`
	}
	if e := c.decode(&body); e != nil {
		c.fail(e)
		return
	}
	if body.Backup == nil {
		c.fail(errBadRequest("Missing required element 'backup' in request body."))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, e := s.backup(c.scope(), c.r.PathValue("id"))
	if e != nil {
		c.fail(e)
		return
	}
	u := body.Backup
	if u.Name != nil {
		b.Name = *u.Name
	}
	if u.Description != nil {
		b.Description = *u.Description
	}
	if u.Metadata != nil && c.microAtLeast(43) {
		b.Metadata = copyMeta(u.Metadata)
	}
	b.UpdatedAt = now()
	c.persist()
	c.json(200, map[string]any{"backup": c.backupSummary(b)})
}

// metadataItem serves GET and PUT .../metadata/{key}: {"meta": {"k": "v"}}.
func (c *call) metadataItem(meta *map[string]string) (changed bool, e *apiError) {
	key := c.r.PathValue("key")
	if c.r.Method == http.MethodGet {
		v, ok := (*meta)[key]
		if !ok {
			return false, errNotFound("Metadata item was not found")
		}
		c.json(200, map[string]any{"meta": map[string]string{key: v}})
		return false, nil
	}
	var body struct {
		Meta map[string]string `json:"meta"`
	}
	if e := c.decode(&body); e != nil {
		return false, e
	}
	if body.Meta == nil {
		return false, errBadRequest("Malformed request body")
	}
	if len(body.Meta) != 1 {
		return false, errBadRequest("Request body contains too many items")
	}
	v, ok := body.Meta[key]
	if !ok {
		return false, errBadRequest("Request body and URI mismatch")
	}
	if *meta == nil {
		*meta = map[string]string{}
	}
	(*meta)[key] = v
	c.json(200, map[string]any{"meta": map[string]string{key: v}})
	return true, nil
}

// action reads an action body: exactly one {"<name>": {...}}.
func (c *call) action() (string, json.RawMessage, *apiError) {
	var body map[string]json.RawMessage
	if e := c.decode(&body); e != nil {
		return "", nil, e
	}
	if len(body) != 1 {
		return "", nil, errBadRequest("Malformed request body")
	}
	for k, v := range body {
		return k, v, nil
	}
	return "", nil, nil
}

// parseArg decodes an action's argument; null or absent leaves dst as is.
func parseArg(name string, arg json.RawMessage, dst any) *apiError {
	if len(arg) == 0 || string(arg) == "null" {
		return nil
	}
	if err := json.Unmarshal(arg, dst); err != nil {
		return errBadRequest("Invalid input received: %s: %v", name, err)
	}
	return nil
}

func (c *call) adminOnly(policy string) *apiError {
	if !c.isAdmin() {
		return errForbidden("Policy doesn't allow %s to be performed.", policy)
	}
	return nil
}

var snapshotStatuses = map[string]bool{"creating": true, "available": true, "deleting": true, "error": true,
	"error_deleting": true, "unmanaging": true, "backing-up": true, "restoring": true}

// snapshotStatusMoves are the transitions os-update_snapshot_status allows
// (Cinder's snapshot_actions).
var snapshotStatusMoves = map[string]map[string]bool{
	"creating": {"creating": true, "available": true, "error": true},
	"deleting": {"deleting": true, "error_deleting": true},
}

func (s *Handler) snapshotAction(c *call) {
	name, arg, e := c.action()
	if e != nil {
		c.fail(e)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sn, e := s.snapshot(c.scope(), c.r.PathValue("id"))
	if e != nil {
		c.fail(e)
		return
	}
	var a struct {
		Status   string `json:"status"`
		Progress string `json:"progress"`
	}
	if e := parseArg(name, arg, &a); e != nil {
		c.fail(e)
		return
	}
	switch name {
	case "os-reset_status":
		if e := c.adminOnly("volume_extension:snapshot_admin_actions:reset_status"); e != nil {
			c.fail(e)
			return
		}
		if !snapshotStatuses[a.Status] {
			c.fail(errBadRequest("Invalid input received: Must specify a valid status"))
			return
		}
		sn.Status, sn.Progress = a.Status, ""
	case "os-force_delete":
		if e := c.adminOnly("volume_extension:snapshot_admin_actions:force_delete"); e != nil {
			c.fail(e)
			return
		}
		sn.Status = "deleting"
		s.scheduleSnapshotDelete(sn.ID)
	case "os-update_snapshot_status":
		if !snapshotStatusMoves[sn.Status][a.Status] {
			c.fail(errBadRequest("Invalid input received: Snapshot status %s not allowed for update_snapshot_status", a.Status))
			return
		}
		sn.Status = a.Status
		if a.Progress != "" {
			sn.Progress = a.Progress
		}
	default:
		c.fail(errBadRequest("There is no such action: %s", name))
		return
	}
	sn.UpdatedAt = now()
	c.persist()
	c.json(202, nil)
}

var backupStatuses = map[string]bool{"available": true, "error": true}

func (s *Handler) backupAction(c *call) {
	name, arg, e := c.action()
	if e != nil {
		c.fail(e)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, e := s.backup(c.scope(), c.r.PathValue("id"))
	if e != nil {
		c.fail(e)
		return
	}
	switch name {
	case "os-reset_status":
		if e := c.adminOnly("volume_extension:backup_admin_actions:reset_status"); e != nil {
			c.fail(e)
			return
		}
		var a struct {
			Status string `json:"status"`
		}
		if e := parseArg(name, arg, &a); e != nil {
			c.fail(e)
			return
		}
		if !backupStatuses[a.Status] {
			c.fail(errBadRequest("Invalid input received: Backup status %s not allowed", a.Status))
			return
		}
		b.Status = a.Status
	case "os-force_delete":
		if e := c.adminOnly("volume_extension:backup_admin_actions:force_delete"); e != nil {
			c.fail(e)
			return
		}
		if v := s.st.Volumes[b.VolumeID]; b.Status == "creating" && v != nil && v.Status == "backing-up" {
			v.Status, v.PrevStatus = restingStatus(v), "" // the backup will not finish it
		}
		b.Status = "error"
		if e := s.deleteBackup(c, b.ID); e != nil {
			c.fail(e)
			return
		}
	default:
		c.fail(errBadRequest("There is no such action: %s", name))
		return
	}
	b.UpdatedAt = now()
	c.persist()
	c.json(202, nil)
}
