package cloudsim

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/lunanode"
)

// fuzzSim serves a simulator with a small quota (so fuzzed sizes cannot
// make large files) on loopback and returns its URL and a token.
func fuzzSim(f *testing.F) (string, string) {
	sim, err := New(Config{StateDir: f.TempDir(), Timing: "fast", LocalServerID: "",
		Quota: &Quota{Volumes: 30, Snapshots: 30, Gigabytes: 60, Backups: 30, BackupGigabytes: 60}})
	if err != nil {
		f.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	f.Cleanup(func() {
		srv.Close()
		sim.Close()
	})
	body := `{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","domain":{"id":"default"},"password":"secret"}}},` +
		`"scope":{"project":{"name":"demo","domain":{"id":"default"}}}}}`
	resp, err := http.Post(srv.URL+"/identity/v3/auth/tokens", "application/json", strings.NewReader(body))
	if err != nil {
		f.Fatal(err)
	}
	resp.Body.Close()
	tok := resp.Header.Get("X-Subject-Token")
	if tok == "" {
		f.Fatalf("no token (HTTP %d)", resp.StatusCode)
	}
	return srv.URL, tok
}

// fuzzRoutes are the simulator's request-decoding routes; {id} is replaced
// by the fuzzed id.
var fuzzRoutes = []struct{ method, path string }{
	{"POST", "/volume/v3/demo/volumes"},
	{"POST", "/volume/v2/demo/volumes"},
	{"POST", "/volume/v1/demo/volumes"},
	{"POST", "/volume/v3/demo/volumes/{id}/action"},
	{"POST", "/volume/v1/demo/volumes/{id}/action"},
	{"PUT", "/volume/v3/demo/volumes/{id}"},
	{"PUT", "/volume/v3/demo/volumes/{id}/metadata"},
	{"POST", "/volume/v3/demo/snapshots"},
	{"PUT", "/volume/v3/demo/snapshots/{id}"},
	{"POST", "/volume/v3/demo/backups"},
	{"POST", "/volume/v3/demo/backups/{id}/restore"},
	{"POST", "/compute/v2.1/demo/servers/{id}/os-volume_attachments"},
	{"GET", "/volume/v3/demo/volumes/detail?limit={id}&marker={id}&sort=name:asc"},
	{"GET", "/volume/v2/demo/snapshots/detail?all_tenants=1&limit={id}"},
	{"DELETE", "/volume/v3/demo/volumes/{id}"},
	{"POST", "/identity/v3/auth/tokens"},
	{"POST", "/identity/v2.0/tokens"},
}

// FuzzRequestDecoding sends arbitrary bodies, ids and microversions to the
// OpenStack faces: the simulator answers every one with a client error or
// success, in JSON, never with a 5xx or a dropped connection.
func FuzzRequestDecoding(f *testing.F) {
	f.Add(uint8(0), "x", []byte(`{"volume": {"size": 1, "name": "v", "metadata": {"k": "v"}}}`), "3.0")
	f.Add(uint8(1), "x", []byte(`{"volume": {"size": 1, "snapshot_id": "nope", "availability_zone": "kr-pub-b"}}`), "")
	f.Add(uint8(2), "x", []byte(`{"volume": {"size": "1", "display_name": "v1"}}`), "")
	f.Add(uint8(3), "6a4952af-0a13-40a7-9c5b-c07d22c850ff", []byte(`{"os-extend": {"new_size": 2}}`), "3.42")
	f.Add(uint8(4), "v", []byte(`{"os-reset_status": {"status": "available"}}`), "")
	f.Add(uint8(7), "x", []byte(`{"snapshot": {"volume_id": "v", "force": "yes", "name": null}}`), "3.70")
	f.Add(uint8(9), "x", []byte(`{"backup": {"volume_id": "v", "incremental": true, "force": 1}}`), "")
	f.Add(uint8(11), "5f0c3c1e-7a2b-4d1e-9c3a-000000000001", []byte(`{"volumeAttachment": {"volumeId": "v", "device": null}}`), "2.79")
	f.Add(uint8(12), "-1", []byte{}, "")
	f.Add(uint8(15), "", []byte(`{"auth": {"identity": {"methods": ["application_credential"], "application_credential": {"id": "demo-app-cred", "secret": 7}}}}`), "")
	f.Add(uint8(16), "", []byte(`{"auth": {"tenantName": ["demo"], "passwordCredentials": {"username": "admin", "password": "secret"}}}`), "")
	f.Add(uint8(0), "", []byte(`{"volume": {"size": 1e400}}`), "3.999999999999999999")
	f.Add(uint8(3), "x", []byte(`{"os-attach": {}, "os-detach": {}}`), "4.0")
	base, tok := fuzzSim(f)
	client := &http.Client{Timeout: 10 * time.Second}
	f.Fuzz(func(t *testing.T, route uint8, id string, body []byte, micro string) {
		r := fuzzRoutes[int(route)%len(fuzzRoutes)]
		path := strings.ReplaceAll(r.path, "{id}", url.PathEscape(id))
		req, err := http.NewRequest(r.method, base+path, bytes.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("X-Auth-Token", tok)
		req.Header.Set("Content-Type", "application/json")
		if micro != "" && printableASCII(micro) {
			req.Header.Set("OpenStack-API-Version", "volume "+micro)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", r.method, path, err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %s %q: HTTP %d %s", r.method, path, body, resp.StatusCode, out)
		}
		if len(bytes.TrimSpace(out)) > 0 && !json.Valid(out) {
			t.Fatalf("%s %s: HTTP %d answer is not JSON: %q", r.method, path, resp.StatusCode, out)
		}
	})
}

// FuzzLunanodeRequest signs arbitrary req documents for arbitrary actions
// the way LunaNode's clients do: the face answers each with its envelope.
func FuzzLunanodeRequest(f *testing.F) {
	f.Add("volume/create", []byte(`{"region":"toronto","label":"v","size":"1"}`))
	f.Add("volume/info", []byte(`{"volume_id":"4682"}`))
	f.Add("volume/attach", []byte(`{"volume_id":"4682","vm_id":"x","target":"auto"}`))
	f.Add("volume/snapshot-create", []byte(`{"volume_id":"4682","label":"s"}`))
	f.Add("volume/snapshot-delete", []byte(`{"region":"toronto","snapshot_id":"../x"}`))
	f.Add("volume/extend", []byte(`{"volume_id":"4682","size":"-5"}`))
	f.Add("volume/list", []byte(`{"size":7}`))
	f.Add("vm/list", []byte(`[]`))
	f.Add("volume/create", []byte(`{"region":"toronto","label":"v","size":"99999999999999999999"}`))
	base, _ := fuzzSim(f)
	client := &http.Client{Timeout: 10 * time.Second}
	f.Fuzz(func(t *testing.T, action string, params []byte) {
		// The credentials go into the req document as a client puts them.
		var m map[string]any
		if json.Unmarshal(params, &m) != nil || m == nil {
			m = map[string]any{}
		}
		m["api_id"] = lunanode.DefaultAPIID
		m["api_partialkey"] = lunanode.DefaultAPIKey[:64]
		reqDoc, _ := json.Marshal(m)
		segs := strings.Split(strings.Trim(action, "/"), "/")
		for i := range segs {
			segs[i] = url.PathEscape(segs[i])
		}
		handler := strings.Join(segs, "/") + "/"
		nonce := strconv.FormatInt(time.Now().Unix(), 10)
		mac := hmac.New(sha512.New, []byte(lunanode.DefaultAPIKey))
		mac.Write([]byte(handler + "|" + string(reqDoc) + "|" + nonce))
		form := url.Values{"req": {string(reqDoc)}, "signature": {hex.EncodeToString(mac.Sum(nil))}, "nonce": {nonce}}
		u := base + "/lunanode/api/" + handler
		if _, err := url.Parse(u); err != nil {
			return
		}
		resp, err := client.PostForm(u, form)
		if err != nil {
			return // an action name that is no URL
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %s: HTTP %d %s", handler, reqDoc, resp.StatusCode, out)
		}
		var env struct {
			Success string `json:"success"`
		}
		if err := json.Unmarshal(out, &env); err != nil || (env.Success != "yes" && env.Success != "no") {
			t.Fatalf("%s %s: HTTP %d, no envelope: %q", handler, reqDoc, resp.StatusCode, out)
		}
	})
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
