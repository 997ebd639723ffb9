package harness

import (
	"context"
	"errors"
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
	return StartSimHandler(cfg, (*cloudsim.Sim).Handler)
}

// Close stops serving and releases the simulator's loop devices.
func (s *Sim) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	return errors.Join(err, s.Sim.Close())
}
