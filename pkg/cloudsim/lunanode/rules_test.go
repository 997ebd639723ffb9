package lunanode

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/disk"
	"github.com/openblock-csi/openblock-csi/pkg/node/nodetest"
)

func TestCreateListInfo(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Durations = Durations{Create: 10 * time.Second}; c.TimeScale = 0.5 })
	e.fails("volume/create", map[string]string{"region": "london", "label": "a", "size": "10"}, "invalid region")
	e.fails("volume/create", map[string]string{"region": "toronto", "label": "a", "size": "ten"}, "invalid size")
	e.fails("volume/create", map[string]string{"region": "toronto", "label": "a", "size": "0"}, "invalid size")
	e.fails("volume/create", map[string]string{"region": "toronto", "label": "a", "size": "20000"}, "at most")

	id := e.create("toronto", "myvolume", "100")
	if _, err := strconv.Atoi(id); err != nil {
		t.Fatalf("volume_id %q is not numeric", id)
	}
	v := e.info(id)
	if v["status"] != "creating" || v["size"] != "100" || v["name"] != "myvolume" || v["attached"] != "" {
		t.Errorf("info while creating = %v", v)
	}
	if _, hasRegion := v["region"]; hasRegion {
		t.Errorf("volume/info reports a region; LunaNode's does not: %v", v)
	}
	e.clock.Advance(5 * time.Second) // 10 s scaled by 0.5
	v = e.info(id)
	if v["status"] != "available" {
		t.Errorf("status after the create duration = %v", v["status"])
	}
	ident, _ := v["identification"].(string)
	if len(ident) != 36 {
		t.Errorf("identification %q is not a UUID", ident)
	}
	if fi, err := os.Stat(e.store.Path(disk.KindVolumes, volumeDisk(mustAtoi(t, id)))); err != nil || fi.Size() != 100<<30 {
		t.Errorf("volume file: %v %v", fi, err)
	}

	other := e.create("montreal", "other", "5")
	all := e.ok("volume/list", nil)["volumes"].([]any)
	if len(all) != 2 {
		t.Fatalf("list = %v", all)
	}
	first := all[0].(map[string]any)
	if first["id"] != id || first["region"] != "toronto" || first["status"] != "active" || first["size"] != "100" || first["identification"] != ident {
		t.Errorf("list entry = %v", first)
	}
	mtl := e.ok("volume/list", map[string]string{"region": "montreal"})["volumes"].([]any)
	if len(mtl) != 1 || mtl[0].(map[string]any)["id"] != other {
		t.Errorf("list region=montreal = %v", mtl)
	}
	e.fails("volume/list", map[string]string{"region": "paris"}, "invalid region")
	e.fails("volume/info", map[string]string{"volume_id": "999999"}, "volume not found")
	e.fails("volume/info", map[string]string{"volume_id": id, "region": "montreal"}, "volume not found")
	e.ok("volume/info", map[string]string{"volume_id": id, "region": "toronto"})

	e.ok("volume/rename", map[string]string{"volume_id": id, "name": "renamed"})
	if e.info(id)["name"] != "renamed" {
		t.Error("rename not applied")
	}
}

