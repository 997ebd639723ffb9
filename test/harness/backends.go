// Package harness starts the cloud simulator for a named backend and writes
// the matching cloud config, so the demo, sanity, bench and soak all drive
// the same four clouds the same way.
package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/simtest"
)

// Backend is one cloud the driver serves, as the simulator plays it.
type Backend struct {
	// Name is what users pass as BACKEND (cinder-v1, cinder-v2, ...).
	Name string
	// Profile is the simulator's (and the cloud config's) profile.
	Profile string
	// APIVersion is the Cinder API version; 0 for non-Cinder backends.
	APIVersion int
	// Lunanode selects the Lunanode action API instead of Cinder.
	Lunanode bool
	// Zone is where the local server lives.
	Zone string
	// Backups: the backend supports backup-class snapshots.
	Backups bool
	// SnapshotOfAttached: the cloud can snapshot a volume while attached
	// (possibly with force).
	SnapshotOfAttached bool
	// Retype: the cloud changes a volume's type (VolumeAttributesClass).
	Retype bool
	// MultiAttach: the simulator gets a multi-attach volume type (see
	// MultiattachType) that the driver's multi-node modes can use.
	MultiAttach bool
	// Face: not one of the four clouds but another API face of one, for
	// coverage the cloud itself cannot give; Names leaves it out.
	Face bool
}

// Backends are the clouds the project is tested against.
var Backends = map[string]Backend{
	"cinder-v1": {Name: "cinder-v1", Profile: "helion", APIVersion: 1, Zone: "az2", Backups: true},
	// NHN Cloud publishes no backup API (seeds 000, 002).
	"cinder-v2": {Name: "cinder-v2", Profile: "nhn", APIVersion: 2, Zone: "kr-pub-a", SnapshotOfAttached: true},
	"cinder-v3": {Name: "cinder-v3", Profile: "generic", APIVersion: 3, Zone: "nova", Backups: true, SnapshotOfAttached: true, Retype: true, MultiAttach: true},
	"lunanode":  {Name: "lunanode", Profile: "generic", Lunanode: true, Zone: "toronto", SnapshotOfAttached: true},
	// The generic cloud on its Cinder v2 face: backups through the v2
	// client, which NHN Cloud cannot exercise.
	GenericV2: {Name: GenericV2, Profile: "generic", APIVersion: 2, Zone: "nova", Backups: true, SnapshotOfAttached: true, Retype: true, MultiAttach: true, Face: true},
}

// MultiattachType is the multi-attach volume type an operator of a
// MultiAttach backend defines (extra spec multiattach="<is> True").
const MultiattachType = "shared"

// GenericV2 names the generic cloud's Cinder v2 face.
const GenericV2 = "cinder-v2-generic"

// Faces returns the backends that are another face of a cloud, sorted.
func Faces() []string {
	var names []string
	for n, b := range Backends {
		if b.Face {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Names returns the four clouds' backend names in a stable order.
func Names() []string {
	var names []string
	for n, b := range Backends {
		if !b.Face {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Lookup returns the named backend or an error listing the known ones.
func Lookup(name string) (Backend, error) {
	b, ok := Backends[name]
	if !ok {
		return Backend{}, fmt.Errorf("unknown backend %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	return b, nil
}

// LocalServerID is the server id the simulator treats as this machine and the
// driver uses as its node id.
const LocalServerID = "7b4e8a52-1c3d-4f6e-8a9b-0c1d2e3f4a5b"

// SimConfig returns the simulator configuration for b with state in
// stateDir and by-id links in byIDDir.
func (b Backend) SimConfig(stateDir, byIDDir string) cloudsim.Config {
	return cloudsim.Config{
		StateDir:      stateDir,
		ByIDDir:       byIDDir,
		LocalServerID: LocalServerID,
		Profile:       b.Profile,
		Timing:        "fast",
		Servers:       []cloudsim.Server{{ID: LocalServerID, Name: "local", Zone: b.Zone}},
	}
}

// CloudConfig is the driver's cloud config file for b against a simulator
// at baseURL.
func (b Backend) CloudConfig(baseURL string) string {
	if b.Lunanode {
		return simtest.CloudConfig{Lunanode: true}.INI(baseURL)
	}
	return simtest.CloudConfig{Region: cloudsim.DefaultRegion, Profile: b.Profile, APIVersion: b.APIVersion}.INI(baseURL)
}

// WriteCloudConfig writes CloudConfig(baseURL) to dir/cloud.conf (0600).
func (b Backend) WriteCloudConfig(dir, baseURL string) (string, error) {
	path := filepath.Join(dir, "cloud.conf")
	return path, os.WriteFile(path, []byte(b.CloudConfig(baseURL)), 0o600)
}
