package cloudconfig

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// The example of the cinder-csi-plugin documentation, unchanged.
const cinderCSIExample = `[Global]
username = ArthurDent
password = ThisIsNotMyPassword
domain-name = default
auth-url = https://auth.cloud.openstackcluster.region-default.local/v3
tenant-id = c869168a828847f39f7f06edd7305637
region = RegionOne
`

func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	c, err := Parse([]byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

func TestCinderCSIExample(t *testing.T) {
	c := mustParse(t, cinderCSIExample)
	want := Global{
		AuthURL:      "https://auth.cloud.openstackcluster.region-default.local/v3",
		Username:     "ArthurDent",
		Password:     "ThisIsNotMyPassword",
		DomainName:   "default",
		TenantID:     "c869168a828847f39f7f06edd7305637",
		Region:       "RegionOne",
		EndpointType: EndpointPublic,
		Source:       "[Global]",
	}
	if !reflect.DeepEqual(c.Global, want) {
		t.Errorf("Global = %+v\nwant   %+v", c.Global, want)
	}
	// Without [BlockStorage]: cinder, generic profile defaults.
	b := c.BlockStorage
	if b.Backend != BackendCinder || b.Profile != ProfileGeneric || b.APIVersion != 0 {
		t.Errorf("backend/profile/api = %q/%q/%d", b.Backend, b.Profile, b.APIVersion)
	}
	if b.Expansion != cloud.ExpansionOnline || b.SnapshotAttached != cloud.SnapshotAttachedForce ||
		!b.Backups || b.SerialLength != 20 || b.RateLimit != 0 || b.AttachLimit != 0 || b.MinSizeGiB != 1 || b.MaxSizeGiB != 0 {
		t.Errorf("generic defaults wrong: %+v", b)
	}
}

func TestCinderCSIBlockStorageKeysAndOtherSections(t *testing.T) {
	c := mustParse(t, cinderCSIExample+`
[BlockStorage]
node-volume-attach-limit = 40
bs-version = v2
rescan-on-resize = true
ignore-volume-az = yes

[Metadata]
search-order = configDrive,metadataService
`)
	if c.BlockStorage.AttachLimit != 40 || c.BlockStorage.APIVersion != 2 {
		t.Errorf("attach-limit/api-version = %d/%d, want 40/2", c.BlockStorage.AttachLimit, c.BlockStorage.APIVersion)
	}
}

func TestAllGlobalKeysAndAliases(t *testing.T) {
	c := mustParse(t, `
[global]
Auth-URL = "https://keystone.example.com:5000/v2.0"
user-id = u1
username = bob
password = "pa#ss;w\"rd\\"   ; a comment
project-id = p1
project-name = demo
domain-id = d1
user-domain-name = Users
tenant-domain-id = pd1
region = kr1
ca-file = /etc/ssl/ca.pem
os-endpoint-type = internalURL
application-credential-name = ac
application-credential-secret = acs
trust-id =
some-future-key = whatever
`)
	g := c.Global
	if g.AuthURL != "https://keystone.example.com:5000/v2.0" || g.UserID != "u1" || g.Username != "bob" {
		t.Errorf("auth-url/user: %+v", g)
	}
	if got := g.Password.Reveal(); got != `pa#ss;w"rd\` {
		t.Errorf("quoted password = %q", got)
	}
	if g.TenantID != "p1" || g.TenantName != "demo" || g.DomainID != "d1" || g.UserDomainName != "Users" || g.ProjectDomainID != "pd1" {
		t.Errorf("project/domain keys: %+v", g)
	}
	if g.Region != "kr1" || g.CAFile != "/etc/ssl/ca.pem" || g.EndpointType != EndpointInternal {
		t.Errorf("region/ca/endpoint: %+v", g)
	}
	if g.ApplicationCredentialName != "ac" || g.ApplicationCredentialSecret.Reveal() != "acs" {
		t.Errorf("app cred: %+v", g)
	}
}

func TestUnquotedValueComments(t *testing.T) {
	for in, want := range map[string]string{
		`abc`:              "abc",
		`abc # note`:       "abc",
		"abc\t; note":      "abc",
		`a#b;c`:            "a#b;c",
		`# only a comment`: "",
		`"x y" # c`:        "x y",
		`"tab\there"`:      "tab\there",
	} {
		got, err := decodeValue(in)
		if err != nil || got != want {
			t.Errorf("decodeValue(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestProfiles(t *testing.T) {
	h := mustParse(t, cinderCSIExample+"[BlockStorage]\nprofile = helion\n").BlockStorage
	wantH := BlockStorage{
		Backend: BackendCinder, Profile: ProfileHelion, APIVersion: 1, AttachLimit: 25,
		RateLimit: 1, RateBurst: 1, Zones: []string{"az1", "az2", "az3"}, DefaultZone: "az2",
		MinSizeGiB: 1, MaxSizeGiB: 2047, Expansion: cloud.ExpansionNone,
		SnapshotAttached: cloud.SnapshotAttachedForbidden, Backups: true, SerialLength: 20,
	}
	if !reflect.DeepEqual(h, wantH) {
		t.Errorf("helion = %+v\nwant     %+v", h, wantH)
	}
	caps := h.Capabilities()
	if caps.MaxVolumesPerNode != 25 || caps.Expansion != cloud.ExpansionNone || caps.DefaultZone != "az2" ||
		caps.SnapshotAttached != cloud.SnapshotAttachedForbidden || caps.MaxSizeGiB != 2047 || !caps.Backups {
		t.Errorf("helion capabilities = %+v", caps)
	}

	n := mustParse(t, cinderCSIExample+"[BlockStorage]\nprofile = NHN\n").BlockStorage
	if n.APIVersion != 2 || n.Expansion != cloud.ExpansionOnline || n.SnapshotAttached != cloud.SnapshotAttachedForce || n.RateLimit != 0 {
		t.Errorf("nhn = %+v", n)
	}
	// NHN Cloud publishes no backup API (seeds 000, 002).
	if n.Backups || n.Capabilities().Backups {
		t.Errorf("nhn offers backups: %+v", n)
	}

	// Explicit keys override the profile, whatever their order.
	o := mustParse(t, cinderCSIExample+`[BlockStorage]
rate-limit = 2.5
expansion = offline
zones = z1, z2
default-zone = z2
profile = helion
snapshot-attached = allowed
backups = false
serial-length = 0
attach-limit = 10
api-version = 3
min-size = 10
max-size = 100
volume-endpoint = http://cinder.local:8776/v3/demo
compute-endpoint = http://nova.local:8774/v2.1/demo
`).BlockStorage
	if o.RateLimit != 2.5 || o.RateBurst != 1 || o.Expansion != cloud.ExpansionOffline ||
		!reflect.DeepEqual(o.Zones, []string{"z1", "z2"}) || o.DefaultZone != "z2" ||
		o.SnapshotAttached != cloud.SnapshotAttachedAllowed || o.Backups || o.SerialLength != 0 ||
		o.AttachLimit != 10 || o.APIVersion != 3 || o.MinSizeGiB != 10 || o.MaxSizeGiB != 100 ||
		o.VolumeEndpoint != "http://cinder.local:8776/v3/demo" || o.ComputeEndpoint != "http://nova.local:8774/v2.1/demo" {
		t.Errorf("overrides = %+v", o)
	}
	// Emptying zones drops the profile's default zone.
	e := mustParse(t, cinderCSIExample+"[BlockStorage]\nprofile=helion\nzones=\n").BlockStorage
	if len(e.Zones) != 0 || e.DefaultZone != "" {
		t.Errorf("empty zones: %+v", e)
	}
}

func TestApplicationCredentialByID(t *testing.T) {
	c := mustParse(t, `[Global]
auth-url = https://keystone/v3
application-credential-id = abc
application-credential-secret = xyz
`)
	if c.Global.ApplicationCredentialID != "abc" || c.Global.TenantID != "" {
		t.Errorf("%+v", c.Global)
	}
}

func TestLunanode(t *testing.T) {
	c := mustParse(t, `[BlockStorage]
backend = lunanode
[Lunanode]
api-id = id1
api-key = "k3y"
`)
	l := c.Lunanode
	if l.APIID != "id1" || l.APIKey.Reveal() != "k3y" || l.APIURL != DefaultLunanodeAPIURL ||
		!reflect.DeepEqual(l.Zones, []string{"toronto", "montreal", "roubaix"}) || l.DefaultZone != "toronto" || l.SerialLength != 20 {
		t.Errorf("lunanode defaults: %+v", l)
	}
	c = mustParse(t, `[BlockStorage]
backend = lunanode
[Lunanode]
api-id = id1
api-key = k
api-url = http://127.0.0.1:9/lunanode/api
zones = roubaix,montreal
serial-length = 12
`)
	if c.Lunanode.DefaultZone != "roubaix" || c.Lunanode.APIURL != "http://127.0.0.1:9/lunanode/api" || c.Lunanode.SerialLength != 12 {
		t.Errorf("lunanode: %+v", c.Lunanode)
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name, src string
		// section and key the error must name
		section, key string
	}{
		{"bad ini", "[Global\nx=1", "", ""},
		{"key outside section", "x = 1\n" + cinderCSIExample, "DEFAULT", "x"},
		{"no credentials at all", "[Global]\nregion = r\n", "Global", ""},
		{"auth-url missing", "[Global]\nusername=a\npassword=b\ntenant-id=c\n", "Global", "auth-url"},
		{"auth-url not a URL", strings.Replace(cinderCSIExample, "https://auth.cloud.openstackcluster.region-default.local/v3", "keystone:5000", 1), "Global", "auth-url"},
		{"no password", "[Global]\nauth-url=http://k/v3\nusername=a\ntenant-id=c\n", "Global", "password"},
		{"no user", "[Global]\nauth-url=http://k/v3\npassword=a\ntenant-id=c\n", "Global", "username"},
		{"no project", "[Global]\nauth-url=http://k/v3\nusername=a\npassword=b\n", "Global", "tenant-id"},
		{"app cred without secret", "[Global]\nauth-url=http://k/v3\napplication-credential-id=a\n", "Global", "application-credential-secret"},
		{"app cred name without user", "[Global]\nauth-url=http://k/v3\napplication-credential-name=a\napplication-credential-secret=s\n", "Global", "application-credential-name"},
		{"secret alone", cinderCSIExample + "application-credential-secret=s\n", "Global", "application-credential-secret"},
		{"tenant-id vs project-id", cinderCSIExample + "project-id = other\n", "Global", "project-id"},
		{"endpoint-type", cinderCSIExample + "endpoint-type = private\n", "Global", "endpoint-type"},
		{"tls-insecure", cinderCSIExample + "tls-insecure = maybe\n", "Global", "tls-insecure"},
		{"tls-insecure with ca-file", cinderCSIExample + "tls-insecure = true\nca-file=/x\n", "Global", "tls-insecure"},
		{"trust-id unsupported", cinderCSIExample + "trust-id = t\n", "Global", "trust-id"},
		{"unterminated quote", cinderCSIExample + "password = \"abc\n", "Global", "password"},
		{"text after quote", cinderCSIExample + "password = \"abc\"def\n", "Global", "password"},
		{"bad escape", cinderCSIExample + "password = \"a\\qb\"\n", "Global", "password"},
		{"backend", cinderCSIExample + "[BlockStorage]\nbackend = ebs\n", "BlockStorage", "backend"},
		{"profile", cinderCSIExample + "[BlockStorage]\nprofile = aws\n", "BlockStorage", "profile"},
		{"api-version", cinderCSIExample + "[BlockStorage]\napi-version = 4\n", "BlockStorage", "api-version"},
		{"volume-endpoint", cinderCSIExample + "[BlockStorage]\nvolume-endpoint = ftp://x\n", "BlockStorage", "volume-endpoint"},
		{"compute-endpoint", cinderCSIExample + "[BlockStorage]\ncompute-endpoint = /v2.1\n", "BlockStorage", "compute-endpoint"},
		{"volume-endpoint without version", cinderCSIExample + "[BlockStorage]\nvolume-endpoint = http://cinder:8776/\n", "BlockStorage", "api-version"},
		{"attach-limit", cinderCSIExample + "[BlockStorage]\nattach-limit = -1\n", "BlockStorage", "attach-limit"},
		{"rate-limit", cinderCSIExample + "[BlockStorage]\nrate-limit = fast\n", "BlockStorage", "rate-limit"},
		{"rate-limit negative", cinderCSIExample + "[BlockStorage]\nrate-limit = -1\n", "BlockStorage", "rate-limit"},
		{"rate-burst", cinderCSIExample + "[BlockStorage]\nrate-burst = 1.5\n", "BlockStorage", "rate-burst"},
		{"min-size", cinderCSIExample + "[BlockStorage]\nmin-size = x\n", "BlockStorage", "min-size"},
		{"max-size", cinderCSIExample + "[BlockStorage]\nmax-size = -3\n", "BlockStorage", "max-size"},
		{"min > max", cinderCSIExample + "[BlockStorage]\nmin-size = 10\nmax-size = 5\n", "BlockStorage", "min-size"},
		{"expansion", cinderCSIExample + "[BlockStorage]\nexpansion = sometimes\n", "BlockStorage", "expansion"},
		{"snapshot-attached", cinderCSIExample + "[BlockStorage]\nsnapshot-attached = maybe\n", "BlockStorage", "snapshot-attached"},
		{"backups", cinderCSIExample + "[BlockStorage]\nbackups = perhaps\n", "BlockStorage", "backups"},
		{"serial-length", cinderCSIExample + "[BlockStorage]\nserial-length = twenty\n", "BlockStorage", "serial-length"},
		{"default-zone not in zones", cinderCSIExample + "[BlockStorage]\nzones = a,b\ndefault-zone = c\n", "BlockStorage", "default-zone"},
		{"unknown BlockStorage key", cinderCSIExample + "[BlockStorage]\nattach_limit = 3\n", "BlockStorage", "attach_limit"},
		{"lunanode no id", "[BlockStorage]\nbackend=lunanode\n[Lunanode]\napi-key=k\n", "Lunanode", "api-id"},
		{"lunanode no key", "[BlockStorage]\nbackend=lunanode\n[Lunanode]\napi-id=i\n", "Lunanode", "api-key"},
		{"lunanode url", "[BlockStorage]\nbackend=lunanode\n[Lunanode]\napi-id=i\napi-key=k\napi-url=nope\n", "Lunanode", "api-url"},
		{"lunanode zones empty", "[BlockStorage]\nbackend=lunanode\n[Lunanode]\napi-id=i\napi-key=k\nzones=\n", "Lunanode", "zones"},
		{"lunanode default-zone", "[BlockStorage]\nbackend=lunanode\n[Lunanode]\napi-id=i\napi-key=k\ndefault-zone=paris\n", "Lunanode", "default-zone"},
		{"lunanode serial-length", "[BlockStorage]\nbackend=lunanode\n[Lunanode]\napi-id=i\napi-key=k\nserial-length=-1\n", "Lunanode", "serial-length"},
		{"lunanode unknown key", "[BlockStorage]\nbackend=lunanode\n[Lunanode]\napi-id=i\napi-key=k\napi_secret=x\n", "Lunanode", "api_secret"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.src))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", c)
			}
			if tc.section == "" {
				return
			}
			var ke *KeyError
			if !errors.As(err, &ke) {
				t.Fatalf("error %v is not a *KeyError", err)
			}
			found := false
			for _, e := range flatten(err) {
				if errors.As(e, &ke) && ke.Section == tc.section && ke.Key == tc.key {
					found = true
				}
			}
			if !found {
				t.Errorf("error %q does not name [%s] %s", err, tc.section, tc.key)
			}
			if want := fmt.Sprintf("[%s]", tc.section); !strings.Contains(err.Error(), want) {
				t.Errorf("message %q lacks %s", err, want)
			}
		})
	}
}

