package openstack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloudconfig"
)

// fakeCloud is a canned Keystone + Cinder + Nova for the unit tests of
// authentication, endpoint discovery, the HTTP layer and error mapping.
// The behaviour tests of the provider run against pkg/cloudsim (see
// contract_test.go).
type fakeCloud struct {
	t   *testing.T
	srv *httptest.Server
	mux *http.ServeMux

	mu      sync.Mutex
	tokens  []string // tokens issued, newest last
	valid   map[string]bool
	authReq []map[string]any // auth request bodies
	calls   []string         // "METHOD path?query" of non-auth calls
	headers []http.Header    // headers of non-auth calls

	tokenSeq atomic.Int32
	// catalog builds the catalog; base is the server URL.
	v3Catalog func(base string) []map[string]any
	v2Catalog func(base string) []map[string]any
	// authFail makes Keystone answer 401; authDown 503.
	authFail, authDown bool
}

const (
	fakeProject   = "6cdebe3eb0094910bc41f1d42ebe4cb7"
	fakePassword  = "pw-never-logged"
	fakeAppSecret = "app-secret-never-logged"
)

func newFake(t *testing.T) *fakeCloud {
	f := &fakeCloud{t: t, mux: http.NewServeMux(), valid: map[string]bool{}}
	f.v3Catalog = func(base string) []map[string]any {
		return []map[string]any{
			v3Service("volumev3", base+"/volume/v3/"+fakeProject, "RegionOne"),
			v3Service("volumev2", base+"/volume/v2/"+fakeProject, "RegionOne"),
			v3Service("compute", base+"/compute/v2.1/"+fakeProject, "RegionOne"),
			v3Service("identity", base+"/identity/v3", "RegionOne"),
		}
	}
	f.v2Catalog = func(base string) []map[string]any {
		return []map[string]any{
			v2Service("volumev2", base+"/volume/v2/"+fakeProject, "kr1"),
			v2Service("compute", base+"/compute/v2/"+fakeProject, "kr1"),
		}
	}
	f.mux.HandleFunc("POST /identity/v3/auth/tokens", f.authV3)
	f.mux.HandleFunc("POST /identity/v2.0/tokens", f.authV2)
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func v3Service(typ, u, region string) map[string]any {
	var eps []map[string]any
	for _, iface := range []string{"public", "internal", "admin"} {
		pu, _ := url.Parse(u)
		if iface != "public" {
			// The internal and admin URLs live under /internal, /admin.
			pu.Path = "/" + iface + pu.Path
		}
		eps = append(eps, map[string]any{"id": typ + iface, "interface": iface, "region": region, "region_id": region, "url": pu.String()})
	}
	return map[string]any{"type": typ, "name": typ, "id": typ, "endpoints": eps}
}

func v2Service(typ, url, region string) map[string]any {
	return map[string]any{"type": typ, "name": typ, "endpoints": []map[string]any{{
		"region": region, "publicURL": url, "internalURL": url, "adminURL": url, "tenantId": fakeProject,
	}}}
}

func (f *fakeCloud) serve(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/identity/") {
		f.mu.Lock()
		f.calls = append(f.calls, r.Method+" "+r.URL.RequestURI())
		f.headers = append(f.headers, r.Header.Clone())
		ok := f.valid[r.Header.Get("X-Auth-Token")]
		f.mu.Unlock()
		if !ok {
			writeJSON(w, 401, map[string]any{"error": map[string]any{"code": 401, "message": "The request you have made requires authentication.", "title": "Unauthorized"}})
			return
		}
	}
	f.mux.ServeHTTP(w, r)
}

func (f *fakeCloud) issue() string {
	tok := fmt.Sprintf("tok-%d-secret", f.tokenSeq.Add(1))
	f.mu.Lock()
	f.tokens = append(f.tokens, tok)
	f.valid[tok] = true
	f.mu.Unlock()
	return tok
}

// expireTokens makes every issued token invalid, as on token expiry.
func (f *fakeCloud) expireTokens() {
	f.mu.Lock()
	f.valid = map[string]bool{}
	f.mu.Unlock()
}

func (f *fakeCloud) recordAuth(r *http.Request) map[string]any {
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	f.mu.Lock()
	f.authReq = append(f.authReq, body)
	f.mu.Unlock()
	return body
}

