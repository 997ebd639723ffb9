package openstack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

func TestListVolumesOnePageWithMarker(t *testing.T) {
	f := newFake(t)
	var queries []string
	f.handle("GET "+v3+"/volumes/detail", func(w http.ResponseWriter, r *http.Request) {
		queries = append(queries, r.URL.RawQuery)
		vols := []any{cannedVolume("a1", "pvc-x", "available"), cannedVolume("a2", "pvc-x-2", "in-use")}
		body := map[string]any{"volumes": vols}
		if r.URL.Query().Get("marker") == "" {
			body["volumes_links"] = []any{map[string]any{"rel": "next", "href": f.srv.URL + v3 + "/volumes/detail?marker=a2&limit=2"}}
		}
		writeJSON(w, 200, body)
	})
	c := f.newCloud(f.config(""))
	ctx := context.Background()
	p, err := c.ListVolumes(ctx, cloud.ListOptions{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Items) != 2 || p.NextMarker != "a2" || p.Items[1].Status != cloud.StatusInUse {
		t.Errorf("page = %+v", p)
	}
	// One page per call: the next link is not followed.
	if len(queries) != 1 || queries[0] != "limit=2" {
		t.Errorf("queries = %v", queries)
	}
	p, err = c.ListVolumes(ctx, cloud.ListOptions{Marker: "a2", Limit: 5, Name: "pvc-x"})
	if err != nil {
		t.Fatal(err)
	}
	// Exact name: the cloud's answer is filtered again.
	if len(p.Items) != 1 || p.Items[0].Name != "pvc-x" || p.NextMarker != "" {
		t.Errorf("page 2 = %+v", p)
	}
	if q := queries[1]; !strings.Contains(q, "marker=a2") || !strings.Contains(q, "name=pvc-x") || !strings.Contains(q, "limit=5") {
		t.Errorf("query = %q", q)
	}
	if _, err := c.ListVolumes(ctx, cloud.ListOptions{Marker: "../x"}); !errors.Is(err, cloud.ErrInvalid) {
		t.Errorf("bad marker: %v", err)
	}
}

func TestVolumeAttachmentsAndSources(t *testing.T) {
	f := newFake(t)
	f.handle("GET "+v3+"/volumes/{id}", func(w http.ResponseWriter, r *http.Request) {
		v := cannedVolume(volID, "v", "in-use")
		v["attachments"] = []any{map[string]any{"server_id": "srv1", "attachment_id": "att1", "volume_id": volID, "device": "/dev/vdb", "id": volID}}
		v["snapshot_id"] = "snap1"
		v["bootable"] = "true"
		v["metadata"] = map[string]any{"k": "v"}
		writeJSON(w, 200, map[string]any{"volume": v})
	})
	c := f.newCloud(f.config(""))
	v, err := c.GetVolume(context.Background(), volID)
	if err != nil {
		t.Fatal(err)
	}
	want := []cloud.Attachment{{ID: "att1", ServerID: "srv1", VolumeID: volID, Device: "/dev/vdb"}}
	if !reflect.DeepEqual(v.Attachments, want) || !v.AttachedTo("srv1") || v.SourceSnapshotID != "snap1" || !v.Bootable || v.Metadata["k"] != "v" {
		t.Errorf("volume = %+v", v)
	}
}

func TestMetadataExtendAndMicroversions(t *testing.T) {
	f := newFake(t)
	var got []string
	f.handle("POST "+v3+"/volumes/{id}/metadata", func(w http.ResponseWriter, r *http.Request) {
		b := readBody(r)
		got = append(got, fmt.Sprintf("metadata %v", b["metadata"]))
		writeJSON(w, 200, b)
	})
	f.handle("POST "+v3+"/volumes/{id}/action", func(w http.ResponseWriter, r *http.Request) {
		b := readBody(r)
		got = append(got, fmt.Sprintf("action %v %s", b, r.Header.Get("OpenStack-API-Version")))
		w.WriteHeader(202)
	})
	f.handle("POST "+v3+"/volumes", func(w http.ResponseWriter, r *http.Request) {
		b := readBody(r)["volume"].(map[string]any)
		got = append(got, fmt.Sprintf("create backup_id=%v zone=%v %s", b["backup_id"], b["availability_zone"], r.Header.Get("OpenStack-API-Version")))
		writeJSON(w, 202, map[string]any{"volume": cannedVolume("new", "n", "creating")})
	})
	c := f.newCloud(f.config("[BlockStorage]\nzones = nova,other\ndefault-zone = other\n"))
	ctx := context.Background()
	if err := c.SetVolumeMetadata(ctx, volID, map[string]string{"a": "b"}); err != nil {
		t.Fatal(err)
	}
	if err := c.ExtendVolume(ctx, volID, 20); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateVolume(ctx, cloud.CreateVolumeRequest{Name: "n", SizeGiB: 1, BackupID: "b1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateVolume(ctx, cloud.CreateVolumeRequest{Name: "n", SizeGiB: 1}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"metadata map[a:b]",
		"action map[os-extend:map[new_size:20]] volume 3.42",
		"create backup_id=b1 zone=<nil> volume 3.47",
		"create backup_id=<nil> zone=other ",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("requests:\n%q\nwant\n%q", got, want)
	}
	if _, err := c.CreateVolume(ctx, cloud.CreateVolumeRequest{Name: "n", SizeGiB: 1, Zone: "mars"}); !errors.Is(err, cloud.ErrInvalid) {
		t.Errorf("unknown zone: %v", err)
	}
	if _, err := c.CreateVolume(ctx, cloud.CreateVolumeRequest{Name: "n", SizeGiB: 1, SnapshotID: "s", SourceVolumeID: "v"}); !errors.Is(err, cloud.ErrInvalid) {
		t.Errorf("two sources: %v", err)
	}
}

func TestSizeBoundsCheckedBeforeCalling(t *testing.T) {
	f := newFake(t)
	c := f.newCloud(f.config("[BlockStorage]\nmin-size = 10\nmax-size = 100\n"))
	ctx := context.Background()
	for _, size := range []int{5, 101} {
		if _, err := c.CreateVolume(ctx, cloud.CreateVolumeRequest{Name: "n", SizeGiB: size}); !errors.Is(err, cloud.ErrOutOfRange) {
			t.Errorf("size %d: %v", size, err)
		}
	}
	if err := c.ExtendVolume(ctx, volID, 200); !errors.Is(err, cloud.ErrOutOfRange) {
		t.Errorf("extend: %v", err)
	}
	if calls := f.callLog(); len(calls) != 0 {
		t.Errorf("calls = %v", calls)
	}
}

func TestInvalidIDsNeverReachTheCloud(t *testing.T) {
	f := newFake(t)
	c := f.newCloud(f.config(""))
	ctx := context.Background()
	if _, err := c.GetVolume(ctx, "detail"); !errors.Is(err, cloud.ErrNotFound) {
		t.Errorf("GetVolume(detail) = %v", err)
	}
	if _, err := c.GetSnapshot(ctx, ""); !errors.Is(err, cloud.ErrNotFound) {
		t.Errorf("GetSnapshot('') = %v", err)
	}
	if err := c.DeleteVolume(ctx, "../snapshots/x"); !errors.Is(err, cloud.ErrNotFound) {
		t.Errorf("DeleteVolume(../) = %v", err)
	}
	if _, err := c.AttachVolume(ctx, "srv/1", volID); !errors.Is(err, cloud.ErrNotFound) {
		t.Errorf("AttachVolume(bad server) = %v", err)
	}
	if calls := f.callLog(); len(calls) != 0 {
		t.Errorf("calls = %v", calls)
	}
}

// Nova attach on NHN Cloud's /v2/{tenantId}: the path is the catalog's.
func TestNovaAttachDetachNHNPath(t *testing.T) {
	f := newFake(t)
	prefix := "/compute/v2/" + fakeProject + "/servers/{server}/os-volume_attachments"
	f.handle("POST "+prefix, func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("server") != "srv1" {
			writeJSON(w, 404, map[string]any{"itemNotFound": map[string]any{"code": 404, "message": "Instance " + r.PathValue("server") + " could not be found."}})
			return
		}
		b := readBody(r)["volumeAttachment"].(map[string]any)
		writeJSON(w, 200, map[string]any{"volumeAttachment": map[string]any{"device": "/dev/vdc", "id": b["volumeId"], "serverId": "srv1", "volumeId": b["volumeId"]}})
	})
	f.handle("DELETE "+prefix+"/{vol}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("vol") != volID {
			writeJSON(w, 404, map[string]any{"itemNotFound": map[string]any{"code": 404, "message": "volume_id not found"}})
			return
		}
		w.WriteHeader(202)
	})
	f.handle("GET "+prefix, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"volumeAttachments": []any{map[string]any{"device": "/dev/vdc", "id": volID, "serverId": "srv1", "volumeId": volID}}})
	})
	cfg := fromINI(t, fmt.Sprintf("[Global]\nauth-url=%s/identity/v2.0\nusername=admin\npassword=x\ntenant-id=%s\n", f.srv.URL, fakeProject))
	c := f.newCloud(cfg)
	ctx := context.Background()
	a, err := c.AttachVolume(ctx, "srv1", volID)
	if err != nil {
		t.Fatal(err)
	}
	if *a != (cloud.Attachment{ID: volID, ServerID: "srv1", VolumeID: volID, Device: "/dev/vdc"}) {
		t.Errorf("attachment = %+v", a)
	}
	if _, err := c.AttachVolume(ctx, "nosuch", volID); !errors.Is(err, cloud.ErrNotFound) || !strings.Contains(err.Error(), "Instance nosuch could not be found") {
		t.Errorf("unknown server: %v", err)
	}
	as, err := c.ListAttachments(ctx, "srv1")
	if err != nil || len(as) != 1 || as[0].VolumeID != volID {
		t.Errorf("ListAttachments = %+v, %v", as, err)
	}
	if err := c.DetachVolume(ctx, "srv1", volID); err != nil {
		t.Errorf("detach: %v", err)
	}
	if err := c.DetachVolume(ctx, "srv1", "other"); !errors.Is(err, cloud.ErrNotFound) {
		t.Errorf("detach not attached: %v", err)
	}
	calls := f.callLog()
	if calls[0] != "POST /compute/v2/"+fakeProject+"/servers/srv1/os-volume_attachments" {
		t.Errorf("attach went to %q", calls[0])
	}
}

