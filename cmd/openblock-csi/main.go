// Command openblock-csi is the CSI driver: the controller (talking to the
// cloud named by the cloud config), the node plugin, or both.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/klog/v2"

	"github.com/openblock-csi/openblock-csi/pkg/cloud/callpool"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/lookup"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
	"github.com/openblock-csi/openblock-csi/pkg/cloudconfig"
	"github.com/openblock-csi/openblock-csi/pkg/doctor"
	"github.com/openblock-csi/openblock-csi/pkg/driver"
	"github.com/openblock-csi/openblock-csi/pkg/metadata"
	"github.com/openblock-csi/openblock-csi/pkg/metrics"
	"github.com/openblock-csi/openblock-csi/pkg/node"
	"github.com/openblock-csi/openblock-csi/pkg/provider"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type options struct {
	endpoint           string
	mode               string
	cloudConfig        string
	nodeID             string
	zone               string
	byIDDir            string
	kubeletDirs        dirList
	nodeStateDir       string
	controllerStateDir string
	httpEndpoint       string
	waiterMode         string
	metadataURL        string
	configDrive        string
	maxVolumesPerNode  int64
	sweepDelay         time.Duration
	showVersion        bool
}

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "register":
			os.Exit(registerMain(os.Args[2:]))
		case "doctor":
			os.Exit(doctorMain(os.Args[2:]))
		}
	}
	var o options
	fs := flag.CommandLine
	fs.StringVar(&o.endpoint, "endpoint", "unix:///csi/csi.sock", "CSI endpoint (unix:///path or tcp://host:port)")
	fs.StringVar(&o.mode, "mode", "all", "services to run: controller, node or all")
	fs.StringVar(&o.cloudConfig, "cloud-config", "", "cloud config file (required for the controller)")
	fs.StringVar(&o.nodeID, "node-id", "", "this node's server id (default: metadata service, config drive, then DMI product UUID)")
	fs.StringVar(&o.zone, "zone", "", "this node's zone (default: from the metadata service or config drive)")
	fs.StringVar(&o.byIDDir, "by-id-dir", node.DefaultByIDDir, "directory of udev by-id disk links")
	fs.Var(&o.kubeletDirs, "kubelet-dir", "the kubelet's root directory; node calls act only on paths under it (repeat or comma-separate for more; default "+driver.DefaultKubeletDir+")")
	fs.StringVar(&o.controllerStateDir, "controller-state-dir", "", "where the controller keeps its journal of create calls for its successor in the pod (an emptyDir); empty: a restarted controller lists the project instead")
	fs.StringVar(&o.nodeStateDir, "node-state-dir", "", "where the node records what it mounted (default <kubelet-dir>/plugins/<driver name>/node-state)")
	fs.StringVar(&o.httpEndpoint, "http-endpoint", "", "address for HTTP health and metrics (e.g. :8080); empty disables")
	fs.StringVar(&o.waiterMode, "waiter-mode", string(waiter.Batched), "how to wait for cloud operations: batched or per-volume")
	fs.StringVar(&o.metadataURL, "metadata-url", metadata.DefaultServiceURL, "OpenStack metadata service URL; - disables it")
	fs.StringVar(&o.configDrive, "config-drive", "", "mount point of the config drive, if any")
	fs.Int64Var(&o.maxVolumesPerNode, "max-volumes-per-node", 0, "volumes a node can take (default: the cloud config's attach-limit)")
	fs.DurationVar(&o.sweepDelay, "sweep-delay", driver.DefaultSweepDelay, "how long after it starts the controller first sweeps the project for failed resources it created (then every "+driver.DefaultSweepInterval.String()+")")
	fs.BoolVar(&o.showVersion, "version", false, "print the version and exit")
	klog.InitFlags(fs)
	flag.Parse()
	if o.showVersion {
		fmt.Println(version)
		return
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		klog.ErrorS(err, "openblock-csi failed")
		klog.Flush()
		os.Exit(1)
	}
	klog.Flush()
}

