// Package cloudconfig reads the driver's cloud config file: the INI file
// cinder-csi-plugin users already have ([Global] with Keystone credentials)
// plus this driver's [BlockStorage] and [Lunanode] sections.
//
//	[Global]
//	auth-url = https://identity.example.com/v3
//	username = demo
//	password = "s3cret#1"
//	tenant-name = demo
//	domain-name = Default
//	region = RegionOne
//
//	[BlockStorage]
//	profile = helion
//
// Values follow gcfg's rules (the library cinder-csi-plugin uses): a value in
// double quotes is taken literally (with \" \\ \n \t escapes), an unquoted
// value ends at a " #" or " ;" comment. Keys and section names are
// case-insensitive.
package cloudconfig

import (
	"fmt"
	"os"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// Backends.
const (
	BackendCinder   = "cinder"
	BackendLunanode = "lunanode"
)

// Profiles: presets for the [BlockStorage] settings of known clouds.
const (
	ProfileGeneric = "generic"
	ProfileNHN     = "nhn"
	ProfileHelion  = "helion"
)

// Endpoint types ([Global] endpoint-type).
const (
	EndpointPublic   = "public"
	EndpointInternal = "internal"
	EndpointAdmin    = "admin"
)

// DefaultLunanodeAPIURL is the Lunanode action API.
const DefaultLunanodeAPIURL = "https://dynamic.lunanode.com/api"

// Config is the whole cloud config file.
type Config struct {
	Global       Global
	BlockStorage BlockStorage
	Lunanode     Lunanode
}

// Secret is a credential. It prints as "<redacted>" through fmt and
// encoding/json, so a Config can be logged without leaking it; use
// Reveal to get the value.
type Secret string

const redacted = "<redacted>"

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// String never returns the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString never returns the secret (%#v).
func (s Secret) GoString() string { return fmt.Sprintf("%q", s.String()) }

// MarshalJSON never returns the secret.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(fmt.Sprintf("%q", s.String())), nil }

// MarshalText never returns the secret.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Global holds the Keystone credentials, as cinder-csi-plugin names them.
type Global struct {
	AuthURL  string
	Username string
	UserID   string
	Password Secret
	// TenantID/TenantName are the project (tenant-id or project-id).
	TenantID   string
	TenantName string
	// DomainID/DomainName apply to both user and project unless the
	// specific user-domain-*/project-domain-* keys are set.
	DomainID          string
	DomainName        string
	UserDomainID      string
	UserDomainName    string
	ProjectDomainID   string
	ProjectDomainName string
	Region            string
	CAFile            string
	TLSInsecure       bool

	ApplicationCredentialID     string
	ApplicationCredentialName   string
	ApplicationCredentialSecret Secret

	// EndpointType is public (default), internal or admin.
	EndpointType string

	// Source says where the credentials came from: "[Global]", or the
	// clouds.yaml file and cloud ([Global] use-clouds).
	Source string
}

// BlockStorage is this driver's view of the block storage service.
type BlockStorage struct {
	// Backend is cinder (default) or lunanode.
	Backend string
	// Profile is the preset the defaults below came from.
	Profile string
	// APIVersion is 0 (auto: volumev3, then volumev2, then volume v1 from
	// the catalog) or 1, 2, 3.
	APIVersion int
	// VolumeEndpoint and ComputeEndpoint override the service catalog.
	VolumeEndpoint  string
	ComputeEndpoint string
	// AttachLimit is the number of data volumes per node; 0 = unknown.
	AttachLimit int
	// RateLimit is the client-side limit in calls per second (0 = none);
	// RateBurst the bucket size.
	RateLimit float64
	RateBurst int
	// Zones are the availability zones new volumes may go to; DefaultZone
	// is used when a request names none (empty: the cloud decides).
	Zones       []string
	DefaultZone string
	// ZoneMap maps compute zones (what nodes report) to volume zones,
	// for clouds whose two zone sets differ; an unmapped zone is its own.
	ZoneMap map[string]string
	// IgnoreVolumeAZ creates volumes without a zone (Cinder chooses) and
	// reports them in the requested compute zone, as cinder-csi-plugin's
	// ignore-volume-az does: for clouds that attach across zones.
	IgnoreVolumeAZ bool
	// MinSizeGiB/MaxSizeGiB bound new volumes (0 = no bound).
	MinSizeGiB       int
	MaxSizeGiB       int
	Expansion        cloud.ExpansionMode
	SnapshotAttached cloud.SnapshotAttachedPolicy
	Backups          bool
	// Retype: the cloud offers os-retype (Cinder v2/v3; off where the
	// cloud's document does not list it).
	Retype bool
	// MultiAttach: volumes of a multi-attach type (extra spec
	// multiattach="<is> True") attach to several servers at once (Nova
	// 2.60); off for clouds that have none (HP Helion).
	MultiAttach bool
	// SerialLength is how much of the volume UUID the guest sees as the
	// disk serial (virtio: 20).
	SerialLength int
}

// Lunanode holds the Lunanode API credentials.
type Lunanode struct {
	APIID  string
	APIKey Secret
	APIURL string
	// Zones are the Lunanode regions to use; DefaultZone the one for
	// requests without topology.
	Zones        []string
	DefaultZone  string
	SerialLength int
}

// Load reads and parses the file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cloud config: %w", err)
	}
	cfg, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// Capabilities is what [BlockStorage] says the cloud supports. Providers
// start from this and may narrow it (Cinder v1 has no extend).
func (b BlockStorage) Capabilities() cloud.Capabilities {
	return cloud.Capabilities{
		Expansion:         b.Expansion,
		Snapshots:         true,
		SnapshotAttached:  b.SnapshotAttached,
		Backups:           b.Backups,
		Retype:            b.Retype,
		MultiAttach:       b.MultiAttach,
		Clone:             true,
		VolumeMetadata:    true,
		MaxVolumesPerNode: b.AttachLimit,
		MinSizeGiB:        b.MinSizeGiB,
		MaxSizeGiB:        b.MaxSizeGiB,
		Zones:             append([]string(nil), b.Zones...),
		DefaultZone:       b.DefaultZone,
		SerialLength:      b.SerialLength,
	}
}
