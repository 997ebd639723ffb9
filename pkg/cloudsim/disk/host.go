package disk

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/klog/v2"
)

// Host is a machine that sees attached volumes as real hot-plugged disks
// (a QEMU guest, see pkg/cloudsim/guest), in place of this machine's loop
// devices and links. The serial is what the hypervisor gives the disk: the
// volume id for Cinder, the volume's identification for Lunanode.
type Host interface {
	Plug(ctx context.Context, serial, file string) error
	Unplug(ctx context.Context, serial string) error
	// Resize tells the host the file has grown, as Nova does after an
	// in-use extend.
	Resize(ctx context.Context, serial string, size int64) error
}

// hostTimeout bounds one hot-plug operation; an unplug waits for the guest.
const hostTimeout = 2 * time.Minute

// SetHost makes Attach, Detach and Refresh plug, unplug and resize the
// volume's file in h instead of making loop devices. Call it before the
// first Attach.
func (s *Store) SetHost(h Host) {
	s.mu.Lock()
	s.host = h
	s.mu.Unlock()
}

func (s *Store) hostAttach(id, serial, img string) (Local, error) {
	s.mu.Lock()
	l, ok := s.attached[id]
	s.mu.Unlock()
	if ok {
		return l, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), hostTimeout)
	defer cancel()
	if err := s.host.Plug(ctx, serial, img); err != nil {
		return Local{}, fmt.Errorf("disk: attach %s: %w", id, err)
	}
	l = Local{Serial: serial, Hosted: true}
	s.mu.Lock()
	s.attached[id] = l
	s.mu.Unlock()
	klog.V(2).InfoS("disk: plugged into the guest", "volume", id, "serial", serial)
	return l, nil
}

func (s *Store) hostDetach(id string, l Local) error {
	ctx, cancel := context.WithTimeout(context.Background(), hostTimeout)
	defer cancel()
	if err := s.host.Unplug(ctx, l.Serial); err != nil {
		return fmt.Errorf("disk: detach %s: %w", id, err)
	}
	s.mu.Lock()
	delete(s.attached, id)
	s.mu.Unlock()
	klog.V(2).InfoS("disk: unplugged from the guest", "volume", id, "serial", l.Serial)
	return nil
}

func (s *Store) hostRefresh(id string, l Local) error {
	fi, err := statImage(s.Path(KindVolumes, id))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), hostTimeout)
	defer cancel()
	if err := s.host.Resize(ctx, l.Serial, fi); err != nil {
		return fmt.Errorf("disk: refresh %s: %w", id, err)
	}
	return nil
}

// FaultHost is a Host with fault knobs that act behind the cloud's back
// (pkg/cloudsim/guest's Server): plugs that lag behind the attach call,
// and a disk pulled from the machine while the cloud still reports it
// attached.
type FaultHost interface {
	Host
	// DelayPlugs makes later plugs return at once and the disk appear
	// d afterwards (0: at once again).
	DelayPlugs(d time.Duration)
	// SurpriseUnplug removes the disk with this serial from the machine.
	SurpriseUnplug(ctx context.Context, serial string) error
}

// ErrNoFaultHost: the hot-plug fault knobs need a Host that has them.
var ErrNoFaultHost = errors.New("the local server is not a guest with hot-plug faults (the simulator runs without one)")

// ErrNotPlugged: no attached volume's disk has that serial.
var ErrNotPlugged = errors.New("no attached disk has that serial")

func (s *Store) faultHost() (FaultHost, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if fh, ok := s.host.(FaultHost); ok {
		return fh, nil
	}
	return nil, ErrNoFaultHost
}

// DelayPlugs sets the host's plug delay (see FaultHost).
func (s *Store) DelayPlugs(d time.Duration) error {
	fh, err := s.faultHost()
	if err != nil {
		return err
	}
	fh.DelayPlugs(d)
	return nil
}

// SurpriseUnplug pulls the disk with this serial (the volume id for
// Cinder, the volume's identification for Lunanode) out of the host; the
// volume stays attached as far as the cloud knows, and a later detach
// succeeds.
func (s *Store) SurpriseUnplug(serial string) error {
	fh, err := s.faultHost()
	if err != nil {
		return err
	}
	found := false
	for _, l := range s.Attached() {
		found = found || (l.Hosted && l.Serial == serial)
	}
	if !found {
		return fmt.Errorf("surprise unplug %s: %w", serial, ErrNotPlugged)
	}
	ctx, cancel := context.WithTimeout(context.Background(), hostTimeout)
	defer cancel()
	return fh.SurpriseUnplug(ctx, serial)
}
