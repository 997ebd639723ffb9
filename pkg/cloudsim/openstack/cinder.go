package openstack

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

const (
	volumeMinMicro = "3.0"
	volumeMaxMicro = "3.70"
)

func (s *Handler) cinderRoutes(mux *http.ServeMux) {
	h := func(pattern string, fn handlerFunc) {
		s.handle(mux, FaceCinder, pattern, s.cinderVersioned(fn))
	}
	for _, pat := range []string{"GET /volume", "GET /volume/{$}"} {
		s.register(mux, FaceCinder, pat, false, s.volumeVersions)
	}
	for _, pat := range []string{"GET /volume/{ver}", "GET /volume/{ver}/{$}"} {
		s.register(mux, FaceCinder, pat, false, s.volumeVersion)
	}
	p := "/volume/{ver}/{project}"
	s.typeRoutes(h)
	h("GET "+p+"/volumes", volumeListing.handler(s, false))
	h("GET "+p+"/volumes/detail", volumeListing.handler(s, true))
	h("POST "+p+"/volumes", s.postVolume)
	h("GET "+p+"/volumes/{id}", s.getVolume)
	h("PUT "+p+"/volumes/{id}", s.putVolume)
	h("DELETE "+p+"/volumes/{id}", s.delVolume)
	h("POST "+p+"/volumes/{id}/action", s.volumeAction)
	h("GET "+p+"/volumes/{id}/metadata", s.volumeMeta((*call).metadataOp))
	h("POST "+p+"/volumes/{id}/metadata", s.volumeMeta((*call).metadataOp))
	h("PUT "+p+"/volumes/{id}/metadata", s.volumeMeta((*call).metadataOp))
	h("DELETE "+p+"/volumes/{id}/metadata/{key}", s.volumeMeta((*call).metadataOp))
	h("GET "+p+"/snapshots", snapshotListing.handler(s, false))
	h("GET "+p+"/snapshots/detail", snapshotListing.handler(s, true))
	h("POST "+p+"/snapshots", s.postSnapshot)
	h("GET "+p+"/snapshots/{id}", s.getSnapshot)
	h("PUT "+p+"/snapshots/{id}", s.putSnapshot)
	h("DELETE "+p+"/snapshots/{id}", s.delSnapshot)
	h("GET "+p+"/snapshots/{id}/metadata", s.snapshotMeta((*call).metadataOp))
	h("POST "+p+"/snapshots/{id}/metadata", s.snapshotMeta((*call).metadataOp))
	h("PUT "+p+"/snapshots/{id}/metadata", s.snapshotMeta((*call).metadataOp))
	h("DELETE "+p+"/snapshots/{id}/metadata/{key}", s.snapshotMeta((*call).metadataOp))
	b := func(pattern string, fn handlerFunc) { h(pattern, s.backupAPI(fn)) }
	b("GET "+p+"/backups", backupListing.handler(s, false))
	b("GET "+p+"/backups/detail", backupListing.handler(s, true))
	b("POST "+p+"/backups", s.postBackup)
	b("GET "+p+"/backups/{id}", s.getBackup)
	b("DELETE "+p+"/backups/{id}", s.delBackup)
	b("POST "+p+"/backups/{id}/restore", s.restore)
	s.cinderItemRoutes(h, b)
	s.quotaRoutes(h)
	s.miscRoutes(h, b)
	s.attachmentRoutes(h)
	h("GET "+p+"/limits", s.limits)
	h("GET "+p+"/os-availability-zone", s.availabilityZones)
}

// backupAPI serves fn where the profile has a backup API; elsewhere the
// route does not exist, and answers as any unknown path does.
func (s *Handler) backupAPI(fn handlerFunc) handlerFunc {
	return func(c *call) {
		if s.prof.noBackups {
			c.fail(errNotFound("The resource could not be found."))
			return
		}
		fn(c)
	}
}

