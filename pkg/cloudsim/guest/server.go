package guest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/disk"
)

// The simulator reaches the fault knobs through /_sim/faults.
var _ disk.FaultHost = (*Server)(nil)

// Server is a guest as a server of the simulated cloud: it implements the
// simulator's disk.Host, so attaching a volume hot-plugs its file on the
// server's bus (virtio-blk, or scsi-hd for an image with hw_disk_bus=scsi)
// and detaching unplugs it. Its fault knobs act behind the cloud's back.
type Server struct {
	VM  *VM
	Bus Bus

	mu         sync.Mutex
	plugDelay  time.Duration          // the next plugs wait this long
	pending    map[string]*time.Timer // delayed plugs not yet done
	plugErrors []error
}

// NewServer makes vm a server whose disks go on bus.
func NewServer(vm *VM, bus Bus) *Server {
	return &Server{VM: vm, Bus: bus, pending: map[string]*time.Timer{}}
}

// DelayPlugs makes every later attach return at once and the disk appear
// in the guest d afterwards (0 restores immediate plugs).
func (s *Server) DelayPlugs(d time.Duration) {
	s.mu.Lock()
	s.plugDelay = d
	s.mu.Unlock()
}

// SurpriseUnplug removes the disk from the guest while the cloud still
// reports it attached, as a failed host or a storage fault does.
func (s *Server) SurpriseUnplug(ctx context.Context, serial string) error {
	return s.VM.Unplug(ctx, serial)
}

// Plug implements disk.Host.
func (s *Server) Plug(ctx context.Context, serial, file string) error {
	s.mu.Lock()
	d := s.plugDelay
	s.mu.Unlock()
	if d <= 0 {
		return s.VM.Plug(ctx, serial, file, s.Bus)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.pending[serial]; ok {
		return fmt.Errorf("guest: a plug of %s is pending already", serial)
	}
	s.pending[serial] = time.AfterFunc(d, func() {
		s.mu.Lock()
		_, ok := s.pending[serial]
		delete(s.pending, serial)
		s.mu.Unlock()
		if !ok {
			return // detached before it appeared
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.VM.Plug(ctx, serial, file, s.Bus); err != nil {
			s.mu.Lock()
			s.plugErrors = append(s.plugErrors, err)
			s.mu.Unlock()
		}
	})
	return nil
}

// Unplug implements disk.Host; a delayed plug not yet done is dropped.
func (s *Server) Unplug(ctx context.Context, serial string) error {
	s.mu.Lock()
	if t, ok := s.pending[serial]; ok {
		t.Stop()
		delete(s.pending, serial)
	}
	s.mu.Unlock()
	return s.VM.Unplug(ctx, serial)
}

// Resize implements disk.Host: the guest sees the disk's new size.
func (s *Server) Resize(ctx context.Context, serial string, size int64) error {
	return s.VM.Resize(ctx, serial, size)
}

// PlugErrors are the delayed plugs that failed.
func (s *Server) PlugErrors() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.plugErrors...)
}
