package openstack

import (
	"encoding/json"
	"fmt"
)

// Quotas as Cinder's os-quota-sets and os-quota-class-sets serve them: the
// profile's limits are the "default" class, which admins may change, and
// each project may have its own. Per-type keys (volumes_<type>, ...) are
// listed and kept, not enforced.

var quotaKeys = []string{"volumes", "snapshots", "gigabytes", "backups", "backup_gigabytes", "per_volume_gigabytes", "groups"}

func (s *Handler) quotaRoutes(h func(string, handlerFunc)) {
	p := "/volume/{ver}/{project}"
	h("GET "+p+"/os-quota-sets/{target}", s.showQuota)
	h("GET "+p+"/os-quota-sets/{target}/defaults", s.showQuotaDefaults)
	h("PUT "+p+"/os-quota-sets/{target}", s.updateQuota)
	h("DELETE "+p+"/os-quota-sets/{target}", s.deleteQuota)
	h("GET "+p+"/os-quota-class-sets/{class}", s.showQuotaClass)
	h("PUT "+p+"/os-quota-class-sets/{class}", s.updateQuotaClass)
}

// quotaDefaults is the default class (under s.mu).
func (s *Handler) quotaDefaults() map[string]int {
	q := s.prof.quota
	m := map[string]int{"volumes": q.Volumes, "snapshots": q.Snapshots, "gigabytes": q.Gigabytes,
		"backups": q.Backups, "backup_gigabytes": q.BackupGigabytes, "per_volume_gigabytes": -1, "groups": 10}
	for _, t := range s.allTypes() {
		for _, k := range []string{"volumes_", "snapshots_", "gigabytes_"} {
			m[k+t.Name] = -1
		}
	}
	for k, v := range s.st.QuotaClass {
		m[k] = v
	}
	return m
}

// quotaMap is a project's quota: the defaults with its own values.
func (s *Handler) quotaMap(project string) map[string]int {
	m := s.quotaDefaults()
	for k, v := range s.st.Quotas[project] {
		m[k] = v
	}
	return m
}

// quotaOf is the limits the quota checks enforce.
func (s *Handler) quotaOf(project string) Quota {
	m := s.quotaMap(project)
	return Quota{Volumes: m["volumes"], Snapshots: m["snapshots"], Gigabytes: m["gigabytes"], Backups: m["backups"],
		BackupGigabytes: m["backup_gigabytes"], VolumesAndSnapshots: s.prof.quota.VolumesAndSnapshots}
}

