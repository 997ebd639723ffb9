package openstack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
)

// getList GETs a listing ({"<key>": [...], "<key>_links": [...]}) and
// decodes it one item at a time, passing each to each; it returns the
// links and how many items the page held. A page of a thousand volumes
// is a megabyte of JSON: decoding it whole meant the body, every item as
// gophercloud's type and then as ours in memory at once, several times
// over while the buffers grew, for each page of every poll, when a poll
// wants a handful of the items. Streamed, a page costs one item at a time
// plus the items kept.
func getList[W any](ctx context.Context, sc *gophercloud.ServiceClient, url, key string, each func(*W)) ([]gophercloud.Link, int, error) {
	resp, err := sc.Get(ctx, url, nil, &gophercloud.RequestOpts{KeepResponseBody: true})
	if err != nil {
		return nil, 0, err
	}
	defer func() {
		// Read to the end, so the connection can carry the next call.
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}()
	return decodeList(resp.Body, key, each)
}

// decodeList reads one listing object from r (see getList). Members other
// than key and key_links are skipped.
func decodeList[W any](r io.Reader, key string, each func(*W)) ([]gophercloud.Link, int, error) {
	dec := json.NewDecoder(r)
	if err := expectDelim(dec, '{'); err != nil {
		return nil, 0, err
	}
	var links []gophercloud.Link
	n := 0
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, n, err
		}
		switch tok {
		case key:
			if n, err = decodeItems(dec, each); err != nil {
				return nil, n, fmt.Errorf("decoding %s: %w", key, err)
			}
		case key + "_links":
			if err := dec.Decode(&links); err != nil {
				return nil, n, fmt.Errorf("decoding %s_links: %w", key, err)
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, n, err
			}
		}
	}
	return links, n, expectDelim(dec, '}')
}

// decodeItems decodes a JSON array (or null) item by item.
func decodeItems[W any](dec *json.Decoder, each func(*W)) (int, error) {
	tok, err := dec.Token()
	if err != nil || tok == nil {
		return 0, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return 0, fmt.Errorf("want an array, got %v", tok)
	}
	n := 0
	for dec.More() {
		var w W
		if err := dec.Decode(&w); err != nil {
			return n, err
		}
		n++
		each(&w)
	}
	return n, expectDelim(dec, ']')
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("want %q in the listing, got %v", want, tok)
	}
	return nil
}

// listedVolume is what a volume listing is read for, decoded in one
// pass: gophercloud's Volume decodes each volume twice (its UnmarshalJSON
// unmarshals again into a copy of itself), for every volume of every
// page, of which a poll keeps a few.
type listedVolume struct {
	ID               string            `json:"id"`
	Name             string            `json:"name"`
	Description      string            `json:"description"`
	Size             int               `json:"size"`
	Status           string            `json:"status"`
	AvailabilityZone string            `json:"availability_zone"`
	VolumeType       string            `json:"volume_type"`
	SnapshotID       string            `json:"snapshot_id"`
	SourceVolID      string            `json:"source_volid"`
	BackupID         *string           `json:"backup_id"`
	Metadata         map[string]string `json:"metadata"`
	Bootable         flexBool          `json:"bootable"`
	Multiattach      bool              `json:"multiattach"`
	Encrypted        bool              `json:"encrypted"`
	CreatedAt        flexTime          `json:"created_at"`
	Attachments      []struct {
		AttachmentID string `json:"attachment_id"`
		ID           string `json:"id"`
		ServerID     string `json:"server_id"`
		VolumeID     string `json:"volume_id"`
		Device       string `json:"device"`
	} `json:"attachments"`
}

// volume is l as gophercloud's type, for toVolume: one conversion to the
// port's type for every way a volume is read.
func (l *listedVolume) volume() *volumes.Volume {
	v := &volumes.Volume{
		ID: l.ID, Name: l.Name, Description: l.Description, Size: l.Size, Status: l.Status,
		AvailabilityZone: l.AvailabilityZone, VolumeType: l.VolumeType, SnapshotID: l.SnapshotID,
		SourceVolID: l.SourceVolID, BackupID: l.BackupID, Metadata: l.Metadata,
		Multiattach: l.Multiattach, Encrypted: l.Encrypted, CreatedAt: time.Time(l.CreatedAt),
	}
	if l.Bootable {
		v.Bootable = "true"
	}
	for _, a := range l.Attachments {
		v.Attachments = append(v.Attachments, volumes.Attachment{
			AttachmentID: a.AttachmentID, ID: a.ID, ServerID: a.ServerID, VolumeID: a.VolumeID, Device: a.Device,
		})
	}
	return v
}
