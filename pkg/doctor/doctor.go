// Package doctor checks that a machine can run the driver: the node's
// tools, devices, identity and directories, and, given a cloud config, that
// the credentials work and the cloud offers what the driver needs. It
// prints one line per check and a fix for every failure.
package doctor

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// Defaults for Options' zero values (and the flags' defaults).
const (
	DefaultByIDDir        = "/dev/disk/by-id"
	DefaultSysBlockDir    = "/sys/block"
	DefaultUdevDir        = "/run/udev"
	DefaultKubeletDir     = "/var/lib/kubelet"
	DefaultMetadataURL    = "http://169.254.169.254"
	DefaultConfigDriveDir = "/mnt/config"
	DefaultDMIProductUUID = "/sys/class/dmi/id/product_uuid"
	DefaultTimeout        = 60 * time.Second
	DefaultMetadataWait   = 3 * time.Second
)

// Options selects and configures the checks.
type Options struct {
	// CloudConfig is the cloud config file; empty skips the controller
	// checks.
	CloudConfig string
	// Node runs the node checks.
	Node bool

	// NodeID and Zone, when set, are what the node plugin would be given
	// with --node-id and --zone; otherwise they are resolved as the driver
	// does: metadata service, config drive, DMI product UUID.
	NodeID string
	Zone   string

	ByIDDir        string
	SysBlockDir    string
	UdevDir        string
	KubeletDir     string
	MetadataURL    string
	ConfigDriveDir string
	// DMIProductUUID is the file holding the machine's SMBIOS UUID.
	DMIProductUUID string
	// MetadataTimeout bounds the metadata service request.
	MetadataTimeout time.Duration
	// Timeout bounds all cloud calls together.
	Timeout time.Duration
	// ToolPath is searched for the node's tools; empty means $PATH, which
	// is what the node plugin's exec uses too.
	ToolPath string
}

// RegisterFlags binds o's fields to flags on fs, with the defaults above
// and Node enabled.
func (o *Options) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.CloudConfig, "cloud-config", o.CloudConfig, "cloud config file; when set, check credentials, endpoints and quota")
	fs.BoolVar(&o.Node, "node-checks", true, "check the node: tools, devices, udev, node identity, kubelet directory")
	fs.StringVar(&o.NodeID, "node-id", o.NodeID, "node id the node plugin is given (default: resolve from metadata service, config drive, DMI)")
	fs.StringVar(&o.Zone, "zone", o.Zone, "zone the node plugin is given (default: from the metadata service or config drive)")
	fs.StringVar(&o.ByIDDir, "by-id-dir", or(o.ByIDDir, DefaultByIDDir), "directory of the udev disk-by-id links")
	fs.StringVar(&o.SysBlockDir, "sys-block-dir", or(o.SysBlockDir, DefaultSysBlockDir), "sysfs block device directory")
	fs.StringVar(&o.UdevDir, "udev-dir", or(o.UdevDir, DefaultUdevDir), "udev runtime directory")
	fs.StringVar(&o.KubeletDir, "kubelet-dir", or(o.KubeletDir, DefaultKubeletDir), "kubelet root directory")
	fs.StringVar(&o.MetadataURL, "metadata-url", or(o.MetadataURL, DefaultMetadataURL), "OpenStack metadata service base URL")
	fs.StringVar(&o.ConfigDriveDir, "config-drive-dir", or(o.ConfigDriveDir, DefaultConfigDriveDir), "where the config drive (label config-2) is mounted")
	fs.StringVar(&o.DMIProductUUID, "dmi-product-uuid", or(o.DMIProductUUID, DefaultDMIProductUUID), "file holding the machine's SMBIOS UUID")
	fs.DurationVar(&o.MetadataTimeout, "metadata-timeout", orDur(o.MetadataTimeout, DefaultMetadataWait), "timeout of the metadata service request")
	fs.DurationVar(&o.Timeout, "timeout", orDur(o.Timeout, DefaultTimeout), "timeout of all cloud calls together")
}

func (o Options) withDefaults() Options {
	o.ByIDDir = or(o.ByIDDir, DefaultByIDDir)
	o.SysBlockDir = or(o.SysBlockDir, DefaultSysBlockDir)
	o.UdevDir = or(o.UdevDir, DefaultUdevDir)
	o.KubeletDir = or(o.KubeletDir, DefaultKubeletDir)
	o.MetadataURL = or(o.MetadataURL, DefaultMetadataURL)
	o.ConfigDriveDir = or(o.ConfigDriveDir, DefaultConfigDriveDir)
	o.DMIProductUUID = or(o.DMIProductUUID, DefaultDMIProductUUID)
	o.MetadataTimeout = orDur(o.MetadataTimeout, DefaultMetadataWait)
	o.Timeout = orDur(o.Timeout, DefaultTimeout)
	return o
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func orDur(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Status is a check's outcome.
type Status string

const (
	Pass Status = "PASS"
	Fail Status = "FAIL"
	Warn Status = "WARN"
	Skip Status = "SKIP"
)

// Result is one check's outcome. Fix says what to do about a FAIL or WARN.
type Result struct {
	Status Status
	Name   string
	Detail string
	Fix    string
}

// report prints results as they come and tallies them. Every line passes
// through scrub so that a secret that slipped into a cloud's message is
// still never printed.
type report struct {
	w       io.Writer
	secrets []string
	counts  map[Status]int
}

const nameWidth = 22

func (r *report) add(res Result) {
	r.counts[res.Status]++
	line := fmt.Sprintf("[%s] %-*s %s", res.Status, nameWidth, res.Name, oneLine(res.Detail))
	fmt.Fprintln(r.w, r.scrub(strings.TrimRight(line, " ")))
	if res.Fix != "" && (res.Status == Fail || res.Status == Warn) {
		fmt.Fprintln(r.w, r.scrub("       fix: "+oneLine(res.Fix)))
	}
}

func (r *report) section(title string) { fmt.Fprintf(r.w, "%s\n", title) }

// hide registers secrets to be masked in all further output.
func (r *report) hide(secrets ...string) {
	for _, s := range secrets {
		if len(s) >= 4 {
			r.secrets = append(r.secrets, s)
		}
	}
}

func (r *report) scrub(s string) string {
	for _, secret := range r.secrets {
		s = strings.ReplaceAll(s, secret, "<redacted>")
	}
	return s
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// Run runs the checks opts selects, prints them to w, and reports whether
// none failed (warnings and skips do not fail). The caller turns ok into
// the exit status.
func Run(ctx context.Context, opts Options, w io.Writer) (ok bool) {
	opts = opts.withDefaults()
	r := &report{w: w, counts: map[Status]int{}}
	if !opts.Node && opts.CloudConfig == "" {
		r.add(Result{Status: Fail, Name: "nothing to check", Detail: "node checks are off and no cloud config was given",
			Fix: "pass --cloud-config FILE, or leave --node-checks on"})
	}
	if opts.Node {
		r.section("node:")
		nodeChecks(ctx, opts, r)
	}
	if opts.CloudConfig != "" {
		r.section("controller:")
		controllerChecks(ctx, opts, r)
	}
	fmt.Fprintf(w, "doctor: %d passed, %d failed, %d warnings, %d skipped\n",
		r.counts[Pass], r.counts[Fail], r.counts[Warn], r.counts[Skip])
	return r.counts[Fail] == 0
}
