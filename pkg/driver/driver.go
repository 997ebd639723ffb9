// Package driver implements the CSI Identity, Controller and Node services
// on top of the provider-neutral cloud.Cloud port and the node.Ops host
// interface. It never names a provider: cmd/ wires the one the cloud config
// chooses.
package driver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"k8s.io/klog/v2"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/inflight"
	"github.com/openblock-csi/openblock-csi/pkg/node"
)

// DefaultName is the driver name registered with Kubernetes.
const DefaultName = "block.csi.openblock.io"

// DefaultKubeletDir is the kubelet's root directory: node RPCs act only on
// paths under it unless Config.KubeletDirs says otherwise.
const DefaultKubeletDir = "/var/lib/kubelet"

// TopologyZoneKey is the topology segment key of a zone.
const TopologyZoneKey = "topology.block.csi.openblock.io/zone"

// Mode says which CSI services a process serves.
type Mode string

const (
	ModeController Mode = "controller"
	ModeNode       Mode = "node"
	ModeAll        Mode = "all"
)

// ParseMode parses a --mode value.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case ModeController, ModeNode, ModeAll:
		return m, nil
	}
	return "", fmt.Errorf("mode %q: want controller, node or all", s)
}

// HasController reports whether the mode serves the controller.
func (m Mode) HasController() bool { return m == ModeController || m == ModeAll }

// HasNode reports whether the mode serves the node.
func (m Mode) HasNode() bool { return m == ModeNode || m == ModeAll }

// Config configures a Driver.
type Config struct {
	// Name defaults to DefaultName; Version is reported by GetPluginInfo.
	Name    string
	Version string
	Mode    Mode

	// Cloud and Waiter serve the controller. Waiter defaults to a batched
	// waiter over Cloud; share one Waiter per cloud.
	Cloud  cloud.Cloud
	Waiter *cloud.Waiter

	// NodeOps, NodeID and Zone serve the node.
	NodeOps node.Ops
	NodeID  string
	Zone    string
	// MaxVolumesPerNode is reported by NodeGetInfo; 0 takes the cloud's
	// figure when a Cloud is configured (mode all), else reports none.
	MaxVolumesPerNode int64
	// SerialLength is used when a publish context does not carry one.
	SerialLength int
	// KubeletDirs are the only directories node RPCs act under (default
	// DefaultKubeletDir); StateDir keeps the node's records of what it
	// mounted (default <first KubeletDir>/plugins/<Name>/node-state).
	KubeletDirs []string
	StateDir    string

	// ZoneMap maps the compute zones nodes report to the cloud's volume
	// zones; IgnoreVolumeAZ lets the cloud choose the volume zone. Topology
	// is always in compute zones.
	ZoneMap        map[string]string
	IgnoreVolumeAZ bool

	// AttachTimeout bounds how long an attach may stay in attaching before
	// the driver detaches and reports failure (default 5 minutes).
	AttachTimeout time.Duration
	// ProbeTTL is how long a successful cloud check in Probe is reused
	// (default 5 s).
	ProbeTTL time.Duration

	// SweepDelay is how long after Serve starts the controller first looks
	// for failed resources it created (default DefaultSweepDelay);
	// SweepInterval how often after that (default DefaultSweepInterval,
	// negative: never).
	SweepDelay, SweepInterval time.Duration

	// Observer, if set, is called after every RPC (for metrics).
	Observer func(method string, code codes.Code, d time.Duration)
}

// Driver serves CSI over gRPC.
type Driver struct {
	csi.UnimplementedIdentityServer
	csi.UnimplementedControllerServer
	csi.UnimplementedNodeServer

	cfg    Config
	cloud  cloud.Cloud
	waiter *cloud.Waiter
	caps   cloud.Capabilities
	ops    node.Ops
	roots  node.Roots
	ledger *node.Ledger

	// inFlight holds the names and ids of operations under way; a second
	// request on one of them gets Aborted.
	inFlight inflight.Set
	// janitor: failed resources being watched or removed in the background.
	janitor janitor

	probeMu   sync.Mutex
	probeTime time.Time
}

