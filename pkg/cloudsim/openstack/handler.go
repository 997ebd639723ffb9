// Package openstack is the simulator's OpenStack cloud: Keystone v2/v3,
// Cinder v1/v2/v3 and Nova volume attachments behind devstack-style path
// prefixes, with the business rules, quotas, rate limits, status machines
// and error bodies of the real services. It is one face of the simulator,
// as package lunanode is another: the root package composes them over one
// disk store and owns the fault knobs and call counters, which this face
// consults through Faults and Stats. Volumes are sparse files; volumes
// attached to the local server become loop devices (see package disk) a
// moment after the attachment is reported done, as a guest sees a
// hot-plugged disk only once udev has made its link.
package openstack

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/disk"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/internal/persist"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/timing"
)

// Faults is the fault injection this face consults; the knobs belong to
// the simulator's root, which also applies latency and dropped connections
// before a call reaches the face.
type Faults interface {
	// TakeFailure consumes one forced failure of op (FailNext).
	TakeFailure(op string) bool
	// Stuck reports whether op never leaves its transitional state.
	Stuck(op string) bool
	// ServerError and OverLimit roll the injected 500 and 413 ratios.
	ServerError() bool
	OverLimit() bool
}

// Stats counts what only the face can tell apart: rate-limit refusals
// (the root counts every call by route).
type Stats interface {
	RateLimited()
}

// Wrap is the root's per-route plumbing: it counts the call under face
// and pattern and, when faulty, applies latency and dropped connections.
type Wrap func(face, pattern string, faulty bool, h http.HandlerFunc) http.HandlerFunc

// Config is the resolved configuration of the OpenStack face.
type Config struct {
	Store *disk.Store
	// Others are the disk stores of more servers on this machine, by
	// server id: each attach to one is its own loop device.
	Others map[string]*disk.Store
	// StateDir keeps state.json.
	StateDir      string
	LocalServerID string
	Region        string
	TokenTTL      time.Duration
	// PublicURL is the base URL of catalogs and links ("": each request's Host).
	PublicURL string
	// TimeScale multiplies the profile's rate limit.
	TimeScale      float64
	Profile        Profile
	Durations      timing.Profile
	Servers        []Server
	Users          []User
	Projects       []Project
	AppCredentials []AppCredential
	// SeedVolumes is how many available volumes the first project holds
	// from the start, when the state is new (see seed).
	SeedVolumes int
	Faults      Faults
	Stats       Stats
}

// Handler is one simulated OpenStack cloud.
type Handler struct {
	cfg   Config
	prof  Profile
	durs  timing.Profile
	store *disk.Store
	// others are the disk stores of the other local servers, by server id.
	others map[string]*disk.Store

	mu sync.Mutex // guards st, timers, closed, views, volumeOrder
	st *state
	// views are volumes' encoded views, by volume id (see volumeViews).
	views map[string]*cachedViews
	// volumeOrder is every volume in the default list order.
	volumeOrder volumeOrder
	timers      map[*time.Timer]struct{}
	closed      bool
	// limMu guards limiters alone: a call's arrival is measured at once,
	// as a cloud's API edge does, not after waiting for mu (held across
	// disk copies), which would make arrivals look closer together than
	// they were.
	limMu    sync.Mutex
	limiters map[string]*rate.Limiter

	// projects made through Keystone's admin API.
	projects projectRegistry

	faults Faults
	stats  Stats
	wrap   Wrap // the root's per-route plumbing, set by Routes

	// commit writes st to disk outside mu, one write for every change
	// made since the previous one (see markDirty and call.persist).
	commit *persist.Committer
}

