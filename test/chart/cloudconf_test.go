package chart

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/openblock-csi/openblock-csi/pkg/cloudconfig"
)

// renderedCloudConf returns the cloud config the chart puts in its Secret.
func renderedCloudConf(t *testing.T, objs []object) string {
	t.Helper()
	sec := find(t, objs, "Secret", "openblock-csi-cloud-config")
	conf, ok := get(sec, "stringData", "cloud.conf").(string)
	if !ok || conf == "" {
		t.Fatalf("Secret has no stringData cloud.conf: %v", sec["stringData"])
	}
	return conf
}

// TestCloudConfigParsesInDriver feeds the cloud.conf each example renders
// to the driver's own parser: what the chart writes, the driver accepts.
func TestCloudConfigParsesInDriver(t *testing.T) {
	t.Parallel()
	cases := []struct {
		set              valueSet
		backend, profile string
		check            func(t *testing.T, c *cloudconfig.Config)
	}{
		{valueSets[1], "cinder", "nhn", func(t *testing.T, c *cloudconfig.Config) {
			if c.Global.AuthURL != "https://api-identity-infrastructure.nhncloudservice.com/v2.0" || c.Global.TenantID == "" || c.Global.Region != "KR1" {
				t.Errorf("[Global] = %+v", c.Global)
			}
			if c.BlockStorage.APIVersion != 2 {
				t.Errorf("NHN Cloud is Cinder v2, got api version %d", c.BlockStorage.APIVersion)
			}
		}},
		{valueSets[2], "cinder", "nhn", func(t *testing.T, c *cloudconfig.Config) {
			if c.Global.Region != "KR2" {
				t.Errorf("region = %q", c.Global.Region)
			}
		}},
		{valueSets[3], "cinder", "helion", func(t *testing.T, c *cloudconfig.Config) {
			if c.BlockStorage.APIVersion != 1 || c.BlockStorage.DefaultZone != "az2" || c.BlockStorage.RateLimit != 1 {
				t.Errorf("helion profile defaults lost: %+v", c.BlockStorage)
			}
			if c.Global.DomainName != "Default" || c.Global.TenantName != "demo-project" {
				t.Errorf("[Global] = %+v", c.Global)
			}
		}},
		{valueSets[4], "lunanode", "generic", func(t *testing.T, c *cloudconfig.Config) {
			if c.Lunanode.APIID != "0123456789abcdef" || c.Lunanode.APIKey.Reveal() != "change-me" {
				t.Errorf("[Lunanode] api-id/api-key not carried over")
			}
			if len(c.Lunanode.Zones) != 1 || c.Lunanode.Zones[0] != "toronto" || c.Lunanode.DefaultZone != "toronto" {
				t.Errorf("[Lunanode] zones = %v default %q", c.Lunanode.Zones, c.Lunanode.DefaultZone)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.set.name, func(t *testing.T) {
			t.Parallel()
			conf := renderedCloudConf(t, parseObjects(t, render(t, tc.set.args(t)...)))
			cfg, err := cloudconfig.Parse([]byte(conf))
			if err != nil {
				t.Fatalf("the driver rejects the rendered cloud.conf: %v", err)
			}
			if cfg.BlockStorage.Backend != tc.backend || cfg.BlockStorage.Profile != tc.profile {
				t.Errorf("backend/profile = %s/%s, want %s/%s", cfg.BlockStorage.Backend, cfg.BlockStorage.Profile, tc.backend, tc.profile)
			}
			tc.check(t, cfg)
		})
	}
}

// TestCloudConfigQuoting: passwords with INI-special characters reach the
// driver unchanged, and every setting the values model lands in the file.
func TestCloudConfigQuoting(t *testing.T) {
	t.Parallel()
	const password = `p"a\ss #1; = x`
	values := `cloudConfig:
  existingSecret: ""
  caCert: |
    -----BEGIN CERTIFICATE-----
    MIIBfake
    -----END CERTIFICATE-----
  global:
    authURL: https://keystone.example.com:5000/v3
    username: demo
    password: 'p"a\ss #1; = x'
    tenantName: demo
    domainName: Default
    region: RegionOne
  blockStorage:
    profile: generic
    apiVersion: 3
    rateLimit: 2.5
    attachLimit: 40
    zones: [nova, az-b]
    defaultZone: az-b
`
	path := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(path, []byte(values), 0o600); err != nil {
		t.Fatal(err)
	}
	objs := parseObjects(t, render(t, "-f", path))
	conf := renderedCloudConf(t, objs)
	cfg, err := cloudconfig.Parse([]byte(conf))
	if err != nil {
		t.Fatalf("driver rejects rendered config: %v", err)
	}
	if got := cfg.Global.Password.Reveal(); got != password {
		t.Errorf("password arrives as %q, want %q", got, password)
	}
	bs := cfg.BlockStorage
	if bs.APIVersion != 3 || bs.RateLimit != 2.5 || bs.AttachLimit != 40 || bs.DefaultZone != "az-b" || len(bs.Zones) != 2 {
		t.Errorf("[BlockStorage] = %+v", bs)
	}
	if cfg.Global.CAFile != "/etc/openblock/ca.crt" {
		t.Errorf("ca-file = %q, want the mounted ca.crt", cfg.Global.CAFile)
	}
	sec := find(t, objs, "Secret", "openblock-csi-cloud-config")
	if ca := str(get(sec, "stringData", "ca.crt")); ca == "" {
		t.Error("caCert not stored as ca.crt")
	}
}

// TestCloudConfigChecksum: changing the rendered cloud config changes the
// pods' checksum annotation, so a `helm upgrade` restarts them.
func TestCloudConfigChecksum(t *testing.T) {
	t.Parallel()
	sum := func(extra ...string) (string, string) {
		objs := parseObjects(t, render(t, append(valueSets[1].args(t), extra...)...))
		c := get(find(t, objs, "Deployment", "openblock-csi-controller"), "spec", "template", "metadata", "annotations", "checksum/cloud-config")
		n := get(find(t, objs, "DaemonSet", "openblock-csi-node"), "spec", "template", "metadata", "annotations", "checksum/cloud-config")
		return str(c), str(n)
	}
	c1, n1 := sum()
	c2, n2 := sum("--set", "cloudConfig.global.password=another")
	if c1 == "" || n1 == "" {
		t.Fatal("no checksum annotation on the pods")
	}
	if c1 == c2 || n1 == n2 {
		t.Error("checksum did not change with the cloud config")
	}
	if c1 != n1 {
		t.Error("controller and node disagree on the config checksum")
	}
}
