// Package simtest starts a cloudsim simulator on loopback for tests.
package simtest

import (
	"net/http/httptest"
	"testing"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
)

// Start serves a simulator on 127.0.0.1 and returns it with its base URL
// (e.g. http://127.0.0.1:41234). An empty StateDir becomes a temporary
// directory; Timing defaults to fast. Cleanup stops the server and closes
// the simulator (which detaches loop devices), also when the test fails.
func Start(t testing.TB, cfg cloudsim.Config) (*cloudsim.Sim, string) {
	t.Helper()
	if cfg.StateDir == "" {
		cfg.StateDir = t.TempDir()
	}
	if cfg.Timing == "" {
		cfg.Timing = "fast"
	}
	sim, err := cloudsim.New(cfg)
	if err != nil {
		t.Fatalf("cloudsim: %v", err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		if err := sim.Close(); err != nil {
			t.Errorf("cloudsim close: %v", err)
		}
	})
	return sim, srv.URL
}