// cinderVersioned checks the version path element and the microversion header.
func (s *Handler) cinderVersioned(fn handlerFunc) handlerFunc {
	return func(c *call) {
		switch c.r.PathValue("ver") {
		case "v1":
			c.ver = 1
		case "v2":
			c.ver = 2
		case "v3":
			c.ver = 3
		default:
			c.fail(errNotFound("The resource could not be found."))
			return
		}
		if c.ver == 3 {
			c.micro = volumeMinMicro
			if h := c.r.Header.Get("OpenStack-API-Version"); h != "" {
				f := strings.Fields(h)
				if len(f) == 2 && f[0] == "volume" {
					c.micro = f[1]
				}
			}
			if c.micro == "latest" {
				c.micro = volumeMaxMicro
			}
			if !microAtLeast(c.micro, 3, 0) || microAtLeast(c.micro, 3, 71) {
				c.fail(&apiError{code: 406, kind: "computeFault", msg: fmt.Sprintf("Version %s is not supported by the API. Minimum is %s and maximum is %s.", c.micro, volumeMinMicro, volumeMaxMicro)})
				return
			}
			c.w.Header().Set("OpenStack-API-Version", "volume "+c.micro)
			c.w.Header().Add("Vary", "OpenStack-API-Version")
		}
		fn(c)
	}
}

// pick returns the first non-empty string (v2 name, v1 display_name).
func pick(a ...*string) string {
	for _, s := range a {
		if s != nil && *s != "" {
			return *s
		}
	}
	return ""
}

