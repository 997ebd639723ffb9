package cloudsim_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/simtest"
)

// client talks to the simulator over real HTTP, as a cloud client would.
type client struct {
	t       testing.TB
	base    string
	token   string
	project string
	headers map[string]string
}

type resp struct {
	code   int
	body   map[string]any
	raw    string
	header http.Header
}

func start(t testing.TB, cfg cloudsim.Config) (*cloudsim.Sim, *client) {
	t.Helper()
	sim, base := simtest.Start(t, cfg)
	return sim, login(t, base, cloudsim.DefaultUser, cloudsim.DefaultPassword, cloudsim.DefaultProject)
}

// login gets a project-scoped Keystone v3 token.
func login(t testing.TB, base, user, password, project string) *client {
	t.Helper()
	c := &client{t: t, base: base, project: project}
	body := fmt.Sprintf(`{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":%q,"domain":{"name":"Default"},"password":%q}}},"scope":{"project":{"name":%q,"domain":{"id":"default"}}}}}`, user, password, project)
	r := c.raw("POST", "/identity/v3/auth/tokens", body)
	if r.code != 201 {
		t.Fatalf("login: %d %s", r.code, r.raw)
	}
	c.token = r.header.Get("X-Subject-Token")
	if c.token == "" {
		t.Fatal("login: no X-Subject-Token")
	}
	return c
}

func (c *client) raw(method, path, body string) resp {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("X-Auth-Token", c.token)
	}
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	hr, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer hr.Body.Close()
	b, _ := io.ReadAll(hr.Body)
	r := resp{code: hr.StatusCode, raw: string(b), header: hr.Header}
	if len(bytes.TrimSpace(b)) > 0 {
		_ = json.Unmarshal(b, &r.body)
	}
	return r
}

// do calls a project-relative path of a face, e.g. do("POST", "volume/v3", "/volumes", body).
func (c *client) do(method, face, path string, body any) resp {
	c.t.Helper()
	s := ""
	switch b := body.(type) {
	case nil:
	case string:
		s = b
	default:
		j, _ := json.Marshal(b)
		s = string(j)
	}
	return c.raw(method, "/"+face+"/"+c.project+path, s)
}

func (c *client) cinder(method, path string, body any) resp {
	return c.do(method, "volume/v3", path, body)
}
func (c *client) nova(method, path string, body any) resp {
	return c.do(method, "compute/v2.1", path, body)
}

func obj(m map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		v, _ := m[k].(map[string]any)
		m = v
	}
	return m
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

// expectFault checks an OpenStack fault body: {"<kind>": {"code": N, "message": "...<msg>..."}}.
func expectFault(t testing.TB, r resp, code int, kind, msg string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("status %d, want %d: %s", r.code, code, r.raw)
	}
	f := obj(r.body, kind)
	if f == nil {
		t.Fatalf("body has no %q fault: %s", kind, r.raw)
	}
	if c, _ := f["code"].(float64); int(c) != code {
		t.Fatalf("fault code %v, want %d: %s", f["code"], code, r.raw)
	}
	if !strings.Contains(str(f, "message"), msg) {
		t.Fatalf("fault message %q does not contain %q", str(f, "message"), msg)
	}
}

func (c *client) createVolume(body map[string]any) string {
	c.t.Helper()
	r := c.cinder("POST", "/volumes", map[string]any{"volume": body})
	if r.code != 202 {
		c.t.Fatalf("create volume: %d %s", r.code, r.raw)
	}
	return str(obj(r.body, "volume"), "id")
}

// wait polls path until the resource's status is want (or it is gone when want is "").
func (c *client) wait(face, path, key, want string) map[string]any {
	c.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		r := c.do("GET", face, path, nil)
		if want == "" && r.code == 404 {
			return nil
		}
		if r.code == 200 {
			o := obj(r.body, key)
			last = str(o, "status")
			if last == want {
				return o
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatalf("%s: status %q, want %q", path, last, want)
	return nil
}

func (c *client) waitVolume(id, want string) map[string]any {
	c.t.Helper()
	return c.wait("volume/v3", "/volumes/"+id, "volume", want)
}

func (c *client) waitSnapshot(id, want string) map[string]any {
	c.t.Helper()
	return c.wait("volume/v3", "/snapshots/"+id, "snapshot", want)
}

func (c *client) waitBackup(id, want string) map[string]any {
	c.t.Helper()
	return c.wait("volume/v3", "/backups/"+id, "backup", want)
}

func (c *client) attach(server, vol string) resp {
	c.t.Helper()
	return c.nova("POST", "/servers/"+server+"/os-volume_attachments", map[string]any{"volumeAttachment": map[string]any{"volumeId": vol}})
}
