package harness

import (
	"fmt"

	"github.com/onsi/ginkgo/v2/types"
)

// SpecCounts are a Ginkgo suite's specs (its It nodes) by outcome.
type SpecCounts struct{ Passed, Failed, Skipped int }

// CountSpecs counts the It specs of a suite's report that include accepts
// (all when nil), printing "skipped: <spec>" for each skipped or pending
// one, so that a summary line can say which.
func CountSpecs(specs types.SpecReports, include func(types.SpecReport) bool) SpecCounts {
	var c SpecCounts
	for _, s := range specs {
		if s.LeafNodeType != types.NodeTypeIt || include != nil && !include(s) {
			continue
		}
		switch {
		case s.State.Is(types.SpecStatePassed):
			c.Passed++
		case s.State.Is(types.SpecStateSkipped | types.SpecStatePending):
			c.Skipped++
			fmt.Printf("skipped: %s\n", s.FullText())
		default:
			c.Failed++
		}
	}
	return c
}
