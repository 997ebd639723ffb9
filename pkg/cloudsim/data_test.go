package cloudsim_test

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/simtest"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/timing"
)

func writeVolume(t *testing.T, sim *cloudsim.Sim, id string, off int64, data []byte) {
	t.Helper()
	f, err := os.OpenFile(sim.Store().Path("volumes", id), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, off); err != nil {
		t.Fatal(err)
	}
}

func readVolume(t *testing.T, sim *cloudsim.Sim, id string, off int64, n int) []byte {
	t.Helper()
	f, err := os.Open(sim.Store().Path("volumes", id))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSnapshotDataReadBack(t *testing.T) {
	sim, c := start(t, cloudsim.Config{})
	id := c.createVolume(map[string]any{"size": 1})
	c.waitVolume(id, "available")
	writeVolume(t, sim, id, 12345, []byte("point in time"))
	r := c.cinder("POST", "/snapshots", map[string]any{"snapshot": map[string]any{"volume_id": id}})
	snap := str(obj(r.body, "snapshot"), "id")
	// Writes after the snapshot request do not reach the snapshot.
	writeVolume(t, sim, id, 12345, []byte("overwritten!!"))
	c.waitSnapshot(snap, "available")
	clone := c.createVolume(map[string]any{"snapshot_id": snap, "size": 2})
	v := c.waitVolume(clone, "available")
	if v["size"].(float64) != 2 {
		t.Fatalf("size %v", v["size"])
	}
	if got := readVolume(t, sim, clone, 12345, 13); string(got) != "point in time" {
		t.Fatalf("volume from snapshot has %q", got)
	}
	fi, err := os.Stat(sim.Store().Path("volumes", clone))
	if err != nil || fi.Size() != 2<<30 {
		t.Fatalf("image size %v %v", fi.Size(), err)
	}
	// A clone of a volume copies its current data.
	cl2 := c.createVolume(map[string]any{"source_volid": id})
	c.waitVolume(cl2, "available")
	if got := readVolume(t, sim, cl2, 12345, 13); string(got) != "overwritten!!" {
		t.Fatalf("clone has %q", got)
	}
}

func TestStateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	sim1, base1 := simtest.Start(t, cloudsim.Config{StateDir: dir})
	c := login(t, base1, "admin", "secret", "demo")
	id := c.createVolume(map[string]any{"size": 1, "name": "keep"})
	c.waitVolume(id, "available")
	c.attach(cloudsim.DefaultServerID, id)
	c.waitVolume(id, "in-use")
	writeVolume(t, sim1, id, 0, []byte("persisted"))
	if err := sim1.Close(); err != nil {
		t.Fatal(err)
	}
	sim2, base2 := simtest.Start(t, cloudsim.Config{StateDir: dir})
	c.base = base2 // the old token is still valid: tokens are signed with a persisted key
	v := c.waitVolume(id, "in-use")
	if v["name"] != "keep" || len(v["attachments"].([]any)) != 1 {
		t.Fatalf("after restart: %v", v)
	}
	if got := readVolume(t, sim2, id, 0, 9); string(got) != "persisted" {
		t.Fatalf("data after restart %q", got)
	}
	// Interrupted transitions finish after a restart.
	c.base = base2
	if r := c.nova("DELETE", "/servers/"+cloudsim.DefaultServerID+"/os-volume_attachments/"+id, nil); r.code != 202 {
		t.Fatal(r.raw)
	}
	sim2.Close()
	_, base3 := simtest.Start(t, cloudsim.Config{StateDir: dir})
	c.base = base3
	c.waitVolume(id, "available")
}

// FailRatio fails operations of a kind at a rate per operation, and
// FailuresFired counts them with FailNext's.
func TestFailRatio(t *testing.T) {
	sim, c := start(t, cloudsim.Config{Faults: cloudsim.Faults{FailNext: map[string]int{cloudsim.OpCreate: 1},
		FailRatio: map[string]float64{cloudsim.OpCreate: 1}}})
	for range 3 {
		c.waitVolume(c.createVolume(map[string]any{"size": 1}), "error")
	}
	if n := sim.FailuresFired(); n != 3 {
		t.Fatalf("FailuresFired = %d after 3 failed creates", n)
	}
	sim.SetFaults(cloudsim.Faults{FailRatio: map[string]float64{cloudsim.OpSnapshot: 1}})
	c.waitVolume(c.createVolume(map[string]any{"size": 1}), "available")
	if n := sim.FailuresFired(); n != 3 {
		t.Fatalf("FailuresFired = %d; a ratio on snapshots failed a create", n)
	}
}

