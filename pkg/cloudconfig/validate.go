package cloudconfig

import (
	"slices"
)

// validate checks the cross-key rules of a parsed config.
func (p *parser) validate(c *Config) {
	b := &c.BlockStorage
	switch b.Backend {
	case BackendCinder:
		p.validateGlobal(&c.Global)
	case BackendLunanode:
		p.validateLunanode(&c.Lunanode)
	}
	if b.MinSizeGiB > 0 && b.MaxSizeGiB > 0 && b.MinSizeGiB > b.MaxSizeGiB {
		p.fail(secBlockStorage, "min-size", "%d is larger than max-size %d", b.MinSizeGiB, b.MaxSizeGiB)
	}
	if b.DefaultZone != "" && len(b.Zones) > 0 && !slices.Contains(b.Zones, b.DefaultZone) {
		p.fail(secBlockStorage, "default-zone", "%q is not one of zones %v", b.DefaultZone, b.Zones)
	}
	if b.Backend == BackendCinder && b.VolumeEndpoint != "" && b.APIVersion == 0 && APIVersionOfURL(b.VolumeEndpoint) == 0 {
		p.fail(secBlockStorage, "api-version", "must be 1, 2 or 3 when volume-endpoint %q has no /vN in its path", b.VolumeEndpoint)
	}
}

func (p *parser) validateGlobal(g *Global) {
	if g.AuthURL == "" {
		if g.Username != "" || g.UserID != "" || g.ApplicationCredentialID != "" || g.ApplicationCredentialName != "" {
			p.fail(secGlobal, "auth-url", "is required")
		} else {
			p.fail(secGlobal, "", "auth-url and credentials are required for backend cinder")
		}
		return
	}
	if err := checkURL(g.AuthURL); err != nil {
		p.fail(secGlobal, "auth-url", "%v", err)
	}
	appCred := g.ApplicationCredentialID != "" || g.ApplicationCredentialName != ""
	switch {
	case appCred:
		if g.ApplicationCredentialSecret == "" {
			p.fail(secGlobal, "application-credential-secret", "is required with application-credential-id or application-credential-name")
		}
		if g.ApplicationCredentialID == "" && g.Username == "" && g.UserID == "" {
			p.fail(secGlobal, "application-credential-name", "needs username or user-id to identify the credential's owner")
		}
	case g.ApplicationCredentialSecret != "":
		p.fail(secGlobal, "application-credential-secret", "is set but neither application-credential-id nor application-credential-name is")
	default:
		if g.Username == "" && g.UserID == "" {
			p.fail(secGlobal, "username", "username or user-id is required (or application-credential-id)")
		}
		if g.Password == "" {
			p.fail(secGlobal, "password", "is required with username/user-id")
		}
		if g.TenantID == "" && g.TenantName == "" {
			p.fail(secGlobal, "tenant-id", "tenant-id or tenant-name (project-id or project-name) is required with password authentication")
		}
	}
	if g.TLSInsecure && g.CAFile != "" {
		p.fail(secGlobal, "tls-insecure", "cannot be combined with ca-file")
	}
}

func (p *parser) validateLunanode(l *Lunanode) {
	if l.APIID == "" {
		p.fail(secLunanode, "api-id", "is required for backend lunanode")
	}
	if l.APIKey == "" {
		p.fail(secLunanode, "api-key", "is required for backend lunanode")
	}
	if len(l.Zones) == 0 {
		p.fail(secLunanode, "zones", "at least one region is required")
	}
	if l.DefaultZone != "" && len(l.Zones) > 0 && !slices.Contains(l.Zones, l.DefaultZone) {
		p.fail(secLunanode, "default-zone", "%q is not one of zones %v", l.DefaultZone, l.Zones)
	}
}
