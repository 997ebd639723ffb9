package openstack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/volumeattach"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// Attach and detach go through Nova's os-volume_attachments. The base URL
// is the catalog's compute endpoint as published (NHN Cloud and HP Helion
// /v2/{tenant}, current Nova /v2.1/{project}); paths are appended to it.

// AttachVolume implements cloud.Cloud.
func (c *Cloud) AttachVolume(ctx context.Context, serverID, volumeID string) (*cloud.Attachment, error) {
	op := fmt.Sprintf("attach volume %s to server %s", volumeID, serverID)
	if err := checkIDs(op, serverID, volumeID); err != nil {
		return nil, err
	}
	a, err := volumeattach.Create(ctx, c.compute, serverID, volumeattach.CreateOpts{VolumeID: volumeID}).Extract()
	if err != nil && needsMultiattachMicroversion(err) {
		// A multi-attach volume needs compute 2.60, which an older Nova
		// would refuse for every attach; so only this volume's attach
		// asks for it, after Nova said so.
		mv := *c.compute
		mv.Microversion = multiattachMicroversion
		a, err = volumeattach.Create(ctx, &mv, serverID, volumeattach.CreateOpts{VolumeID: volumeID}).Extract()
	}
	if err != nil {
		return nil, mapError(op, err)
	}
	return &cloud.Attachment{
		ID:       a.ID,
		ServerID: first(a.ServerID, serverID),
		VolumeID: first(a.VolumeID, volumeID),
		Device:   a.Device,
	}, nil
}

// multiattachMicroversion is the first compute API version that attaches
// a multiattach volume (Nova, Queens).
const multiattachMicroversion = "2.60"

// needsMultiattachMicroversion: Nova's MultiattachNotSupportedOldMicroversion.
func needsMultiattachMicroversion(err error) bool {
	var e gophercloud.ErrUnexpectedResponseCode
	return errors.As(err, &e) && e.Actual == http.StatusBadRequest &&
		strings.Contains(string(e.Body), "compute API version "+multiattachMicroversion)
}

// DetachVolume implements cloud.Cloud.
func (c *Cloud) DetachVolume(ctx context.Context, serverID, volumeID string) error {
	op := fmt.Sprintf("detach volume %s from server %s", volumeID, serverID)
	if err := checkIDs(op, serverID, volumeID); err != nil {
		return err
	}
	return mapError(op, volumeattach.Delete(ctx, c.compute, serverID, volumeID).ExtractErr())
}

// GetAttachment returns Nova's record of volumeID attached to serverID;
// ErrNotFound when it is not attached there.
func (c *Cloud) GetAttachment(ctx context.Context, serverID, volumeID string) (*cloud.Attachment, error) {
	op := fmt.Sprintf("get attachment of volume %s to server %s", volumeID, serverID)
	if err := checkIDs(op, serverID, volumeID); err != nil {
		return nil, err
	}
	a, err := volumeattach.Get(ctx, c.compute, serverID, volumeID).Extract()
	if err != nil {
		return nil, mapError(op, err)
	}
	return &cloud.Attachment{ID: a.ID, ServerID: first(a.ServerID, serverID), VolumeID: first(a.VolumeID, volumeID), Device: a.Device}, nil
}

// ListAttachments returns the volumes Nova has attached to serverID.
func (c *Cloud) ListAttachments(ctx context.Context, serverID string) ([]cloud.Attachment, error) {
	op := "list attachments of server " + serverID
	if err := checkIDs(op, serverID); err != nil {
		return nil, err
	}
	pages, err := volumeattach.List(c.compute, serverID).AllPages(ctx)
	if err != nil {
		return nil, mapError(op, err)
	}
	as, err := volumeattach.ExtractVolumeAttachments(pages)
	if err != nil {
		return nil, mapError(op, err)
	}
	out := make([]cloud.Attachment, 0, len(as))
	for _, a := range as {
		out = append(out, cloud.Attachment{ID: a.ID, ServerID: first(a.ServerID, serverID), VolumeID: a.VolumeID, Device: a.Device})
	}
	return out, nil
}

// ServerZone returns the availability zone of a Nova server
// (OS-EXT-AZ:availability_zone), for node topology.
func (c *Cloud) ServerZone(ctx context.Context, serverID string) (string, error) {
	op := "get server " + serverID
	if err := checkIDs(op, serverID); err != nil {
		return "", err
	}
	s, err := servers.Get(ctx, c.compute, serverID).Extract()
	if err != nil {
		return "", mapError(op, err)
	}
	if s.AvailabilityZone == "" {
		return "", &cloud.Error{Kind: cloud.ErrUnsupported, Message: op + ": the cloud does not report the server's availability zone"}
	}
	return s.AvailabilityZone, nil
}

// checkIDs refuses ids that cannot be a resource id before they reach a
// URL: empty, or with characters that would change the path ("detail",
// "../x"). Such an id names nothing, so the answer is ErrNotFound.
func checkIDs(op string, ids ...string) error {
	for _, id := range ids {
		if err := checkID(id); err != nil {
			return &cloud.Error{Kind: cloud.ErrNotFound, Message: op + ": " + err.Error()}
		}
	}
	return nil
}

func checkID(id string) error {
	if id == "" {
		return errors.New("empty id")
	}
	if id == "detail" || id == "." || id == ".." {
		return fmt.Errorf("invalid id %q", id)
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		if !ok {
			return fmt.Errorf("invalid id %q", id)
		}
	}
	return nil
}