func TestFaultInjection(t *testing.T) {
	sim, c := start(t, cloudsim.Config{Faults: cloudsim.Faults{FailNext: map[string]int{cloudsim.OpCreate: 1}}})
	bad := c.createVolume(map[string]any{"size": 1})
	c.waitVolume(bad, "error")
	good := c.createVolume(map[string]any{"size": 1})
	c.waitVolume(good, "available")
	// error volumes can be deleted.
	if r := c.cinder("DELETE", "/volumes/"+bad, nil); r.code != 202 {
		t.Fatalf("delete error volume: %s", r.raw)
	}
	c.waitVolume(bad, "")
	// Stuck attach stays attaching.
	sim.SetFaults(cloudsim.Faults{Stuck: []string{cloudsim.OpAttach}})
	c.attach(cloudsim.DefaultServerID, good)
	c.waitVolume(good, "attaching")
	// Runtime knobs over HTTP.
	req, _ := http.NewRequest("PUT", c.base+"/_sim/faults", strings.NewReader(`{"server_error_ratio": 1}`))
	if hr, err := http.DefaultClient.Do(req); err != nil || hr.StatusCode != 200 {
		t.Fatalf("PUT faults: %v %v", hr, err)
	}
	expectFault(t, c.cinder("GET", "/volumes", nil), 500, "computeFault", "erred")
	expectFault(t, c.nova("GET", "/servers", nil), 500, "computeFault", "Unexpected API Error")
	sim.SetFaults(cloudsim.Faults{OverLimitRatio: 1})
	r := c.cinder("GET", "/volumes", nil)
	expectFault(t, r, 413, "overLimit", "rate-limited")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	sim.SetFaults(cloudsim.Faults{DropRatio: 1})
	if _, err := http.Get(c.base + "/volume/v3/demo/volumes"); err == nil {
		t.Fatal("dropped connection answered")
	}
	sim.SetFaults(cloudsim.Faults{})
	// Stats over HTTP.
	hr, err := http.Get(c.base + "/_sim/stats")
	if err != nil {
		t.Fatal(err)
	}
	var st cloudsim.Stats
	json.NewDecoder(hr.Body).Decode(&st)
	hr.Body.Close()
	if st.Total413 != 1 || st.ByStatus["500"] != 2 || st.ByStatus["dropped"] < 1 || st.ByFace["keystone"] != 1 ||
		st.Calls["cinder POST /volume/{ver}/{project}/volumes 202"] != 2 || st.Calls["cinder DELETE /volume/{ver}/{project}/volumes/{id} 202"] != 1 || st.ByRoute["GET /volume/{ver}/{project}/volumes/{id}"] == 0 {
		t.Fatalf("stats: %+v", st)
	}
	hr, _ = http.Post(c.base+"/_sim/stats/reset", "application/json", nil)
	hr.Body.Close()
	if st := sim.Stats(); st.Total != 0 {
		t.Fatalf("after reset: %+v", st)
	}
	// State dump over HTTP.
	hr, _ = http.Get(c.base + "/_sim/state")
	var dump cloudsim.StateDump
	json.NewDecoder(hr.Body).Decode(&dump)
	hr.Body.Close()
	if len(dump.Volumes) != 1 || len(dump.Attachments) != 1 || dump.Attachments[0].VolumeID != good {
		t.Fatalf("dump: %+v", dump)
	}
}

func TestLocalAttachLoopDevice(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: attaching to the local server creates a loop device")
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Skip("needs /dev/loop-control for loop devices")
	}
	byID := t.TempDir()
	const local = "0a0b0c0d-1111-4222-8333-444455556666"
	sim, c := start(t, cloudsim.Config{LocalServerID: local, ByIDDir: byID})
	id := c.createVolume(map[string]any{"size": 1})
	c.waitVolume(id, "available")
	writeVolume(t, sim, id, 4096, []byte("seen by the node"))
	if r := c.attach(local, id); r.code != 200 {
		t.Fatal(r.raw)
	}
	c.waitVolume(id, "in-use")
	link := filepath.Join(byID, "virtio-"+id[:20])
	dev := waitLink(t, link)
	if !strings.HasPrefix(dev, "/dev/loop") {
		t.Fatalf("link %s -> %q", link, dev)
	}
	if n := blockSize(t, dev); n != 1<<30 {
		t.Fatalf("loop device size %d, want 1 GiB", n)
	}
	b := make([]byte, 16)
	f, err := os.Open(dev)
	if err != nil {
		t.Fatal(err)
	}
	f.ReadAt(b, 4096)
	f.Close()
	if string(b) != "seen by the node" {
		t.Fatalf("device reads %q", b)
	}
	// Extend an attached local volume: the loop device grows.
	c.headers = map[string]string{"OpenStack-API-Version": "volume 3.42"}
	if r := c.cinder("POST", "/volumes/"+id+"/action", map[string]any{"os-extend": map[string]any{"new_size": 2}}); r.code != 202 {
		t.Fatal(r.raw)
	}
	c.waitVolume(id, "in-use")
	if n := blockSize(t, dev); n != 2<<30 {
		t.Fatalf("after extend loop size %d", n)
	}
	if r := c.nova("DELETE", "/servers/"+local+"/os-volume_attachments/"+id, nil); r.code != 202 {
		t.Fatal(r.raw)
	}
	c.waitVolume(id, "available")
	if _, err := os.Lstat(link); !os.IsNotExist(err) {
		t.Fatal("link left after detach")
	}
	if bf, _ := os.ReadFile("/sys/block/" + filepath.Base(dev) + "/loop/backing_file"); strings.Contains(string(bf), id) {
		t.Fatalf("%s still backs %s", dev, bf)
	}
}

