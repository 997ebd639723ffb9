package main

import (
	"debug/buildinfo"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/timing"
	"github.com/openblock-csi/openblock-csi/test/harness"
)

// options are the command-line flags.
type options struct {
	driver           string
	backend          string
	scenarios        string
	volumes          int
	concurrency      int
	volumesPerNode   int
	sizeGiB          int
	fsType           string
	timeScale        float64
	rateTimeScale    float64
	rateLimit        float64
	clientRateLimit  float64 // negative: same as rateLimit
	learnedRateLimit float64 // the project limit in learned (the driver is not told)
	learnedVolumes   int
	nodeVolumes      int
	rpcTimeout       time.Duration
	workDir          string
	keep             bool
	skipRootScenario bool
	// The scale scenario: volumes through the lifecycle, nodes they are
	// published to, volumes the project holds already, ListVolumes page.
	scaleVolumes, scaleNodes, scaleSeed, scalePage int
	peer                                           string   // the peer driver's binary: run the side-by-side only
	peerTimings                                    []string // simulator timing profiles of the side-by-side
}

// settings are what the run used, printed first and in the JSON line.
type settings struct {
	Backend              string             `json:"backend"`
	Profile              string             `json:"profile"`
	Timing               string             `json:"timing"`
	Durations            map[string]float64 `json:"durations_s"`
	DurationsFast        map[string]float64 `json:"durations_fast_s"`
	TimeScaleLifecycle   float64            `json:"time_scale_lifecycle"`
	TimeScaleRateLimited float64            `json:"time_scale_ratelimited"`
	Volumes              int                `json:"volumes"`
	Concurrency          int                `json:"concurrency"`
	Nodes                int                `json:"nodes"`
	VolumeSizeGiB        int                `json:"volume_size_gib"`
	FSType               string             `json:"fs_type"`
	RateLimit            float64            `json:"rate_limit_calls_per_s"`
	ClientRateLimit      float64            `json:"client_rate_limit_calls_per_s"`
	LearnedRateLimit     float64            `json:"learned_rate_limit_calls_per_s"`
	LearnedVolumes       int                `json:"learned_volumes"`
	NodeVolumes          int                `json:"node_volumes"`
	WaiterInitialS       float64            `json:"waiter_initial_delay_s"`
	WaiterMinStepS       float64            `json:"waiter_min_step_s"`
	WaiterCoalesceS      float64            `json:"waiter_coalesce_s"`
	WaiterIntervalS      float64            `json:"waiter_batched_interval_s"`
	WaiterPerVolume      string             `json:"waiter_per_volume_backoff"`
	RPCTimeoutS          float64            `json:"rpc_timeout_s"`
	Driver               string             `json:"driver"`
	DriverVersion        string             `json:"driver_version"`
	DriverCommit         string             `json:"driver_commit"`
	GoVersion            string             `json:"go_version"`
	GOMAXPROCS           int                `json:"gomaxprocs"`
	NProc                int                `json:"nproc"`
	Scenarios            []string           `json:"scenarios"`
	ScaleVolumes         int                `json:"scale_volumes"`
	ScaleNodes           int                `json:"scale_nodes"`
	ScaleSeeded          int                `json:"scale_seeded_volumes"`
	ScalePage            int                `json:"scale_list_max_entries"`
}

func newSettings(o options, b harness.Backend) settings {
	durations := func(d timing.Profile) map[string]float64 {
		return map[string]float64{
			"create": d.Create.Seconds(), "attach": d.Attach.Seconds(), "detach": d.Detach.Seconds(),
			"delete": d.Delete.Seconds(), "snapshot": d.Snapshot.Seconds(), "device": d.Device.Seconds(),
		}
	}
	s := settings{
		Backend: b.Name, Profile: b.Profile, Timing: "realistic",
		Durations:          durations(timing.Realistic.Scaled(o.timeScale)),
		DurationsFast:      durations(timing.Fast),
		TimeScaleLifecycle: o.timeScale, TimeScaleRateLimited: o.rateTimeScale,
		Volumes: o.volumes, Concurrency: o.concurrency, Nodes: nodeCount(o.volumes, o.volumesPerNode),
		VolumeSizeGiB: o.sizeGiB, FSType: o.fsType,
		RateLimit: o.rateLimit, ClientRateLimit: o.clientRateLimit, NodeVolumes: o.nodeVolumes,
		LearnedRateLimit: o.learnedRateLimit, LearnedVolumes: o.learnedVolumes,
		WaiterInitialS:  waiter.DefaultInitialDelay.Seconds(),
		WaiterMinStepS:  waiter.DefaultMinStep.Seconds(),
		WaiterCoalesceS: waiter.DefaultCoalesce.Seconds(),
		WaiterIntervalS: waiter.DefaultInterval.Seconds(),
		WaiterPerVolume: waiter.DefaultPerVolumeDelay.String() + " x1.2",
		RPCTimeoutS:     o.rpcTimeout.Seconds(),
		Driver:          o.driver,
		DriverVersion:   driverVersion(o.driver),
		DriverCommit:    driverCommit(o.driver),
		GoVersion:       runtime.Version(),
		GOMAXPROCS:      runtime.GOMAXPROCS(0),
		NProc:           runtime.NumCPU(),
		Scenarios:       strings.Split(o.scenarios, ","),
		ScaleVolumes:    o.scaleVolumes,
		ScaleNodes:      o.scaleNodes,
		ScaleSeeded:     o.scaleSeed,
		ScalePage:       o.scalePage,
	}
	return s
}

func nodeCount(volumes, perNode int) int {
	if perNode <= 0 {
		perNode = volumes
	}
	return max(1, (volumes+perNode-1)/perNode)
}

func driverVersion(binary string) string {
	out, err := exec.Command(binary, "--version").Output()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return strings.TrimSpace(string(out))
}

// driverCommit is the VCS revision stamped in the binary, else the
// working tree's HEAD (marked -dirty when it has changes).
func driverCommit(binary string) string {
	if bi, err := buildinfo.ReadFile(binary); err == nil {
		var rev, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if rev != "" {
			if modified == "true" {
				rev += "-dirty"
			}
			return rev
		}
	}
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown (no VCS stamp in the binary, no git HEAD)"
	}
	rev := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		rev += "-dirty"
	}
	return rev
}
