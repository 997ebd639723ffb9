package openstack

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/disk"
)

// Extensions, the volume summary (3.12), user messages (3.3) and backup
// records (export/import).

func (s *Handler) miscRoutes(h, backups func(string, handlerFunc)) {
	p := "/volume/{ver}/{project}"
	h("GET "+p+"/extensions", s.extensions)
	h("GET "+p+"/volumes/summary", s.volumeSummaryTotals)
	h("GET "+p+"/messages", s.listMessages)
	h("GET "+p+"/messages/{id}", s.message)
	h("DELETE "+p+"/messages/{id}", s.message)
	backups("GET "+p+"/backups/{id}/export_record", s.exportBackup)
	backups("POST "+p+"/backups/import_record", s.importBackup)
}

// The extensions this simulator serves (Cinder's aliases and names).
var extensionList = [][2]string{
	{"os-extended-snapshot-attributes", "ExtendedSnapshotAttributes"},
	{"os-vol-host-attr", "VolumeHostAttribute"},
	{"os-vol-tenant-attr", "VolumeTenantAttribute"},
	{"os-vol-mig-status-attr", "VolumeMigStatusAttribute"},
	{"os-vol-image-meta", "VolumeImageMetadata"},
	{"os-volume-type-access", "VolumeTypeAccess"},
	{"os-types-manage", "TypesManage"},
	{"os-types-extra-specs", "TypesExtraSpecs"},
	{"encryption", "VolumeTypeEncryption"},
	{"os-quota-sets", "Quotas"},
	{"os-quota-class-sets", "QuotaClasses"},
	{"os-admin-actions", "AdminActions"},
	{"os-volume-actions", "VolumeActions"},
	{"os-snapshot-actions", "SnapshotActions"},
	{"backups", "Backups"},
	{"os-availability-zone", "AvailabilityZones"},
}

func (s *Handler) extensions(c *call) {
	out := []any{}
	for _, e := range extensionList {
		if e[0] == "backups" && s.prof.noBackups {
			continue
		}
		out = append(out, map[string]any{"alias": e[0], "name": e[1], "description": e[1] + " support.",
			"links": []any{}, "updated": "2013-06-01T00:00:00+00:00"})
	}
	c.json(200, map[string]any{"extensions": out})
}

func (s *Handler) volumeSummaryTotals(c *call) {
	if !c.microAtLeast(12) {
		c.fail(errNotFound("Volume summary could not be found."))
		return
	}
	inScope := c.listScope()
	s.mu.Lock()
	defer s.mu.Unlock()
	count, size := 0, 0
	meta := map[string]map[string]bool{}
	for _, v := range s.st.Volumes {
		if !inScope(v.ProjectID) {
			continue
		}
		count++
		size += v.Size
		for k, val := range v.Metadata {
			if meta[k] == nil {
				meta[k] = map[string]bool{}
			}
			meta[k][val] = true
		}
	}
	sum := map[string]any{"total_count": count, "total_size": size}
	if c.microAtLeast(36) {
		m := map[string]any{}
		for k, vals := range meta {
			var l []string
			for v := range vals {
				l = append(l, v)
			}
			m[k] = l
		}
		sum["metadata"] = m
	}
	c.json(200, map[string]any{"volume-summary": sum})
}

const msgNoValidBackend = "schedule allocate volume:Could not find any available weighted backend."

// backendFits is the scheduler's capabilities filter: a type's extra specs
// naming a protocol or vendor the backend lacks leave no valid host.
func (s *Handler) backendFits(typeName string) bool {
	t, _ := s.volumeType(typeName)
	if t == nil {
		return true
	}
	caps := map[string]string{"storage_protocol": "iSCSI", "vendor_name": "Open Source"}
	for k, want := range caps {
		if got, ok := t.ExtraSpecs[k]; ok && !strings.EqualFold(strings.TrimPrefix(got, "<in> "), want) {
			return false
		}
	}
	return true
}

// addMessage records a user message about a volume (under s.mu).
func (s *Handler) addMessage(v *Volume, text string) {
	if s.st.Messages == nil {
		s.st.Messages = map[string]*Message{}
	}
	m := &Message{ID: newID(), ProjectID: v.ProjectID, ResourceType: "VOLUME", ResourceUUID: v.ID,
		EventID: "VOLUME_VOLUME_001_002", UserMessage: text, RequestID: "req-" + newID(), CreatedAt: now()}
	s.st.Messages[m.ID] = m
}

