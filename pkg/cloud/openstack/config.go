package openstack

import (
	"github.com/openblock-csi/openblock-csi/internal/endpointversion"
	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// Config is what the adapter needs to reach one OpenStack project's block
// storage. It is the adapter's own: the cloud config file's [Global] and
// [BlockStorage] sections are translated into it by pkg/provider, so this
// package knows nothing of the file. Secrets (Password,
// ApplicationCredentialSecret) are never logged nor put into errors.
type Config struct {
	// Keystone, named as cinder-csi-plugin's [Global] names them. TenantID
	// and TenantName are the project; DomainID/DomainName apply to both
	// user and project unless the UserDomain*/ProjectDomain* fields are set.
	AuthURL           string
	Username          string
	UserID            string
	Password          string
	TenantID          string
	TenantName        string
	DomainID          string
	DomainName        string
	UserDomainID      string
	UserDomainName    string
	ProjectDomainID   string
	ProjectDomainName string

	ApplicationCredentialID     string
	ApplicationCredentialName   string
	ApplicationCredentialSecret string

	// Region and EndpointType (public, the default; internal; admin) pick
	// endpoints from the service catalog.
	Region       string
	EndpointType string
	// CAFile and TLSInsecure set up TLS to every endpoint.
	CAFile      string
	TLSInsecure bool

	// APIVersion is 0 (auto: volumev3, then volumev2, then volume v1 from
	// the catalog) or 1, 2, 3. VolumeEndpoint and ComputeEndpoint override
	// the catalog.
	APIVersion      int
	VolumeEndpoint  string
	ComputeEndpoint string
	// RateLimit is the client-side limit in calls per second (0: none);
	// RateBurst the bucket size.
	RateLimit float64
	RateBurst int

	// Capabilities is what the operator says the cloud offers (attach
	// limit, sizes, expansion, zones, serial length, ...); the adapter
	// narrows it to what the API version can do. Zones, when set, are the
	// only zones a volume may be created in.
	Capabilities cloud.Capabilities
}

// SerialLength is how much of Volume.Serial (the volume UUID) the guest
// sees as the disk serial, as cfg sets it (virtio: 20; 0: all of it). The
// node asks it without credentials, so it is a property of the Config,
// not of a connected Cloud.
func SerialLength(cfg Config) int { return cfg.Capabilities.SerialLength }

// versionFromURL is how an endpoint URL names its API version (0 if it
// names none), by the same rule the cloud config's validation applies.
func versionFromURL(s string) int { return endpointversion.Of(s) }

// VersionFromURL is how an endpoint URL names its API version, exported
// so the cloud config's validation can be checked against it.
func VersionFromURL(s string) int { return versionFromURL(s) }

// endpointPublic is the catalog interface used when EndpointType is empty.
const endpointPublic = "public"