func TestAttachDetachExtendDelete(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Durations = Durations{Attach: time.Second, Detach: time.Second, Delete: time.Second}
	})
	id := e.create("toronto", "vol", "10")
	vid := mustAtoi(t, id)

	e.fails("volume/attach", map[string]string{"volume_id": id, "vm_id": "no-such-vm", "target": "auto"}, "vm not found")
	e.fails("volume/attach", map[string]string{"volume_id": id, "vm_id": farVM, "target": "auto"}, "region")
	e.fails("volume/attach", map[string]string{"volume_id": id, "vm_id": otherVM, "target": "/dev/sdb"}, "invalid target")
	e.fails("volume/detach", map[string]string{"volume_id": id}, "not attached")

	e.ok("volume/attach", map[string]string{"volume_id": id, "vm_id": otherVM, "target": "auto"})
	if v := e.info(id); v["status"] != "attaching" || v["attached"] != otherVM {
		t.Errorf("after attach = %v", v)
	}
	e.fails("volume/attach", map[string]string{"volume_id": id, "vm_id": otherVM, "target": "auto"}, "already attached")
	e.fails("volume/detach", map[string]string{"volume_id": id}, "not available")
	e.clock.Advance(time.Second)
	if v := e.info(id); v["status"] != "in-use" || v["attached"] != otherVM {
		t.Errorf("after attach duration = %v", v)
	}
	st := e.h.State()
	if len(st.Attachments) != 1 || st.Attachments[0].VMID != otherVM || st.Attachments[0].Local || st.Volumes[0].Target != "/dev/vdb" {
		t.Errorf("state attachments = %+v, target %q", st.Attachments, st.Volumes[0].Target)
	}

	e.fails("volume/extend", map[string]string{"volume_id": id, "size": "20"}, "unattached")
	e.fails("volume/delete", map[string]string{"volume_id": id}, "attached")

	e.ok("volume/detach", map[string]string{"volume_id": id})
	if v := e.info(id); v["status"] != "detaching" {
		t.Errorf("after detach = %v", v)
	}
	e.fails("volume/extend", map[string]string{"volume_id": id, "size": "20"}, "unattached")
	e.clock.Advance(time.Second)
	if v := e.info(id); v["status"] != "available" || v["attached"] != "" {
		t.Errorf("after detach duration = %v", v)
	}

	e.fails("volume/extend", map[string]string{"volume_id": id, "size": "10"}, "larger")
	e.fails("volume/extend", map[string]string{"volume_id": id, "size": "5"}, "larger")
	e.ok("volume/extend", map[string]string{"volume_id": id, "size": "20"})
	if v := e.info(id); v["size"] != "20" {
		t.Errorf("size after extend = %v", v["size"])
	}
	if fi, err := os.Stat(e.store.Path(disk.KindVolumes, volumeDisk(vid))); err != nil || fi.Size() != 20<<30 {
		t.Errorf("file after extend: %v %v", fi, err)
	}

	e.ok("volume/delete", map[string]string{"volume_id": id})
	if v := e.info(id); v["status"] != "deleting" {
		t.Errorf("after delete = %v", v)
	}
	e.ok("volume/delete", map[string]string{"volume_id": id}) // already on its way
	e.clock.Advance(time.Second)
	e.fails("volume/info", map[string]string{"volume_id": id}, "not found")
	e.fails("volume/delete", map[string]string{"volume_id": id}, "not found")
	if _, err := os.Stat(e.store.Path(disk.KindVolumes, volumeDisk(vid))); !os.IsNotExist(err) {
		t.Errorf("volume file still there: %v", err)
	}
	if st := e.h.State(); len(st.Volumes) != 0 || len(st.Attachments) != 0 {
		t.Errorf("state after delete = %+v", st)
	}
}

func TestVMLimitAndTargets(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxVolumesPerVM = 2 })
	a, b, c := e.create("toronto", "a", "1"), e.create("toronto", "b", "1"), e.create("toronto", "c", "1")
	e.ok("volume/attach", map[string]string{"volume_id": a, "vm_id": otherVM, "target": "/dev/vdc"})
	e.fails("volume/attach", map[string]string{"volume_id": b, "vm_id": otherVM, "target": "/dev/vdc"}, "in use")
	e.ok("volume/attach", map[string]string{"volume_id": b, "vm_id": otherVM, "target": "auto"})
	e.fails("volume/attach", map[string]string{"volume_id": c, "vm_id": otherVM, "target": "auto"}, "limit")
	targets := map[string]bool{}
	for _, v := range e.h.State().Volumes {
		targets[v.Target] = true
	}
	if !targets["/dev/vdb"] || !targets["/dev/vdc"] {
		t.Errorf("targets = %v", targets)
	}
}

