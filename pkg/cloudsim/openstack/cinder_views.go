package openstack

import (
	"fmt"
	"time"
)

// JSON views of Cinder resources, per API version: v1 speaks
// display_name/display_description (seed 004), v2/v3 name/description
// (seeds 000, 002).

func ts(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000") }

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (c *call) cinderBase() string {
	return fmt.Sprintf("%s/volume/v%d/%s", c.baseURL(), c.ver, c.project)
}

func (c *call) links(collection, id string) []any {
	return []any{
		map[string]any{"href": c.cinderBase() + "/" + collection + "/" + id, "rel": "self"},
		map[string]any{"href": fmt.Sprintf("%s/volume/%s/%s/%s", c.baseURL(), c.project, collection, id), "rel": "bookmark"},
	}
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// attachmentViews lists the attachments Cinder shows: those attached (or
// being detached), not one reserved or still attaching.
func (c *call) attachmentViews(v *Volume) []any {
	out := []any{}
	for _, a := range v.Attachments {
		if a.Status != "attached" && a.Status != "detaching" {
			continue
		}
		m := map[string]any{"id": v.ID, "volume_id": v.ID, "server_id": a.ServerID, "device": a.Device}
		if c.ver >= 2 {
			m["attachment_id"] = a.ID
			m["host_name"] = a.HostName
			if !a.AttachedAt.IsZero() {
				m["attached_at"] = ts(a.AttachedAt)
			} else {
				m["attached_at"] = nil
			}
		}
		out = append(out, m)
	}
	return out
}

// volumeSummary is the v2/v3 non-detail list entry.
func (c *call) volumeSummary(v *Volume) map[string]any {
	if c.ver == 1 {
		return c.volumeView(v, viewShow) // v1 lists full volumes (seed 004)
	}
	return map[string]any{"id": v.ID, "links": c.links("volumes", v.ID), "name": nullable(v.Name)}
}

// volumeMetadata is the volume's metadata with the read-only flag, as
// Cinder merges that admin metadata into what it shows.
func volumeMetadata(v *Volume) map[string]string {
	m := copyMeta(v.Metadata)
	if v.ReadOnly != nil {
		m["readonly"] = "False"
		if *v.ReadOnly {
			m["readonly"] = "True"
		}
	}
	return m
}

// viewKind says which answer a view is for: Cinder's extensions (the
// os-vol-*-attr and os-extended-snapshot-attributes fields) extend show and
// detail only, never the answer to a create or an update.
type viewKind int

const (
	viewShow   viewKind = iota // GET one, list detail
	viewChange                 // POST, PUT
)

// micro reports whether the call is v3 at microversion major.minor or later.
func (c *call) microAtLeast(minor int) bool {
	return c.ver == 3 && microAtLeast(c.micro, 3, minor)
}

func (c *call) volumeView(v *Volume, kind viewKind) map[string]any {
	m := map[string]any{
		"id":                v.ID,
		"status":            v.Status,
		"size":              v.Size,
		"availability_zone": v.Zone,
		"created_at":        ts(v.CreatedAt),
		"attachments":       c.attachmentViews(v),
		"bootable":          boolString(v.Bootable),
		"metadata":          volumeMetadata(v),
		"snapshot_id":       nullable(v.SnapshotID),
		"source_volid":      nullable(v.SourceVolID),
		"volume_type":       v.VolumeType,
		"encrypted":         c.s.encrypted(v.VolumeType),
		"multiattach":       v.Multiattach,
	}
	admin := c.isAdmin()
	if kind == viewShow && admin {
		m["os-vol-tenant-attr:tenant_id"] = v.ProjectID
	}
	if c.ver == 1 {
		m["display_name"] = nullable(v.Name)
		m["display_description"] = nullable(v.Description)
		return m
	}
	m["name"] = nullable(v.Name)
	m["description"] = nullable(v.Description)
	m["links"] = c.links("volumes", v.ID)
	m["user_id"] = v.UserID
	m["updated_at"] = ts(v.UpdatedAt)
	m["consistencygroup_id"] = nil
	m["replication_status"] = "disabled"
	if len(v.ImageMetadata) > 0 && kind == viewShow {
		m["volume_image_metadata"] = copyMeta(v.ImageMetadata)
	}
	if admin {
		m["migration_status"] = nil
		if kind == viewShow {
			// One backend serves every type, so a retype keeps the host.
			m["os-vol-host-attr:host"] = "sim@" + c.s.prof.name + "#" + v.Zone
			m["os-vol-mig-status-attr:migstat"] = nil
			m["os-vol-mig-status-attr:name_id"] = nil
		}
	}
	if c.ver < 3 {
		return m
	}
	if c.microAtLeast(13) {
		m["group_id"] = nil
	}
	if admin && c.microAtLeast(21) {
		m["provider_id"] = nil
	}
	if c.microAtLeast(48) {
		m["service_uuid"] = "5e7d3b8a-0c1f-4f3e-9b52-5a1c0d9e0001"
		m["shared_targets"] = false
	}
	if c.microAtLeast(69) {
		m["shared_targets"] = nil // tristate: unknown until a host is known
	}
	if admin && c.microAtLeast(61) {
		m["cluster_name"] = nil
	}
	if t, _ := c.s.volumeType(v.VolumeType); t != nil && c.microAtLeast(63) {
		m["volume_type_id"] = t.ID
	}
	if c.microAtLeast(65) {
		m["consumes_quota"] = true
	}
	if v.BackupID != "" && c.microAtLeast(47) {
		m["backup_id"] = v.BackupID
	}
	return m
}

// snapshotView: detail adds the os-extended-snapshot-attributes fields (GET
// one and list detail only).
func (c *call) snapshotView(sn *Snapshot, detail bool) map[string]any {
	m := map[string]any{
		"id":         sn.ID,
		"status":     sn.Status,
		"size":       sn.Size,
		"volume_id":  sn.VolumeID,
		"created_at": ts(sn.CreatedAt),
		"metadata":   copyMeta(sn.Metadata),
	}
	if c.ver == 1 {
		m["display_name"] = nullable(sn.Name)
		m["display_description"] = nullable(sn.Description)
		return m
	}
	m["name"] = nullable(sn.Name)
	m["description"] = nullable(sn.Description)
	m["updated_at"] = ts(sn.UpdatedAt)
	if detail {
		progress := "0%"
		if sn.Status == "available" {
			progress = "100%"
		}
		if sn.Progress != "" {
			progress = sn.Progress
		}
		m["os-extended-snapshot-attributes:progress"] = progress
		m["os-extended-snapshot-attributes:project_id"] = sn.ProjectID
	}
	return m
}

func (c *call) backupSummary(b *Backup) map[string]any {
	return map[string]any{"id": b.ID, "links": c.links("backups", b.ID), "name": nullable(b.Name)}
}

func (c *call) backupView(b *Backup) map[string]any {
	m := map[string]any{
		"id":                    b.ID,
		"links":                 c.links("backups", b.ID),
		"name":                  nullable(b.Name),
		"description":           nullable(b.Description),
		"status":                b.Status,
		"size":                  b.Size,
		"volume_id":             b.VolumeID,
		"snapshot_id":           nullable(b.SnapshotID),
		"availability_zone":     b.Zone,
		"container":             b.Container,
		"created_at":            ts(b.CreatedAt),
		"updated_at":            ts(b.UpdatedAt),
		"data_timestamp":        ts(b.CreatedAt),
		"fail_reason":           nullable(b.FailReason),
		"object_count":          (b.Size*1024 + 49) / 50,
		"is_incremental":        b.Incremental,
		"has_dependent_backups": c.s.hasDependentBackups(b.ID),
	}
	if c.microAtLeast(43) {
		m["metadata"] = copyMeta(b.Metadata)
	}
	return m
}
