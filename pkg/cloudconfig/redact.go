package cloudconfig

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/openblock-csi/openblock-csi/internal/endpointversion"
)

// Redacted returns a copy of c whose secrets (password,
// application-credential-secret, api-key) are replaced by "<redacted>",
// safe to log or show in full.
func (c *Config) Redacted() *Config {
	out := *c
	out.Global.Password = redact(c.Global.Password)
	out.Global.ApplicationCredentialSecret = redact(c.Global.ApplicationCredentialSecret)
	out.Lunanode.APIKey = redact(c.Lunanode.APIKey)
	out.BlockStorage.Zones = append([]string(nil), c.BlockStorage.Zones...)
	out.Lunanode.Zones = append([]string(nil), c.Lunanode.Zones...)
	return &out
}

func redact(s Secret) Secret {
	if s == "" {
		return ""
	}
	return redacted
}

// String renders the config as INI with the secrets redacted.
func (c *Config) String() string {
	r := c.Redacted()
	var b strings.Builder
	w := func(key, val string) {
		if val != "" {
			fmt.Fprintf(&b, "%s = %s\n", key, val)
		}
	}
	g := r.Global
	b.WriteString("[Global]\n")
	w("auth-url", g.AuthURL)
	w("username", g.Username)
	w("user-id", g.UserID)
	w("password", g.Password.String())
	w("tenant-id", g.TenantID)
	w("tenant-name", g.TenantName)
	w("domain-id", g.DomainID)
	w("domain-name", g.DomainName)
	w("user-domain-id", g.UserDomainID)
	w("user-domain-name", g.UserDomainName)
	w("tenant-domain-id", g.ProjectDomainID)
	w("tenant-domain-name", g.ProjectDomainName)
	w("region", g.Region)
	w("ca-file", g.CAFile)
	if g.TLSInsecure {
		w("tls-insecure", "true")
	}
	w("application-credential-id", g.ApplicationCredentialID)
	w("application-credential-name", g.ApplicationCredentialName)
	w("application-credential-secret", g.ApplicationCredentialSecret.String())
	w("endpoint-type", g.EndpointType)

	s := r.BlockStorage
	b.WriteString("\n[BlockStorage]\n")
	w("backend", s.Backend)
	w("profile", s.Profile)
	if s.APIVersion == 0 {
		w("api-version", "auto")
	} else {
		w("api-version", strconv.Itoa(s.APIVersion))
	}
	w("volume-endpoint", s.VolumeEndpoint)
	w("compute-endpoint", s.ComputeEndpoint)
	w("attach-limit", strconv.Itoa(s.AttachLimit))
	w("rate-limit", strconv.FormatFloat(s.RateLimit, 'g', -1, 64))
	w("rate-burst", strconv.Itoa(s.RateBurst))
	w("zones", strings.Join(s.Zones, ","))
	w("default-zone", s.DefaultZone)
	w("min-size", strconv.Itoa(s.MinSizeGiB))
	w("max-size", strconv.Itoa(s.MaxSizeGiB))
	w("expansion", s.Expansion.String())
	w("snapshot-attached", [...]string{"allowed", "force", "forbidden"}[s.SnapshotAttached])
	w("backups", strconv.FormatBool(s.Backups))
	w("serial-length", strconv.Itoa(s.SerialLength))

	if s.Backend == BackendLunanode {
		l := r.Lunanode
		b.WriteString("\n[Lunanode]\n")
		w("api-id", l.APIID)
		w("api-key", l.APIKey.String())
		w("api-url", l.APIURL)
		w("zones", strings.Join(l.Zones, ","))
		w("default-zone", l.DefaultZone)
		w("serial-length", strconv.Itoa(l.SerialLength))
	}
	return b.String()
}

// GoString keeps %#v from printing secrets.
func (c *Config) GoString() string { return c.String() }

// String renders [Global] without secrets.
func (g Global) String() string {
	c := Config{Global: g}
	s := c.String()
	return s[:strings.Index(s, "\n[BlockStorage]")]
}

// GoString keeps %#v from printing secrets.
func (g Global) GoString() string { return g.String() }

// String renders [Lunanode] without the api key.
func (l Lunanode) String() string {
	return fmt.Sprintf("api-id=%s api-key=%s api-url=%s zones=%s default-zone=%s serial-length=%d",
		l.APIID, l.APIKey.String(), l.APIURL, strings.Join(l.Zones, ","), l.DefaultZone, l.SerialLength)
}

// GoString keeps %#v from printing the api key.
func (l Lunanode) GoString() string { return l.String() }

// APIVersionOfURL returns N for a URL whose path holds /vN (0 if none):
// how an endpoint URL names its API version.
func APIVersionOfURL(s string) int { return endpointversion.Of(s) }
