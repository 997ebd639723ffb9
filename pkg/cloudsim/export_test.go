package cloudsim

import "github.com/openblock-csi/openblock-csi/pkg/cloudsim/internal/persist"

// SetStateWrite replaces how the OpenStack face's state file is written,
// so tests can make writes slow, fail or count them.
func (s *Sim) SetStateWrite(fn func(path string, data []byte) error) { s.openstack.SetStateWrite(fn) }

// WriteStateFile is the default state file writer.
var WriteStateFile = persist.WriteFile
