package openstack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

const volID = "17975e9d-1533-40db-bd02-2072cd2ccb7f"

func getVolumeHandler(f *fakeCloud, prefix string) {
	f.handle("GET "+prefix+"/volumes/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != volID {
			writeJSON(w, 404, map[string]any{"itemNotFound": map[string]any{"code": 404, "message": "Volume " + r.PathValue("id") + " could not be found."}})
			return
		}
		writeJSON(w, 200, map[string]any{"volume": cannedVolume(volID, "pvc-1", "available")})
	})
}

// NHN Cloud issues tokens with Keystone v2.0 and tenantId, and publishes
// volumev2 and compute /v2/{tenantId}.
func TestKeystoneV2TenantID(t *testing.T) {
	f := newFake(t)
	getVolumeHandler(f, "/volume/v2/"+fakeProject)
	cfg := fromINI(t, fmt.Sprintf(`[Global]
auth-url = %s/identity/v2.0
username = admin
password = %s
tenant-id = %s
region = kr1
[BlockStorage]
profile = nhn
`, f.srv.URL, fakePassword, fakeProject))
	c := f.newCloud(cfg)
	if c.Name() != "cinder-v2" {
		t.Errorf("Name = %q", c.Name())
	}
	auth := f.lastAuth()["auth"].(map[string]any)
	if auth["tenantId"] != fakeProject {
		t.Errorf("v2.0 auth body tenantId = %v", auth["tenantId"])
	}
	pc := auth["passwordCredentials"].(map[string]any)
	if pc["username"] != "admin" || pc["password"] != fakePassword {
		t.Errorf("passwordCredentials = %v", pc)
	}
	vol, err := c.GetVolume(context.Background(), volID)
	if err != nil {
		t.Fatal(err)
	}
	if vol.ID != volID || vol.Serial != volID || vol.Zone != "kr-pub-a" || vol.Status != cloud.StatusAvailable || vol.SizeGiB != 50 || vol.VolumeType != "General HDD" || vol.Bootable {
		t.Errorf("volume = %+v", vol)
	}
	if vol.CreatedAt.IsZero() {
		t.Errorf("created_at not parsed")
	}
	calls := f.callLog()
	if len(calls) != 1 || calls[0] != "GET /volume/v2/"+fakeProject+"/volumes/"+volID {
		t.Errorf("calls = %v", calls)
	}
	if tok := f.headers[0].Get("X-Auth-Token"); tok != f.tokens[0] {
		t.Errorf("X-Auth-Token = %q, want %q", tok, f.tokens[0])
	}
	_, compute := c.Endpoints()
	if compute != f.srv.URL+"/compute/v2/"+fakeProject+"/" {
		t.Errorf("compute endpoint = %q", compute)
	}
}

func TestKeystoneV2TenantName(t *testing.T) {
	f := newFake(t)
	cfg := fromINI(t, fmt.Sprintf("[Global]\nauth-url=%s/identity/v2.0\nusername=admin\npassword=x\ntenant-name=demo\n", f.srv.URL))
	f.newCloud(cfg)
	auth := f.lastAuth()["auth"].(map[string]any)
	if auth["tenantName"] != "demo" || auth["tenantId"] != nil {
		t.Errorf("auth = %v", auth)
	}
}

func TestKeystoneV2RefusesAppCredentials(t *testing.T) {
	f := newFake(t)
	cfg := fromINI(t, fmt.Sprintf("[Global]\nauth-url=%s/identity/v2.0\napplication-credential-id=a\napplication-credential-secret=s\n", f.srv.URL))
	_, err := New(context.Background(), cfg, WithoutZoneDiscovery())
	if err == nil || !strings.Contains(err.Error(), "Keystone v3") {
		t.Errorf("err = %v", err)
	}
}

func TestKeystoneV3PasswordWithDomains(t *testing.T) {
	f := newFake(t)
	c := f.newCloud(f.config("user-domain-name = Users\nproject-domain-id = pdom\n"))
	if c.Name() != "cinder-v3" {
		t.Errorf("auto picked %q, want cinder-v3", c.Name())
	}
	auth := f.lastAuth()["auth"].(map[string]any)
	user := auth["identity"].(map[string]any)["password"].(map[string]any)["user"].(map[string]any)
	if user["name"] != "admin" || user["password"] != fakePassword || user["domain"].(map[string]any)["name"] != "Users" {
		t.Errorf("user = %v", user)
	}
	project := auth["scope"].(map[string]any)["project"].(map[string]any)
	if project["name"] != "demo" || project["domain"].(map[string]any)["id"] != "pdom" {
		t.Errorf("scope project = %v", project)
	}
	vol, _ := c.Endpoints()
	if vol != f.srv.URL+"/volume/v3/"+fakeProject+"/" {
		t.Errorf("volume endpoint = %q", vol)
	}
}

