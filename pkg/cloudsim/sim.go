// Package cloudsim is a stateful stand-in for the clouds openblock-csi
// serves. It composes two faces over one disk store: the OpenStack cloud
// (package openstack: Keystone v2/v3, Cinder v1/v2/v3, Nova volume
// attachments) and Lunanode's action API (package lunanode), each with its
// own state machine and state file, as the real clouds share nothing but
// the machine here. This package owns what both faces share: the
// configuration, the fault knobs, the call counters, the HTTP plumbing that
// counts calls and injects latency and dropped connections, and the /_sim
// admin routes. It never imports the driver's pkg/cloud: it is an
// independent reading of the same API documents.
package cloudsim

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/disk"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/lunanode"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/openstack"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/timing"
)

// Sim is one simulated cloud: the OpenStack faces and the Lunanode face.
type Sim struct {
	cfg   Config
	durs  timing.Profile
	store *disk.Store
	// others are the disk stores of OtherLocal, by server id.
	others map[string]*disk.Store

	faults *faultState
	stats  statsRecorder

	handler   http.Handler
	openstack *openstack.Handler
	lunanode  *lunanode.Handler

	closeMu sync.Mutex
	closed  bool
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
	s := &Sim{cfg: cfg, durs: durs, store: store, others: map[string]*disk.Store{}, faults: newFaultState(cfg.Faults)}
	s.stats.reset()
	for _, l := range cfg.OtherLocal {
		o, err := disk.NewStore(cfg.StateDir, l.ByIDDir)
		if err != nil {
			s.closeStores()
			return nil, err
		}
		s.others[l.ID] = o
	}
	oc := cfg.openstack(prof, durs)
	oc.Store, oc.Others, oc.Faults, oc.Stats = store, s.others, s.faults, &s.stats
	s.openstack, err = openstack.NewHandler(oc)
	if err != nil {
		s.closeStores()
		return nil, err
	}
	if err := s.routes(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
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

// FailuresFired counts the operations FailNext and FailRatio have failed.
func (s *Sim) FailuresFired() int64 { return s.faults.failuresFired() }

// Faults returns the current fault knobs (FailNext counts decrease as they fire).
func (s *Sim) Faults() Faults { return s.faults.get() }

// Config returns the resolved configuration (defaults filled in).
func (s *Sim) Config() Config { return s.cfg }

// Store is the disk store holding the volume images.
func (s *Sim) Store() *disk.Store { return s.store }

// State dumps every volume, snapshot, backup and attachment of all projects.
func (s *Sim) State() StateDump {
	os := s.openstack.State()
	d := StateDump{Volumes: os.Volumes, Snapshots: os.Snapshots, Backups: os.Backups, Attachments: os.Attachments}
	if s.lunanode != nil {
		ln := s.lunanode.State()
		d.Lunanode = &ln
	}
	return d
}

// Close stops pending transitions, writes the state, detaches local loop
// devices and closes the faces. State on disk is kept.
func (s *Sim) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	errs := []error{s.openstack.Close()}
	if s.lunanode != nil {
		errs = append(errs, s.lunanode.Close())
	}
	errs = append(errs, s.closeStores())
	return errors.Join(errs...)
}

// closeStores closes the other local servers' disk stores, then this
// machine's own.
func (s *Sim) closeStores() error {
	var errs []error
	for _, o := range s.others {
		errs = append(errs, o.Close())
	}
	errs = append(errs, s.store.Close())
	return errors.Join(errs...)
}
