package openstack

import (
	"strings"

	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/backups"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/snapshots"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

func toVolume(v *volumes.Volume) *cloud.Volume {
	out := &cloud.Volume{
		ID:               v.ID,
		Name:             v.Name,
		Description:      v.Description,
		SizeGiB:          v.Size,
		Status:           mapStatus(v.Status),
		RawStatus:        v.Status,
		Zone:             v.AvailabilityZone,
		VolumeType:       v.VolumeType,
		SourceSnapshotID: v.SnapshotID,
		SourceVolumeID:   v.SourceVolID,
		Metadata:         copyMap(v.Metadata),
		Serial:           v.ID,
		Bootable:         strings.EqualFold(v.Bootable, "true"),
		Multiattach:      v.Multiattach,
		Encrypted:        v.Encrypted,
		CreatedAt:        v.CreatedAt,
		CreateFailed:     createFailed(v.Status),
	}
	if v.BackupID != nil {
		out.SourceBackupID = *v.BackupID
	}
	for _, a := range v.Attachments {
		out.Attachments = append(out.Attachments, cloud.Attachment{
			ID:       attachmentID(a.AttachmentID, a.ID),
			ServerID: a.ServerID,
			VolumeID: first(a.VolumeID, v.ID),
			Device:   a.Device,
		})
	}
	return out
}

// attachmentID: Cinder puts the attachment's id in attachment_id and,
// for compatibility, the volume id in id.
func attachmentID(attachmentID, id string) string {
	return first(attachmentID, id)
}

func toSnapshot(s *snapshots.Snapshot) *cloud.Snapshot {
	return &cloud.Snapshot{
		ID:          s.ID,
		Name:        s.Name,
		Description: s.Description,
		VolumeID:    s.VolumeID,
		SizeGiB:     s.Size,
		Status:      mapStatus(s.Status),
		RawStatus:   s.Status,
		Metadata:    copyMap(s.Metadata),
		CreatedAt:   s.CreatedAt,
	}
}

func toBackup(b *backups.Backup) *cloud.Backup {
	out := &cloud.Backup{
		ID:          b.ID,
		Name:        b.Name,
		Description: b.Description,
		VolumeID:    b.VolumeID,
		SnapshotID:  b.SnapshotID,
		SizeGiB:     b.Size,
		RawStatus:   b.Status,
		CreatedAt:   b.CreatedAt,
	}
	if b.Status != "" {
		out.Status = mapStatus(b.Status)
	}
	if b.AvailabilityZone != nil {
		out.Zone = *b.AvailabilityZone
	}
	if b.Metadata != nil {
		out.Metadata = copyMap(*b.Metadata)
	} else {
		out.Metadata = map[string]string{}
	}
	return out
}