func (c *call) messageView(m *Message) map[string]any {
	return map[string]any{
		"id": m.ID, "message_level": "ERROR", "event_id": m.EventID, "user_message": m.UserMessage,
		"request_id": m.RequestID, "resource_type": m.ResourceType, "resource_uuid": m.ResourceUUID,
		"created_at": ts(m.CreatedAt), "guaranteed_until": ts(m.CreatedAt.Add(30 * 24 * time.Hour)),
		"links": c.links("messages", m.ID),
	}
}

func (s *Handler) listMessages(c *call) {
	if !c.microAtLeast(3) {
		c.fail(errNotFound("The resource could not be found."))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []any{}
	for _, m := range s.st.Messages {
		if m.ProjectID == c.project || c.isAdmin() {
			out = append(out, c.messageView(m))
		}
	}
	c.json(200, map[string]any{"messages": out})
}

// message serves GET and DELETE /messages/{id}.
func (s *Handler) message(c *call) {
	if !c.microAtLeast(3) {
		c.fail(errNotFound("The resource could not be found."))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := c.r.PathValue("id")
	m := s.st.Messages[id]
	if m == nil || (m.ProjectID != c.project && !c.isAdmin()) {
		c.fail(errNotFound("Message %s could not be found.", id))
		return
	}
	if c.r.Method == "DELETE" {
		delete(s.st.Messages, id)
		c.persist()
		c.json(204, nil)
		return
	}
	c.json(200, map[string]any{"message": c.messageView(m)})
}

const backupService = "cinder.backup.drivers.posix.PosixBackupDriver"

// backupRecord is what export_record encodes; DataID names the stored copy.
type backupRecord struct {
	Backup
	DataID string `json:"data_id"`
}

func (s *Handler) exportBackup(c *call) {
	if e := c.adminOnly("backup:export-import"); e != nil {
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
	if b.Status != "available" {
		c.fail(errBadRequest("Invalid backup: Backup status must be available and not restoring."))
		return
	}
	raw, _ := json.Marshal(backupRecord{Backup: *b, DataID: b.ID})
	c.json(200, map[string]any{"backup-record": map[string]any{"backup_service": backupService,
		"backup_url": base64.StdEncoding.EncodeToString(raw)}})
}

func (s *Handler) importBackup(c *call) {
	if e := c.adminOnly("backup:export-import"); e != nil {
		c.fail(e)
		return
	}
	var body struct {
		Record *struct {
			Service string `json:"backup_service"`
			URL     string `json:"backup_url"`
		} `json:"backup-record"`
	}
	if e := c.decode(&body); e != nil {
		c.fail(e)
		return
	}
	if body.Record == nil || body.Record.Service == "" || body.Record.URL == "" {
		c.fail(errBadRequest("Missing required element 'backup-record' in request body."))
		return
	}
	var rec backupRecord
	raw, err := base64.StdEncoding.DecodeString(body.Record.URL)
	if err != nil || json.Unmarshal(raw, &rec) != nil || rec.ID == "" || rec.DataID == "" {
		c.fail(errBadRequest("Invalid input received: Can't parse backup record."))
		return
	}
	if body.Record.Service != backupService {
		c.fail(errBadRequest("Invalid backup: Importing backup record with backup service %s is not supported.", body.Record.Service))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.Backups[rec.ID] != nil {
		c.fail(errBadRequest("Invalid backup: Backup already exists in database."))
		return
	}
	b := rec.Backup
	b.ProjectID, b.Status, b.ParentID, b.RestoreTo = c.project, "available", "", ""
	b.CreatedAt, b.UpdatedAt = now(), now()
	if err := s.store.Copy(disk.KindBackups, rec.DataID, disk.KindBackups, b.ID, int64(b.Size)*gib); err != nil {
		b.Status, b.FailReason = "error", "backup data not found"
	}
	s.st.Backups[b.ID] = &b
	c.persist()
	c.json(201, map[string]any{"backup": c.backupSummary(&b)})
}
