// Package cloudsim is a stateful stand-in for the clouds openblock-csi
// serves: Keystone v2/v3, Cinder v1/v2/v3 and Nova volume attachments behind
// devstack-style path prefixes, with the business rules, quotas, rate limits,
// status machines and error bodies of the real services, and fault injection.
// Volumes are sparse files; volumes attached to the local server become loop
// devices (see package disk) a moment after the attachment is reported done,
// as a guest sees a hot-plugged disk only once udev has made its link.
package openstack

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/disk"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/internal/persist"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/lunanode"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/timing"
)

// Sim is one simulated OpenStack cloud (plus the Lunanode face when built in).
type Sim struct {
	cfg   Config
	prof  profile
	durs  timing.Profile
	store *disk.Store
	// others are the disk stores of OtherLocal, by server id.
	others map[string]*disk.Store

	mu     sync.Mutex // guards st, timers, closed
	st     *state
	timers map[*time.Timer]struct{}
	closed bool
	// limMu guards limiters alone: a call's arrival is measured at once,
	// as a cloud's API edge does, not after waiting for mu (held across
	// disk copies), which would make arrivals look closer together than
	// they were.
	limMu    sync.Mutex
	limiters map[string]*rate.Limiter

	// projects made through Keystone's admin API.
	projects projectRegistry

	faults *faultState
	stats  statsRecorder

	handler http.Handler
	extra   []func() error // closers of mounted faces

	lunanode *lunanode.Handler // the Lunanode face, for State

	// commit writes st to disk outside mu, one write for every change
	// made since the previous one (see markDirty and call.persist).
	commit *persist.Committer
}

// New loads (or creates) the state in cfg.StateDir and returns a simulator.
// Volumes that were attached to the local server are attached again.
func New(cfg Config) (*Sim, error) {
	if cfg.StateDir == "" {
		return nil, errors.New("cloudsim: StateDir is required")
	}
	prof, durs, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
		return nil, err
	}
	store, err := disk.NewStore(cfg.StateDir, cfg.ByIDDir)
	if err != nil {
		return nil, err
	}
	if cfg.Guest != nil {
		store.SetHost(cfg.Guest)
		if d := cfg.Faults.PlugDelayMS; d != 0 {
			if err := store.DelayPlugs(time.Duration(d) * time.Millisecond); err != nil {
				store.Close()
				return nil, fmt.Errorf("cloudsim: plug_delay_ms: %w", err)
			}
		}
	}
	st, err := loadState(cfg.StateDir)
	if err != nil {
		store.Close()
		return nil, err
	}
	if len(st.TokenKey) == 0 {
		st.TokenKey = make([]byte, 32)
		if _, err := rand.Read(st.TokenKey); err != nil {
			store.Close()
			return nil, err
		}
	}
	others := map[string]*disk.Store{}
	for _, l := range cfg.OtherLocal {
		o, err := disk.NewStore(cfg.StateDir, l.ByIDDir)
		if err != nil {
			store.Close()
			for _, o := range others {
				o.Close()
			}
			return nil, err
		}
		others[l.ID] = o
	}
	s := &Sim{
		cfg: cfg, prof: prof, durs: durs, store: store, others: others, st: st,
		timers: map[*time.Timer]struct{}{}, limiters: map[string]*rate.Limiter{},
		faults: newFaultState(cfg.Faults),
	}
	s.stats.reset()
	s.commit = persist.New(filepath.Join(cfg.StateDir, stateFile), &s.mu, func() ([]byte, error) { return json.Marshal(s.st) })
	s.mu.Lock()
	s.recover()
	s.seed()
	gen := s.markDirty()
	s.mu.Unlock()
	if err := s.commit.Wait(gen); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.routes(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// SeedPrefix starts the names of the volumes Config.SeedVolumes makes.
const SeedPrefix = "seed-"

// seed makes Config.SeedVolumes volumes in the default project (s.mu
// held), once: not again over a state that holds volumes.
func (s *Sim) seed() {
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
		s.st.Volumes[v.ID] = v
	}
}

// Handler serves every face of the simulator.
func (s *Sim) Handler() http.Handler { return s.handler }

// Stats returns the call counters.
func (s *Sim) Stats() Stats { return s.stats.snapshot() }

// ResetStats zeroes the call counters.
func (s *Sim) ResetStats() { s.stats.reset() }

// SetFaults replaces the fault knobs. PlugDelayMS reaches the guest when
// there is one; see SetFaultsChecked for a refusal when there is not.
func (s *Sim) SetFaults(f Faults) {
	s.faults.set(f)
	_ = s.store.DelayPlugs(time.Duration(f.PlugDelayMS) * time.Millisecond)
}

// SetFaultsChecked is SetFaults refusing knobs this simulator cannot
// honour (a plug delay without a guest), leaving the knobs unchanged.
func (s *Sim) SetFaultsChecked(f Faults) error {
	if f.PlugDelayMS != 0 {
		if err := s.store.DelayPlugs(time.Duration(f.PlugDelayMS) * time.Millisecond); err != nil {
			return fmt.Errorf("plug_delay_ms: %w", err)
		}
	}
	s.SetFaults(f)
	return nil
}

// SurpriseUnplug pulls the attached disk with this serial out of the guest
// while the cloud keeps it attached (disk.Store.SurpriseUnplug).
func (s *Sim) SurpriseUnplug(serial string) error { return s.store.SurpriseUnplug(serial) }

// Faults returns the current fault knobs (FailNext counts decrease as they fire).
func (s *Sim) Faults() Faults { return s.faults.get() }

// Config returns the resolved configuration (defaults filled in).
func (s *Sim) Config() Config { return s.cfg }

// Store is the disk store holding the volume images.
func (s *Sim) Store() *disk.Store { return s.store }

// State dumps every volume, snapshot, backup and attachment of all projects.
func (s *Sim) State() StateDump {
	s.mu.Lock()
	defer s.mu.Unlock()
	var d StateDump
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
	if s.lunanode != nil {
		ln := s.lunanode.State()
		d.Lunanode = &ln
	}
	return d
}

// Close stops pending transitions, writes the state, detaches local loop
// devices and closes mounted faces. State on disk is kept.
func (s *Sim) Close() error {
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
	errs := []error{s.commit.Close()}
	for _, c := range s.extra {
		errs = append(errs, c())
	}
	for _, o := range s.others {
		errs = append(errs, o.Close())
	}
	errs = append(errs, s.store.Close())
	return errors.Join(errs...)
}

// later runs fn under s.mu after d, unless op is configured stuck. fn's
// changes are persisted, without anyone waiting: a transition lost in a
// crash runs again from recover.
func (s *Sim) later(op string, d time.Duration, fn func()) {
	if s.faults.stuck(op) || s.closed {
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
func (s *Sim) markDirty() uint64 { return s.commit.MarkDirty() }

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// now is truncated to microseconds, the precision OpenStack reports.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
