// Command layering checks the import rules that keep the driver's layers
// apart, from `go list -json` of the module's packages (test files
// included where a rule says so). It prints every broken rule with the
// import chain that breaks it and exits 1; `make lint` runs it.
//
// The rules:
//   - pkg/driver, pkg/node and pkg/cloud (the port and the parts built on
//     it) never reach a provider package: they know clouds only through
//     the port;
//   - providers never import pkg/cloudconfig: each takes its own Config,
//     translated from the file by pkg/provider;
//   - pkg/cloudsim never imports pkg/cloud: the simulator reads the cloud
//     API documents independently of the driver;
//   - nothing imports a package under cmd/.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
)

const module = "github.com/openblock-csi/openblock-csi/"

// pkg is the part of `go list -json` the rules read.
type pkg struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

// rule forbids packages matching from to reach packages matching to.
type rule struct {
	why      string
	from, to func(string) bool
	// tests: the package's test files count too (their direct imports).
	tests bool
}

func under(prefixes ...string) func(string) bool {
	return func(p string) bool {
		for _, pre := range prefixes {
			if p == module+pre || strings.HasPrefix(p, module+pre+"/") {
				return true
			}
		}
		return false
	}
}

func isProvider(p string) bool { return under("pkg/cloud/openstack", "pkg/cloud/lunanode")(p) }

var rules = []rule{
	{
		why:  "knows clouds only through the port, never a provider",
		from: func(p string) bool { return under("pkg/driver", "pkg/node", "pkg/cloud")(p) && !isProvider(p) },
		to:   isProvider,
	},
	{
		why:  "a provider takes its own Config; pkg/provider translates the cloud config file",
		from: isProvider,
		to:   under("pkg/cloudconfig"),
	},
	{
		why:  "the simulator reads the cloud documents on its own, independent of the driver's port",
		from: under("pkg/cloudsim"),
		to:   under("pkg/cloud"),
	},
	{
		why:   "commands are leaves: what others need belongs in a package under pkg/",
		from:  func(string) bool { return true },
		to:    under("cmd"),
		tests: true,
	},
}

func main() {
	pkgs, err := list(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "layering:", err)
		os.Exit(2)
	}
	broken := check(pkgs)
	for _, b := range broken {
		fmt.Println(b)
	}
	if len(broken) > 0 {
		fmt.Printf("layering: %d import rule(s) broken\n", len(broken))
		os.Exit(1)
	}
}

// list runs go list on patterns (default ./...) with every dependency.
func list(patterns []string) (map[string]pkg, error) {
	if len(patterns) == 0 {
		patterns = []string{"./..."}
	}
	cmd := exec.Command("go", append([]string{"list", "-deps", "-test=false", "-json"}, patterns...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go list: %v: %s", err, errb.String())
	}
	pkgs := map[string]pkg{}
	dec := json.NewDecoder(&out)
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			return nil, err
		}
		pkgs[p.ImportPath] = p
	}
	return pkgs, nil
}

// check applies every rule to every package of the module and returns one
// line per broken rule and package, naming the chain of imports.
func check(pkgs map[string]pkg) []string {
	var names []string
	for name := range pkgs {
		if strings.HasPrefix(name, module) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var broken []string
	for _, r := range rules {
		for _, name := range names {
			if !r.from(name) {
				continue
			}
			start := pkgs[name].Imports
			if r.tests {
				start = append(append(append([]string(nil), start...), pkgs[name].TestImports...), pkgs[name].XTestImports...)
			}
			if chain := find(pkgs, name, start, r.to); chain != nil {
				broken = append(broken, fmt.Sprintf("layering: %s imports %s: %s",
					short(name), strings.Join(mapShort(chain), " -> "), r.why))
			}
		}
	}
	return broken
}

// find walks the imports from start breadth-first and returns the chain
// to the first package to matches, or nil.
func find(pkgs map[string]pkg, from string, start []string, to func(string) bool) []string {
	prev := map[string]string{}
	queue := []string{}
	for _, imp := range start {
		if _, seen := prev[imp]; !seen && imp != from {
			prev[imp] = ""
			queue = append(queue, imp)
		}
	}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if to(p) {
			var chain []string
			for q := p; q != ""; q = prev[q] {
				chain = append([]string{q}, chain...)
			}
			return chain
		}
		for _, imp := range pkgs[p].Imports {
			if _, seen := prev[imp]; !seen {
				prev[imp] = p
				queue = append(queue, imp)
			}
		}
	}
	return nil
}

func short(p string) string { return strings.TrimPrefix(p, module) }

func mapShort(ps []string) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = short(p)
	}
	return out
}