func TestErrorsAreCollected(t *testing.T) {
	_, err := Parse([]byte(cinderCSIExample + "[BlockStorage]\nexpansion = x\nbackups = y\n"))
	if n := len(flatten(err)); n != 2 {
		t.Errorf("got %d errors (%v), want 2", n, err)
	}
}

func TestErrorsNeverHoldSecrets(t *testing.T) {
	_, err := Parse([]byte(cinderCSIExample + "password = \"SuperSecret\\q\"\n"))
	if err == nil || strings.Contains(err.Error(), "SuperSecret") {
		t.Errorf("err = %v", err)
	}
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestRedaction(t *testing.T) {
	c := mustParse(t, `[Global]
auth-url = https://k/v3
username = u
password = hunter2-pw
tenant-name = t
application-credential-name = n
application-credential-secret = appsecret-xyz
[BlockStorage]
backend = lunanode
[Lunanode]
api-id = i
api-key = apikey-123
`)
	secrets := []string{"hunter2-pw", "appsecret-xyz", "apikey-123"}
	outputs := map[string]string{
		"String":         c.String(),
		"%v":             fmt.Sprintf("%v", c),
		"%+v":            fmt.Sprintf("%+v", c),
		"%#v":            fmt.Sprintf("%#v", c),
		"%v value":       fmt.Sprintf("%v", *c),
		"%+v value":      fmt.Sprintf("%+v", *c),
		"%#v value":      fmt.Sprintf("%#v", *c),
		"Global %+v":     fmt.Sprintf("%+v", c.Global),
		"Global %#v":     fmt.Sprintf("%#v", c.Global),
		"Lunanode %+v":   fmt.Sprintf("%+v", c.Lunanode),
		"Lunanode %#v":   fmt.Sprintf("%#v", c.Lunanode),
		"password %s":    fmt.Sprintf("%s", c.Global.Password),
		"Redacted %#v":   fmt.Sprintf("%#v", *c.Redacted()),
		"Redacted field": c.Redacted().Global.Password.Reveal() + c.Redacted().Lunanode.APIKey.Reveal(),
	}
	js, _ := json.Marshal(c)
	outputs["json"] = string(js)
	for name, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s leaks %q: %s", name, s, out)
			}
		}
	}
	if !strings.Contains(c.String(), "password = <redacted>") || !strings.Contains(c.String(), "api-key = <redacted>") {
		t.Errorf("String does not show redacted placeholders:\n%s", c.String())
	}
	if !strings.Contains(c.String(), "username = u") {
		t.Errorf("String lost non-secret fields:\n%s", c.String())
	}
	// Redacted is a copy: the original still works.
	if c.Global.Password.Reveal() != "hunter2-pw" {
		t.Errorf("Redacted modified the original")
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "cloud.conf")
	if err := os.WriteFile(p, []byte(cinderCSIExample), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	if err != nil || c.Global.Username != "ArthurDent" {
		t.Fatalf("Load = %+v, %v", c, err)
	}
	if _, err := Load(filepath.Join(dir, "missing.conf")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v", err)
	}
	bad := filepath.Join(dir, "bad.conf")
	os.WriteFile(bad, []byte("[BlockStorage]\nexpansion=x\n"), 0o600)
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("Load(bad) = %v, want an error naming the file", err)
	}
}

