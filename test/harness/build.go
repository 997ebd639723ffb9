package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// DriverPackage is the import path of the driver binary.
const DriverPackage = "github.com/openblock-csi/openblock-csi/cmd/openblock-csi"

// BuildDriver builds the openblock-csi binary into dir and returns its path.
// A binary named by $OPENBLOCK_CSI_BINARY is used as it is instead, so a
// Makefile that already built one does not pay twice.
func BuildDriver(dir string) (string, error) {
	if p := os.Getenv("OPENBLOCK_CSI_BINARY"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("OPENBLOCK_CSI_BINARY: %w", err)
		}
		return p, nil
	}
	out := filepath.Join(dir, "openblock-csi")
	cmd := exec.Command("go", "build", "-o", out, DriverPackage)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	start := time.Now()
	b, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", DriverPackage, err, b)
	}
	if d := time.Since(start); d > 30*time.Second {
		fmt.Fprintf(os.Stderr, "harness: building the driver took %s\n", d.Round(time.Second))
	}
	return out, nil
}

// shared is the one driver binary of a test process (see SharedDriver).
var shared struct {
	once      sync.Once
	dir, path string
	err       error
}

// SharedDriver builds the driver once per test process (or takes
// $OPENBLOCK_CSI_BINARY) and returns its path; a package's TestMain calls
// RemoveSharedDriver after m.Run.
func SharedDriver() (string, error) {
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "openblock-csi-bin-")
		if shared.err == nil {
			shared.path, shared.err = BuildDriver(shared.dir)
		}
	})
	return shared.path, shared.err
}

// MustSharedDriver is SharedDriver for a test: a failed build fails it.
func MustSharedDriver(t testing.TB) string {
	t.Helper()
	bin, err := SharedDriver()
	if err != nil {
		t.Fatalf("building the driver: %v", err)
	}
	return bin
}

// RemoveSharedDriver removes what SharedDriver built.
func RemoveSharedDriver() {
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
}
