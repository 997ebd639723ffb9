package chart

import (
	"path/filepath"
	"testing"
)

// valueSet is one way of installing the chart that the tests render.
type valueSet struct {
	name string
	// files are values files relative to the repository root.
	files []string
}

// valueSets: the defaults, the shipped per-cloud examples, and the
// test-only sets under testdata/values.
var valueSets = []valueSet{
	{name: "default"},
	{name: "nhn", files: []string{"charts/openblock-csi/examples/values-nhn.yaml"}},
	{name: "nhn-gov", files: []string{"charts/openblock-csi/examples/values-nhn-gov.yaml"}},
	{name: "helion", files: []string{"charts/openblock-csi/examples/values-helion.yaml"}},
	{name: "lunanode", files: []string{"charts/openblock-csi/examples/values-lunanode.yaml"}},
	{name: "existing-secret-servicemonitor", files: []string{"test/chart/testdata/values/existing-secret-servicemonitor.yaml"}},
	{name: "single-node-builtin-registrar", files: []string{"test/chart/testdata/values/single-node-builtin-registrar.yaml"}},
}

func (v valueSet) args(t testing.TB) []string {
	var args []string
	for _, f := range v.files {
		args = append(args, "-f", filepath.Join(repoRoot(t), f))
	}
	return args
}

func TestLint(t *testing.T) {
	t.Parallel()
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"lint", "--strict", chartDir(t), "--namespace", namespace}, vs.args(t)...)
			if out, err := helm(t, args...); err != nil {
				t.Fatalf("helm lint: %v\n%s", err, out)
			}
		})
	}
}

// TestGolden compares `helm template` for every value set with the
// committed output under testdata/golden.
func TestGolden(t *testing.T) {
	t.Parallel()
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			t.Parallel()
			got := render(t, vs.args(t)...)
			compareOrUpdate(t, filepath.Join(repoRoot(t), "test", "chart", "testdata", "golden", vs.name+".yaml"), got)
		})
	}
}
