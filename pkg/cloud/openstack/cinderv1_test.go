package openstack

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"testing"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

const v1 = "/volume/v1/" + fakeProject

// Bodies as in the HP Helion Block Storage API document (1.7).
func helionVolume(id, name, status string) map[string]any {
	return map[string]any{
		"attachments": []any{}, "availability_zone": "az1", "bootable": "false",
		"created_at": "2013-01-23T11:25:03.000000", "display_description": "test volume 1",
		"display_name": name, "id": id, "metadata": map[string]any{}, "size": 200,
		"snapshot_id": nil, "source_volid": nil, "status": status, "volume_type": "None",
	}
}

func helionFake(t *testing.T) (*fakeCloud, *Cloud, *[]map[string]any) {
	f := newFake(t)
	f.v3Catalog = func(base string) []map[string]any {
		return []map[string]any{
			v3Service("volume", base+v1, "region-b.geo-1"),
			v3Service("compute", base+"/compute/v2/"+fakeProject, "region-b.geo-1"),
		}
	}
	var bodies []map[string]any
	f.handle("POST "+v1+"/volumes", func(w http.ResponseWriter, r *http.Request) {
		b := readBody(r)
		bodies = append(bodies, b)
		v := b["volume"].(map[string]any)
		out := helionVolume("b6f6b5fb-ba09-44c9-a263-b4acbdbf1d38", v["display_name"].(string), "creating")
		out["availability_zone"] = v["availability_zone"]
		out["created_at"] = "2013-01-30T13:38:50.411386"
		writeJSON(w, 200, map[string]any{"volume": out})
	})
	f.handle("GET "+v1+"/volumes/detail", func(w http.ResponseWriter, r *http.Request) {
		vols := []any{helionVolume("v-1", "testvol01", "error"), helionVolume("v-2", "testvol02", "in-use"), helionVolume("v-3", "testvol01", "available")}
		vols[1].(map[string]any)["attachments"] = []any{map[string]any{"device": "/dev/vdd", "id": "v-2", "server_id": "srv", "volume_id": "v-2"}}
		vols[1].(map[string]any)["bootable"] = "true"
		if n := r.URL.Query().Get("display_name"); n != "" {
			var keep []any
			for _, v := range vols {
				if v.(map[string]any)["display_name"] == n {
					keep = append(keep, v)
				}
			}
			vols = keep
		}
		writeJSON(w, 200, map[string]any{"volumes": vols})
	})
	f.handle("GET "+v1+"/volumes/{id}", func(w http.ResponseWriter, r *http.Request) {
		v := helionVolume(r.PathValue("id"), "testvol01", "available")
		v["metadata"] = map[string]any{"keep": "me"}
		writeJSON(w, 200, map[string]any{"volume": v})
	})
	f.handle("PUT "+v1+"/volumes/{id}", func(w http.ResponseWriter, r *http.Request) {
		b := readBody(r)
		bodies = append(bodies, b)
		writeJSON(w, 200, map[string]any{"volume": helionVolume(r.PathValue("id"), "testvol01", "available")})
	})
	f.handle("POST "+v1+"/snapshots", func(w http.ResponseWriter, r *http.Request) {
		b := readBody(r)
		bodies = append(bodies, b)
		if b["snapshot"].(map[string]any)["force"] == true {
			writeJSON(w, 400, map[string]any{"badRequest": map[string]any{"code": 400, "message": "Invalid volume: must be available"}})
			return
		}
		writeJSON(w, 200, map[string]any{"snapshot": map[string]any{"created_at": "2013-01-30T19:15:22.014175", "display_description": nil,
			"display_name": "s", "id": "64f0946c-2863-4392-afe3-94f3f600f5e8", "metadata": map[string]any{}, "size": 1, "status": "creating",
			"volume_id": "64f5d2fb-d836-4063-b7e2-544d5c1ff607"}})
	})
	f.handle("POST "+v1+"/backups", func(w http.ResponseWriter, r *http.Request) {
		bodies = append(bodies, readBody(r))
		writeJSON(w, 202, map[string]any{"backup": map[string]any{"id": "deac8b8c-35c9-4c71-acaa-889c2d5d5c8e", "links": []any{}, "name": nil}})
	})
	f.handle("POST "+v1+"/backups/{id}/restore", func(w http.ResponseWriter, r *http.Request) {
		bodies = append(bodies, readBody(r))
		// The document's example has a numeric backup_id.
		writeJSON(w, 202, map[string]any{"restore": map[string]any{"backup_id": 2, "volume_id": "795114e8-7489-40be-a978-83797f2c1dd3"}})
	})
	f.handle("GET "+v1+"/limits", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"limits": map[string]any{"rate": []any{}, "absolute": map[string]any{"maxTotalVolumeGigabytes": 3000, "maxTotalVolumes": 20}}})
	})
	c := f.newCloud(f.config("[BlockStorage]\nprofile = helion\nrate-limit = 0\n"))
	return f, c, &bodies
}