// NewHandler loads (or creates) the state in cfg.StateDir. Volumes that
// were attached to the local server are attached again.
func NewHandler(cfg Config) (*Handler, error) {
	st, err := loadState(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	if len(st.TokenKey) == 0 {
		st.TokenKey = make([]byte, 32)
		if _, err := rand.Read(st.TokenKey); err != nil {
			return nil, err
		}
	}
	s := &Handler{
		cfg: cfg, prof: cfg.Profile, durs: cfg.Durations, store: cfg.Store, others: cfg.Others, st: st,
		timers: map[*time.Timer]struct{}{}, limiters: map[string]*rate.Limiter{},
		faults: cfg.Faults, stats: cfg.Stats,
	}
	var enc stateEncoder
	s.commit = persist.New(filepath.Join(cfg.StateDir, stateFile), &s.mu, func() ([]byte, error) { return enc.encode(s.st) })
	s.mu.Lock()
	s.recover()
	s.seed()
	gen := s.markDirty()
	s.mu.Unlock()
	if err := s.commit.Wait(gen); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// SeedPrefix starts the names of the volumes Config.SeedVolumes makes.
const SeedPrefix = "seed-"

// seed makes Config.SeedVolumes volumes in the first project (s.mu held),
// once: not again over a state that holds volumes. They are made in
// memory, without images: a project of thousands of volumes for scale
// tests, without thousands of API calls.
func (s *Handler) seed() {
	if s.cfg.SeedVolumes <= 0 || len(s.st.Volumes) > 0 {
		return
	}
	project := s.cfg.Projects[0].ID
	base := time.Now().Add(-time.Hour)
	for i := range s.cfg.SeedVolumes {
		at := base.Add(time.Duration(i) * time.Millisecond)
		v := &Volume{
			ID: newID(), ProjectID: project, Name: fmt.Sprintf("%s%05d", SeedPrefix, i), Status: "available", Size: 1,
			Zone: s.prof.defaultZone, VolumeType: s.prof.defaultType, Metadata: map[string]string{},
			Attachments: []*Attachment{}, CreatedAt: at, UpdatedAt: at,
		}
		s.st.putVolume(v)
	}
}

// Routes registers every route of the Keystone, Cinder, Nova and image
// faces on mux, each through wrap.
func (s *Handler) Routes(mux *http.ServeMux, wrap Wrap) {
	s.wrap = wrap
	s.keystoneRoutes(mux)
	s.cinderRoutes(mux)
	s.novaRoutes(mux)
	s.imageRoutes(mux)
}

// State is every volume, snapshot, backup and attachment of all projects.
type State struct {
	Volumes     []Volume
	Snapshots   []Snapshot
	Backups     []Backup
	Attachments []AttachmentDump
}

// State dumps the face's resources, for leak checks.
func (s *Handler) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	var d State
	for _, v := range sortedVolumes(s.st.Volumes) {
		c := v.clone()
		d.Volumes = append(d.Volumes, c)
		for _, a := range c.Attachments {
			d.Attachments = append(d.Attachments, AttachmentDump{VolumeID: v.ID, ProjectID: v.ProjectID, Attachment: *a})
		}
	}
	for _, sn := range sortedSnapshots(s.st.Snapshots) {
		c := *sn
		c.Metadata = copyMeta(sn.Metadata)
		d.Snapshots = append(d.Snapshots, c)
	}
	for _, b := range sortedBackups(s.st.Backups) {
		d.Backups = append(d.Backups, *b)
	}
	return d
}

// SetStateWrite replaces how the state file is written, so tests can make
// writes slow, fail or count them.
func (s *Handler) SetStateWrite(fn func(path string, data []byte) error) { s.commit.SetWrite(fn) }

// Close stops pending transitions and writes the state. State on disk is
// kept; the disk stores are the caller's to close.
func (s *Handler) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for t := range s.timers {
		t.Stop()
	}
	s.timers = nil
	s.mu.Unlock()
	return s.commit.Close()
}

// later runs fn under s.mu after d, unless op is configured stuck. fn's
// changes are persisted, without anyone waiting: a transition lost in a
// crash runs again from recover.
func (s *Handler) later(op string, d time.Duration, fn func()) {
	if s.faults.Stuck(op) || s.closed {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed {
			return
		}
		delete(s.timers, t)
		fn()
		s.markDirty()
	})
	s.timers[t] = struct{}{}
}

// markDirty records a change to st made under s.mu (held) and returns its
// generation, for s.commit.Wait.
func (s *Handler) markDirty() uint64 { return s.commit.MarkDirty() }

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// now is truncated to microseconds, the precision OpenStack reports.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
