package lunanode

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/internal/persist"
)

// try is e.call for goroutines: errors are returned, not fatal.
func (e *env) try(action string, p map[string]string) (int, map[string]any, error) {
	e.mu.Lock()
	e.nonce++
	n := e.nonce
	e.mu.Unlock()
	resp, err := http.PostForm(e.srv.URL+"/lunanode/api/"+action+"/", sign(DefaultAPIID, DefaultAPIKey, action+"/", p, n))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	err = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, err
}

// diskState reads the state file as a crash would leave it.
func (e *env) diskState() State {
	e.t.Helper()
	b, err := os.ReadFile(e.h.cfg.StatePath)
	if err != nil {
		e.t.Fatal(err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		e.t.Fatalf("state file: %v", err)
	}
	return st
}

func hasVolume(st State, id string) bool {
	for _, v := range st.Volumes {
		if strconv.Itoa(v.ID) == id {
			return true
		}
	}
	return false
}

func TestAcknowledgedCreatesAreOnDisk(t *testing.T) {
	e := newEnv(t, nil)
	const n = 20
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			code, out, err := e.try("volume/create", map[string]string{"region": "toronto", "label": "v" + strconv.Itoa(i), "size": "1"})
			if err != nil || code != 200 || out["success"] != "yes" {
				t.Errorf("create %d: %v %d %v", i, err, code, out)
				return
			}
			ids[i], _ = out["volume_id"].(string)
		})
	}
	wg.Wait()
	st := e.diskState()
	for _, id := range ids {
		if !hasVolume(st, id) {
			t.Errorf("volume %s acknowledged but not on disk", id)
		}
	}
}

func TestCallsDoNotWaitForOthersStateWrites(t *testing.T) {
	e := newEnv(t, nil)
	a := e.create("toronto", "a", "1")
	entered, release := make(chan struct{}), make(chan struct{})
	var enterOnce, releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	e.h.commit.SetWrite(func(path string, data []byte) error {
		enterOnce.Do(func() { close(entered) })
		<-release
		return persist.WriteFile(path, data)
	})
	created := make(chan map[string]any, 1)
	go func() {
		_, out, err := e.try("volume/create", map[string]string{"region": "toronto", "label": "b", "size": "1"})
		if err != nil {
			out = map[string]any{"error": err.Error()}
		}
		created <- out
	}()
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the create did not start a state write")
	}
	info := make(chan map[string]any, 1)
	go func() {
		_, out, _ := e.try("volume/info", map[string]string{"volume_id": a})
		info <- out
	}()
	select {
	case out := <-info:
		if out["success"] != "yes" {
			t.Fatalf("info during a state write: %v", out)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("volume/info waited for another call's state write")
	}
	select {
	case out := <-created:
		t.Fatalf("the create was answered before its change was on disk: %v", out)
	case <-time.After(50 * time.Millisecond):
	}
	unblock()
	out := <-created
	id, _ := out["volume_id"].(string)
	if out["success"] != "yes" || !hasVolume(e.diskState(), id) {
		t.Fatalf("create after the write: %v", out)
	}
}

func TestStateWriteFailureIsAnInternalError(t *testing.T) {
	e := newEnv(t, nil)
	e.h.commit.SetWrite(func(string, []byte) error { return errors.New("disk full") })
	code, out, err := e.try("volume/create", map[string]string{"region": "toronto", "label": "x", "size": "1"})
	if err != nil || code != http.StatusInternalServerError || out["success"] != "no" || out["error"] != "internal error" {
		t.Fatalf("create with a failing state write: %v %d %v", err, code, out)
	}
	if n := e.h.Stats().Errors["volume/create"]; n != 1 {
		t.Errorf("errors counted %d, want 1", n)
	}
	e.h.commit.SetWrite(persist.WriteFile)
	id := e.create("toronto", "y", "1")
	if !hasVolume(e.diskState(), id) {
		t.Fatalf("volume %s not on disk after writes recovered", id)
	}
}