func TestKeystoneV3ProjectIDScope(t *testing.T) {
	f := newFake(t)
	cfg := fromINI(t, fmt.Sprintf("[Global]\nauth-url=%s/identity/v3\nuser-id=u-1\npassword=x\nproject-id=%s\n", f.srv.URL, fakeProject))
	f.newCloud(cfg)
	auth := f.lastAuth()["auth"].(map[string]any)
	user := auth["identity"].(map[string]any)["password"].(map[string]any)["user"].(map[string]any)
	if user["id"] != "u-1" || user["domain"] != nil {
		t.Errorf("user = %v", user)
	}
	if id := auth["scope"].(map[string]any)["project"].(map[string]any)["id"]; id != fakeProject {
		t.Errorf("scope project id = %v", id)
	}
}

func TestKeystoneV3ApplicationCredential(t *testing.T) {
	f := newFake(t)
	cfg := fromINI(t, fmt.Sprintf("[Global]\nauth-url=%s/identity/v3\napplication-credential-id=ac-1\napplication-credential-secret=%s\n", f.srv.URL, fakeAppSecret))
	f.newCloud(cfg)
	auth := f.lastAuth()["auth"].(map[string]any)
	id := auth["identity"].(map[string]any)
	ac := id["application_credential"].(map[string]any)
	if ac["id"] != "ac-1" || ac["secret"] != fakeAppSecret {
		t.Errorf("application_credential = %v", ac)
	}
	if _, ok := auth["scope"]; ok {
		t.Errorf("application credentials must not send a scope: %v", auth)
	}

	// By name: the owner is named too.
	cfg = fromINI(t, fmt.Sprintf("[Global]\nauth-url=%s/identity/v3\nusername=admin\ndomain-name=Default\napplication-credential-name=ci\napplication-credential-secret=%s\n", f.srv.URL, fakeAppSecret))
	f.newCloud(cfg)
	ac = f.lastAuth()["auth"].(map[string]any)["identity"].(map[string]any)["application_credential"].(map[string]any)
	if ac["name"] != "ci" || ac["user"].(map[string]any)["name"] != "admin" {
		t.Errorf("application_credential by name = %v", ac)
	}
}

