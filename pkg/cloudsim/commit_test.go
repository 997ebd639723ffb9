package cloudsim_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/simtest"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/timing"
)

// try is c.cinder for goroutines: it reports transport errors instead of
// failing the test from outside the test's goroutine.
func (c *client) try(method, path string, body any) (resp, error) {
	j, _ := json.Marshal(body)
	var rd io.Reader
	if body != nil {
		rd = strings.NewReader(string(j))
	}
	req, err := http.NewRequest(method, c.base+"/volume/v3/"+c.project+path, rd)
	if err != nil {
		return resp{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Auth-Token", c.token)
	hr, err := http.DefaultClient.Do(req)
	if err != nil {
		return resp{}, err
	}
	defer hr.Body.Close()
	b, err := io.ReadAll(hr.Body)
	r := resp{code: hr.StatusCode, raw: string(b), header: hr.Header}
	_ = json.Unmarshal(b, &r.body)
	return r, err
}

// diskVolumes reads the state file as a crash would leave it.
func diskVolumes(t *testing.T, dir string) map[string]cloudsim.Volume {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Volumes map[string]cloudsim.Volume `json:"volumes"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("state file: %v", err)
	}
	return st.Volumes
}

// Every acknowledged change is on disk when it is acknowledged: a copy of
// the state directory taken right after the answers (what a killed
// simulator leaves) has them all, and so does a simulator started on it.
func TestAcknowledgedChangesAreOnDisk(t *testing.T) {
	const n = 40
	dir := t.TempDir()
	_, c := start(t, cloudsim.Config{StateDir: dir})
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r, err := c.try("POST", "/volumes", map[string]any{"volume": map[string]any{"size": 1, "name": fmt.Sprintf("v%d", i)}})
			if err != nil || r.code != 202 {
				t.Errorf("create %d: %v %d %s", i, err, r.code, r.raw)
				return
			}
			ids[i] = str(obj(r.body, "volume"), "id")
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	crashed := t.TempDir()
	if err := os.WriteFile(filepath.Join(crashed, "state.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	onDisk := diskVolumes(t, crashed)
	for i, id := range ids {
		if v, ok := onDisk[id]; !ok || v.Name != fmt.Sprintf("v%d", i) {
			t.Errorf("volume %s (v%d) acknowledged but not on disk", id, i)
		}
	}
	_, base := simtest.Start(t, cloudsim.Config{StateDir: crashed})
	c2 := login(t, base, cloudsim.DefaultUser, cloudsim.DefaultPassword, cloudsim.DefaultProject)
	for i, id := range ids {
		if r := c2.cinder("GET", "/volumes/"+id, nil); r.code != 200 || str(obj(r.body, "volume"), "name") != fmt.Sprintf("v%d", i) {
			t.Errorf("after restart from the crash copy, volume %s: %d %s", id, r.code, r.raw)
		}
	}
}

// Close writes what timers changed without anyone waiting: the state a new
// simulator loads is the state the old one had.
func TestCloseFlushesState(t *testing.T) {
	dir := t.TempDir()
	durs := timing.Fast
	durs.Create = 300 * time.Millisecond // time to hold the writes back
	sim1, base := simtest.Start(t, cloudsim.Config{StateDir: dir, Durations: &durs})
	c := login(t, base, cloudsim.DefaultUser, cloudsim.DefaultPassword, cloudsim.DefaultProject)
	var ids []string
	for range 5 {
		ids = append(ids, c.createVolume(map[string]any{"size": 1}))
	}
	// Hold the writes back, so the transitions to available are pending
	// in memory only when Close starts.
	sim1.SetStateWrite(func(string, []byte) error { return errors.New("held back") })
	for _, id := range ids {
		c.waitVolume(id, "available")
	}
	for _, v := range diskVolumes(t, dir) {
		if v.Status == "available" {
			t.Fatalf("volume %s already available on disk; the test needs it pending", v.ID)
		}
	}
	before := sim1.State()
	sim1.SetStateWrite(cloudsim.WriteStateFile)
	if err := sim1.Close(); err != nil {
		t.Fatal(err)
	}
	sim2, _ := simtest.Start(t, cloudsim.Config{StateDir: dir})
	want, _ := json.Marshal(before)
	got, _ := json.Marshal(sim2.State())
	if string(got) != string(want) {
		t.Fatalf("state after restart\n%s\nwant\n%s", got, want)
	}
}

// A slow state write holds up only the answer to the change it carries: a
// read of another volume is answered meanwhile, and the change's answer
// leaves after the write.
func TestReadsDoNotWaitForStateWrites(t *testing.T) {
	sim, c := start(t, cloudsim.Config{})
	a := c.createVolume(map[string]any{"size": 1, "name": "a"})
	b := c.createVolume(map[string]any{"size": 1, "name": "b"})
	c.waitVolume(a, "available")
	c.waitVolume(b, "available")

	entered, release := make(chan struct{}), make(chan struct{})
	var enterOnce, releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	sim.SetStateWrite(func(path string, data []byte) error {
		enterOnce.Do(func() { close(entered) })
		<-release
		return cloudsim.WriteStateFile(path, data)
	})
	renamed := make(chan resp, 1)
	go func() {
		r, err := c.try("PUT", "/volumes/"+b, map[string]any{"volume": map[string]any{"name": "b2"}})
		if err != nil {
			r.raw = err.Error()
		}
		renamed <- r
	}()
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the rename did not start a state write")
	}

	got := make(chan resp, 1)
	t0 := time.Now()
	go func() {
		r, err := c.try("GET", "/volumes/"+a, nil)
		if err != nil {
			r.raw = err.Error()
		}
		got <- r
	}()
	select {
	case r := <-got:
		if r.code != 200 || str(obj(r.body, "volume"), "name") != "a" {
			t.Fatalf("get during a state write: %d %s", r.code, r.raw)
		}
		t.Logf("GET answered in %v while a state write was blocked", time.Since(t0))
	case <-time.After(5 * time.Second):
		t.Fatal("a GET waited for a state write it has nothing to do with")
	}
	select {
	case r := <-renamed:
		t.Fatalf("the rename was answered (%d) before its change was on disk", r.code)
	case <-time.After(50 * time.Millisecond):
	}

	unblock()
	select {
	case r := <-renamed:
		if r.code != 200 {
			t.Fatalf("rename: %d %s", r.code, r.raw)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the rename was not answered after the write")
	}
	if v := diskVolumes(t, sim.Config().StateDir)[b]; v.Name != "b2" {
		t.Fatalf("on disk the volume is named %q", v.Name)
	}
}

// Concurrent changes share state writes: many changes, few fsyncs.
func TestConcurrentChangesShareWrites(t *testing.T) {
	const n = 60
	sim, c := start(t, cloudsim.Config{})
	id := c.createVolume(map[string]any{"size": 1})
	c.waitVolume(id, "available")
	var writes atomic.Int64
	sim.SetStateWrite(func(path string, data []byte) error {
		writes.Add(1)
		time.Sleep(5 * time.Millisecond) // a slow disk's fsync
		return cloudsim.WriteStateFile(path, data)
	})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k := fmt.Sprintf("k%d", i)
			r, err := c.try("POST", "/volumes/"+id+"/metadata", map[string]any{"metadata": map[string]string{k: "v"}})
			if err != nil || r.code != 200 {
				t.Errorf("metadata %s: %v %d %s", k, err, r.code, r.raw)
			}
		})
	}
	wg.Wait()
	w := writes.Load()
	t.Logf("%d state writes for %d changes", w, n)
	if w < 1 || w > n/3 {
		t.Fatalf("%d state writes for %d concurrent changes, want at most %d", w, n, n/3)
	}
	meta := diskVolumes(t, sim.Config().StateDir)[id].Metadata
	for i := range n {
		if meta[fmt.Sprintf("k%d", i)] != "v" {
			t.Fatalf("acknowledged metadata k%d not on disk: %v", i, meta)
		}
	}
}

// A change whose state cannot be written is answered 500, counted as such,
// and is not acknowledged.
func TestStateWriteFailureAnswers500(t *testing.T) {
	sim, c := start(t, cloudsim.Config{})
	id := c.createVolume(map[string]any{"size": 1})
	c.waitVolume(id, "available")
	sim.SetStateWrite(func(string, []byte) error { return errors.New("disk full") })
	sim.ResetStats()
	r := c.cinder("POST", "/volumes", map[string]any{"volume": map[string]any{"size": 1}})
	expectFault(t, r, 500, "computeFault", "state not saved: disk full")
	if r.header.Get("OpenStack-API-Version") != "volume 3.0" {
		t.Errorf("500 lost the version header: %v", r.header)
	}
	r = c.cinder("POST", "/volumes/"+id+"/metadata", map[string]any{"metadata": map[string]string{"k": "v"}})
	expectFault(t, r, 500, "computeFault", "state not saved: disk full")
	st := sim.Stats()
	if got := st.Calls["cinder POST /volume/{ver}/{project}/volumes 500"]; got != 1 {
		t.Errorf("stats count %d failed creates, want 1: %v", got, st.Calls)
	}
	if got := st.Calls["cinder POST /volume/{ver}/{project}/volumes 202"]; got != 0 {
		t.Errorf("stats count %d successful creates, want 0", got)
	}
	// Reads are unaffected, and the next change succeeds once writes do.
	if r := c.cinder("GET", "/volumes/"+id, nil); r.code != 200 {
		t.Fatalf("get: %d %s", r.code, r.raw)
	}
	sim.SetStateWrite(cloudsim.WriteStateFile)
	if r := c.cinder("PUT", "/volumes/"+id, map[string]any{"volume": map[string]any{"name": "ok"}}); r.code != 200 {
		t.Fatalf("rename after recovery: %d %s", r.code, r.raw)
	}
	if v := diskVolumes(t, sim.Config().StateDir)[id]; v.Name != "ok" || v.Metadata["k"] != "v" {
		t.Fatalf("on disk after recovery: %+v", v)
	}
}
