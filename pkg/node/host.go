package node

import (
	"time"

	mount "k8s.io/mount-utils"
	utilexec "k8s.io/utils/exec"
)

// Defaults for HostConfig's zero values.
const (
	DefaultByIDDir             = "/dev/disk/by-id"
	DefaultSysBlockDir         = "/sys/block"
	DefaultDevDir              = "/dev"
	DefaultMountInfoPath       = "/proc/self/mountinfo"
	DefaultFindTimeout         = 30 * time.Second
	DefaultPollInterval        = 500 * time.Millisecond
	DefaultUdevTriggerInterval = 2 * time.Second
	DefaultMaxConcurrentFormat = 2
	// DefaultFormatTimeout bounds how long one mkfs holds a concurrency
	// token; the mkfs itself is not killed.
	DefaultFormatTimeout = 5 * time.Minute
	// DefaultSerialLen is how many characters of the serial virtio keeps.
	DefaultSerialLen = 20
)

// HostConfig configures a Host. Zero values take the defaults above.
type HostConfig struct {
	// ByIDDir holds the udev by-id links (tests and the simulator use
	// their own directory).
	ByIDDir string
	// SysBlockDir is scanned for <disk>/serial when no by-id link exists.
	SysBlockDir string
	// DevDir is where the device nodes named in SysBlockDir live.
	DevDir string
	// MountInfoPath is read by MountState and DeviceForMount.
	MountInfoPath string

	// FindTimeout bounds FindDevice; PollInterval is the pause between
	// looks.
	FindTimeout  time.Duration
	PollInterval time.Duration
	// UdevTriggerInterval is the least time between two udev triggers
	// while FindDevice waits; negative disables triggering.
	UdevTriggerInterval time.Duration

	// MaxConcurrentFormat caps concurrent mkfs runs; negative means no cap.
	MaxConcurrentFormat int
	FormatTimeout       time.Duration

	// AllowRegularFiles lets FindDevice, DiskFormat and DeviceSize accept
	// regular files in place of block devices (tests without root).
	AllowRegularFiles bool

	// Exec and Mounter replace the real command runner and mounter.
	Exec    utilexec.Interface
	Mounter mount.Interface
}

// Host implements Ops on the local machine.
type Host struct {
	cfg     HostConfig
	exec    utilexec.Interface
	mounter *mount.SafeFormatAndMount
	resizer *mount.ResizeFs
}

var _ Ops = (*Host)(nil)

// NewHost returns a Host with cfg's zero values replaced by the defaults.
func NewHost(cfg HostConfig) *Host {
	cfg = cfg.withDefaults()
	ex := cfg.Exec
	if ex == nil {
		ex = utilexec.New()
	}
	m := cfg.Mounter
	if m == nil {
		// Block filesystems need no systemd scope: that only keeps FUSE
		// daemons alive across kubelet restarts.
		m = mount.NewWithoutSystemd("")
	}
	var opts []mount.Option
	if cfg.MaxConcurrentFormat > 0 {
		opts = append(opts, mount.WithMaxConcurrentFormat(cfg.MaxConcurrentFormat, cfg.FormatTimeout))
	}
	return &Host{
		cfg:     cfg,
		exec:    ex,
		mounter: mount.NewSafeFormatAndMount(m, ex, opts...),
		resizer: mount.NewResizeFs(ex),
	}
}

// Config returns the effective configuration.
func (h *Host) Config() HostConfig { return h.cfg }

func (c HostConfig) withDefaults() HostConfig {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	defDur := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.ByIDDir, DefaultByIDDir)
	def(&c.SysBlockDir, DefaultSysBlockDir)
	def(&c.DevDir, DefaultDevDir)
	def(&c.MountInfoPath, DefaultMountInfoPath)
	defDur(&c.FindTimeout, DefaultFindTimeout)
	defDur(&c.PollInterval, DefaultPollInterval)
	defDur(&c.UdevTriggerInterval, DefaultUdevTriggerInterval)
	defDur(&c.FormatTimeout, DefaultFormatTimeout)
	if c.MaxConcurrentFormat == 0 {
		c.MaxConcurrentFormat = DefaultMaxConcurrentFormat
	}
	return c
}