func quotaBody(id string, m map[string]int) map[string]any {
	out := map[string]any{}
	if id != "" {
		out["id"] = id
	}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (c *call) quotaTarget() (string, *apiError) {
	t := c.r.PathValue("target")
	if t != c.project && !c.isAdmin() {
		return "", errForbidden("Policy doesn't allow volume_extension:quotas:show to be performed.")
	}
	return t, nil
}

func (s *Handler) showQuota(c *call) {
	target, e := c.quotaTarget()
	if e != nil {
		c.fail(e)
		return
	}
	var usage jsonBool
	if u := c.r.URL.Query().Get("usage"); u != "" {
		_ = usage.UnmarshalJSON([]byte(u))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.quotaMap(target)
	if !usage {
		c.json(200, map[string]any{"quota_set": quotaBody(target, m)})
		return
	}
	u := s.usage(target)
	inUse := map[string]int{"volumes": u.volumes, "snapshots": u.snapshots, "gigabytes": u.gigabytes,
		"backups": u.backups, "backup_gigabytes": u.backupGB}
	for _, v := range s.st.Volumes {
		if v.ProjectID == target {
			inUse["volumes_"+v.VolumeType]++
			inUse["gigabytes_"+v.VolumeType] += v.Size
		}
	}
	out := map[string]any{"id": target}
	for k, limit := range m {
		out[k] = map[string]any{"limit": limit, "in_use": inUse[k], "reserved": 0}
	}
	c.json(200, map[string]any{"quota_set": out})
}

func (s *Handler) showQuotaDefaults(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.json(200, map[string]any{"quota_set": quotaBody(c.r.PathValue("target"), s.quotaDefaults())})
}

// quotaUpdate reads {"<wrapper>": {"key": int, ...}} and checks the keys.
func (s *Handler) quotaUpdate(c *call, wrapper string, known map[string]int) (map[string]int, *apiError) {
	var body map[string]map[string]json.RawMessage
	if e := c.decode(&body); e != nil {
		return nil, e
	}
	in, ok := body[wrapper]
	if !ok || in == nil {
		return nil, errBadRequest("Missing required element '%s' in request body.", wrapper)
	}
	out := map[string]int{}
	for k, raw := range in {
		if k == "id" || k == "tenant_id" {
			continue
		}
		if _, ok := known[k]; !ok {
			return nil, errBadRequest("Invalid input received: Bad key(s) in quota set: %s", k)
		}
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			var str string
			if json.Unmarshal(raw, &str) != nil {
				return nil, errBadRequest("Invalid input received: Quota limit %s for %s must be an integer.", raw, k)
			}
			n = json.Number(str)
		}
		v, err := n.Int64()
		if err != nil || v < -1 {
			return nil, errBadRequest("Invalid input received: Quota limit %s for %s must be an integer greater than or equal to -1.", raw, k)
		}
		out[k] = int(v)
	}
	return out, nil
}

func (s *Handler) updateQuota(c *call) {
	if e := c.adminOnly("volume_extension:quotas:update"); e != nil {
		c.fail(e)
		return
	}
	target := c.r.PathValue("target")
	s.mu.Lock()
	defer s.mu.Unlock()
	upd, e := s.quotaUpdate(c, "quota_set", s.quotaMap(target))
	if e != nil {
		c.fail(e)
		return
	}
	// A limit below what is in use is refused, as Cinder does.
	u := s.usage(target)
	for k, used := range map[string]int{"volumes": u.volumes, "snapshots": u.snapshots, "gigabytes": u.gigabytes, "backups": u.backups, "backup_gigabytes": u.backupGB} {
		if v, ok := upd[k]; ok && v >= 0 && v < used {
			c.fail(errBadRequest("Invalid input received: Quota %s limit must be equal or greater than existing resources. Current usage is %d and the requested limit is %d.", k, used, v))
			return
		}
	}
	if s.st.Quotas == nil {
		s.st.Quotas = map[string]map[string]int{}
	}
	if s.st.Quotas[target] == nil {
		s.st.Quotas[target] = map[string]int{}
	}
	for k, v := range upd {
		s.st.Quotas[target][k] = v
	}
	c.persist()
	c.json(200, map[string]any{"quota_set": quotaBody("", s.quotaMap(target))})
}

func (s *Handler) deleteQuota(c *call) {
	if e := c.adminOnly("volume_extension:quotas:delete"); e != nil {
		c.fail(e)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.st.Quotas, c.r.PathValue("target"))
	c.persist()
	c.json(200, nil)
}

func (s *Handler) showQuotaClass(c *call) {
	if e := c.adminOnly("volume_extension:quota_classes"); e != nil {
		c.fail(e)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c.json(200, map[string]any{"quota_class_set": quotaBody(c.r.PathValue("class"), s.quotaDefaults())})
}

func (s *Handler) updateQuotaClass(c *call) {
	if e := c.adminOnly("volume_extension:quota_classes"); e != nil {
		c.fail(e)
		return
	}
	if c.r.PathValue("class") != "default" {
		c.fail(errNotFound("Quota class %s could not be found.", c.r.PathValue("class")))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	upd, e := s.quotaUpdate(c, "quota_class_set", s.quotaDefaults())
	if e != nil {
		c.fail(e)
		return
	}
	if s.st.QuotaClass == nil {
		s.st.QuotaClass = map[string]int{}
	}
	for k, v := range upd {
		s.st.QuotaClass[k] = v
	}
	c.persist()
	c.json(200, map[string]any{"quota_class_set": quotaBody("", s.quotaDefaults())})
}

// perVolumeLimit refuses a volume larger than per_volume_gigabytes.
func (s *Handler) perVolumeLimit(project string, size int) *apiError {
	if max := s.quotaMap(project)["per_volume_gigabytes"]; max >= 0 && size > max {
		return errOverLimit(fmt.Sprintf("VolumeSizeExceedsLimit: Requested volume size %dG is larger than maximum allowed limit %dG.", size, max))
	}
	return nil
}
