// Package guest_test runs the node plugin in a real guest kernel (QEMU
// TCG) whose disks the simulated cloud hot-plugs: found by udev under
// /dev/disk/by-id, grown online, unplugged behind the cloud's back. `make
// guest-test` runs it and prints one line per backend and bus,
// "guest BACKEND/BUS: N passed, N failed, N skipped", one of csi-sanity's
// node specs run in the guest, "guest BACKEND/BUS csi-sanity: ...", and one
// of figures, "guest BACKEND/BUS timing: ...".
package guest_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/guest"
	"github.com/openblock-csi/openblock-csi/test/harness"
)

func TestMain(m *testing.M) {
	code := m.Run()
	harness.RemoveSharedDriver()
	os.Exit(code)
}

type gcase struct {
	name string
	// online: needs a cloud that extends in-use volumes.
	online bool
	run    func(t *testing.T, ctx context.Context, e *env)
}

var cases = []gcase{
	{name: "Lifecycle", run: caseLifecycle},
	{name: "CSISanityNodeSpecs", run: caseSanityNodeSpecs},
	{name: "ByIDAbsentIsNotYetThere", run: caseByIDAbsent},
	{name: "BlankFormattedFilesystemKept", run: caseBlankFormattedKept},
	{name: "OnlineExpandExt4", online: true, run: onlineExpand("ext4")},
	{name: "OnlineExpandXFS", online: true, run: onlineExpand("xfs")},
	{name: "OnlineExpandBtrfs", online: true, run: onlineExpand("btrfs")},
	{name: "OfflineGrowthAtStage", run: caseOfflineGrowth},
	{name: "LateDiskFormattedOnce", run: caseLateDisk},
	{name: "SizeMismatchRefused", run: caseSizeMismatch},
	{name: "SurpriseUnplug", run: caseSurpriseUnplug},
	{name: "SurpriseUnplugReported", run: caseSurpriseUnplugReported},
	{name: "TwentyFiveDisksAtOnce", run: caseManyDisks},
	{name: "AttachTimings", run: caseAttachTimings},
}

// sets are the backend/bus pairs, GUEST_SETS (e.g. "cinder-v2/virtio-blk")
// choosing among them; any backend on either bus may be named. One guest
// boot per set.
var sets = []string{"cinder-v2/virtio-blk", "cinder-v3/virtio-scsi", "lunanode/virtio-blk"}

// onlineExtend says which backends' clouds extend an attached volume.
func onlineExtend(b harness.Backend) bool { return b.APIVersion == 3 }

func TestGuest(t *testing.T) {
	// Three guest boots and many hot-plug cycles take minutes: the suite is
	// make guest-test's (hack/guest/test.sh sets GUEST_TEST), not make test's.
	if os.Getenv("GUEST_TEST") == "" {
		t.Skip("runs under make guest-test (GUEST_TEST=1): minutes of QEMU boots and hot-plug cycles")
	}
	chosen := sets
	if s := os.Getenv("GUEST_SETS"); s != "" {
		chosen = strings.Fields(s)
	}
	only := os.Getenv("GUEST_CASES") // a regexp-free list, for one case by hand
	for _, set := range chosen {
		name, bus, _ := strings.Cut(set, "/")
		b, err := harness.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		if bus != string(guest.VirtioBlk) && bus != string(guest.VirtioSCSI) {
			t.Fatalf("set %s: unknown bus %q (virtio-blk or virtio-scsi)", set, bus)
		}
		var passed, failed, skipped int
		var e *env
		t.Run(strings.ReplaceAll(set, "/", "_"), func(t *testing.T) {
			e = newEnv(t, b, guest.Bus(bus))
			for _, c := range cases {
				if only != "" && !slices.Contains(strings.Fields(only), c.name) {
					continue
				}
				var sub *testing.T
				ok := t.Run(c.name, func(t *testing.T) {
					sub = t
					if c.online && !onlineExtend(b) {
						t.Skipf("%s extends only detached volumes (the node side is OfflineGrowthAtStage)", b.Name)
					}
					ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
					defer cancel()
					began := time.Now()
					c.run(t, ctx, e)
					t.Logf("%s took %s", c.name, time.Since(began).Round(100*time.Millisecond))
				})
				switch {
				case !ok:
					failed++
				case sub.Skipped():
					skipped++
				default:
					passed++
				}
			}
		})
		fmt.Printf("guest %s: %d passed, %d failed, %d skipped\n", set, passed, failed, skipped)
		if e != nil && len(e.timings.link) > 0 {
			fmt.Printf("guest %s timing: %s\n", set, e.timings.summary())
		}
	}
}

// timings are the figures of one set: from the ControllerPublish call to
// the by-id link seen in the guest, and to NodeStage done.
type timings struct {
	mu           sync.Mutex
	link, staged []time.Duration
}

func (tm *timings) add(link, staged time.Duration) {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	tm.link = append(tm.link, link)
	tm.staged = append(tm.staged, staged)
}

func (tm *timings) summary() string {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return fmt.Sprintf("attach -> by-id link p50 %s max %s; attach -> NodeStage done p50 %s max %s (%d attaches)",
		p50(tm.link), slices.Max(tm.link).Round(10*time.Millisecond),
		p50(tm.staged), slices.Max(tm.staged).Round(10*time.Millisecond), len(tm.link))
}

// p50 is the median (the lower middle of an even count).
func p50(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(len(s)-1)/2].Round(10 * time.Millisecond)
}
