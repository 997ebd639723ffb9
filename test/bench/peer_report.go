package main

import (
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/timing"
	"github.com/openblock-csi/openblock-csi/test/harness"
)

// peerModule is the peer driver's Go module.
const peerModule = "k8s.io/cloud-provider-openstack"

// peerSettings are what the side-by-side used, printed first and in its
// JSON line.
type peerSettings struct {
	Backend       string                        `json:"backend"`
	Profile       string                        `json:"profile"`
	APIVersion    int                           `json:"cinder_api_version"`
	Timings       []string                      `json:"timings"`
	Durations     map[string]map[string]float64 `json:"durations_s"`
	Volumes       int                           `json:"volumes"`
	Concurrency   int                           `json:"concurrency"`
	Servers       int                           `json:"servers"`
	VolumeSizeGiB int                           `json:"volume_size_gib"`
	RPCTimeoutS   float64                       `json:"rpc_timeout_s"`
	MaxAttempts   int                           `json:"max_attempts"`
	Driver        string                        `json:"driver"`
	DriverVersion string                        `json:"driver_version"`
	DriverCommit  string                        `json:"driver_commit"`
	DriverWaiter  string                        `json:"driver_waiter"`
	Peer          string                        `json:"peer"`
	PeerVersion   string                        `json:"peer_version"`
	GoVersion     string                        `json:"go_version"`
	NProc         int                           `json:"nproc"`
}

func newPeerSettings(o options, b harness.Backend) peerSettings {
	s := peerSettings{
		Backend: b.Name, Profile: b.Profile, APIVersion: b.APIVersion, Timings: o.peerTimings,
		Durations: map[string]map[string]float64{},
		Volumes:   o.volumes, Concurrency: o.concurrency, Servers: nodeCount(o.volumes, o.volumesPerNode),
		VolumeSizeGiB: o.sizeGiB, RPCTimeoutS: o.rpcTimeout.Seconds(), MaxAttempts: peerMaxAttempts,
		Driver: o.driver, DriverVersion: driverVersion(o.driver), DriverCommit: driverCommit(o.driver),
		DriverWaiter: "default (--waiter-mode not set)",
		Peer:         o.peer, PeerVersion: peerVersion(o.peer),
		GoVersion: runtime.Version(), NProc: runtime.NumCPU(),
	}
	for _, t := range o.peerTimings {
		p, err := timing.Named(t)
		if err != nil {
			continue
		}
		s.Durations[t] = map[string]float64{
			"create": p.Create.Seconds(), "attach": p.Attach.Seconds(), "detach": p.Detach.Seconds(), "delete": p.Delete.Seconds(),
		}
	}
	return s
}

// peerVersion is the peer's module version as built into the binary
// (hack/peer-build.sh builds it as a dependency of a scratch module).
func peerVersion(binary string) string {
	bi, err := buildinfo.ReadFile(binary)
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	mods := append([]*debug.Module{&bi.Main}, bi.Deps...)
	for _, m := range mods {
		if m != nil && m.Path == peerModule {
			return m.Path + " " + m.Version + ", " + bi.GoVersion
		}
	}
	return "unknown (" + peerModule + " is not in the binary's build info)"
}

// peerFigures is one run in the JSON line.
type peerFigures struct {
	Timing         string                  `json:"timing"`
	Driver         string                  `json:"driver"`
	Completed      bool                    `json:"completed"`
	CallsPerVolume float64                 `json:"calls_per_volume"`
	WallS          float64                 `json:"wall_s"`
	Errors         int                     `json:"errors"`
	Calls413       int64                   `json:"calls_413"`
	Leftovers      int                     `json:"leftovers"`
	PeakRSSMiB     float64                 `json:"peak_rss_mib"`
	Phases         map[string]phaseFigures `json:"phases"`
	Error          string                  `json:"error,omitempty"`
}

// phaseFigures is one RPC kind's share of a run.
type phaseFigures struct {
	CallsPerVolume float64 `json:"calls_per_volume"`
	WallS          float64 `json:"wall_s"`
	P50S           float64 `json:"p50_s"`
}

func (r *peerRun) figures() peerFigures {
	f := peerFigures{
		Timing: r.timing, Driver: r.driver, Completed: r.completed(), WallS: seconds(r.res.wall),
		Errors: r.failedAttempts(), Calls413: r.res.calls.Total413, Leftovers: len(r.res.leftovers),
		PeakRSSMiB: round(harness.MiB(r.res.peak.Peak), 1), Phases: map[string]phaseFigures{},
	}
	if r.res.volumes > 0 {
		f.CallsPerVolume = round(float64(r.res.calls.Total)/float64(r.res.volumes), 2)
	}
	for _, ph := range r.res.phases {
		f.Phases[ph.rpc] = phaseFigures{
			CallsPerVolume: round(float64(ph.calls.Total)/float64(max(r.res.volumes, 1)), 2),
			WallS:          seconds(ph.wall), P50S: seconds(percentile(ph.stats.latencies(), 50)),
		}
	}
	if r.err != nil {
		f.Error = errorLine(r.err)
	}
	return f
}

// peerRatio is ours ÷ peer on one timing profile.
type peerRatio struct {
	Timing         string  `json:"timing"`
	CallsPerVolume float64 `json:"calls_per_volume"`
	Wall           float64 `json:"wall"`
}

