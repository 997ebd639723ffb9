package cloudsim

import (
	"net/http"
	"path/filepath"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/lunanode"
)

// mountLunanode is the one place the Lunanode face is wired: it serves
// /lunanode/api/{category}/{action}/ from the same disk store, time scale and
// local server as the OpenStack faces, with its own state file. Its calls
// are counted in Stats under the face "lunanode" and get the latency and
// dropped-connection faults (its error envelopes are its own business).
func (s *Sim) mountLunanode(mux *http.ServeMux) error {
	var vms []lunanode.VM
	for _, srv := range s.cfg.Servers {
		vms = append(vms, lunanode.VM{ID: srv.ID})
	}
	h, err := lunanode.NewHandler(lunanode.Config{
		Store:     s.store,
		StatePath: filepath.Join(s.cfg.StateDir, "lunanode.json"),
		LocalVMID: s.cfg.LocalServerID,
		VMs:       vms,
		Durations: lunanode.Durations{
			Create: s.durs.Create, Attach: s.durs.Attach, Detach: s.durs.Detach,
			Snapshot: s.durs.Snapshot, Delete: s.durs.Delete, Device: s.durs.Device,
		},
		TimeScale: 1, // s.durs is already scaled
	})
	if err != nil {
		return err
	}
	s.lunanode = h
	const route = "ANY /lunanode/api/{category}/{action}/"
	mux.HandleFunc("/lunanode/", s.wrap(FaceLunanode, route, true, h.ServeHTTP))
	return nil
}
