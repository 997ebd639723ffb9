// Package driver implements the CSI Identity, Controller and Node services
// on top of the provider-neutral cloud.Cloud port and the node.Ops host
// interface, as three types composed by mode. It never names a provider:
// cmd/ wires the one the cloud config chooses.
package driver

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"k8s.io/klog/v2"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/lookup"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
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

	// Cloud, Waiter and Lookup serve the controller. Waiter defaults to a
	// batched waiter over Cloud, Lookup to name lookups with the Waiter's
	// options; share one of each per cloud.
	Cloud  cloud.Cloud
	Waiter *waiter.Waiter
	Lookup *lookup.Names

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

	// ControllerStateDir, if set, keeps the controller's journal of the
	// creates it sent (twins_journal.go) for its successor in the same
	// pod; empty: a restarted controller lists the project instead.
	ControllerStateDir string

	// SweepDelay is how long after Serve starts the controller first looks
	// for failed resources it created (default DefaultSweepDelay);
	// SweepInterval how often after that (default DefaultSweepInterval,
	// negative: never).
	SweepDelay, SweepInterval time.Duration

	// Observer, if set, is called after every RPC (for metrics).
	Observer func(method string, code codes.Code, d time.Duration)
}

// Driver serves CSI over gRPC: the Identity service always, the Controller
// and Node services as the mode says. Each service holds only what it
// needs, so a node process never holds a cloud and a controller no host.
type Driver struct {
	cfg        Config
	identity   *Identity
	controller *Controller // nil unless the mode serves the controller
	node       *Node       // nil unless the mode serves the node
}

// New checks cfg and returns a Driver composed for cfg.Mode.
func New(cfg Config) (*Driver, error) {
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	var caps *cloud.Capabilities
	if cfg.Cloud != nil {
		c := cfg.Cloud.Capabilities()
		caps = &c
	}
	d := &Driver{cfg: cfg}
	if cfg.Mode.HasController() {
		if d.controller, err = newController(cfg); err != nil {
			return nil, err
		}
	}
	if cfg.Mode.HasNode() {
		if d.node, err = newNode(cfg, caps); err != nil {
			return nil, err
		}
	}
	d.identity = newIdentity(cfg, caps, d.controller)
	return d, nil
}

func withDefaults(cfg Config) (Config, error) {
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
		return cfg, err
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
	return cfg, nil
}

// Name returns the driver name.
func (d *Driver) Name() string { return d.cfg.Name }

// Probe answers as the Identity service's Probe does (for /healthz).
func (d *Driver) Probe(ctx context.Context, req *csi.ProbeRequest) (*csi.ProbeResponse, error) {
	return d.identity.Probe(ctx, req)
}

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
	csi.RegisterIdentityServer(srv, d.identity)
	if d.controller != nil {
		csi.RegisterControllerServer(srv, d.controller)
	}
	if d.node != nil {
		csi.RegisterNodeServer(srv, d.node)
	}
	klog.InfoS("Serving CSI", "driver", d.cfg.Name, "version", d.cfg.Version, "mode", d.cfg.Mode, "address", lis.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	if d.controller != nil {
		go d.controller.sweepLoop(ctx)
		d.controller.resumeTwinWatches(ctx)
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
	if d.controller != nil {
		d.controller.twins.closeJournal()
	}
	klog.InfoS("CSI server stopped")
	return nil
}