func TestSnapshots(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Durations = Durations{Snapshot: 2 * time.Second} })
	id := e.create("toronto", "src", "2")
	vid := mustAtoi(t, id)
	payload := []byte("snapshot me")
	nodetest.WriteAt(t, e.store.Path(disk.KindVolumes, volumeDisk(vid)), 4096, payload)

	e.fails("volume/snapshot-list", nil, "missing required parameter: region")
	e.fails("volume/snapshot-list", map[string]string{"region": "mars"}, "invalid region")
	e.fails("volume/snapshot-create", map[string]string{"volume_id": "424242", "label": "s"}, "volume not found")

	snap, _ := e.ok("volume/snapshot-create", map[string]string{"volume_id": id, "label": "s1"})["snapshot_id"].(string)
	if len(snap) != 36 {
		t.Fatalf("snapshot_id %q", snap)
	}
	// Data written after the snapshot is not in it.
	nodetest.WriteAt(t, e.store.Path(disk.KindVolumes, volumeDisk(vid)), 4096, []byte("overwritten"))

	list := e.ok("volume/snapshot-list", map[string]string{"region": "toronto"})["snapshots"].([]any)
	if len(list) != 1 {
		t.Fatalf("snapshot-list = %v", list)
	}
	s := list[0].(map[string]any)
	vol, _ := s["volume"].(map[string]any)
	if s["id"] != snap || s["name"] != "s1" || s["region"] != "toronto" || s["size"] != "2" || s["status"] != "creating" || vol["id"] != id {
		t.Errorf("snapshot entry = %v", s)
	}
	if l := e.ok("volume/snapshot-list", map[string]string{"region": "montreal"})["snapshots"].([]any); len(l) != 0 {
		t.Errorf("montreal snapshots = %v", l)
	}
	e.fails("volume/create", map[string]string{"region": "toronto", "label": "r", "size": "2", "snapshot_id": snap}, "not available")
	e.clock.Advance(2 * time.Second)

	e.fails("volume/create", map[string]string{"region": "montreal", "label": "r", "size": "2", "snapshot_id": snap}, "snapshot not found")
	e.fails("volume/create", map[string]string{"region": "toronto", "label": "r", "size": "1", "snapshot_id": snap}, "at least")
	restored := mustAtoi(t, e.ok("volume/create", map[string]string{"region": "toronto", "label": "r", "size": "3", "snapshot_id": snap})["volume_id"].(string))
	got := nodetest.ReadAt(t, e.store.Path(disk.KindVolumes, volumeDisk(restored)), 4096, len(payload))
	if !bytes.Equal(got, payload) {
		t.Errorf("restored data = %q, want %q", got, payload)
	}
	if fi, _ := os.Stat(e.store.Path(disk.KindVolumes, volumeDisk(restored))); fi.Size() != 3<<30 {
		t.Errorf("restored size = %d", fi.Size())
	}

	e.fails("volume/delete", map[string]string{"volume_id": id}, "dependent snapshots")
	e.fails("volume/snapshot-delete", map[string]string{"region": "montreal", "snapshot_id": snap}, "snapshot not found")
	e.fails("volume/snapshot-delete", map[string]string{"snapshot_id": snap}, "missing required parameter: region")
	e.ok("volume/snapshot-delete", map[string]string{"region": "toronto", "snapshot_id": snap})
	if _, err := os.Stat(e.store.Path(disk.KindSnapshots, snapshotDisk(snap))); !os.IsNotExist(err) {
		t.Errorf("snapshot file remains: %v", err)
	}
	e.ok("volume/delete", map[string]string{"volume_id": id})
	e.fails("volume/snapshot-replicate", map[string]string{"region": "toronto", "snapshot_id": snap, "image_name": "i", "dst_region": "toronto"}, "snapshot not found")
}