func (f *fakeCloud) authV3(w http.ResponseWriter, r *http.Request) {
	f.recordAuth(r)
	if f.authDown {
		writeJSON(w, 503, map[string]any{"error": map[string]any{"code": 503, "message": "Service Unavailable", "title": "Service Unavailable"}})
		return
	}
	if f.authFail {
		writeJSON(w, 401, map[string]any{"error": map[string]any{"code": 401, "message": "The request you have made requires authentication.", "title": "Unauthorized"}})
		return
	}
	tok := f.issue()
	w.Header().Set("X-Subject-Token", tok)
	writeJSON(w, 201, map[string]any{"token": map[string]any{
		"expires_at": time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05.000000Z"),
		"project":    map[string]any{"id": fakeProject, "name": "demo", "domain": map[string]any{"id": "default", "name": "Default"}},
		"catalog":    f.v3Catalog(f.srv.URL),
	}})
}

func (f *fakeCloud) authV2(w http.ResponseWriter, r *http.Request) {
	f.recordAuth(r)
	if f.authFail {
		writeJSON(w, 401, map[string]any{"error": map[string]any{"code": 401, "message": "Invalid user / password", "title": "Unauthorized"}})
		return
	}
	tok := f.issue()
	writeJSON(w, 200, map[string]any{"access": map[string]any{
		"token": map[string]any{
			"id":      tok,
			"expires": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
			"tenant":  map[string]any{"id": fakeProject, "name": "demo", "enabled": true},
		},
		"serviceCatalog": f.v2Catalog(f.srv.URL),
		"user":           map[string]any{"id": "u1", "name": "admin", "roles": []any{}},
	}})
}

func (f *fakeCloud) handle(pattern string, h http.HandlerFunc) { f.mux.HandleFunc(pattern, h) }

func (f *fakeCloud) callLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeCloud) lastAuth() map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.authReq) == 0 {
		return nil
	}
	return f.authReq[len(f.authReq)-1]
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// config returns a v3 password config for the fake.
func (f *fakeCloud) config(extra string) Config {
	f.t.Helper()
	return fromINI(f.t, fmt.Sprintf(`[Global]
auth-url = %s/identity/v3
username = admin
password = %s
tenant-name = demo
domain-name = Default
%s`, f.srv.URL, fakePassword, extra))
}

// translate is pkg/provider's translation of the cloud config file into
// a Config, set by hook_test.go (package openstack_test, which may import
// pkg/provider): the tests write configs as users write them, and the
// adapter is tested with exactly what the binary would give it.
var translate func(*cloudconfig.Config) Config

// fromINI parses a cloud config file's text into the adapter's Config.
func fromINI(t testing.TB, ini string) Config {
	t.Helper()
	cc, err := cloudconfig.Parse([]byte(ini))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return translate(cc)
}

// fastRetry keeps the unit tests quick.
var fastRetry = RetryPolicy{
	MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond,
	MaxRateLimitRetries: 3, DefaultRateLimitWait: 10 * time.Millisecond, MaxRateLimitWait: 2 * time.Second,
}

func (f *fakeCloud) newCloud(cfg Config, opts ...Option) *Cloud {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := New(ctx, cfg, append([]Option{WithRetryPolicy(fastRetry), WithoutZoneDiscovery()}, opts...)...)
	if err != nil {
		f.t.Fatalf("New: %v", err)
	}
	return c
}

func readBody(r *http.Request) map[string]any {
	var m map[string]any
	b, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(b, &m)
	return m
}

// cannedVolume is a Cinder v2/v3 volume as in the NHN Cloud document.
func cannedVolume(id, name, status string) map[string]any {
	return map[string]any{
		"attachments": []any{}, "availability_zone": "kr-pub-a", "encrypted": false,
		"volume_type": "General HDD", "snapshot_id": nil, "id": id, "size": 50,
		"user_id": "5e6524d826084188ae549815b3e33380", "os-vol-tenant-attr:tenant_id": fakeProject,
		"metadata": map[string]any{}, "status": status, "description": nil, "multiattach": false,
		"source_volid": nil, "consistencygroup_id": nil, "name": name, "bootable": "false",
		"created_at": "2018-12-18T05:43:12.000000", "replication_status": "disabled",
	}
}