func TestVersionFromURL(t *testing.T) {
	for u, want := range map[string]int{
		"http://h/v3/demo":        3,
		"http://h/volume/v2/demo": 2,
		"http://h:8776/v1/123":    1,
		"http://h/v2.1/demo":      2,
		"http://v2.example.com/":  0,
		"http://h/volume/":        0,
		"http://h/volume/v3":      3,
		"http://h/vault/demo":     0,
	} {
		if got := APIVersionOfURL(u); got != want {
			t.Errorf("APIVersionOfURL(%q) = %d, want %d", u, got, want)
		}
	}
}

func TestZoneMapAndIgnoreVolumeAZ(t *testing.T) {
	c := mustParse(t, cinderCSIExample+"\n[BlockStorage]\nzone-map = nova-a:nova, nova-b : nova\nignore-volume-az = true\n")
	if c.BlockStorage.ZoneMap["nova-a"] != "nova" || c.BlockStorage.ZoneMap["nova-b"] != "nova" || len(c.BlockStorage.ZoneMap) != 2 {
		t.Errorf("zone map %v", c.BlockStorage.ZoneMap)
	}
	if !c.BlockStorage.IgnoreVolumeAZ {
		t.Error("ignore-volume-az not read")
	}
	for _, bad := range []string{"nova-a", "nova-a:", ":nova", "nova-a:nova,nova-a:other"} {
		if _, err := Parse([]byte(cinderCSIExample + "\n[BlockStorage]\nzone-map = " + bad + "\n")); err == nil {
			t.Errorf("zone-map = %s accepted", bad)
		}
	}
}
