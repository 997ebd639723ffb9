package main

import (
	"strings"
	"testing"
)

// Each rule catches its forbidden import, also through an intermediate
// package, and names the chain; the allowed layering passes.
func TestCheck(t *testing.T) {
	m := func(s string) string { return module + s }
	allowed := map[string]pkg{
		m("cmd/openblock-csi"):   {ImportPath: m("cmd/openblock-csi"), Imports: []string{m("pkg/provider"), m("pkg/driver")}},
		m("pkg/provider"):        {ImportPath: m("pkg/provider"), Imports: []string{m("pkg/cloud/openstack"), m("pkg/cloudconfig")}},
		m("pkg/cloud/openstack"): {ImportPath: m("pkg/cloud/openstack"), Imports: []string{m("pkg/cloud")}},
		m("pkg/driver"):          {ImportPath: m("pkg/driver"), Imports: []string{m("pkg/cloud/waiter"), m("pkg/node")}},
		m("pkg/cloud/waiter"):    {ImportPath: m("pkg/cloud/waiter"), Imports: []string{m("pkg/cloud")}},
		m("pkg/cloudconfig"):     {ImportPath: m("pkg/cloudconfig"), Imports: []string{m("pkg/cloud")}},
		m("pkg/cloudsim"):        {ImportPath: m("pkg/cloudsim")},
	}
	if got := check(allowed); len(got) != 0 {
		t.Fatalf("the allowed layering is refused: %v", got)
	}
	cases := []struct {
		name, from, imp, want string
		test                  bool
	}{
		{"driver reaches a provider through a helper", "pkg/driver", "pkg/cloud/waiter", "pkg/driver imports pkg/cloud/waiter -> pkg/cloud/openstack", false},
		{"provider reads the config file", "pkg/cloud/openstack", "pkg/cloudconfig", "pkg/cloud/openstack imports pkg/cloudconfig", false},
		{"simulator uses the port", "pkg/cloudsim", "pkg/cloud", "pkg/cloudsim imports pkg/cloud", false},
		{"a test imports a command", "pkg/doctor", "cmd/openblock-csi", "pkg/doctor imports cmd/openblock-csi", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pkgs := map[string]pkg{}
			for k, v := range allowed {
				v.Imports = append([]string(nil), v.Imports...)
				pkgs[k] = v
			}
			if c.name == "driver reaches a provider through a helper" {
				w := pkgs[m("pkg/cloud/waiter")]
				w.Imports = append(w.Imports, m("pkg/cloud/openstack"))
				pkgs[m("pkg/cloud/waiter")] = w
			} else {
				p := pkgs[m(c.from)]
				p.ImportPath = m(c.from)
				if c.test {
					p.XTestImports = append(p.XTestImports, m(c.imp))
				} else {
					p.Imports = append(p.Imports, m(c.imp))
				}
				pkgs[m(c.from)] = p
			}
			got := check(pkgs)
			if len(got) == 0 || !strings.Contains(strings.Join(got, "\n"), c.want) {
				t.Errorf("got %q, want a line with %q", got, c.want)
			}
		})
	}
}