func (s *Handler) postVolume(c *call) {
	var body struct {
		Volume *struct {
			Size               json.RawMessage   `json:"size"`
			Name               *string           `json:"name"`
			DisplayName        *string           `json:"display_name"`
			Description        *string           `json:"description"`
			DisplayDescription *string           `json:"display_description"`
			Zone               *string           `json:"availability_zone"`
			VolumeType         *string           `json:"volume_type"`
			SnapshotID         *string           `json:"snapshot_id"`
			SourceVolID        *string           `json:"source_volid"`
			ImageRef           *string           `json:"imageRef"`
			BackupID           *string           `json:"backup_id"`
			Metadata           map[string]string `json:"metadata"`
			Multiattach        bool              `json:"multiattach"`
		} `json:"volume"`
	}
	if e := c.decode(&body); e != nil {
		c.fail(e)
		return
	}
	if body.Volume == nil {
		c.fail(errBadRequest("Missing required element 'volume' in request body."))
		return
	}
	b := body.Volume
	req := volumeRequest{
		Name: pick(b.Name, b.DisplayName), Description: pick(b.Description, b.DisplayDescription),
		Zone: pick(b.Zone), VolumeType: pick(b.VolumeType), SnapshotID: pick(b.SnapshotID),
		SourceVolID: pick(b.SourceVolID), ImageRef: pick(b.ImageRef), Metadata: b.Metadata, Multiattach: b.Multiattach,
	}
	if c.ver == 3 && microAtLeast(c.micro, 3, 47) {
		req.BackupID = pick(b.BackupID)
	}
	if len(b.Size) > 0 && string(b.Size) != "null" {
		// Cinder takes a number or a numeric string, and says so in its
		// own words for anything else.
		var num json.Number
		raw := strings.Trim(string(b.Size), `"`)
		n, err := json.Number(raw).Int64()
		if json.Unmarshal([]byte(raw), &num) != nil || err != nil {
			c.fail(errBadRequest("Invalid input received: Volume size '%s' must be an integer and greater than 0", raw))
			return
		}
		size := int(n)
		req.Size = &size
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, e := s.createVolume(c, req)
	if e != nil {
		c.fail(e)
		return
	}
	c.persist()
	code := 202
	if c.ver == 1 {
		code = 200
	}
	c.json(code, map[string]any{"volume": c.volumeView(v, viewChange)})
}

func (s *Handler) getVolume(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, e := s.volume(c.scope(), c.r.PathValue("id"))
	if e != nil {
		c.fail(e)
		return
	}
	c.json(200, map[string]any{"volume": c.volumeView(v, viewShow)})
}

func (s *Handler) putVolume(c *call) {
	var body struct {
		Volume *struct {
			Name               *string           `json:"name"`
			DisplayName        *string           `json:"display_name"`
			Description        *string           `json:"description"`
			DisplayDescription *string           `json:"display_description"`
			Metadata           map[string]string `json:"metadata"`
		} `json:"volume"`
	}
	if e := c.decode(&body); e != nil {
		c.fail(e)
		return
	}
	if body.Volume == nil {
		c.fail(errBadRequest("Missing required element 'volume' in request body."))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, e := s.volume(c.scope(), c.r.PathValue("id"))
	if e != nil {
		c.fail(e)
		return
	}
	b := body.Volume
	if b.Name != nil {
		v.Name = *b.Name
	} else if b.DisplayName != nil {
		v.Name = *b.DisplayName
	}
	if b.Description != nil {
		v.Description = *b.Description
	} else if b.DisplayDescription != nil {
		v.Description = *b.DisplayDescription
	}
	if b.Metadata != nil {
		v.Metadata = copyMeta(b.Metadata)
	}
	v.UpdatedAt = now()
	c.persist()
	c.json(200, map[string]any{"volume": c.volumeView(v, viewChange)})
}

func (s *Handler) delVolume(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var cascade jsonBool
	if q := c.r.URL.Query().Get("cascade"); q != "" {
		if err := cascade.UnmarshalJSON([]byte(q)); err != nil {
			c.fail(errBadRequest("Invalid input received: Invalid value '%s' for cascade.", q))
			return
		}
	}
	e := s.deleteVolume(c, c.r.PathValue("id"), bool(cascade))
	if e != nil {
		c.fail(e)
		return
	}
	c.persist()
	c.json(202, nil)
}

// metadataOp serves GET/POST(merge)/PUT(replace) .../metadata and DELETE .../metadata/{key}.
func (c *call) metadataOp(meta *map[string]string) (changed bool, e *apiError) {
	switch c.r.Method {
	case http.MethodGet:
		c.json(200, map[string]any{"metadata": copyMeta(*meta)})
		return false, nil
	case http.MethodDelete:
		k := c.r.PathValue("key")
		if _, ok := (*meta)[k]; !ok {
			return false, errNotFound("Metadata item was not found")
		}
		delete(*meta, k)
		c.json(200, nil)
		return true, nil
	}
	var body struct {
		Metadata map[string]string `json:"metadata"`
	}
	if e := c.decode(&body); e != nil {
		return false, e
	}
	if body.Metadata == nil {
		return false, errBadRequest("Malformed request body")
	}
	if c.r.Method == http.MethodPut || *meta == nil {
		*meta = map[string]string{}
	}
	for k, v := range body.Metadata {
		(*meta)[k] = v
	}
	c.json(200, map[string]any{"metadata": copyMeta(*meta)})
	return true, nil
}

// metadataHandler acts on one resource's metadata (metadataOp on the
// collection, metadataItem on one key) and says whether it changed it.
type metadataHandler func(c *call, meta *map[string]string) (bool, *apiError)

// volumeMeta serves handle on the metadata of the volume the path names.
func (s *Handler) volumeMeta(handle metadataHandler) handlerFunc {
	return func(c *call) {
		s.mu.Lock()
		defer s.mu.Unlock()
		v, e := s.volume(c.scope(), c.r.PathValue("id"))
		if e != nil {
			c.fail(e)
			return
		}
		applyMeta(c, handle, &v.Metadata, &v.UpdatedAt)
	}
}

// snapshotMeta is volumeMeta for snapshots.
func (s *Handler) snapshotMeta(handle metadataHandler) handlerFunc {
	return func(c *call) {
		s.mu.Lock()
		defer s.mu.Unlock()
		sn, e := s.snapshot(c.scope(), c.r.PathValue("id"))
		if e != nil {
			c.fail(e)
			return
		}
		applyMeta(c, handle, &sn.Metadata, &sn.UpdatedAt)
	}
}

// applyMeta runs handle and, when it changed the metadata, stamps the
// resource and persists the state.
func applyMeta(c *call, handle metadataHandler, meta *map[string]string, updated *time.Time) {
	changed, e := handle(c, meta)
	if e != nil {
		c.fail(e)
		return
	}
	if changed {
		*updated = now()
		c.persist()
	}
}

// jsonBool accepts true/false and the strings "true"/"false" (python clients send both).
type jsonBool bool

func (b *jsonBool) UnmarshalJSON(d []byte) error {
	switch strings.ToLower(strings.Trim(string(d), `"`)) {
	case "true", "1", "yes", "on":
		*b = true
	case "false", "0", "no", "off", "null", "":
		*b = false
	default:
		return fmt.Errorf("invalid boolean %s", d)
	}
	return nil
}

func (s *Handler) postSnapshot(c *call) {
	var body struct {
		Snapshot *struct {
			VolumeID           *string           `json:"volume_id"`
			Name               *string           `json:"name"`
			DisplayName        *string           `json:"display_name"`
			Description        *string           `json:"description"`
			DisplayDescription *string           `json:"display_description"`
			Force              *jsonBool         `json:"force"`
			Metadata           map[string]string `json:"metadata"`
		} `json:"snapshot"`
	}
	if e := c.decode(&body); e != nil {
		c.fail(e)
		return
	}
	if body.Snapshot == nil {
		c.fail(errBadRequest("Missing required element 'snapshot' in request body."))
		return
	}
	b := body.Snapshot
	if b.VolumeID == nil || *b.VolumeID == "" {
		// Cinder looks the volume up before validating the rest.
		c.fail(errNotFound("Volume None could not be found."))
		return
	}
	var force *bool
	if b.Force != nil {
		f := bool(*b.Force)
		force = &f
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sn, e := s.createSnapshot(c, snapshotRequest{VolumeID: *b.VolumeID, Name: pick(b.Name, b.DisplayName),
		Description: pick(b.Description, b.DisplayDescription), Force: force, Metadata: b.Metadata})
	if e != nil {
		c.fail(e)
		return
	}
	c.persist()
	code := 202
	if c.ver == 1 {
		code = 200
	}
	c.json(code, map[string]any{"snapshot": c.snapshotView(sn, false)})
}

func (s *Handler) getSnapshot(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sn, e := s.snapshot(c.scope(), c.r.PathValue("id"))
	if e != nil {
		c.fail(e)
		return
	}
	c.json(200, map[string]any{"snapshot": c.snapshotView(sn, true)})
}

func (s *Handler) putSnapshot(c *call) {
	var body struct {
		Snapshot *struct {
			Name               *string `json:"name"`
			DisplayName        *string `json:"display_name"`
			Description        *string `json:"description"`
			DisplayDescription *string `json:"display_description"`
		} `json:"snapshot"`
	}
	if e := c.decode(&body); e != nil {
		c.fail(e)
		return
	}
	if body.Snapshot == nil {
		c.fail(errBadRequest("Missing required element 'snapshot' in request body."))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sn, e := s.snapshot(c.scope(), c.r.PathValue("id"))
	if e != nil {
		c.fail(e)
		return
	}
	b := body.Snapshot
	if b.Name != nil {
		sn.Name = *b.Name
	} else if b.DisplayName != nil {
		sn.Name = *b.DisplayName
	}
	if b.Description != nil {
		sn.Description = *b.Description
	} else if b.DisplayDescription != nil {
		sn.Description = *b.DisplayDescription
	}
	sn.UpdatedAt = now()
	c.persist()
	c.json(200, map[string]any{"snapshot": c.snapshotView(sn, false)})
}

func (s *Handler) delSnapshot(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.deleteSnapshot(c, c.r.PathValue("id"))
	if e != nil {
		c.fail(e)
		return
	}
	c.persist()
	c.json(202, nil)
}

func (s *Handler) postBackup(c *call) {
	var body struct {
		Backup *struct {
			VolumeID    string   `json:"volume_id"`
			SnapshotID  *string  `json:"snapshot_id"`
			Name        *string  `json:"name"`
			Description *string  `json:"description"`
			Container   *string  `json:"container"`
			Force       jsonBool `json:"force"`
			Incremental jsonBool `json:"incremental"`
		} `json:"backup"`
	}
	if e := c.decode(&body); e != nil {
		c.fail(e)
		return
	}
	if body.Backup == nil || body.Backup.VolumeID == "" {
		c.fail(errBadRequest("Missing required element 'backup' in request body."))
		return
	}
	b := body.Backup
	s.mu.Lock()
	defer s.mu.Unlock()
	bk, e := s.createBackup(c, backupRequest{VolumeID: b.VolumeID, Name: pick(b.Name), Description: pick(b.Description),
		Container: pick(b.Container), Force: bool(b.Force), SnapshotID: pick(b.SnapshotID), Incremental: bool(b.Incremental)})
	if e != nil {
		c.fail(e)
		return
	}
	c.persist()
	c.json(202, map[string]any{"backup": c.backupSummary(bk)})
}

func (s *Handler) getBackup(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, e := s.backup(c.scope(), c.r.PathValue("id"))
	if e != nil {
		c.fail(e)
		return
	}
	c.json(200, map[string]any{"backup": c.backupView(b)})
}

func (s *Handler) delBackup(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.deleteBackup(c, c.r.PathValue("id"))
	if e != nil {
		c.fail(e)
		return
	}
	c.persist()
	c.json(202, nil)
}

func (s *Handler) restore(c *call) {
	var body struct {
		Restore *struct {
			VolumeID string `json:"volume_id"`
			Name     string `json:"name"`
		} `json:"restore"`
	}
	if e := c.decode(&body); e != nil {
		c.fail(e)
		return
	}
	if body.Restore == nil {
		c.fail(errBadRequest("Missing required element 'restore' in request body."))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, b, e := s.restoreBackup(c, c.r.PathValue("id"), body.Restore.VolumeID, body.Restore.Name)
	if e != nil {
		c.fail(e)
		return
	}
	c.persist()
	c.json(202, map[string]any{"restore": map[string]any{"backup_id": b.ID, "volume_id": v.ID, "volume_name": nullable(v.Name)}})
}

func (s *Handler) limits(c *call) {
	s.mu.Lock()
	u := s.usage(c.project)
	q := s.quotaOf(c.project)
	s.mu.Unlock()
	maxVol, maxSnap := q.Volumes, q.Snapshots
	if q.VolumesAndSnapshots > 0 {
		if maxVol < 0 || maxVol > q.VolumesAndSnapshots {
			maxVol = q.VolumesAndSnapshots
		}
		if maxSnap < 0 || maxSnap > q.VolumesAndSnapshots {
			maxSnap = q.VolumesAndSnapshots
		}
	}
	abs := map[string]any{
		"maxTotalVolumes": maxVol, "totalVolumesUsed": u.volumes,
		"maxTotalVolumeGigabytes": q.Gigabytes, "totalGigabytesUsed": u.gigabytes,
		"maxTotalSnapshots": maxSnap, "totalSnapshotsUsed": u.snapshots,
		"maxTotalBackups": q.Backups, "totalBackupsUsed": u.backups,
		"maxTotalBackupGigabytes": q.BackupGigabytes, "totalBackupGigabytesUsed": u.backupGB,
	}
	if s.prof.limitsMaxOnly {
		abs = map[string]any{"maxTotalVolumes": maxVol, "maxTotalVolumeGigabytes": q.Gigabytes}
	}
	c.json(200, map[string]any{"limits": map[string]any{"rate": []any{}, "absolute": abs}})
}

func (s *Handler) availabilityZones(c *call) {
	out := []any{}
	for _, z := range s.prof.zones {
		out = append(out, map[string]any{"zoneName": z, "zoneState": map[string]any{"available": true}})
	}
	c.json(200, map[string]any{"availabilityZoneInfo": out})
}
