package openstack

import (
	"fmt"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/disk"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/timing"
)

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

// LocalServer is a server on this machine and where its disk links go.
type LocalServer struct {
	ID      string
	ByIDDir string
}

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

// Account is a user with one project, given by name.
type Account struct {
	Name     string
	Password string
	Project  string
	Roles    []string
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

// Config configures a simulator. The zero value is a usable generic cloud.
type Config struct {
	// StateDir keeps state.json and the volume images. Required.
	StateDir string
	// ByIDDir receives virtio-<serial> links for volumes attached to LocalServerID
	// (default <StateDir>/by-id).
	ByIDDir string
	// LocalServerID names the server that is this machine.
	LocalServerID string
	// Guest, when set, is what LocalServerID's disks are: volumes attached
	// to it (through Nova, Cinder's attachments or Lunanode) are hot-plugged
	// into this guest instead of becoming loop devices and links.
	Guest disk.Host
	// OtherLocal are more servers on this machine, each with the by-id
	// directory its node reads: two node plugins on one host, as two
	// servers sharing a multi-attach volume. Each attach is its own loop
	// device on the volume's image.
	OtherLocal []LocalServer
	// Profile: "generic" (default), "nhn" or "helion".
	Profile string
	// Timing: "fast" (default) or "realistic"; Durations overrides it.
	Timing    string
	Durations *timing.Profile
	// TimeScale divides every duration and multiplies every rate (default 1).
	TimeScale float64
	Region    string
	// RateLimit is API calls per second per project: 0 uses the profile's
	// (helion: 1), negative disables it.
	RateLimit float64
	// TokenTTL defaults to one hour.
	TokenTTL time.Duration
	// PublicURL is the base URL put into catalogs and links; by default it
	// is derived from each request's Host.
	PublicURL string

	Servers  []Server
	Users    []User
	Projects []Project
	// Accounts add users (each with its project, created if missing) to
	// Users and Projects, defaults included: suites such as Tempest need
	// several tenants of their own.
	Accounts       []Account
	AppCredentials []AppCredential
	VolumeTypes    []VolumeType
	Zones          []string
	DefaultZone    string
	// SeedVolumes is how many available, unattached volumes the default
	// project holds from the start (named seed-NNNNN, without images),
	// made in memory when the state is new: a project of thousands of
	// volumes for scale tests, without thousands of API calls.
	SeedVolumes int
	// Quota and Rules replace the profile's when set.
	Quota *Quota
	Rules *Rules

	Faults Faults
}

// profile is the resolved per-cloud behaviour.
type profile struct {
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

// ProfileRules returns the rules of a named profile, for tests that want to
// change one rule.
func ProfileRules(name string) (Rules, error) {
	p, err := lookupProfile(name)
	return p.rules, err
}

// ProfileVolumeTypes returns the volume types of a named profile, default
// first, for tests that add a type of their own.
func ProfileVolumeTypes(name string) ([]VolumeType, error) {
	p, err := lookupProfile(name)
	var out []VolumeType
	for _, t := range p.types {
		if t.Name == p.defaultType {
			out = append([]VolumeType{t}, out...)
		} else {
			out = append(out, t)
		}
	}
	return out, err
}

// ProfileQuota returns the quota of a named profile.
func ProfileQuota(name string) (Quota, error) {
	p, err := lookupProfile(name)
	return p.quota, err
}

var generousQuota = Quota{Volumes: 1000, Snapshots: 1000, Gigabytes: 100000, Backups: 1000, BackupGigabytes: 100000}

func lookupProfile(name string) (profile, error) {
	switch name {
	case "", "generic":
		return profile{
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
		return profile{
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
		return profile{
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
	return profile{}, fmt.Errorf("unknown profile %q (want generic, nhn or helion)", name)
}

// resolve applies the Config's overrides to the named profile and fills defaults.
func (c *Config) resolve() (profile, timing.Profile, error) {
	p, err := lookupProfile(c.Profile)
	if err != nil {
		return p, timing.Profile{}, err
	}
	if len(c.Zones) > 0 {
		p.zones = c.Zones
		p.defaultZone = c.Zones[0]
	}
	if c.DefaultZone != "" {
		p.defaultZone = c.DefaultZone
	}
	if len(c.VolumeTypes) > 0 {
		p.types = c.VolumeTypes
		p.defaultType = c.VolumeTypes[0].Name
	}
	if c.Quota != nil {
		p.quota = *c.Quota
	}
	if c.Rules != nil {
		p.rules = *c.Rules
	}
	switch {
	case c.RateLimit > 0:
		p.rateLimit = c.RateLimit
	case c.RateLimit < 0:
		p.rateLimit = 0
	}
	c.Profile = p.name
	if c.Timing == "" {
		c.Timing = "fast"
	}
	tp, err := timing.Named(c.Timing)
	if err != nil {
		return p, tp, err
	}
	if c.Durations != nil {
		tp = *c.Durations
	}
	if c.TimeScale <= 0 {
		c.TimeScale = 1
	}
	tp = tp.Scaled(c.TimeScale)
	if c.Region == "" {
		c.Region = DefaultRegion
	}
	if c.TokenTTL <= 0 {
		c.TokenTTL = time.Hour
	}
	if len(c.Projects) == 0 {
		c.Projects = []Project{
			{ID: DefaultProject, Name: DefaultProject, DomainID: DefaultDomainID},
			{ID: AltProject, Name: AltProject, DomainID: DefaultDomainID},
		}
	}
	if len(c.Users) == 0 {
		c.Users = []User{
			{ID: DefaultUser, Name: DefaultUser, Password: DefaultPassword, DomainID: DefaultDomainID,
				Projects: []string{DefaultProject, AltProject}, Roles: []string{"admin", "member", "reader"}},
			{ID: AltUser, Name: AltUser, Password: DefaultPassword, DomainID: DefaultDomainID,
				Projects: []string{AltProject}, Roles: []string{"member", "reader"}},
		}
	}
	for _, a := range c.Accounts {
		if c.project(a.Project) == nil {
			c.Projects = append(c.Projects, Project{ID: a.Project, Name: a.Project, DomainID: DefaultDomainID})
		}
		roles := a.Roles
		if len(roles) == 0 {
			roles = []string{"member", "reader"}
		}
		c.Users = append(c.Users, User{ID: a.Name, Name: a.Name, Password: a.Password, DomainID: DefaultDomainID,
			Projects: []string{a.Project}, Roles: roles})
	}
	if len(c.AppCredentials) == 0 {
		c.AppCredentials = []AppCredential{{ID: DefaultAppCredID, Name: "demo", Secret: DefaultPassword,
			UserID: DefaultUser, ProjectID: DefaultProject}}
	}
	if len(c.Servers) == 0 {
		// One server per zone; the one in the default zone has DefaultServerID.
		c.Servers = append(c.Servers, Server{ID: DefaultServerID, Name: "server-1", Zone: p.defaultZone})
		n := 2
		for _, z := range p.zones {
			if z != p.defaultZone {
				c.Servers = append(c.Servers, Server{ID: fmt.Sprintf("5f0c3c1e-7a2b-4d1e-9c3a-%012d", n), Name: fmt.Sprintf("server-%d", n), Zone: z})
				n++
			}
		}
	}
	for i := range c.Servers {
		if c.Servers[i].Zone == "" {
			c.Servers[i].Zone = p.defaultZone
		}
		if c.Servers[i].Name == "" {
			c.Servers[i].Name = c.Servers[i].ID
		}
	}
	if c.LocalServerID != "" && c.server(c.LocalServerID) == nil {
		c.Servers = append(c.Servers, Server{ID: c.LocalServerID, Name: "local", Zone: p.defaultZone})
	}
	for _, l := range c.OtherLocal {
		if c.server(l.ID) == nil {
			c.Servers = append(c.Servers, Server{ID: l.ID, Name: l.ID, Zone: p.defaultZone})
		}
	}
	return p, tp, nil
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