func TestBackupsDisabled(t *testing.T) {
	f := newFake(t)
	c := f.newCloud(f.config("[BlockStorage]\nbackups = false\n"))
	ctx := context.Background()
	if _, err := c.CreateBackup(ctx, cloud.CreateBackupRequest{VolumeID: volID}); !errors.Is(err, cloud.ErrUnsupported) {
		t.Errorf("CreateBackup = %v", err)
	}
	if _, err := c.ListBackups(ctx, cloud.ListOptions{}); !errors.Is(err, cloud.ErrUnsupported) {
		t.Errorf("ListBackups = %v", err)
	}
	if c.Capabilities().Backups {
		t.Errorf("capabilities say backups")
	}
}

func TestCinderV2NoBackupMetadataNoCreateFromBackup(t *testing.T) {
	f := newFake(t)
	var body map[string]any
	var mv string
	f.handle("POST /volume/v2/"+fakeProject+"/backups", func(w http.ResponseWriter, r *http.Request) {
		body = readBody(r)["backup"].(map[string]any)
		mv = r.Header.Get("OpenStack-API-Version")
		writeJSON(w, 202, map[string]any{"backup": map[string]any{"id": "b1", "name": "bk"}})
	})
	c := f.newCloud(f.config("[BlockStorage]\napi-version = 2\n"))
	ctx := context.Background()
	b, err := c.CreateBackup(ctx, cloud.CreateBackupRequest{Name: "bk", VolumeID: volID, Metadata: map[string]string{"k": "v"}, Zone: "z"})
	if err != nil {
		t.Fatal(err)
	}
	if b.ID != "b1" || b.VolumeID != volID || b.Status != cloud.StatusCreating {
		t.Errorf("backup = %+v", b)
	}
	if _, ok := body["metadata"]; ok || mv != "" || body["volume_id"] != volID {
		t.Errorf("v2 backup body %v, microversion %q", body, mv)
	}
	if _, err := c.CreateVolume(ctx, cloud.CreateVolumeRequest{Name: "x", SizeGiB: 1, BackupID: "b1"}); !errors.Is(err, cloud.ErrUnsupported) {
		t.Errorf("create from backup on v2: %v", err)
	}
}
