package harness

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
)

// StartSimWrapped is StartSim with wrap placed in front of the simulator's
// handler, for tests that inject faults the simulator has no knob for (or
// observe every request).
func StartSimWrapped(cfg cloudsim.Config, wrap func(http.Handler) http.Handler) (*Sim, error) {
	return StartSimHandler(cfg, func(s *cloudsim.Sim) http.Handler { return wrap(s.Handler()) })
}

// StartSimHandler serves the handler that mk builds around the simulator
// (for example a mux that adds another face) on 127.0.0.1 (a free port).
func StartSimHandler(cfg cloudsim.Config, mk func(*cloudsim.Sim) http.Handler) (*Sim, error) {
	sim, err := cloudsim.New(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		sim.Close()
		return nil, err
	}
	srv := &http.Server{Handler: mk(sim), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Println("simulator:", err)
		}
	}()
	return &Sim{Sim: sim, URL: "http://" + ln.Addr().String(), srv: srv}, nil
}
