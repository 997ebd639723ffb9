package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
)

// Sim is a simulator served on a loopback port.
type Sim struct {
	*cloudsim.Sim
	URL string
	srv *http.Server
}

// StartSim serves a simulator for cfg on 127.0.0.1 (a free port).
func StartSim(cfg cloudsim.Config) (*Sim, error) {
	sim, err := cloudsim.New(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		sim.Close()
		return nil, err
	}
	srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Println("simulator:", err)
		}
	}()
	return &Sim{Sim: sim, URL: "http://" + ln.Addr().String(), srv: srv}, nil
}

// Close stops serving and releases the simulator's loop devices.
func (s *Sim) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	return errors.Join(err, s.Sim.Close())
}
