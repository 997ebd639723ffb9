// Package image checks that both images the driver ships in carry the
// programs the node plugin runs: the Dockerfile's (what users deploy) and
// the one hack/e2e-build.sh assembles from this machine for the e2e
// cluster. Neither is built here; their recipes are read.
package image

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/openblock-csi/openblock-csi/pkg/doctor"
)

func readRepoFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestE2EImageCarriesNodeTools(t *testing.T) {
	m := regexp.MustCompile(`(?s)\nNODE_TOOLS=\((.*?)\)`).FindStringSubmatch(readRepoFile(t, "hack/e2e-build.sh"))
	if m == nil {
		t.Fatal("no NODE_TOOLS=(...) in hack/e2e-build.sh")
	}
	have := map[string]bool{}
	for _, f := range strings.Fields(m[1]) {
		have[f] = true
	}
	for _, tool := range doctor.NodeTools() {
		if !have[tool] {
			t.Errorf("the e2e driver image lacks %s: add it to NODE_TOOLS in hack/e2e-build.sh", tool)
		}
	}
}

// dockerfilePackages are the Debian packages the Dockerfile's final stage
// installs (apt-get install and apt-get download).
func dockerfilePackages(t *testing.T) map[string]bool {
	df := readRepoFile(t, "Dockerfile")
	final := df[strings.LastIndex(df, "\nFROM "):]
	pkgs := map[string]bool{}
	re := regexp.MustCompile(`(?s)apt-get (?:install(?: -\S+)*|download)((?:\s+(?:\\\s*)*[a-z0-9][a-z0-9.+-]*)+)`)
	for _, m := range re.FindAllStringSubmatch(final, -1) {
		for _, f := range strings.Fields(strings.ReplaceAll(m[1], `\`, " ")) {
			pkgs[f] = true
		}
	}
	if len(pkgs) == 0 {
		t.Fatal("found no apt-get install in the Dockerfile's final stage")
	}
	return pkgs
}

// TestDockerfileInstallsNodeTools asks this machine's dpkg which package
// ships each tool and checks the Dockerfile installs it.
func TestDockerfileInstallsNodeTools(t *testing.T) {
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		t.Skip("needs dpkg to tell which package ships each tool")
	}
	pkgs := dockerfilePackages(t)
	binDir := regexp.MustCompile(`^/(usr/)?s?bin/`)
	for _, tool := range doctor.NodeTools() {
		out, err := exec.Command("dpkg-query", "-S", "*/"+tool).Output()
		if err != nil {
			t.Logf("%s: no installed package ships it here; not checked", tool)
			continue
		}
		var owners []string
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			owner, path, ok := strings.Cut(line, ": ")
			if !ok || !binDir.MatchString(path) || filepath.Base(path) != tool {
				continue
			}
			owners = append(owners, strings.Split(owner, ", ")...)
		}
		if len(owners) == 0 {
			t.Logf("%s: no package installs it in a bin directory here; not checked", tool)
			continue
		}
		found := false
		for _, o := range owners {
			found = found || pkgs[strings.Split(o, ":")[0]]
		}
		if !found {
			t.Errorf("the Dockerfile installs none of %v, which ship %s", owners, tool)
		}
	}
}
