package lunanode

import (
	"crypto/hmac"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/disk"
)

const (
	localVM = "16b64847-0a86-42ea-bea8-ed60bd960c68"
	otherVM = "2b0d9f8e-9f43-4c55-9a0e-6c1d8e0c2f11"
	farVM   = "7f1b3a9c-54c2-4d2e-8a0f-1e2d3c4b5a69" // in montreal
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	t     *testing.T
	h     *Handler
	srv   *httptest.Server
	store *disk.Store
	clock *clock
	dir   string
	nonce int64
	mu    sync.Mutex
}

// newEnv starts a handler behind a real HTTP server, mounted at /lunanode/
// as the main simulator does.
func newEnv(t *testing.T, mod func(*Config)) *env {
	t.Helper()
	dir := t.TempDir()
	store, err := disk.NewStore(filepath.Join(dir, "state"), filepath.Join(dir, "by-id"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := store.Close(); err != nil {
			t.Errorf("store close: %v", err)
		}
	})
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	cfg := Config{
		Store:     store,
		StatePath: filepath.Join(dir, "lunanode.json"),
		LocalVMID: localVM,
		VMs:       []VM{{ID: otherVM, Region: "toronto"}, {ID: farVM, Region: "montreal"}},
		Now:       clk.Now,
	}
	if mod != nil {
		mod(&cfg)
	}
	h, err := NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/lunanode/", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		_ = h.Close()
	})
	return &env{t: t, h: h, srv: srv, store: store, clock: clk, dir: dir, nonce: clk.Now().Unix()}
}

// sign builds the form LunaNode's documentation describes, computed here
// independently of the handler's code.
func sign(id, key, handler string, p map[string]string, nonce int64) url.Values {
	m := map[string]string{"api_id": id, "api_partialkey": key[:64]}
	for k, v := range p {
		m[k] = v
	}
	req, _ := json.Marshal(m)
	n := strconv.FormatInt(nonce, 10)
	mac := hmac.New(sha512.New, []byte(key))
	mac.Write([]byte(handler + "|" + string(req) + "|" + n))
	return url.Values{"req": {string(req)}, "signature": {hex.EncodeToString(mac.Sum(nil))}, "nonce": {n}}
}

// post sends form to path and decodes the reply.
func (e *env) post(path string, form url.Values) (int, map[string]any) {
	e.t.Helper()
	resp, err := http.PostForm(e.srv.URL+path, form)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		e.t.Fatalf("%s: reply is not JSON: %v", path, err)
	}
	return resp.StatusCode, out
}

// call makes a correctly signed call; each call gets a fresh nonce near the
// clock so replays never trip.
func (e *env) call(action string, p map[string]string) map[string]any {
	e.t.Helper()
	e.mu.Lock()
	e.nonce++
	n := e.nonce
	e.mu.Unlock()
	if d := n - e.clock.Now().Unix(); d > 60 || d < -60 {
		n = e.clock.Now().Unix()
	}
	_, out := e.post("/lunanode/api/"+action+"/", sign(DefaultAPIID, DefaultAPIKey, action+"/", p, n))
	return out
}

// ok calls and fails the test unless success is "yes".
func (e *env) ok(action string, p map[string]string) map[string]any {
	e.t.Helper()
	out := e.call(action, p)
	if out["success"] != "yes" {
		e.t.Fatalf("%s %v: %v", action, p, out)
	}
	return out
}

// fails calls and fails the test unless the API refuses with an error
// containing want.
func (e *env) fails(action string, p map[string]string, want string) {
	e.t.Helper()
	out := e.call(action, p)
	if out["success"] != "no" {
		e.t.Fatalf("%s %v succeeded, want error %q: %v", action, p, want, out)
	}
	if msg, _ := out["error"].(string); !strings.Contains(msg, want) {
		e.t.Fatalf("%s %v: error %q, want it to contain %q", action, p, msg, want)
	}
}

func (e *env) info(id string) map[string]any {
	e.t.Helper()
	v, _ := e.ok("volume/info", map[string]string{"volume_id": id})["volume"].(map[string]any)
	return v
}

func (e *env) create(region, label, size string) string {
	e.t.Helper()
	id, _ := e.ok("volume/create", map[string]string{"region": region, "label": label, "size": size})["volume_id"].(string)
	if id == "" {
		e.t.Fatal("no volume_id")
	}
	return id
}

func signRaw(key, handler, req string, nonce int64) url.Values {
	n := strconv.FormatInt(nonce, 10)
	mac := hmac.New(sha512.New, []byte(key))
	mac.Write([]byte(handler + "|" + req + "|" + n))
	return url.Values{"req": {req}, "signature": {hex.EncodeToString(mac.Sum(nil))}, "nonce": {n}}
}
