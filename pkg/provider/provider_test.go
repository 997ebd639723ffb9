package provider

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/openstack"
	"github.com/openblock-csi/openblock-csi/pkg/cloudconfig"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/simtest"
)

// Wrong credentials fail New on every backend alike, so the
// controller exits at start on Cinder and Lunanode the same way; the
// error never carries the secret.
func TestWrongCredentialsFailAtStart(t *testing.T) {
	_, base := simtest.Start(t, cloudsim.Config{Profile: "generic"})
	const wrongPW = "wrong-Pw-7Hq2"
	wrongKey := strings.Repeat("Wk", 64)
	configs := map[string]string{
		"cinder":   simtest.CloudConfig{Password: wrongPW}.INI(base),
		"lunanode": simtest.CloudConfig{Lunanode: true, APIKey: wrongKey}.INI(base),
	}
	for name, ini := range configs {
		t.Run(name, func(t *testing.T) {
			cc, err := cloudconfig.Parse([]byte(ini))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err = New(ctx, cc, Options{UserAgent: "test"})
			if !errors.Is(err, cloud.ErrUnauthorized) {
				t.Fatalf("New with wrong credentials: %v, want ErrUnauthorized", err)
			}
			if strings.Contains(err.Error(), wrongPW) || strings.Contains(err.Error(), wrongKey) {
				t.Errorf("error carries the secret: %v", err)
			}
		})
	}
}

// The serial length is the provider's: Lunanode's adapter fills in virtio's
// 20 where the config sets none, OpenStack's keeps what [BlockStorage] says
// (the profile's 20, or 0 for all of the UUID).
func TestSerialLength(t *testing.T) {
	cases := map[string]int{
		"[Global]\nauth-url = http://keystone/v3\nusername = u\npassword = p\ntenant-name = t\n":                                                                     20,
		"[Global]\nauth-url = http://keystone/v3\nusername = u\npassword = p\ntenant-name = t\n[BlockStorage]\nserial-length = 0\n":                                  0,
		"[Global]\nauth-url = http://keystone/v3\nusername = u\npassword = p\ntenant-name = t\n[BlockStorage]\nserial-length = 16\n":                                 16,
		"[BlockStorage]\nbackend = lunanode\n[Lunanode]\napi-id = " + strings.Repeat("i", 16) + "\napi-key = " + strings.Repeat("k", 128) + "\n":                     20,
		"[BlockStorage]\nbackend = lunanode\n[Lunanode]\napi-id = " + strings.Repeat("i", 16) + "\napi-key = " + strings.Repeat("k", 128) + "\nserial-length = 0\n":  20,
		"[BlockStorage]\nbackend = lunanode\n[Lunanode]\napi-id = " + strings.Repeat("i", 16) + "\napi-key = " + strings.Repeat("k", 128) + "\nserial-length = 12\n": 12,
	}
	for ini, want := range cases {
		cc, err := cloudconfig.Parse([]byte(ini))
		if err != nil {
			t.Fatalf("%q: %v", ini, err)
		}
		if got := SerialLength(cc); got != want {
			t.Errorf("SerialLength of %q = %d, want %d", ini, got, want)
		}
	}
}

// The cloud config's validation and the adapter's endpoint discovery read
// an API version out of a URL by the same rule.
func TestVersionFromURLAgrees(t *testing.T) {
	for _, u := range []string{
		"https://cinder.example.com/v3/p", "https://x/volume/v2/abc", "https://x/v1.0/t", "https://x/v2.1",
		"https://x/volume", "https://x/v10/p", "https://x/av3/p", "http://[::1]:8776/v3/", "::bad", "",
	} {
		if a, b := cloudconfig.APIVersionOfURL(u), openstack.VersionFromURL(u); a != b {
			t.Errorf("%q: the config reads v%d, the adapter v%d", u, a, b)
		}
	}
}

// Every field of [Global] and [BlockStorage] reaches the adapter's Config.
func TestOpenStackConfigCarriesTheFile(t *testing.T) {
	cc, err := cloudconfig.Parse([]byte(`[Global]
auth-url = https://keystone.example.com/v3
username = u
password = "p#1"
tenant-name = t
user-domain-name = ud
project-domain-id = pd
region = r1
endpoint-type = internal
tls-insecure = true
[BlockStorage]
api-version = 3
volume-endpoint = https://cinder.example.com/v3/p
rate-limit = 5
zones = a,b
default-zone = b
attach-limit = 7
serial-length = 16
`))
	if err != nil {
		t.Fatal(err)
	}
	c := OpenStackConfig(cc)
	if c.AuthURL != "https://keystone.example.com/v3" || c.Username != "u" || c.Password != "p#1" || c.TenantName != "t" ||
		c.UserDomainName != "ud" || c.ProjectDomainID != "pd" || c.Region != "r1" || c.EndpointType != "internal" || !c.TLSInsecure {
		t.Errorf("[Global] translated to %+v", c)
	}
	if c.APIVersion != 3 || c.VolumeEndpoint != "https://cinder.example.com/v3/p" || c.RateLimit != 5 || c.RateBurst != 1 {
		t.Errorf("[BlockStorage] endpoints and rate translated to %+v", c)
	}
	caps := c.Capabilities
	if strings.Join(caps.Zones, ",") != "a,b" || caps.DefaultZone != "b" || caps.MaxVolumesPerNode != 7 || caps.SerialLength != 16 || !caps.Snapshots || !caps.Clone {
		t.Errorf("capabilities translated to %+v", caps)
	}
}