func TestLocalAttachExposesDisk(t *testing.T) {
	e := newEnv(t, nil)
	id := e.create("toronto", "local", "1")
	ident := e.info(id)["identification"].(string)
	e.ok("volume/attach", map[string]string{"volume_id": id, "vm_id": localVM, "target": "auto"})
	link := filepath.Join(e.dir, "by-id", "virtio-"+ident[:20])
	target, err := os.Readlink(link)
	if err != nil {
		t.Fatalf("no by-id link for the attached volume: %v", err)
	}
	if e.store.Loop() {
		if target[:9] != "/dev/loop" {
			t.Errorf("link -> %s, want a loop device", target)
		}
	} else if target != e.store.Path(disk.KindVolumes, volumeDisk(mustAtoi(t, id))) {
		t.Errorf("link -> %s, want the image file", target)
	}
	if st := e.h.State(); len(st.Attachments) != 1 || !st.Attachments[0].Local {
		t.Errorf("attachments = %+v", st.Attachments)
	}
	e.ok("volume/detach", map[string]string{"volume_id": id})
	if _, err := os.Lstat(link); !os.IsNotExist(err) {
		t.Errorf("link remains after detach: %v", err)
	}
}

func TestStatePersists(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	e := newEnv(t, func(c *Config) { c.StatePath = path; c.Durations = Durations{Create: time.Minute} })
	id := e.create("roubaix", "keep", "3")
	e.create("roubaix", "other", "1")
	if err := e.h.Close(); err != nil {
		t.Fatal(err)
	}
	if code, _ := e.post("/lunanode/api/volume/list/", sign(DefaultAPIID, DefaultAPIKey, "volume/list/", nil, e.clock.Now().Unix())); code != 503 {
		t.Errorf("closed handler answered %d", code)
	}

	h2, err := NewHandler(Config{StatePath: path, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h2.Close() })
	st := h2.State()
	if len(st.Volumes) != 2 || strconv.Itoa(st.Volumes[0].ID) != id || st.Volumes[0].Region != "roubaix" || st.Volumes[0].Status != "creating" {
		t.Fatalf("reloaded state = %+v", st)
	}
	e.clock.Advance(time.Minute)
	if st := h2.State(); st.Volumes[0].Status != "available" {
		t.Errorf("pending change lost across restart: %+v", st.Volumes[0])
	}
	if st.NextVolumeID != mustAtoi(t, id)+2 {
		t.Errorf("next id = %d", st.NextVolumeID)
	}
}

func TestVolumeLimit(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.VolumeLimit = 1 })
	e.create("toronto", "one", "1")
	e.fails("volume/create", map[string]string{"region": "toronto", "label": "two", "size": "1"}, "limit")
	if st := e.h.Stats(); st.Calls["volume/create"] != 2 || st.Errors["volume/create"] != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// The local VM sees an attached disk only Durations.Device after the
// attachment is done, and never if it is detached before.
func TestLocalDiskAppearsLater(t *testing.T) {
	const lag = 500 * time.Millisecond
	e := newEnv(t, func(c *Config) { c.Durations = Durations{Device: lag} })
	link := func(id string) string {
		return filepath.Join(e.dir, "by-id", "virtio-"+e.info(id)["identification"].(string)[:20])
	}
	absent := func(l string) bool { _, err := os.Lstat(l); return os.IsNotExist(err) }

	shown := e.create("toronto", "shown", "1")
	e.ok("volume/attach", map[string]string{"volume_id": shown, "vm_id": localVM, "target": "auto"})
	if !absent(link(shown)) {
		t.Fatal("the disk is there as soon as the attachment is")
	}
	deadline := time.Now().Add(5 * time.Second)
	for absent(link(shown)) {
		if time.Now().After(deadline) {
			t.Fatal("the disk never appeared")
		}
		time.Sleep(10 * time.Millisecond)
	}

	gone := e.create("toronto", "gone", "1")
	e.ok("volume/attach", map[string]string{"volume_id": gone, "vm_id": localVM, "target": "auto"})
	e.ok("volume/detach", map[string]string{"volume_id": gone})
	time.Sleep(lag + 200*time.Millisecond)
	if !absent(link(gone)) {
		t.Fatal("a disk detached before it appeared showed up")
	}
}
