package cloudsim

import (
	"fmt"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/disk"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/openstack"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/timing"
)

// Default identities: what a simulator started without configuration accepts.
const (
	DefaultUser      = openstack.DefaultUser
	DefaultPassword  = openstack.DefaultPassword
	DefaultProject   = openstack.DefaultProject
	DefaultDomain    = openstack.DefaultDomain
	DefaultDomainID  = openstack.DefaultDomainID
	DefaultRegion    = openstack.DefaultRegion
	DefaultServerID  = openstack.DefaultServerID
	DefaultAppCredID = openstack.DefaultAppCredID
	// AltUser/AltProject are a second tenant, for isolation tests.
	AltUser    = openstack.AltUser
	AltProject = openstack.AltProject
)

// The OpenStack face's configuration types, named here because Config
// carries them.
type (
	Server         = openstack.Server
	User           = openstack.User
	Project        = openstack.Project
	AppCredential  = openstack.AppCredential
	VolumeType     = openstack.VolumeType
	TypeEncryption = openstack.TypeEncryption
	Quota          = openstack.Quota
	Rules          = openstack.Rules
)

// Snapshot policies for attached (in-use) volumes.
const (
	SnapshotInUseForce = openstack.SnapshotInUseForce
	SnapshotInUseNever = openstack.SnapshotInUseNever
)

// SeedPrefix starts the names of the volumes Config.SeedVolumes makes.
const SeedPrefix = openstack.SeedPrefix

// LocalServer is a server on this machine and where its disk links go.
type LocalServer struct {
	ID      string
	ByIDDir string
}

// Account is a user with one project, given by name.
type Account struct {
	Name     string
	Password string
	Project  string
	Roles    []string
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

// ProfileRules returns the rules of a named profile, for tests that want to
// change one rule.
func ProfileRules(name string) (Rules, error) {
	p, err := openstack.LookupProfile(name)
	return p.Rules(), err
}

// ProfileVolumeTypes returns the volume types of a named profile, default
// first, for tests that add a type of their own.
func ProfileVolumeTypes(name string) ([]VolumeType, error) {
	p, err := openstack.LookupProfile(name)
	return p.VolumeTypes(), err
}

// ProfileQuota returns the quota of a named profile.
func ProfileQuota(name string) (Quota, error) {
	p, err := openstack.LookupProfile(name)
	return p.Quota(), err
}

// resolve applies the Config's overrides to the named profile and fills defaults.
func (c *Config) resolve() (openstack.Profile, timing.Profile, error) {
	p, err := openstack.LookupProfile(c.Profile)
	if err != nil {
		return p, timing.Profile{}, err
	}
	p.Override(openstack.Overrides{Zones: c.Zones, DefaultZone: c.DefaultZone, VolumeTypes: c.VolumeTypes,
		Quota: c.Quota, Rules: c.Rules, RateLimit: c.RateLimit})
	c.Profile = p.Name()
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
	c.identities()
	c.servers(p)
	return p, tp, nil
}

// identities fills in the default users, projects and application
// credential, and turns Accounts into users with projects of their own.
func (c *Config) identities() {
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
}

// servers fills in one server per zone (the default zone's has
// DefaultServerID), each server's zone and name, and the servers on this
// machine (LocalServerID, OtherLocal).
func (c *Config) servers(p openstack.Profile) {
	if len(c.Servers) == 0 {
		// One server per zone; the one in the default zone has DefaultServerID.
		c.Servers = append(c.Servers, Server{ID: DefaultServerID, Name: "server-1", Zone: p.DefaultZone()})
		n := 2
		for _, z := range p.Zones() {
			if z != p.DefaultZone() {
				c.Servers = append(c.Servers, Server{ID: fmt.Sprintf("5f0c3c1e-7a2b-4d1e-9c3a-%012d", n), Name: fmt.Sprintf("server-%d", n), Zone: z})
				n++
			}
		}
	}
	for i := range c.Servers {
		if c.Servers[i].Zone == "" {
			c.Servers[i].Zone = p.DefaultZone()
		}
		if c.Servers[i].Name == "" {
			c.Servers[i].Name = c.Servers[i].ID
		}
	}
	// The servers on this machine exist whatever the list says.
	if c.LocalServerID != "" && c.server(c.LocalServerID) == nil {
		c.Servers = append(c.Servers, Server{ID: c.LocalServerID, Name: "local", Zone: p.DefaultZone()})
	}
	for _, l := range c.OtherLocal {
		if c.server(l.ID) == nil {
			c.Servers = append(c.Servers, Server{ID: l.ID, Name: l.ID, Zone: p.DefaultZone()})
		}
	}
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

// openstack is the OpenStack face's share of the resolved configuration.
func (c *Config) openstack(p openstack.Profile, durs timing.Profile) openstack.Config {
	return openstack.Config{
		StateDir: c.StateDir, LocalServerID: c.LocalServerID, Region: c.Region, TokenTTL: c.TokenTTL,
		PublicURL: c.PublicURL, TimeScale: c.TimeScale, Profile: p, Durations: durs,
		Servers: c.Servers, Users: c.Users, Projects: c.Projects, AppCredentials: c.AppCredentials,
		SeedVolumes: c.SeedVolumes,
	}
}
