package guest_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubernetes-csi/csi-test/v5/pkg/sanity"
	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	. "github.com/onsi/gomega"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/guest"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/guest/guesttest"
	"github.com/openblock-csi/openblock-csi/test/harness"
)

// What the CSISanityNodeSpecs case hands its child process.
const (
	envSanityNode       = "GUEST_SANITY_NODE"       // the node plugin's host address
	envSanityController = "GUEST_SANITY_CONTROLLER" // the controller's endpoint
	envSanityAgent      = "GUEST_SANITY_AGENT"      // the guest agent's host address
)

// sanityRoot is where csi-sanity's staging and target directories are made
// in the guest: under the kubelet's directory, the only place the node
// plugin acts.
const sanityRoot = "/var/lib/kubelet/plugins/kubernetes.io/csi/sanity"

var sanitySummary = regexp.MustCompile(`csi-sanity: (\d+) passed, (\d+) failed, (\d+) skipped`)

// csi-sanity's node specs against the node plugin in the guest, the
// controller on this machine: every attach is a real hot-plug found under
// the guest's /dev/disk/by-id. Ginkgo runs one suite per process, so a
// child of this test binary runs them (TestGuestSanity) and this case
// reads its summary, then checks the guest kept nothing: no mount under
// the sanity's directory, no disk still plugged.
func caseSanityNodeSpecs(t *testing.T, ctx context.Context, e *env) {
	limit := 7 * time.Minute
	if dl, ok := ctx.Deadline(); ok {
		limit = time.Until(dl) - 20*time.Second
	}
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestGuestSanity$", "-test.v", "-test.timeout="+limit.String())
	cmd.Env = append(os.Environ(),
		envSanityNode+"="+e.vm.Addr(guesttest.CSIPort),
		envSanityController+"="+e.ctrlEndpoint,
		envSanityAgent+"="+string(e.vm.Agent()))
	out, err := cmd.CombinedOutput()
	var summary []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if m := sanitySummary.FindStringSubmatch(sc.Text()); m != nil {
			summary = m
		}
		// Ginkgo's progress dots may share the line.
		for _, mark := range []string{"skipped: ", "left in the guest: "} {
			if i := strings.Index(sc.Text(), mark); i >= 0 {
				t.Log(sc.Text()[i:])
			}
		}
	}
	if summary == nil || err != nil || summary[2] != "0" {
		t.Logf("csi-sanity child output:\n%s", out)
		t.Fatalf("csi-sanity node specs in the guest: %v (summary %q)", err, summary)
	}
	fmt.Printf("guest %s/%s csi-sanity: %s passed, %s failed, %s skipped (node specs)\n", e.b.Name, e.bus, summary[1], summary[2], summary[3])
	mounts, err := e.vm.Run(ctx, "cat", "/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(mounts, "\n") {
		if strings.Contains(l, sanityRoot) {
			t.Errorf("left mounted in the guest after csi-sanity: %s", l)
		}
	}
	if p := e.vm.Plugged(); len(p) > 0 {
		t.Errorf("left plugged into the guest after csi-sanity: %v", p)
	}
}

// TestGuestSanity is CSISanityNodeSpecs' child: csi-sanity's "Node Service"
// specs, with the staging and target directories made, checked and removed
// in the guest through its agent.
func TestGuestSanity(t *testing.T) {
	nodeAddr := os.Getenv(envSanityNode)
	if nodeAddr == "" {
		t.Skip("run in a child process by TestGuest's CSISanityNodeSpecs case, which boots the guest")
	}
	agent := guest.Agent(os.Getenv(envSanityAgent))
	dirs := &guestDirs{agent: agent}

	cfg := sanity.NewTestConfig()
	cfg.Address = "dns:///" + nodeAddr
	cfg.ControllerAddress = os.Getenv(envSanityController)
	cfg.TargetPath = sanityRoot + "/target"
	cfg.StagingPath = sanityRoot + "/staging"
	cfg.TestVolumeSize = 1 << 30
	cfg.TestVolumeExpandSize = 2 << 30
	cfg.IdempotentCount = 2
	cfg.CreateTargetDir, cfg.CreateStagingDir = dirs.create, dirs.create
	cfg.RemoveTargetPath, cfg.RemoveStagingPath = dirs.remove, dirs.remove
	cfg.CheckPath = dirs.check

	suite, reporter := GinkgoConfiguration()
	suite.FocusStrings = []string{"Node Service"}
	if dl, ok := t.Deadline(); ok {
		suite.Timeout = time.Until(dl) - 10*time.Second
	}
	reporter.Succinct = true
	reporter.NoColor = true
	sanity.GinkgoTest(&cfg)
	ReportAfterSuite("summary", func(r Report) {
		// Only the node specs count: the others are filtered out.
		n := harness.CountSpecs(r.SpecReports, func(s types.SpecReport) bool {
			return strings.HasPrefix(s.FullText(), "Node Service")
		})
		// A directory that would not go means the plugin left something in
		// it (a mount, a file): a failure, whichever spec it was.
		for _, e := range dirs.leftovers() {
			fmt.Printf("left in the guest: %s\n", e)
			n.Failed++
		}
		fmt.Printf("\ncsi-sanity: %d passed, %d failed, %d skipped\n", n.Passed, n.Failed, n.Skipped)
	})
	RegisterFailHandler(Fail)
	RunSpecs(t, "csi-sanity node specs in the guest", suite, reporter)
}

// guestDirs makes csi-sanity's directories in the guest, a fresh one per
// spec, and records those that could not be removed.
type guestDirs struct {
	agent guest.Agent
	mu    sync.Mutex
	n     int
	left  []string
}

func (d *guestDirs) create(path string) (string, error) {
	d.mu.Lock()
	d.n++
	dir := fmt.Sprintf("%s-%d", path, d.n)
	d.mu.Unlock()
	_, err := d.agent.Run(context.Background(), "mkdir", "-p", dir)
	return dir, err
}

// remove removes a directory that must be empty by now; one the plugin
// removed itself is fine.
func (d *guestDirs) remove(path string) error {
	_, err := d.agent.Run(context.Background(), "sh", "-c", `test ! -e "$1" || rmdir "$1"`, "rm", path)
	if err != nil {
		d.mu.Lock()
		d.left = append(d.left, err.Error())
		d.mu.Unlock()
	}
	return err
}

func (d *guestDirs) leftovers() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.left
}

func (d *guestDirs) check(path string) (sanity.PathKind, error) {
	out, err := d.agent.Run(context.Background(), "sh", "-c", `test -e "$1" || { echo missing; exit 0; }; stat -c %F "$1"`, "check", path)
	if err != nil {
		return "", err
	}
	switch kind := strings.TrimSpace(out); kind {
	case "missing":
		return sanity.PathIsNotFound, nil
	case "directory":
		return sanity.PathIsDir, nil
	case "regular file", "regular empty file":
		return sanity.PathIsFile, nil
	default:
		return sanity.PathIsOther, nil
	}
}