func run(ctx context.Context, o options) error {
	mode, err := driver.ParseMode(o.mode)
	if err != nil {
		return err
	}
	waiterMode, err := waiter.ParseMode(o.waiterMode)
	if err != nil {
		return err
	}
	rec := metrics.NewRecorder(version)
	cfg := driver.Config{Version: version, Mode: mode, MaxVolumesPerNode: o.maxVolumesPerNode, Observer: rec.ObserveRPC, SweepDelay: o.sweepDelay}

	var cc *cloudconfig.Config
	if o.cloudConfig != "" {
		if cc, err = cloudconfig.Load(o.cloudConfig); err != nil {
			return err
		}
	}
	if mode.HasController() {
		if cc == nil {
			return errors.New("the controller needs --cloud-config")
		}
		pc, err := provider.New(ctx, cc, provider.Options{UserAgent: "openblock-csi/" + version, Observer: rec})
		if err != nil {
			return fmt.Errorf("cloud: %w", err)
		}
		// API calls run off the requests' goroutines: see package callpool.
		c := callpool.Wrap(pc, callpool.DefaultLimit)
		cfg.Cloud = c
		cfg.ZoneMap, cfg.IgnoreVolumeAZ = cc.BlockStorage.ZoneMap, cc.BlockStorage.IgnoreVolumeAZ
		w := waiter.New(c, waiter.Options{Mode: waiterMode, Observer: rec.ObserveBatch})
		defer w.Close()
		names := lookup.New(c, w.Options())
		defer names.Close()
		cfg.Waiter, cfg.Lookup = w, names
		cfg.ControllerStateDir = o.controllerStateDir
		klog.InfoS("Cloud ready", "backend", c.Name(), "waiter", waiterMode)
	}
	if mode.HasNode() {
		id, err := metadata.Resolve(ctx, metadata.Options{
			NodeID: o.nodeID, Zone: o.zone, ServiceURL: o.metadataURL, ConfigDrive: o.configDrive,
		})
		if err != nil {
			return err
		}
		klog.InfoS("Node identity", "nodeID", id.NodeID, "from", id.NodeIDSource, "zone", id.Zone, "zoneFrom", id.ZoneSource)
		cfg.NodeID, cfg.Zone = id.NodeID, id.Zone
		cfg.NodeOps = node.NewHost(node.HostConfig{ByIDDir: o.byIDDir})
		cfg.KubeletDirs, cfg.StateDir = o.kubeletDirs, o.nodeStateDir
		if cc != nil {
			// The node needs no credentials, only what the config says
			// about disks.
			if cfg.MaxVolumesPerNode == 0 {
				cfg.MaxVolumesPerNode = int64(cc.BlockStorage.AttachLimit)
			}
			cfg.SerialLength = provider.SerialLength(cc)
		}
	}
	d, err := driver.New(cfg)
	if err != nil {
		return err
	}
	if o.httpEndpoint != "" {
		go func() {
			if err := metrics.Serve(ctx, o.httpEndpoint, rec, probe(ctx, d)); err != nil {
				klog.ErrorS(err, "HTTP endpoint failed", "address", o.httpEndpoint)
			}
		}()
	}
	return d.Run(ctx, o.endpoint)
}

// dirList is a repeatable, comma-separable directory flag.
type dirList []string

func (l *dirList) String() string { return strings.Join(*l, ",") }

func (l *dirList) Set(v string) error {
	for _, d := range strings.Split(v, ",") {
		if d = strings.TrimSpace(d); d != "" {
			*l = append(*l, d)
		}
	}
	return nil
}

// probe is /healthz: healthy while the driver's own Probe succeeds (in
// controller mode that includes reaching the cloud, cached briefly).
func probe(ctx context.Context, d *driver.Driver) func() error {
	return func() error {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := d.Probe(pctx, &csi.ProbeRequest{})
		return err
	}
}

// doctorMain runs `openblock-csi doctor`: a checklist of what the node and
// controller need, exiting 1 when a check fails.
func doctorMain(args []string) int {
	fs := flag.NewFlagSet("doctor", flag.ExitOnError)
	var opts doctor.Options
	opts.RegisterFlags(fs)
	_ = fs.Parse(args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if !doctor.Run(ctx, opts, os.Stdout) {
		return 1
	}
	return 0
}
