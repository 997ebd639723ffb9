package openstack

import "fmt"

// Default identities: what a simulator started without configuration accepts.
const (
	DefaultUser      = "admin"
	DefaultPassword  = "secret"
	DefaultProject   = "demo"
	DefaultDomain    = "Default"
	DefaultDomainID  = "default"
	DefaultRegion    = "RegionOne"
	DefaultServerID  = "5f0c3c1e-7a2b-4d1e-9c3a-000000000001"
	DefaultAppCredID = "demo-app-cred"
	// AltUser/AltProject are a second tenant, for isolation tests.
	AltUser    = "alt"
	AltProject = "alt"
)

// Server is a Nova instance volumes can be attached to.
type Server struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Zone string `json:"zone"`
}

// User can authenticate with a password and use the listed projects.
type User struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Password string   `json:"-"`
	DomainID string   `json:"domain_id"`
	Projects []string `json:"projects"` // project ids; the first is the default project
	Roles    []string `json:"roles"`
}

// Project (tenant).
type Project struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	DomainID string `json:"domain_id"`
}

// AppCredential is a Keystone application credential: id+secret, scoped to one project.
type AppCredential struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Secret    string `json:"-"`
	UserID    string `json:"user_id"`
	ProjectID string `json:"project_id"`
}

// VolumeType as Cinder lists it.
type VolumeType struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	ExtraSpecs  map[string]string `json:"extra_specs"`
	// Private types are seen only by admins and the projects in Access.
	Private    bool            `json:"private,omitempty"`
	Access     []string        `json:"access,omitempty"`
	Encryption *TypeEncryption `json:"encryption,omitempty"`
}

// TypeEncryption is a volume type's encryption spec.
type TypeEncryption struct {
	ID              string `json:"encryption_id"`
	Provider        string `json:"provider"`
	ControlLocation string `json:"control_location"`
	Cipher          string `json:"cipher,omitempty"`
	KeySize         *int   `json:"key_size,omitempty"`
	CreatedAt       string `json:"created_at"`
}

// Quota per project. A negative value means unlimited.
type Quota struct {
	Volumes         int `json:"volumes"`
	Snapshots       int `json:"snapshots"`
	Gigabytes       int `json:"gigabytes"`
	Backups         int `json:"backups"`
	BackupGigabytes int `json:"backup_gigabytes"`
	// VolumesAndSnapshots caps volumes+snapshots together (HP Helion: 10); 0 means no such cap.
	VolumesAndSnapshots int `json:"volumes_and_snapshots"`
}

// Snapshot policies for attached (in-use) volumes.
const (
	SnapshotInUseForce = "force" // allowed with force=true (Cinder default)
	SnapshotInUseNever = "never" // refused even with force (HP Helion)
)

// Rules are the business rules that differ between clouds.
type Rules struct {
	MinSizeGB int `json:"min_size_gb"`
	MaxSizeGB int `json:"max_size_gb"` // 0: no upper bound
	// SnapshotInUse is SnapshotInUseForce or SnapshotInUseNever.
	SnapshotInUse string `json:"snapshot_in_use"`
	// Extend enables os-extend; ExtendInUse additionally allows it on in-use
	// volumes for volume API microversion >= 3.42.
	Extend      bool `json:"extend"`
	ExtendInUse bool `json:"extend_in_use"`
	// MaxVolumesPerServer counts the boot disk, as KVM does (HP: 26).
	MaxVolumesPerServer int `json:"max_volumes_per_server"`
	// SameZoneAttach refuses attaching a volume to a server in another AZ.
	SameZoneAttach bool `json:"same_zone_attach"`
	// BackupInUse allows backups of in-use volumes with force=true.
	BackupInUse bool `json:"backup_in_use"`
}

// Profile is the resolved per-cloud behaviour (see LookupProfile).
type Profile struct {
	name        string
	zones       []string
	defaultZone string
	types       []VolumeType
	defaultType string
	quota       Quota
	rules       Rules
	rateLimit   float64
	computeVer  string // path element of the catalog's compute endpoint
	// volumeFaces are the Cinder API versions the catalog lists.
	volumeFaces []int
	// rateLimitHint: a rate-limit 413 carries retryAfter and Retry-After.
	rateLimitHint bool
	// firstDevice is the first advisory device name Nova hands out.
	firstDevice string
	// limitsMaxOnly: /limits reports maxima only (seed 004's example).
	limitsMaxOnly bool
	// noBackups: the cloud publishes no backup API (NHN Cloud: seeds 000
	// and 002 document volumes, snapshots and image upload only), so its
	// backup routes answer 404 and its extensions omit "backups".
	noBackups bool
}

var generousQuota = Quota{Volumes: 1000, Snapshots: 1000, Gigabytes: 100000, Backups: 1000, BackupGigabytes: 100000}

