package simtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
	simlunanode "github.com/openblock-csi/openblock-csi/pkg/cloudsim/lunanode"
)

// CloudConfig is the driver's cloud config file (cinder-csi-plugin's INI:
// [Global], [BlockStorage], [Lunanode]) pointing at a simulator, written
// the way a user of that cloud would. The zero value signs in as the
// simulator's default user through Keystone v3 and leaves [BlockStorage]
// to the driver's defaults; empty fields are left out of the file or take
// the simulator's defaults, as each field says.
type CloudConfig struct {
	// KeystoneV2 signs in through Keystone v2.0 with tenant-id, as NHN
	// Cloud does, instead of v3 with tenant-name and domain-name.
	KeystoneV2 bool
	// User and Password default to cloudsim.DefaultUser and DefaultPassword.
	User, Password string
	// AppCredentialID and AppCredentialSecret, when set, replace the user
	// and the project (Keystone v3 application credentials).
	AppCredentialID, AppCredentialSecret string
	// Project defaults to cloudsim.DefaultProject.
	Project string
	// Region is left out when empty.
	Region string
	// Profile and APIVersion are [BlockStorage] profile and api-version,
	// left out when empty or 0.
	Profile    string
	APIVersion int
	// BlockStorage holds further [BlockStorage] lines ("key = value\n").
	BlockStorage string

	// Lunanode writes a config for the simulator's Lunanode face instead:
	// backend = lunanode and [Lunanode] with APIID and APIKey (default
	// the face's DefaultAPIID and DefaultAPIKey).
	Lunanode      bool
	APIID, APIKey string
}

// INI is the file's text for a simulator at baseURL (e.g. http://127.0.0.1:41234).
func (c CloudConfig) INI(baseURL string) string {
	if c.Lunanode {
		return fmt.Sprintf("[BlockStorage]\nbackend = lunanode\n%s\n[Lunanode]\napi-id = %s\napi-key = %s\napi-url = %s/lunanode/api/\n",
			c.BlockStorage, or(c.APIID, simlunanode.DefaultAPIID), quote(or(c.APIKey, simlunanode.DefaultAPIKey)), baseURL)
	}
	var b strings.Builder
	b.WriteString("[Global]\n")
	switch {
	case c.KeystoneV2:
		fmt.Fprintf(&b, "auth-url = %s/identity/v2.0\n", baseURL)
	default:
		fmt.Fprintf(&b, "auth-url = %s/identity/v3\n", baseURL)
	}
	switch {
	case c.AppCredentialID != "":
		fmt.Fprintf(&b, "application-credential-id = %s\napplication-credential-secret = %s\n",
			c.AppCredentialID, quote(c.AppCredentialSecret))
	case c.KeystoneV2:
		fmt.Fprintf(&b, "username = %s\npassword = %s\ntenant-id = %s\n",
			or(c.User, cloudsim.DefaultUser), quote(or(c.Password, cloudsim.DefaultPassword)), or(c.Project, cloudsim.DefaultProject))
	default:
		fmt.Fprintf(&b, "username = %s\npassword = %s\ntenant-name = %s\ndomain-name = %s\n",
			or(c.User, cloudsim.DefaultUser), quote(or(c.Password, cloudsim.DefaultPassword)), or(c.Project, cloudsim.DefaultProject), cloudsim.DefaultDomain)
	}
	if c.Region != "" {
		fmt.Fprintf(&b, "region = %s\n", c.Region)
	}
	b.WriteString("\n[BlockStorage]\n")
	if c.Profile != "" {
		fmt.Fprintf(&b, "profile = %s\n", c.Profile)
	}
	if c.APIVersion != 0 {
		fmt.Fprintf(&b, "api-version = %d\n", c.APIVersion)
	}
	b.WriteString(c.BlockStorage)
	return b.String()
}

// Write writes INI(baseURL) as cloud.conf (mode 0600, it holds secrets) in
// dir, or in a temporary directory of t when dir is "", and returns its path.
func (c CloudConfig) Write(t testing.TB, dir, baseURL string) string {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, "cloud.conf")
	if err := os.WriteFile(path, []byte(c.INI(baseURL)), 0o600); err != nil {
		t.Fatalf("cloud config: %v", err)
	}
	return path
}

func or(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// quote writes a secret as a quoted value, so that '#', ';' and spaces in
// it are taken literally.
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`)
	return `"` + r.Replace(s) + `"`
}