func TestCinderV1(t *testing.T) {
	_, c, bodies := helionFake(t)
	ctx := context.Background()
	if c.Name() != "cinder-v1" {
		t.Fatalf("Name = %q", c.Name())
	}
	caps := c.Capabilities()
	if caps.Expansion != cloud.ExpansionNone || caps.SnapshotAttached != cloud.SnapshotAttachedForbidden || caps.MaxVolumesPerNode != 25 || caps.DefaultZone != "az2" {
		t.Errorf("capabilities = %+v", caps)
	}

	v, err := c.CreateVolume(ctx, cloud.CreateVolumeRequest{Name: "testvol01", Description: "d", SizeGiB: 1, Metadata: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"volume": map[string]any{"size": float64(1), "display_name": "testvol01", "display_description": "d",
		"availability_zone": "az2", "metadata": map[string]any{"k": "v"}}}
	if !reflect.DeepEqual((*bodies)[0], want) {
		t.Errorf("create body = %v\nwant %v", (*bodies)[0], want)
	}
	if v.Name != "testvol01" || v.Status != cloud.StatusCreating || v.Zone != "az2" || v.CreatedAt.IsZero() || v.Serial != v.ID {
		t.Errorf("volume = %+v", v)
	}
	if _, err := c.CreateVolume(ctx, cloud.CreateVolumeRequest{Name: "big", SizeGiB: 2048}); !errors.Is(err, cloud.ErrOutOfRange) {
		t.Errorf("2048 GiB: %v", err)
	}

	// v1 has no marker: the client pages a full listing.
	p, err := c.ListVolumes(ctx, cloud.ListOptions{Limit: 2})
	if err != nil || len(p.Items) != 2 || p.NextMarker != "v-2" {
		t.Fatalf("page 1 = %+v, %v", p, err)
	}
	if p.Items[0].Status != cloud.StatusError || !p.Items[1].AttachedTo("srv") || !p.Items[1].Bootable || p.Items[1].Attachments[0].Device != "/dev/vdd" {
		t.Errorf("items = %+v", p.Items)
	}
	p, err = c.ListVolumes(ctx, cloud.ListOptions{Limit: 2, Marker: "v-2"})
	if err != nil || len(p.Items) != 1 || p.Items[0].ID != "v-3" || p.NextMarker != "" {
		t.Errorf("page 2 = %+v, %v", p, err)
	}
	p, err = c.ListVolumes(ctx, cloud.ListOptions{Name: "testvol01"})
	if err != nil || len(p.Items) != 2 {
		t.Errorf("by name = %+v, %v", p, err)
	}
	if _, err := c.ListVolumes(ctx, cloud.ListOptions{Marker: "gone"}); !errors.Is(err, cloud.ErrInvalid) {
		t.Errorf("stale marker: %v", err)
	}

	if err := c.ExtendVolume(ctx, "v-3", 10); !errors.Is(err, cloud.ErrUnsupported) {
		t.Errorf("extend: %v", err)
	}

	*bodies = nil
	if err := c.SetVolumeMetadata(ctx, "v-3", map[string]string{"new": "1"}); err != nil {
		t.Fatal(err)
	}
	wantMD := map[string]any{"volume": map[string]any{"metadata": map[string]any{"keep": "me", "new": "1"}}}
	if !reflect.DeepEqual((*bodies)[0], wantMD) {
		t.Errorf("metadata PUT = %v, want merged %v", (*bodies)[0], wantMD)
	}

	*bodies = nil
	if _, err := c.CreateSnapshot(ctx, cloud.CreateSnapshotRequest{Name: "s", VolumeID: "v-3", Force: true}); !errors.Is(err, cloud.ErrWrongState) {
		t.Errorf("snapshot of attached: %v", err)
	}
	s, err := c.CreateSnapshot(ctx, cloud.CreateSnapshotRequest{Name: "s", Description: "d", VolumeID: "v-3"})
	if err != nil || s.Name != "s" || s.Status != cloud.StatusCreating {
		t.Errorf("snapshot = %+v, %v", s, err)
	}
	if got := (*bodies)[1]["snapshot"].(map[string]any); got["display_name"] != "s" || got["display_description"] != "d" || got["force"] != false {
		t.Errorf("snapshot body = %v", got)
	}

	*bodies = nil
	b, err := c.CreateBackup(ctx, cloud.CreateBackupRequest{Name: "bk", VolumeID: "v-3", Metadata: map[string]string{"x": "y"}})
	if err != nil || b.ID != "deac8b8c-35c9-4c71-acaa-889c2d5d5c8e" || b.Name != "bk" || b.VolumeID != "v-3" || b.Status != cloud.StatusCreating {
		t.Errorf("backup = %+v, %v", b, err)
	}
	if got := (*bodies)[0]["backup"].(map[string]any); !reflect.DeepEqual(got, map[string]any{"volume_id": "v-3", "name": "bk"}) {
		t.Errorf("backup body = %v", got)
	}
	if err := c.RestoreBackup(ctx, b.ID, "v-3"); err != nil {
		t.Errorf("restore: %v", err)
	}
	if _, err := c.CreateVolume(ctx, cloud.CreateVolumeRequest{Name: "x", SizeGiB: 1, BackupID: b.ID}); !errors.Is(err, cloud.ErrUnsupported) {
		t.Errorf("create from backup: %v", err)
	}

	l, err := c.GetLimits(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if *l != (cloud.Limits{MaxTotalGiB: 3000, MaxVolumes: 20, MaxSnapshots: -1, MaxBackups: -1, MaxBackupGiB: -1}) {
		t.Errorf("limits = %+v", l)
	}
}
