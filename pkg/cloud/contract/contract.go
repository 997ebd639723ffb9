// Package contract is the provider-neutral behaviour test of cloud.Cloud.
// Every provider runs it against its simulator (or a real cloud) over
// HTTP: the same scenarios, through the port only, so that a provider that
// passes behaves the way the driver expects.
//
//	func TestContract(t *testing.T) {
//		contract.Run(t, func(t *testing.T) cloud.Cloud { return newProvider(t) }, contract.Env{ServerID: "..."})
//	}
package contract

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// Env describes the cloud the suite runs against.
type Env struct {
	// ServerID is a server test volumes can be attached to. Volumes are
	// created in Zone, which must be the server's zone where the cloud
	// requires it. Empty ServerID skips the attach scenarios.
	ServerID string
	Zone     string
	// SizeGiB of test volumes; default Capabilities().MinSizeGiB or 1.
	SizeGiB int
	// MissingID is a well-formed id that names no resource (default an
	// all-zero UUID).
	MissingID string
	// Timeout bounds each wait for a state (default 30s); Poll is the
	// interval between reads (default 50ms).
	Timeout, Poll time.Duration
	// Prefix starts the name of every resource the suite creates
	// (default "contract-"), so leftovers are easy to find.
	Prefix string
	// NoMetadata: the cloud keeps no metadata (Lunanode); SetVolumeMetadata
	// only checks that the volume exists. NoSourceRecord: a volume does
	// not report, once created, what it was created from. The driver
	// copes with both (it compares only what a cloud keeps).
	NoMetadata     bool
	NoSourceRecord bool
}

func (e *Env) defaults(caps cloud.Capabilities) {
	if e.SizeGiB == 0 {
		e.SizeGiB = max(1, caps.MinSizeGiB)
	}
	if e.MissingID == "" {
		e.MissingID = "00000000-0000-0000-0000-000000000000"
	}
	if e.Timeout == 0 {
		e.Timeout = 30 * time.Second
	}
	if e.Poll == 0 {
		e.Poll = 50 * time.Millisecond
	}
	if e.Prefix == "" {
		e.Prefix = "contract-"
	}
}

// Run runs every scenario as a subtest; newCloud gives each a fresh
// provider (and, for a simulator, a fresh cloud).
func Run(t *testing.T, newCloud func(t *testing.T) cloud.Cloud, env Env) {
	scenarios := []struct {
		name string
		fn   func(*suite)
	}{
		{"CreateGetDelete", (*suite).createGetDelete},
		{"ListPaginationAndNameFilter", (*suite).listPagination},
		{"Metadata", (*suite).metadata},
		{"Extend", (*suite).extend},
		{"AttachDetach", (*suite).attachDetach},
		{"Snapshots", (*suite).snapshots},
		{"Clone", (*suite).clone},
		{"Backups", (*suite).backups},
		{"NotFound", (*suite).notFound},
		{"Limits", (*suite).limits},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			c := newCloud(t)
			e := env
			e.defaults(c.Capabilities())
			s := &suite{t: t, c: c, env: e, caps: c.Capabilities()}
			sc.fn(s)
		})
	}
}

type suite struct {
	t    *testing.T
	c    cloud.Cloud
	env  Env
	caps cloud.Capabilities
	seq  int
}

func (s *suite) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.env.Timeout)
}

func (s *suite) name(what string) string {
	s.seq++
	return fmt.Sprintf("%s%s-%d", s.env.Prefix, what, s.seq)
}

// call retries a single call while the cloud throttles or blips, as the
// driver's waiter does, and returns its last error.
func (s *suite) call(fn func(ctx context.Context) error) error {
	ctx, cancel := s.ctx()
	defer cancel()
	for {
		err := fn(ctx)
		if err == nil || !cloud.IsRetryable(err) || ctx.Err() != nil {
			return err
		}
		wait := max(cloud.RetryAfterOf(err), s.env.Poll)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

func (s *suite) must(err error, what string) {
	s.t.Helper()
	if err != nil {
		s.t.Fatalf("%s: %v", what, err)
	}
}

func (s *suite) wantKind(err error, kind error, what string) {
	s.t.Helper()
	if !errors.Is(err, kind) {
		s.t.Errorf("%s: got %v, want %v", what, err, kind)
		return
	}
	var ce *cloud.Error
	if !errors.As(err, &ce) {
		s.t.Errorf("%s: %T is not a *cloud.Error", what, err)
	} else if ce.Message == "" {
		s.t.Errorf("%s: empty message", what)
	}
}
