// Command openblock-cloudsim serves the cloud simulator (Keystone, Cinder,
// Nova and Lunanode faces) on one listener.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"k8s.io/klog/v2"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
)

// serverFlags collects repeated --server id[:zone[:name]].
type serverFlags []cloudsim.Server

func (s *serverFlags) String() string { return fmt.Sprint(*s) }

func (s *serverFlags) Set(v string) error {
	parts := strings.SplitN(v, ":", 3)
	if parts[0] == "" {
		return errors.New("server id is empty")
	}
	srv := cloudsim.Server{ID: parts[0]}
	if len(parts) > 1 {
		srv.Zone = parts[1]
	}
	if len(parts) > 2 {
		srv.Name = parts[2]
	}
	*s = append(*s, srv)
	return nil
}

// accountFlags collects repeated --account name:password:project[:role,role].
type accountFlags []cloudsim.Account

func (a *accountFlags) String() string { return fmt.Sprint(len(*a), " accounts") }

func (a *accountFlags) Set(v string) error {
	parts := strings.SplitN(v, ":", 4)
	if len(parts) < 3 || parts[0] == "" || parts[2] == "" {
		return errors.New("want name:password:project[:role,role]")
	}
	acc := cloudsim.Account{Name: parts[0], Password: parts[1], Project: parts[2]}
	if len(parts) == 4 {
		acc.Roles = strings.Split(parts[3], ",")
	}
	*a = append(*a, acc)
	return nil
}

// readFile adds the accounts of a file, one a line; blank lines and lines
// starting with # are skipped.
func (a *accountFlags) readFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := a.Set(line); err != nil {
			return fmt.Errorf("line %d: %w", i+1, err)
		}
	}
	return nil
}

type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, x := range strings.Split(v, ",") {
		if x = strings.TrimSpace(x); x != "" {
			*l = append(*l, x)
		}
	}
	return nil
}