func TestAuthFailureIsUnauthorized(t *testing.T) {
	f := newFake(t)
	f.authFail = true
	_, err := New(context.Background(), f.config(""), WithoutZoneDiscovery(), WithRetryPolicy(fastRetry))
	if !errors.Is(err, cloud.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	if strings.Contains(err.Error(), fakePassword) {
		t.Errorf("error leaks the password: %v", err)
	}
}

// A token that expires is renewed once and the call repeated.
func TestReauthenticationOn401(t *testing.T) {
	f := newFake(t)
	getVolumeHandler(f, "/volume/v3/"+fakeProject)
	c := f.newCloud(f.config(""))
	f.expireTokens()
	if _, err := c.GetVolume(context.Background(), volID); err != nil {
		t.Fatalf("GetVolume after expiry: %v", err)
	}
	if len(f.tokens) != 2 {
		t.Errorf("tokens issued = %d, want 2", len(f.tokens))
	}
	calls := f.callLog()
	if len(calls) != 2 {
		t.Errorf("calls = %v, want the 401 and the retry", calls)
	}
	if tok := f.headers[1].Get("X-Auth-Token"); tok != f.tokens[1] {
		t.Errorf("retry used token %q, want the new one", tok)
	}
}

func TestEndpointSelection(t *testing.T) {
	f := newFake(t)
	ctx := context.Background()

	c := f.newCloud(f.config("endpoint-type = internal\n"))
	if v, comp := c.Endpoints(); v != f.srv.URL+"/internal/volume/v3/"+fakeProject+"/" || comp != f.srv.URL+"/internal/compute/v2.1/"+fakeProject+"/" {
		t.Errorf("internal endpoints = %q, %q", v, comp)
	}

	c = f.newCloud(f.config("[BlockStorage]\napi-version = 2\n"))
	if v, _ := c.Endpoints(); c.Name() != "cinder-v2" || v != f.srv.URL+"/volume/v2/"+fakeProject+"/" {
		t.Errorf("api-version 2: %s at %q", c.Name(), v)
	}
	if c.Capabilities().Expansion != cloud.ExpansionOffline {
		t.Errorf("Cinder v2 cannot extend in-use volumes; expansion = %v", c.Capabilities().Expansion)
	}

	// block-storage and volume types: the version comes from the URL.
	f.v3Catalog = func(base string) []map[string]any {
		return []map[string]any{
			v3Service("volume", base+"/volume/v1/"+fakeProject, "region-a"),
			v3Service("block-storage", base+"/volume/v3/"+fakeProject, "region-b"),
			v3Service("compute", base+"/compute/v2/"+fakeProject, "region-a"),
			v3Service("compute", base+"/compute/v2.1/"+fakeProject, "region-b"),
		}
	}
	c = f.newCloud(f.config("region = region-a\n"))
	if c.Name() != "cinder-v1" {
		t.Errorf("region-a: %s", c.Name())
	}
	c = f.newCloud(f.config("region = region-b\n"))
	if _, comp := c.Endpoints(); c.Name() != "cinder-v3" || !strings.HasSuffix(comp, "/compute/v2.1/"+fakeProject+"/") {
		t.Errorf("region-b: %s, compute %q", c.Name(), comp)
	}

	_, err := New(ctx, f.config("region = region-c\n"), WithoutZoneDiscovery())
	if err == nil || !strings.Contains(err.Error(), "volume-endpoint") || !strings.Contains(err.Error(), "block-storage/region-b/public") {
		t.Errorf("missing region: err = %v", err)
	}
	_, err = New(ctx, f.config("region = region-a\n[BlockStorage]\napi-version = 2\n"), WithoutZoneDiscovery())
	if err == nil || !strings.Contains(err.Error(), "v2") {
		t.Errorf("missing v2: err = %v", err)
	}

	// Explicit overrides win over the catalog.
	c = f.newCloud(f.config(fmt.Sprintf("region = region-c\n[BlockStorage]\nvolume-endpoint = %s/elsewhere/v2/p\ncompute-endpoint = %s/nova/v2.1/p\n", f.srv.URL, f.srv.URL)))
	if v, comp := c.Endpoints(); c.Name() != "cinder-v2" || v != f.srv.URL+"/elsewhere/v2/p/" || comp != f.srv.URL+"/nova/v2.1/p/" {
		t.Errorf("overrides: %s %q %q", c.Name(), v, comp)
	}
}

func TestNoComputeEndpoint(t *testing.T) {
	f := newFake(t)
	f.v3Catalog = func(base string) []map[string]any {
		return []map[string]any{v3Service("volumev3", base+"/volume/v3/p", "RegionOne")}
	}
	_, err := New(context.Background(), f.config(""), WithoutZoneDiscovery())
	if err == nil || !strings.Contains(err.Error(), "compute-endpoint") {
		t.Errorf("err = %v", err)
	}
}

func TestZoneDiscovery(t *testing.T) {
	f := newFake(t)
	f.handle("GET /volume/v3/"+fakeProject+"/os-availability-zone", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"availabilityZoneInfo": []any{
			map[string]any{"zoneName": "nova", "zoneState": map[string]any{"available": true}},
			map[string]any{"zoneName": "down", "zoneState": map[string]any{"available": false}},
		}})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := New(ctx, f.config(""), WithRetryPolicy(fastRetry))
	if err != nil {
		t.Fatal(err)
	}
	if z := c.Capabilities().Zones; len(z) != 1 || z[0] != "nova" {
		t.Errorf("zones = %v", z)
	}
	// Configured zones are not replaced.
	c, err = New(ctx, f.config("[BlockStorage]\nzones = a,b\n"), WithRetryPolicy(fastRetry))
	if err != nil {
		t.Fatal(err)
	}
	if z := c.Capabilities().Zones; len(z) != 2 || z[0] != "a" {
		t.Errorf("zones = %v", z)
	}
}

// Keystone down while a token is renewed is transient, not a credential
// problem.
func TestReauthenticationKeystoneDown(t *testing.T) {
	f := newFake(t)
	getVolumeHandler(f, "/volume/v3/"+fakeProject)
	c := f.newCloud(f.config(""))
	f.expireTokens()
	f.authDown = true
	_, err := c.GetVolume(context.Background(), volID)
	if !errors.Is(err, cloud.ErrUnavailable) || errors.Is(err, cloud.ErrUnauthorized) {
		t.Errorf("err = %v, want ErrUnavailable", err)
	}
	f.authDown = false
	if _, err := c.GetVolume(context.Background(), volID); err != nil {
		t.Errorf("after Keystone is back: %v", err)
	}
}
