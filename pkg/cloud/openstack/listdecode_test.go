package openstack

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// A listed volume reads the same as gophercloud's decoding of it, every
// field the port carries; members the listing does not know are skipped.
func TestListedVolumeReadsLikeGophercloud(t *testing.T) {
	full := cannedVolume("a1", "pvc-1", "in-use")
	full["attachments"] = []any{map[string]any{"server_id": "srv1", "attachment_id": "att1", "volume_id": "a1", "device": "/dev/vdb", "id": "a1",
		"attached_at": "2018-12-18T05:44:00.000000", "host_name": nil}}
	full["snapshot_id"], full["source_volid"], full["backup_id"] = "snap1", "vol0", "bk1"
	full["description"], full["bootable"], full["multiattach"], full["encrypted"] = "d", "true", true, true
	full["metadata"] = map[string]any{"k": "v"}
	full["volume_image_metadata"] = map[string]any{"image_name": "x"}
	bare := cannedVolume("a2", "pvc-2", "available")
	body, err := json.Marshal(map[string]any{
		"count":         2,
		"volumes":       []any{full, bare},
		"volumes_links": []any{map[string]any{"rel": "next", "href": "http://x/volumes/detail?marker=a2"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var want struct {
		Volumes []volumes.Volume `json:"volumes"`
	}
	if err := json.Unmarshal(body, &want); err != nil {
		t.Fatal(err)
	}
	var got []*cloud.Volume
	links, n, err := decodeList(strings.NewReader(string(body)), "volumes", func(v *listedVolume) { got = append(got, toVolume(v.volume())) })
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 || len(links) != 1 || links[0].Rel != "next" {
		t.Fatalf("n = %d, links = %+v", n, links)
	}
	for i := range want.Volumes {
		if w := toVolume(&want.Volumes[i]); !reflect.DeepEqual(got[i], w) {
			t.Errorf("volume %d:\n got %+v\nwant %+v", i, got[i], w)
		}
	}
	if len(got[0].Attachments) != 1 || got[0].SourceBackupID != "bk1" || got[0].CreatedAt.IsZero() || !got[0].Bootable {
		t.Errorf("fields lost: %+v", got[0])
	}
	for _, bad := range []string{`{"volumes": [{"id": 1}]}`, `{"volumes": {}}`, `{"volumes": [`, `[]`} {
		if _, _, err := decodeList(strings.NewReader(bad), "volumes", func(*listedVolume) {}); err == nil {
			t.Errorf("decodeList(%s) succeeded", bad)
		}
	}
	if _, n, err := decodeList(strings.NewReader(`{"volumes": null}`), "volumes", func(*listedVolume) {}); err != nil || n != 0 {
		t.Errorf("null volumes: n = %d, err = %v", n, err)
	}
}

// A poll of a project of thousands of volumes lists pages of a thousand
// to find a few: a page must cost about one volume at a time plus the
// kept ones, not the page whole several times over (which was most of a
// busy controller's memory).
func TestListVolumesPageAllocatesLittle(t *testing.T) {
	const perPage = 1000
	vols := make([]any, perPage)
	for i := range vols {
		v := cannedVolume(fmt.Sprintf("%08d-0000-4000-8000-000000000000", i), fmt.Sprintf("pvc-%d", i), "available")
		v["metadata"] = map[string]any{"cinder.csi.openstack.org/cluster": "kubernetes", "csi.storage.k8s.io/pvc/name": fmt.Sprintf("claim-%d", i)}
		vols[i] = v
	}
	page, err := json.Marshal(map[string]any{"volumes": vols})
	if err != nil {
		t.Fatal(err)
	}
	f := newFake(t)
	f.handle("GET "+v3+"/volumes/detail", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(page)
	})
	c := f.newCloud(f.config(""))
	ctx := context.Background()
	wanted := map[string]bool{"00000007-0000-4000-8000-000000000000": true, "00000993-0000-4000-8000-000000000000": true}
	list := func() int {
		p, err := c.ListVolumes(ctx, cloud.ListOptions{Limit: perPage, Keep: func(id, _ string) bool { return wanted[id] }})
		if err != nil {
			t.Fatal(err)
		}
		return len(p.Items)
	}
	list() // warm up: connection, token, type caches
	var before, after runtime.MemStats
	const rounds = 3
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range rounds {
		if n := list(); n != len(wanted) {
			t.Fatalf("kept %d volumes, want %d", n, len(wanted))
		}
	}
	runtime.ReadMemStats(&after)
	perCall := float64(after.TotalAlloc-before.TotalAlloc) / rounds
	t.Logf("page of %d volumes, %d bytes: %.0f bytes allocated a call (%.2f× the page)", perPage, len(page), perCall, perCall/float64(len(page)))
	// Decoded whole, a page cost ten times its size; a volume at a time,
	// under twice (each volume's strings and metadata, briefly).
	if perCall > 3*float64(len(page)) {
		t.Errorf("listing a page of %d bytes allocated %.0f bytes, more than 3× the page", len(page), perCall)
	}
}