func main() {
	klog.InitFlags(nil)
	var (
		cfg       cloudsim.Config
		listen    = flag.String("listen", "127.0.0.1:8776", "address to listen on")
		servers   serverFlags
		accounts  accountFlags
		zones     listFlag
		faults    cloudsim.Faults
		quota     cloudsim.Quota
		tokenTTL  = flag.Duration("token-ttl", time.Hour, "lifetime of issued tokens")
		stuck     listFlag
		multi     listFlag
		failNextC = flag.Int("fail-next-create", 0, "the next N volume creates end in status error")
	)
	flag.StringVar(&cfg.StateDir, "state-dir", "/var/lib/openblock-cloudsim", "directory for state.json and volume images")
	flag.StringVar(&cfg.ByIDDir, "by-id-dir", "", "directory for virtio-<serial> links of locally attached volumes (default <state-dir>/by-id)")
	flag.StringVar(&cfg.LocalServerID, "local-server-id", "", "server id that is this machine: attaching to it creates a loop device (as root)")
	flag.StringVar(&cfg.Profile, "profile", "generic", "cloud profile: generic, nhn or helion")
	flag.StringVar(&cfg.Timing, "timing", "fast", "timing profile: fast or realistic")
	flag.Float64Var(&cfg.TimeScale, "time-scale", 1, "divide every duration and multiply every rate by this factor")
	flag.Float64Var(&cfg.RateLimit, "rate-limit", 0, "API calls per second per project (0: the profile's, negative: off)")
	flag.StringVar(&cfg.Region, "region", cloudsim.DefaultRegion, "region name in the service catalog")
	flag.StringVar(&cfg.PublicURL, "public-url", "", "base URL for catalogs and links (default: from each request's Host)")
	flag.StringVar(&cfg.DefaultZone, "default-zone", "", "default availability zone (default: the profile's)")
	flag.Var(&servers, "server", "server id[:zone[:name]] (repeatable; default: one server per zone)")
	flag.Var(&accounts, "account", "extra account name:password:project[:role,role] (repeatable; default roles member,reader)")
	accountsFile := flag.String("accounts-file", "", "file of extra accounts, one name:password:project[:role,role] a line (keeps passwords off the command line)")
	flag.Var(&zones, "zones", "comma-separated availability zones (default: the profile's)")
	flag.IntVar(&faults.LatencyMS, "latency-ms", 0, "extra latency added to every API call")
	flag.IntVar(&faults.JitterMS, "jitter-ms", 0, "random extra latency 0..N ms")
	flag.Float64Var(&faults.ServerErrorRatio, "error-ratio", 0, "ratio of calls answered 500")
	flag.Float64Var(&faults.OverLimitRatio, "over-limit-ratio", 0, "ratio of calls answered 413 overLimit")
	flag.Float64Var(&faults.DropRatio, "drop-ratio", 0, "ratio of calls whose connection is dropped")
	flag.Var(&stuck, "stuck", "operations that never complete (attach,detach,create,...; device: an attached disk never appears locally)")
	flag.Var(&multi, "multiattach-type", `comma-separated volume types to add, with extra spec multiattach="<is> True" (their volumes attach to several servers)`)
	flag.IntVar(&quota.Volumes, "quota-volumes", 0, "volumes per project (0: the profile's, negative: unlimited)")
	flag.IntVar(&quota.Snapshots, "quota-snapshots", 0, "snapshots per project (0: the profile's)")
	flag.IntVar(&quota.Gigabytes, "quota-gigabytes", 0, "gigabytes per project (0: the profile's)")
	flag.Parse()

	cfg.Servers = servers
	if *accountsFile != "" {
		if err := accounts.readFile(*accountsFile); err != nil {
			klog.Fatalf("cloudsim: --accounts-file: %v", err)
		}
	}
	cfg.Accounts = accounts
	cfg.Zones = zones
	cfg.TokenTTL = *tokenTTL
	faults.Stuck = stuck
	if *failNextC > 0 {
		faults.FailNext = map[string]int{cloudsim.OpCreate: *failNextC}
	}
	cfg.Faults = faults
	if len(multi) > 0 {
		types, err := cloudsim.ProfileVolumeTypes(cfg.Profile)
		if err != nil {
			klog.Fatal(err)
		}
		for i, name := range multi {
			types = append(types, cloudsim.VolumeType{ID: fmt.Sprintf("7d3c0a2e-1f4b-4c8d-9e6a-%012d", i+1), Name: name,
				ExtraSpecs: map[string]string{"multiattach": "<is> True"}})
		}
		cfg.VolumeTypes = types
	}
	if quota != (cloudsim.Quota{}) {
		q, err := cloudsim.ProfileQuota(cfg.Profile)
		if err != nil {
			klog.Fatal(err)
		}
		for _, p := range []struct {
			dst *int
			v   int
		}{{&q.Volumes, quota.Volumes}, {&q.Snapshots, quota.Snapshots}, {&q.Gigabytes, quota.Gigabytes}} {
			if p.v != 0 {
				*p.dst = p.v
			}
		}
		cfg.Quota = &q
	}

	sim, err := cloudsim.New(cfg)
	if err != nil {
		klog.Fatalf("cloudsim: %v", err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		sim.Close()
		klog.Fatalf("cloudsim: %v", err)
	}
	srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
	base := "http://" + ln.Addr().String()
	fmt.Printf("openblock-cloudsim: %s (profile %s) auth %s/identity/v3 user %s project %s domain %s (password: the default)\n",
		base, sim.Config().Profile, base, cloudsim.DefaultUser, cloudsim.DefaultProject, cloudsim.DefaultDomain)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		klog.InfoS("cloudsim: shutting down")
	case err := <-errc:
		klog.ErrorS(err, "cloudsim: serve")
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if err := sim.Close(); err != nil {
		klog.ErrorS(err, "cloudsim: close")
		klog.Flush()
		os.Exit(1)
	}
	klog.Flush()
}
