package cloudconfig

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// OpenStack users keep credentials in clouds.yaml (os-client-config's
// format, read by the openstack CLI and by cinder-csi-plugin with
// use-clouds). With [Global] use-clouds = true the driver reads the named
// cloud from it; keys also set in [Global] keep their [Global] value.

// cloudsYAML is the part of clouds.yaml the driver uses.
type cloudsYAML struct {
	Clouds map[string]cloudsEntry `yaml:"clouds"`
}

type cloudsEntry struct {
	AuthType   string     `yaml:"auth_type"`
	Auth       cloudsAuth `yaml:"auth"`
	RegionName string     `yaml:"region_name"`
	Interface  string     `yaml:"interface"`
	Verify     *bool      `yaml:"verify"`
	CACert     string     `yaml:"cacert"`
}

type cloudsAuth struct {
	AuthURL                     string `yaml:"auth_url"`
	Username                    string `yaml:"username"`
	UserID                      string `yaml:"user_id"`
	Password                    string `yaml:"password"`
	ProjectID                   string `yaml:"project_id"`
	ProjectName                 string `yaml:"project_name"`
	TenantID                    string `yaml:"tenant_id"`
	TenantName                  string `yaml:"tenant_name"`
	DomainID                    string `yaml:"domain_id"`
	DomainName                  string `yaml:"domain_name"`
	UserDomainID                string `yaml:"user_domain_id"`
	UserDomainName              string `yaml:"user_domain_name"`
	ProjectDomainID             string `yaml:"project_domain_id"`
	ProjectDomainName           string `yaml:"project_domain_name"`
	ApplicationCredentialID     string `yaml:"application_credential_id"`
	ApplicationCredentialName   string `yaml:"application_credential_name"`
	ApplicationCredentialSecret string `yaml:"application_credential_secret"`
}

// DefaultCloudName is the cloud read when [Global] names none, as the
// openstack CLI does with OS_CLOUD unset.
const DefaultCloudName = "openstack"

// cloudsSearchPath is where os-client-config looks for clouds.yaml.
func cloudsSearchPath() []string {
	var out []string
	if f := os.Getenv("OS_CLIENT_CONFIG_FILE"); f != "" {
		out = append(out, f)
	}
	out = append(out, "clouds.yaml")
	if home, err := os.UserHomeDir(); err == nil {
		out = append(out, filepath.Join(home, ".config", "openstack", "clouds.yaml"))
	}
	return append(out, "/etc/openstack/clouds.yaml")
}

// cloudsSettings are [Global]'s use-clouds, clouds-file and cloud.
type cloudsSettings struct {
	use        bool
	file, name string
	// set lists the canonical [Global] keys given in the file, which
	// clouds.yaml does not override.
	set map[string]bool
}

// applyClouds fills g from the named cloud of clouds.yaml.
func (p *parser) applyClouds(cs cloudsSettings, g *Global) {
	file := cs.file
	if file == "" {
		for _, f := range cloudsSearchPath() {
			if _, err := os.Stat(f); err == nil {
				file = f
				break
			}
		}
		if file == "" {
			p.fail(secGlobal, "use-clouds", "no clouds.yaml found (looked in %s); set clouds-file", strings.Join(cloudsSearchPath(), ", "))
			return
		}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		p.fail(secGlobal, "clouds-file", "%v", err)
		return
	}
	var cy cloudsYAML
	if err := yaml.Unmarshal(data, &cy); err != nil {
		// yaml's messages quote line numbers, not values.
		p.fail(secGlobal, "clouds-file", "%s: not a clouds.yaml: %s", file, yamlErrorText(err))
		return
	}
	name := cs.name
	if name == "" {
		name = DefaultCloudName
	}
	c, ok := cy.Clouds[name]
	if !ok {
		names := make([]string, 0, len(cy.Clouds))
		for n := range cy.Clouds {
			names = append(names, n)
		}
		sort.Strings(names)
		p.fail(secGlobal, "cloud", "%s has no cloud %q (it has: %s)", file, name, strings.Join(names, ", "))
		return
	}
	switch strings.ToLower(c.AuthType) {
	case "", "password", "v2password", "v3password", "v3applicationcredential":
	default:
		p.fail(secGlobal, "cloud", "%s: cloud %q uses auth_type %q; this driver supports password and v3applicationcredential", file, name, c.AuthType)
		return
	}
	fill := func(key string, dst *string, v string) {
		if !cs.set[key] && v != "" {
			*dst = v
		}
	}
	a := c.Auth
	fill("auth-url", &g.AuthURL, a.AuthURL)
	fill("username", &g.Username, a.Username)
	fill("user-id", &g.UserID, a.UserID)
	fill("tenant-id", &g.TenantID, firstNonEmpty(a.ProjectID, a.TenantID))
	fill("tenant-name", &g.TenantName, firstNonEmpty(a.ProjectName, a.TenantName))
	fill("domain-id", &g.DomainID, a.DomainID)
	fill("domain-name", &g.DomainName, a.DomainName)
	fill("user-domain-id", &g.UserDomainID, a.UserDomainID)
	fill("user-domain-name", &g.UserDomainName, a.UserDomainName)
	fill("tenant-domain-id", &g.ProjectDomainID, a.ProjectDomainID)
	fill("tenant-domain-name", &g.ProjectDomainName, a.ProjectDomainName)
	fill("application-credential-id", &g.ApplicationCredentialID, a.ApplicationCredentialID)
	fill("application-credential-name", &g.ApplicationCredentialName, a.ApplicationCredentialName)
	fill("region", &g.Region, c.RegionName)
	fill("ca-file", &g.CAFile, c.CACert)
	if !cs.set["password"] && a.Password != "" {
		g.Password = Secret(a.Password)
	}
	if !cs.set["application-credential-secret"] && a.ApplicationCredentialSecret != "" {
		g.ApplicationCredentialSecret = Secret(a.ApplicationCredentialSecret)
	}
	if !cs.set["tls-insecure"] && c.Verify != nil {
		g.TLSInsecure = !*c.Verify
	}
	if !cs.set["endpoint-type"] && c.Interface != "" {
		switch strings.ToLower(c.Interface) {
		case "public", "internal", "admin":
			g.EndpointType = strings.ToLower(c.Interface)
		default:
			p.fail(secGlobal, "cloud", "%s: cloud %q has interface %q, not public, internal or admin", file, name, c.Interface)
		}
	}
	g.Source = fmt.Sprintf("clouds.yaml %s, cloud %q", file, name)
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// yamlErrorText keeps yaml's "line N: ..." reasons without echoing the
// document's content.
func yamlErrorText(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "line "); i >= 0 {
		msg = msg[i:]
	}
	if j := strings.Index(msg, "`"); j >= 0 {
		msg = strings.TrimSpace(msg[:j]) + " (value not shown)"
	}
	return msg
}