func peerRatios(figs []peerFigures) []peerRatio {
	by := map[string]map[string]peerFigures{}
	var order []string
	for _, f := range figs {
		if by[f.Timing] == nil {
			by[f.Timing] = map[string]peerFigures{}
			order = append(order, f.Timing)
		}
		by[f.Timing][f.Driver] = f
	}
	var out []peerRatio
	for _, t := range order {
		ours, okO := by[t][driverOurs]
		peer, okP := by[t][driverPeer]
		if !okO || !okP || !ours.Completed || !peer.Completed || peer.CallsPerVolume == 0 || peer.WallS == 0 {
			continue
		}
		out = append(out, peerRatio{Timing: t, CallsPerVolume: round(ours.CallsPerVolume/peer.CallsPerVolume, 3), Wall: round(ours.WallS/peer.WallS, 3)})
	}
	return out
}

func printPeer(w io.Writer, s peerSettings, runs []*peerRun, elapsed time.Duration) {
	fmt.Fprintln(w, "openblock-csi bench: side by side with cloud-provider-openstack's cinder-csi-plugin")
	fmt.Fprintln(w, "== settings ==")
	fmt.Fprintf(w, "  backend %s (simulator profile %s, Cinder v%d); each driver on a simulator of its own, configured identically\n", s.Backend, s.Profile, s.APIVersion)
	for _, t := range s.Timings {
		d := s.Durations[t]
		fmt.Fprintf(w, "  timing %s: create %gs attach %gs detach %gs delete %gs\n", t, d["create"], d["attach"], d["detach"], d["delete"])
	}
	fmt.Fprintf(w, "  %d volumes × %d GiB, %d RPCs at once: CreateVolume → ControllerPublish (%d servers) → ControllerUnpublish → DeleteVolume; RPC timeout %gs\n",
		s.Volumes, s.VolumeSizeGiB, s.Concurrency, s.Servers, s.RPCTimeoutS)
	fmt.Fprintf(w, "  either driver called as the sidecars do: any failed attempt retried after 1s, 2s, 4s... (at most %d attempts)\n", s.MaxAttempts)
	fmt.Fprintf(w, "  ours: %s version %s commit %s, waiter %s\n", s.Driver, s.DriverVersion, s.DriverCommit, s.DriverWaiter)
	fmt.Fprintf(w, "  peer: %s (%s), controller service only\n", s.Peer, s.PeerVersion)
	fmt.Fprintf(w, "  %s, nproc %d; calls counted by the simulator's /_sim/stats; errors are failed RPC attempts\n", s.GoVersion, s.NProc)

	var figs []peerFigures
	for _, r := range runs {
		figs = append(figs, r.figures())
	}
	fmt.Fprintln(w, "== lifecycle ==")
	t := table{w: w, widths: []int{10, 9, 10, 9, 7, 10, 10}}
	t.row("timing", "driver", "calls/vol", "wall (s)", "errors", "peak MiB", "completed")
	for _, f := range figs {
		t.row(f.Timing, f.Driver, f2(f.CallsPerVolume), f2(f.WallS), fmt.Sprint(f.Errors), fmt.Sprintf("%.1f", f.PeakRSSMiB), fmt.Sprint(f.Completed))
	}
	ratios := peerRatios(figs)
	for _, r := range ratios {
		t.row(r.Timing, "ours/peer", f2(r.CallsPerVolume), f2(r.Wall))
	}
	fmt.Fprintln(w, "  (wall: first CreateVolume to last DeleteVolume answered. The peer's CreateVolume and DeleteVolume answer once the")
	fmt.Fprintln(w, "  cloud has accepted the request, without waiting for it; its leftovers are counted after deletions end.)")
	printPeerPhases(w, figs)
	for _, f := range figs {
		if f.Error != "" {
			fmt.Fprintf(w, "  %s/%s failed: %s\n", f.Timing, f.Driver, f.Error)
		}
	}
	fmt.Fprintf(w, "  elapsed %.1f s\n", elapsed.Seconds())
	b, err := json.Marshal(map[string]any{"peer_bench": map[string]any{"settings": s, "runs": figs, "ratios": ratios, "elapsed_s": seconds(elapsed)}})
	if err != nil {
		b = []byte(fmt.Sprintf(`{"error": %q}`, err.Error()))
	}
	fmt.Fprintln(w, string(b))
}

// printPeerPhases: calls per volume and wall of each RPC kind, per run.
func printPeerPhases(w io.Writer, figs []peerFigures) {
	fmt.Fprintln(w, "  -- per RPC: calls/vol, phase wall (s), p50 (s) --")
	t := table{w: w, widths: []int{16, 28, 28, 28, 28}}
	rpcs := []string{"CreateVolume", "ControllerPublishVolume", "ControllerUnpublishVolume", "DeleteVolume"}
	t.row(append([]string{""}, rpcs...)...)
	for _, f := range figs {
		cells := []string{f.Timing + "/" + f.Driver}
		for _, rpc := range rpcs {
			p, ok := f.Phases[rpc]
			if !ok {
				cells = append(cells, "-")
				continue
			}
			cells = append(cells, fmt.Sprintf("%s, %s, %s", f2(p.CallsPerVolume), f2(p.WallS), f2(p.P50S)))
		}
		t.row(cells...)
	}
}
