package harness

import (
	"fmt"
	"sort"
	"strings"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
)

// Leftovers lists every volume, snapshot, backup and attachment the
// simulator still holds, across all projects and faces. Empty means the
// driver cleaned up after itself.
func Leftovers(sim *Sim) []string { return StateLeftovers(sim.State()) }

// StateLeftovers lists what a simulator state dump (Sim.State, or
// GET /_sim/state) still holds.
func StateLeftovers(st cloudsim.StateDump) []string {
	var left []string
	for _, v := range st.Volumes {
		left = append(left, fmt.Sprintf("volume %s (%s, %s)", v.ID, v.Name, v.Status))
	}
	for _, s := range st.Snapshots {
		left = append(left, fmt.Sprintf("snapshot %s (%s, %s)", s.ID, s.Name, s.Status))
	}
	for _, b := range st.Backups {
		left = append(left, fmt.Sprintf("backup %s (%s, %s)", b.ID, b.Name, b.Status))
	}
	for _, a := range st.Attachments {
		left = append(left, fmt.Sprintf("attachment of %s to %s", a.VolumeID, a.ServerID))
	}
	if ln := st.Lunanode; ln != nil {
		for _, v := range ln.Volumes {
			left = append(left, fmt.Sprintf("lunanode volume %s/%d (%s, %s)", v.Region, v.ID, v.Name, v.Status))
		}
		for _, s := range ln.Snapshots {
			left = append(left, fmt.Sprintf("lunanode snapshot %s/%s (%s)", s.Region, s.ID, s.Name))
		}
	}
	return left
}

// RejectedCalls lists the routes the simulator answered 413 to, with counts.
func RejectedCalls(st cloudsim.Stats) []string {
	var out []string
	for k, n := range st.Calls {
		if strings.HasSuffix(k, " 413") {
			out = append(out, fmt.Sprintf("%s ×%d", k, n))
		}
	}
	sort.Strings(out)
	return out
}