// New checks cfg and returns a Driver.
func New(cfg Config) (*Driver, error) {
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	if cfg.Mode == "" {
		cfg.Mode = ModeAll
	}
	if _, err := ParseMode(string(cfg.Mode)); err != nil {
		return nil, err
	}
	if cfg.AttachTimeout <= 0 {
		cfg.AttachTimeout = 5 * time.Minute
	}
	if cfg.ProbeTTL <= 0 {
		cfg.ProbeTTL = 5 * time.Second
	}
	if cfg.SweepDelay <= 0 {
		cfg.SweepDelay = DefaultSweepDelay
	}
	if cfg.SweepInterval == 0 {
		cfg.SweepInterval = DefaultSweepInterval
	}
	d := &Driver{cfg: cfg, cloud: cfg.Cloud, waiter: cfg.Waiter, ops: cfg.NodeOps}
	if cfg.Mode.HasController() {
		if cfg.Cloud == nil {
			return nil, errors.New("controller mode needs a cloud")
		}
		if d.waiter == nil {
			d.waiter = cloud.NewWaiter(cfg.Cloud, cloud.WaiterOptions{})
		}
	}
	if cfg.Cloud != nil {
		d.caps = cfg.Cloud.Capabilities()
		if d.cfg.MaxVolumesPerNode == 0 {
			d.cfg.MaxVolumesPerNode = int64(d.caps.MaxVolumesPerNode)
		}
		if d.cfg.SerialLength == 0 {
			d.cfg.SerialLength = d.caps.SerialLength
		}
	}
	if cfg.Mode.HasNode() {
		if cfg.NodeOps == nil {
			return nil, errors.New("node mode needs node operations")
		}
		if cfg.NodeID == "" {
			return nil, errors.New("node mode needs a node id")
		}
		if err := d.openNodeState(); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Name returns the driver name.
func (d *Driver) Name() string { return d.cfg.Name }

// Run serves on endpoint (unix:///path/csi.sock, unix:/path, a bare path,
// or tcp://host:port) until ctx is canceled, then stops gracefully.
func (d *Driver) Run(ctx context.Context, endpoint string) error {
	lis, err := Listen(endpoint)
	if err != nil {
		return err
	}
	return d.Serve(ctx, lis)
}

// Serve serves on lis until ctx is canceled.
func (d *Driver) Serve(ctx context.Context, lis net.Listener) error {
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(d.interceptor))
	csi.RegisterIdentityServer(srv, d)
	if d.cfg.Mode.HasController() {
		csi.RegisterControllerServer(srv, d)
	}
	if d.cfg.Mode.HasNode() {
		csi.RegisterNodeServer(srv, d)
	}
	klog.InfoS("Serving CSI", "driver", d.cfg.Name, "version", d.cfg.Version, "mode", d.cfg.Mode, "address", lis.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	if d.cfg.Mode.HasController() {
		go d.sweepLoop(ctx)
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Let requests in flight finish (a sidecar retries the rest), but do
	// not hang shutdown on a stuck one.
	stopped := make(chan struct{})
	go func() { srv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(20 * time.Second):
		srv.Stop()
	}
	klog.InfoS("CSI server stopped")
	return nil
}

// Listen parses endpoint and listens on it; a stale unix socket from a
// previous run is removed first.
func Listen(endpoint string) (net.Listener, error) {
	network, addr, err := ParseEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	if network == "unix" {
		if err := os.MkdirAll(filepath.Dir(addr), 0o750); err != nil {
			return nil, fmt.Errorf("endpoint %s: %w", endpoint, err)
		}
		if fi, err := os.Lstat(addr); err == nil {
			if fi.Mode()&os.ModeSocket == 0 {
				return nil, fmt.Errorf("endpoint %s: %s exists and is not a socket", endpoint, addr)
			}
			if err := os.Remove(addr); err != nil {
				return nil, fmt.Errorf("endpoint %s: remove stale socket: %w", endpoint, err)
			}
		}
	}
	lis, err := net.Listen(network, addr)
	if err != nil {
		return nil, fmt.Errorf("endpoint %s: %w", endpoint, err)
	}
	return lis, nil
}

// ParseEndpoint splits a CSI endpoint into network and address.
func ParseEndpoint(endpoint string) (network, addr string, err error) {
	switch {
	case endpoint == "":
		return "", "", errors.New("empty endpoint")
	case strings.HasPrefix(endpoint, "/"):
		return "unix", endpoint, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", "", fmt.Errorf("endpoint %q: %w", endpoint, err)
	}
	switch strings.ToLower(u.Scheme) {
	case "unix":
		addr = u.Path
		if addr == "" {
			addr = u.Opaque // unix:relative/or/abs form
		}
		if u.Host != "" {
			addr = u.Host + addr
		}
		if addr == "" {
			return "", "", fmt.Errorf("endpoint %q: no socket path", endpoint)
		}
		return "unix", addr, nil
	case "tcp":
		if u.Host == "" {
			return "", "", fmt.Errorf("endpoint %q: no host:port", endpoint)
		}
		return "tcp", u.Host, nil
	}
	return "", "", fmt.Errorf("endpoint %q: scheme must be unix or tcp", endpoint)
}