func blockSize(t *testing.T, dev string) int64 {
	t.Helper()
	out, err := exec.Command("blockdev", "--getsize64", dev).Output()
	if err != nil {
		t.Fatalf("blockdev: %v", err)
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	return n
}

func TestLocalAttachSurvivesRestart(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: attaching to the local server creates a loop device")
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Skip("needs /dev/loop-control for loop devices")
	}
	dir, byID := t.TempDir(), t.TempDir()
	const local = "0a0b0c0d-1111-4222-8333-777777777777"
	cfg := cloudsim.Config{StateDir: dir, ByIDDir: byID, LocalServerID: local}
	sim1, base := simtest.Start(t, cfg)
	c := login(t, base, "admin", "secret", "demo")
	id := c.createVolume(map[string]any{"size": 1})
	c.waitVolume(id, "available")
	c.attach(local, id)
	c.waitVolume(id, "in-use")
	link := filepath.Join(byID, "virtio-"+id[:20])
	if err := sim1.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(link); !os.IsNotExist(err) {
		t.Fatal("Close left the link")
	}
	simtest.Start(t, cfg)
	dev, err := filepath.EvalSymlinks(link)
	if err != nil || !strings.HasPrefix(dev, "/dev/loop") {
		t.Fatalf("after restart link -> %q (%v)", dev, err)
	}
	if n := blockSize(t, dev); n != 1<<30 {
		t.Fatalf("loop size %d", n)
	}
}

// waitLink waits for the guest to see a disk: link resolves, within 5 s.
func waitLink(t *testing.T, link string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		dev, err := filepath.EvalSymlinks(link)
		if err == nil {
			return dev
		}
		if time.Now().After(deadline) {
			t.Fatalf("no disk at %s: %v", link, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The guest sees an attached disk only Durations.Device after the cloud
// reports the attachment done, never once it is detached, and never when
// the device step is stuck.
func TestDeviceAppearsAfterAttachment(t *testing.T) {
	const local = "0a0b0c0d-1111-4222-8333-888888888888"
	durs := timing.Fast
	durs.Device = time.Second
	newSim := func(t *testing.T, faults cloudsim.Faults) (*client, string) {
		byID := t.TempDir()
		_, c := start(t, cloudsim.Config{LocalServerID: local, ByIDDir: byID, Durations: &durs, Faults: faults})
		return c, byID
	}
	attach := func(t *testing.T, c *client, byID string) (id, link string) {
		id = c.createVolume(map[string]any{"size": 1})
		c.waitVolume(id, "available")
		if r := c.attach(local, id); r.code != 200 {
			t.Fatal(r.raw)
		}
		c.waitVolume(id, "in-use")
		link = filepath.Join(byID, "virtio-"+id[:20])
		if _, err := os.Lstat(link); !os.IsNotExist(err) {
			t.Fatalf("%s is there as soon as the volume is in-use (%v)", link, err)
		}
		return id, link
	}
	absentFor := func(t *testing.T, link string, d time.Duration) {
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			if _, err := os.Lstat(link); !os.IsNotExist(err) {
				t.Fatalf("%s appeared (%v)", link, err)
			}
		}
	}

	t.Run("appears", func(t *testing.T) {
		c, byID := newSim(t, cloudsim.Faults{})
		id, link := attach(t, c, byID)
		waitLink(t, link)
		c.nova("DELETE", "/servers/"+local+"/os-volume_attachments/"+id, nil)
		c.waitVolume(id, "available")
		if _, err := os.Lstat(link); !os.IsNotExist(err) {
			t.Fatalf("link left after detach: %v", err)
		}
	})
	t.Run("detached first", func(t *testing.T) {
		c, byID := newSim(t, cloudsim.Faults{})
		id, link := attach(t, c, byID)
		c.nova("DELETE", "/servers/"+local+"/os-volume_attachments/"+id, nil)
		c.waitVolume(id, "available")
		absentFor(t, link, durs.Device+200*time.Millisecond)
	})
	t.Run("stuck", func(t *testing.T) {
		c, byID := newSim(t, cloudsim.Faults{Stuck: []string{cloudsim.OpDevice}})
		_, link := attach(t, c, byID)
		absentFor(t, link, durs.Device+200*time.Millisecond)
	})
}
