package cloudconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const cloudsFile = `clouds:
  openstack:
    auth:
      auth_url: https://keystone.example.test:5000/v3
      username: alice
      password: "clouds-pass-#1"
      project_name: demo
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionTwo
    interface: internal
    verify: false
  appcred:
    auth_type: v3applicationcredential
    auth:
      auth_url: https://keystone.example.test:5000/v3
      application_credential_id: 4f3a
      application_credential_secret: app-secret-xyz
    region_name: RegionOne
    cacert: /etc/ssl/private-ca.pem
  tokened:
    auth_type: token
    auth:
      auth_url: https://keystone.example.test:5000/v3
      token: tok-should-never-show
`

func writeClouds(t *testing.T) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "clouds.yaml")
	if err := os.WriteFile(f, []byte(cloudsFile), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestCloudsYAMLPassword(t *testing.T) {
	f := writeClouds(t)
	c := mustParse(t, "[Global]\nuse-clouds = true\nclouds-file = "+f+"\n")
	g := c.Global
	if g.AuthURL != "https://keystone.example.test:5000/v3" || g.Username != "alice" || g.Password.Reveal() != "clouds-pass-#1" ||
		g.TenantName != "demo" || g.UserDomainName != "Default" || g.ProjectDomainName != "Default" {
		t.Errorf("credentials not read from clouds.yaml: %+v", g)
	}
	if g.Region != "RegionTwo" || g.EndpointType != EndpointInternal || !g.TLSInsecure {
		t.Errorf("region %q, endpoint type %q, tls-insecure %v; want RegionTwo, internal, true", g.Region, g.EndpointType, g.TLSInsecure)
	}
	if g.Source != `clouds.yaml `+f+`, cloud "openstack"` {
		t.Errorf("Source = %q", g.Source)
	}
	if strings.Contains(c.String(), "clouds-pass") {
		t.Error("the rendered config shows the clouds.yaml password")
	}
}

// A key set in [Global] keeps its value; clouds.yaml fills the rest.
func TestCloudsYAMLGlobalWins(t *testing.T) {
	f := writeClouds(t)
	c := mustParse(t, "[Global]\nuse-clouds = true\nclouds-file = "+f+"\nregion = RegionNine\nproject-name = other\n")
	if c.Global.Region != "RegionNine" || c.Global.TenantName != "other" || c.Global.Username != "alice" {
		t.Errorf("region %q, tenant %q, user %q; want RegionNine, other, alice", c.Global.Region, c.Global.TenantName, c.Global.Username)
	}
}

func TestCloudsYAMLApplicationCredential(t *testing.T) {
	f := writeClouds(t)
	c := mustParse(t, "[Global]\nuse-clouds = true\nclouds-file = "+f+"\ncloud = appcred\n")
	g := c.Global
	if g.ApplicationCredentialID != "4f3a" || g.ApplicationCredentialSecret.Reveal() != "app-secret-xyz" || g.CAFile != "/etc/ssl/private-ca.pem" {
		t.Errorf("application credential not read: %+v", g)
	}
	if g.Username != "" || g.Password != "" {
		t.Errorf("another cloud's password credentials leaked in: %+v", g)
	}
}

func TestCloudsYAMLErrors(t *testing.T) {
	f := writeClouds(t)
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("clouds:\n  x: [unclosed: secret-in-yaml\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, conf, want string }{
		{"unknown cloud", "use-clouds = true\nclouds-file = " + f + "\ncloud = nope\n", `has no cloud "nope" (it has: appcred, openstack, tokened)`},
		{"token auth", "use-clouds = true\nclouds-file = " + f + "\ncloud = tokened\n", `auth_type "token"`},
		{"missing file", "use-clouds = true\nclouds-file = /nonexistent/clouds.yaml\n", "no such file"},
		{"not yaml", "use-clouds = true\nclouds-file = " + bad + "\n", "not a clouds.yaml"},
		{"file without use-clouds", "clouds-file = " + f + "\nauth-url = https://k.test/v3\nusername = u\npassword = p\ntenant-name = t\n", "only with use-clouds = true"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte("[Global]\n" + tc.conf))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to say %q", err, tc.want)
			}
			for _, secret := range []string{"clouds-pass", "app-secret", "tok-should-never-show", "secret-in-yaml"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error shows a secret: %v", err)
				}
			}
		})
	}
}
