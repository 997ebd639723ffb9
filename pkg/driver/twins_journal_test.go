package driver

import (
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/fake"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
)

// controllerWithState is a controller over c keeping its journal in dir,
// as one container after another in the same pod.
func controllerWithState(t *testing.T, c *fake.Cloud, dir string) *env {
	t.Helper()
	w := waiter.New(c, waiter.Options{InitialDelay: 2 * time.Millisecond, Interval: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	d, err := New(Config{Mode: ModeController, Cloud: c, Waiter: w, ControllerStateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.controller.twins.closeJournal)
	return &env{d: d, c: d.controller, cloud: c}
}

// Three controllers in turn in one pod. The first is killed while a
// create of "twin" is on its way. The second, warned by the journal,
// answers the name with a volume a twin may follow, and the CO deletes
// that volume; then the second is killed too. Its successor learns from
// the journal, without listing the project, that a twin may still land
// and which volume was answered, and removes the twin landing after the
// delete. (With the answered volume gone before it started, no listing
// could have told it.) A name whose create was answered costs no watch.
func TestAJournalCarriesTheTwinWatchAcrossARestart(t *testing.T) {
	saved := twinChecks
	twinChecks = []time.Duration{100 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second}
	t.Cleanup(func() { twinChecks = saved })
	ctx := ctxT(t)
	dir := t.TempDir()
	c := newEnv(t, nil).cloud

	first := controllerWithState(t, c, dir)
	first.c.twins.sending("volume", "twin") // killed before the answer

	second := controllerWithState(t, c, dir)
	if !second.c.twinsPossible("volume", "twin") {
		t.Fatal("the journal's unanswered create of twin is not taken as one that may land")
	}
	// Killed later: none of its background watches runs.
	second.c.janitor.claim("twins/volume/twin")
	answered := second.mustCreate(t, "twin", 1).GetVolumeId()
	plain := second.mustCreate(t, "plain", 1).GetVolumeId()
	if _, err := second.c.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: answered}); err != nil {
		t.Fatal(err)
	}

	third := controllerWithState(t, c, dir)
	if !third.c.twins.probed || third.c.twins.successor {
		t.Fatalf("successor with a journal: probed %v, successor %v; want the journal trusted, no listing", third.c.twins.probed, third.c.twins.successor)
	}
	if third.c.twinsPossible("volume", "plain") {
		t.Error("a create the predecessor got its answer for is taken as one a twin may follow (each create would pay a lookup)")
	}
	third.c.resumeTwinWatches(ctx)
	late, err := c.CreateVolume(ctx, cloud.CreateVolumeRequest{Name: "twin", SizeGiB: 1, Metadata: map[string]string{MetaRequestName: "twin"}})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the late twin removed by the successor", func() bool {
		_, err := c.GetVolume(ctx, late.ID)
		return cloud.IsNotFound(err)
	})
	if _, err := c.GetVolume(ctx, plain); err != nil {
		t.Fatalf("a volume with no twin was touched: %v", err)
	}
}

// A controller that finds no journal (a new pod) lists the project as
// before; so does one whose journal cannot be opened, which serves all
// the same.
func TestNoJournalMeansAProbe(t *testing.T) {
	e := newEnv(t, nil)
	b := controllerWithState(t, e.cloud, t.TempDir())
	if b.c.twins.probed {
		t.Fatal("no journal found, yet the controller takes the project as probed")
	}
	d, err := New(Config{Mode: ModeController, Cloud: e.cloud, ControllerStateDir: "/proc/version/x"})
	if err != nil {
		t.Fatalf("a state directory that cannot be made: %v; want the controller serving without a journal", err)
	}
	if d.controller.twins.probed || d.controller.twins.journal != nil {
		t.Fatal("without a journal the controller must probe")
	}
}
