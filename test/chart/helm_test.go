package chart

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files and deploy/kubernetes from the chart")

const (
	releaseName = "openblock-csi"
	namespace   = "kube-system"
	// Rendered as if the snapshot CRDs are installed, so the
	// VolumeSnapshotClasses show up as they would in a real cluster.
	snapshotAPI = "snapshot.storage.k8s.io/v1"
)

// repoRoot is the repository root, found from this file's location.
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source file")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

func chartDir(t testing.TB) string { return filepath.Join(repoRoot(t), "charts", "openblock-csi") }

// helmBinary finds helm or skips the test.
func helmBinary(t testing.TB) string {
	t.Helper()
	if h := os.Getenv("HELM"); h != "" {
		if _, err := os.Stat(h); err != nil {
			t.Fatalf("$HELM=%s: %v", h, err)
		}
		return h
	}
	if h, err := exec.LookPath("helm"); err == nil {
		return h
	}
	dir := os.Getenv("TOOLS_BIN")
	if dir == "" {
		if home, err := os.UserHomeDir(); err == nil {
			dir = filepath.Join(home, ".cache", "openblock-csi", "bin")
		}
	}
	if dir != "" {
		h := filepath.Join(dir, "helm")
		if _, err := os.Stat(h); err == nil {
			return h
		}
	}
	const reason = "helm not found: set $HELM, put helm on $PATH, or run hack/install-tools.sh"
	if os.Getenv("REQUIRE_HELM") != "" {
		// CI sets this so that a missing helm cannot pass as skipped tests.
		t.Fatal(reason + " (REQUIRE_HELM is set)")
	}
	t.Skip(reason)
	return ""
}

// helm runs helm with args and returns stdout; a non-zero exit is returned
// as an error carrying stderr.
func helm(t testing.TB, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmBinary(t), args...)
	// No user repositories, plugins or caches leak into the result.
	home := t.TempDir()
	cmd.Env = append(os.Environ(),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return stdout.String(), errors.New(strings.TrimSpace(stderr.String()))
		}
		t.Fatalf("running helm: %v", err)
	}
	return stdout.String(), nil
}

// render runs `helm template` for the chart with extra args (-f, --set).
func render(t testing.TB, extra ...string) string {
	t.Helper()
	args := append([]string{"template", releaseName, chartDir(t),
		"--namespace", namespace, "--api-versions", snapshotAPI}, extra...)
	out, err := helm(t, args...)
	if err != nil {
		t.Fatalf("helm %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// compareOrUpdate checks got against the file at path, or rewrites it with -update.
func compareOrUpdate(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run `go test ./test/chart/ -update` to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s is out of date with the chart; run `go test ./test/chart/ -update` and review the diff.\n%s",
			path, firstDiff(string(want), got))
	}
}

// firstDiff describes the first differing line of two texts.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return "line " + strconv.Itoa(i+1) + ":\n  file:  " + wl + "\n  chart: " + gl
		}
	}
	return "(no line differs)"
}
