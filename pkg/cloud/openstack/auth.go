package openstack

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/gophercloud/gophercloud/v2"
	gopenstack "github.com/gophercloud/gophercloud/v2/openstack"
	tokens3 "github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
	"github.com/gophercloud/gophercloud/v2/openstack/utils"

	"github.com/openblock-csi/openblock-csi/pkg/cloud/httppool"
)

// baseTransport is the plain HTTP transport with the config's TLS settings.
func baseTransport(g Config) (http.RoundTripper, error) {
	tr := httppool.NewTransport()
	if g.CAFile == "" && !g.TLSInsecure {
		return tr, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if g.CAFile != "" {
		pem, err := os.ReadFile(g.CAFile)
		if err != nil {
			return nil, fmt.Errorf("[Global] ca-file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("[Global] ca-file %s: no PEM certificate found", g.CAFile)
		}
		tc.RootCAs = pool
	}
	tc.InsecureSkipVerify = g.TLSInsecure //nolint:gosec // the operator asked for it (tls-insecure)
	tr.TLSClientConfig = tc
	return tr, nil
}

// authenticate gets a token and sets up re-authentication on 401. The
// Keystone version comes from the auth URL (/v2.0 or /v3), else from the
// identity service's version document.
func authenticate(ctx context.Context, pc *gophercloud.ProviderClient, g Config) error {
	v, _, err := utils.ChooseVersion(ctx, pc, []*utils.Version{
		{ID: "v2.0", Priority: 20, Suffix: "/v2.0/"},
		{ID: "v3", Priority: 30, Suffix: "/v3/"},
	})
	if err != nil {
		return fmt.Errorf("find the Keystone version at %s: %w", g.AuthURL, err)
	}
	if v.ID == "v2.0" {
		return authV2(ctx, pc, g)
	}
	return authV3(ctx, pc, g)
}

// authV2 is Keystone v2.0 password auth with tenantId or tenantName, the
// way NHN Cloud issues tokens (POST /v2.0/tokens).
func authV2(ctx context.Context, pc *gophercloud.ProviderClient, g Config) error {
	if g.ApplicationCredentialID != "" || g.ApplicationCredentialName != "" {
		return errors.New("application credentials need Keystone v3; auth-url points at v2.0")
	}
	if g.Username == "" {
		return errors.New("Keystone v2.0 needs username (user-id is v3 only)")
	}
	opts := gophercloud.AuthOptions{
		IdentityEndpoint: g.AuthURL,
		Username:         g.Username,
		Password:         g.Password,
		TenantID:         g.TenantID,
		TenantName:       g.TenantName,
		AllowReauth:      true,
	}
	return gopenstack.AuthenticateV2(ctx, pc, opts, gophercloud.EndpointOpts{})
}

// authV3 is Keystone v3: password with user and project domains, or an
// application credential (by id, or by name with its user).
func authV3(ctx context.Context, pc *gophercloud.ProviderClient, g Config) error {
	opts := &tokens3.AuthOptions{
		IdentityEndpoint:            g.AuthURL,
		Password:                    g.Password,
		ApplicationCredentialID:     g.ApplicationCredentialID,
		ApplicationCredentialName:   g.ApplicationCredentialName,
		ApplicationCredentialSecret: g.ApplicationCredentialSecret,
		AllowReauth:                 true,
	}
	appCred := g.ApplicationCredentialID != "" || g.ApplicationCredentialName != ""
	if appCred {
		opts.Password = ""
	}
	// A user is named by id, or by name within a domain.
	switch {
	case appCred && g.ApplicationCredentialID != "":
		// The id alone identifies the credential and its user.
	case g.UserID != "":
		opts.UserID = g.UserID
	default:
		opts.Username = g.Username
		opts.DomainID, opts.DomainName = oneOf(first(g.UserDomainID, g.DomainID), first(g.UserDomainName, g.DomainName))
	}
	if !appCred {
		// Application credentials carry their project; a password token is
		// scoped to the project, by id alone or by name within its domain.
		if g.TenantID != "" {
			opts.Scope = tokens3.Scope{ProjectID: g.TenantID}
		} else {
			id, name := oneOf(first(g.ProjectDomainID, g.DomainID), first(g.ProjectDomainName, g.DomainName))
			if id == "" && name == "" {
				id, name = oneOf(g.UserDomainID, g.UserDomainName)
			}
			opts.Scope = tokens3.Scope{ProjectName: g.TenantName, DomainID: id, DomainName: name}
		}
	}
	return gopenstack.AuthenticateV3(ctx, pc, opts, gophercloud.EndpointOpts{})
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// oneOf keeps the id when both an id and a name are given (Keystone
// refuses both).
func oneOf(id, name string) (string, string) {
	if id != "" {
		return id, ""
	}
	return "", name
}