// LookupProfile returns a named profile: "" or generic, nhn, helion.
func LookupProfile(name string) (Profile, error) {
	switch name {
	case "", "generic":
		return Profile{
			name:  "generic",
			zones: []string{"nova"}, defaultZone: "nova",
			types: []VolumeType{
				{ID: "2a1c1f2e-5c4d-4b8a-9d41-6f0b1b7e0001", Name: "lvmdriver-1", ExtraSpecs: map[string]string{"volume_backend_name": "lvmdriver-1"}},
				{ID: "2a1c1f2e-5c4d-4b8a-9d41-6f0b1b7e0002", Name: "__DEFAULT__", Description: "Default Volume Type", ExtraSpecs: map[string]string{}},
			},
			defaultType: "lvmdriver-1",
			quota:       generousQuota,
			rules: Rules{MinSizeGB: 1, SnapshotInUse: SnapshotInUseForce, Extend: true, ExtendInUse: true,
				MaxVolumesPerServer: 26, SameZoneAttach: false, BackupInUse: true},
			computeVer:  "v2.1",
			volumeFaces: []int{1, 2, 3}, rateLimitHint: true, firstDevice: "/dev/vdb",
		}, nil
	case "nhn":
		return Profile{
			name:  "nhn",
			zones: []string{"kr-pub-a", "kr-pub-b"}, defaultZone: "kr-pub-a",
			types: []VolumeType{
				{ID: "4e36aa51-df30-422e-aff1-eba1f3d9612f", Name: "General SSD", ExtraSpecs: map[string]string{"volume_backend_name": "ssd_general"}},
				{ID: "6bda35e2-b2b9-497a-8f65-67a73839c856", Name: "General HDD", ExtraSpecs: map[string]string{"volume_backend_name": "hdd_general"}},
			},
			defaultType: "General HDD",
			quota:       generousQuota,
			rules: Rules{MinSizeGB: 1, SnapshotInUse: SnapshotInUseForce, Extend: true, ExtendInUse: true,
				MaxVolumesPerServer: 26, SameZoneAttach: true, BackupInUse: true},
			computeVer:  "v2",
			volumeFaces: []int{2}, rateLimitHint: true, firstDevice: "/dev/vdb",
			noBackups: true,
		}, nil
	case "helion":
		return Profile{
			name:  "helion",
			zones: []string{"az1", "az2", "az3"}, defaultZone: "az2",
			types: []VolumeType{
				{ID: "0b7e1e1a-3c1d-4c55-8f0e-7d2b9a6c0001", Name: "standard", ExtraSpecs: map[string]string{}},
			},
			defaultType: "standard",
			quota:       Quota{Volumes: -1, Snapshots: -1, Gigabytes: 3000, Backups: -1, BackupGigabytes: -1, VolumesAndSnapshots: 10},
			rules: Rules{MinSizeGB: 1, MaxSizeGB: 2047, SnapshotInUse: SnapshotInUseNever, Extend: false,
				MaxVolumesPerServer: 26, SameZoneAttach: true, BackupInUse: false},
			rateLimit:  1,
			computeVer: "v2",
			// Seed 004: the guest names disks from /dev/vdc on; its 413
			// body has no retryAfter; its /limits shows maxima only.
			volumeFaces: []int{1}, firstDevice: "/dev/vdc", limitsMaxOnly: true,
		}, nil
	}
	return Profile{}, fmt.Errorf("unknown profile %q (want generic, nhn or helion)", name)
}

// Overrides replace parts of a profile: a configuration's own zones,
// volume types, quota, rules and rate limit.
type Overrides struct {
	Zones       []string
	DefaultZone string
	VolumeTypes []VolumeType
	Quota       *Quota
	Rules       *Rules
	// RateLimit: 0 keeps the profile's, negative disables it.
	RateLimit float64
}

// Override applies o to p.
func (p *Profile) Override(o Overrides) {
	if len(o.Zones) > 0 {
		p.zones = o.Zones
		p.defaultZone = o.Zones[0]
	}
	if o.DefaultZone != "" {
		p.defaultZone = o.DefaultZone
	}
	if len(o.VolumeTypes) > 0 {
		p.types = o.VolumeTypes
		p.defaultType = o.VolumeTypes[0].Name
	}
	if o.Quota != nil {
		p.quota = *o.Quota
	}
	if o.Rules != nil {
		p.rules = *o.Rules
	}
	switch {
	case o.RateLimit > 0:
		p.rateLimit = o.RateLimit
	case o.RateLimit < 0:
		p.rateLimit = 0
	}
}

// Name is the profile's name: generic, nhn or helion.
func (p Profile) Name() string { return p.name }

// Zones are the availability zones; DefaultZone the one volumes get unasked.
func (p Profile) Zones() []string     { return p.zones }
func (p Profile) DefaultZone() string { return p.defaultZone }

// Rules and Quota are the profile's business rules and default quota.
func (p Profile) Rules() Rules { return p.rules }
func (p Profile) Quota() Quota { return p.quota }

// VolumeTypes are the profile's volume types, default first.
func (p Profile) VolumeTypes() []VolumeType {
	var out []VolumeType
	for _, t := range p.types {
		if t.Name == p.defaultType {
			out = append([]VolumeType{t}, out...)
		} else {
			out = append(out, t)
		}
	}
	return out
}

func (c *Config) project(id string) *Project {
	for i := range c.Projects {
		if c.Projects[i].ID == id {
			return &c.Projects[i]
		}
	}
	return nil
}

func (c *Config) server(id string) *Server {
	for i := range c.Servers {
		if c.Servers[i].ID == id {
			return &c.Servers[i]
		}
	}
	return nil
}
