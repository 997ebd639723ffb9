package soak

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// result is what one backend's soak counted.
type result struct {
	lifecycles int // completed
	gaveUp     int // lifecycles that failed (a step gave up)
	cutShort   int // stopped by the harness's clock at the end of the drain
	faults     int64
	restarts   int64
	leaked     int
	duplicates int
	dataErrors int
	// details for the log, not the summary line
	calls, retries int64
	codes          map[string]int64
	notes          []string
	// nodeSkipped: no loop devices here, so no lifecycle staged,
	// published, wrote, read back or resized a filesystem.
	nodeSkipped bool
}

func (r *result) line(prefix string) string {
	return fmt.Sprintf("%s: %d lifecycles, %d faults, %d restarts, leaked %d, duplicates %d, data errors %d",
		prefix, r.lifecycles, r.faults, r.restarts, r.leaked, r.duplicates, r.dataErrors)
}

func (r *result) add(o *result) {
	r.lifecycles += o.lifecycles
	r.gaveUp += o.gaveUp
	r.cutShort += o.cutShort
	r.faults += o.faults
	r.restarts += o.restarts
	r.leaked += o.leaked
	r.duplicates += o.duplicates
	r.dataErrors += o.dataErrors
	r.calls += o.calls
	r.retries += o.retries
}

func (r *result) failed() bool {
	return r.leaked > 0 || r.duplicates > 0 || r.dataErrors > 0 || r.gaveUp > 0 || r.lifecycles == 0
}

func (r *result) problem() string {
	var p []string
	if r.leaked > 0 {
		p = append(p, fmt.Sprintf("%d resources leaked", r.leaked))
	}
	if r.duplicates > 0 {
		p = append(p, fmt.Sprintf("%d request names served by two resources", r.duplicates))
	}
	if r.dataErrors > 0 {
		p = append(p, fmt.Sprintf("%d data errors", r.dataErrors))
	}
	if r.gaveUp > 0 {
		p = append(p, fmt.Sprintf("%d lifecycles did not complete", r.gaveUp))
	}
	if r.lifecycles == 0 {
		p = append(p, "no lifecycle completed")
	}
	return strings.Join(p, "; ")
}

// codeSummary is "Unavailable=12 Aborted=3" in a stable order.
func codeSummary(m map[string]int64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}
