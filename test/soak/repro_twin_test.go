package soak

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
	"github.com/openblock-csi/openblock-csi/pkg/csicap"
	"github.com/openblock-csi/openblock-csi/test/harness"
)

// holdFirst delays the first request match picks until release is
// closed, then serves it whether or not its client is still there: a
// create stuck in the cloud's queue while the CO's attempt times out, or
// the controller that sent it is killed. It lands after the retry.
type holdFirst struct {
	match func(*http.Request) bool
	// early: the held request lands just before the next one that
	// matches (after the retry's lookup, before its create).
	early   bool
	once    sync.Once
	held    chan struct{}
	release chan struct{}
	served  chan struct{}
}

func newHoldFirst(match func(*http.Request) bool) *holdFirst {
	return &holdFirst{match: match, held: make(chan struct{}), release: make(chan struct{}), served: make(chan struct{})}
}

func (h *holdFirst) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first := false
		if h.match(r) {
			h.once.Do(func() { first = true })
		}
		if !first {
			if h.early && h.match(r) {
				select {
				case <-h.release:
				default:
					close(h.release)
				}
				<-h.served
			}
			next.ServeHTTP(w, r)
			return
		}
		close(h.held)
		<-h.release
		next.ServeHTTP(w, r)
		close(h.served)
	})
}

func isVolumeCreate(r *http.Request) bool {
	return r.Method == http.MethodPost && (strings.HasSuffix(r.URL.Path, "/volumes") || strings.HasSuffix(r.URL.Path, "/volume/create/"))
}

// liveVolumes are the simulator's volumes named name that are neither
// failed nor on their way out.
func liveVolumes(st cloudsim.StateDump, name string) []string {
	var ids []string
	for _, v := range st.Volumes {
		if v.Name == name && !strings.HasPrefix(v.Status, "error") && v.Status != "deleting" {
			ids = append(ids, v.ID)
		}
	}
	if ln := st.Lunanode; ln != nil {
		for _, v := range ln.Volumes {
			if v.Name == name && !strings.HasPrefix(strings.ToLower(v.Status), "error") && v.Status != "deleting" {
				ids = append(ids, fmt.Sprintf("%s/%d", v.Region, v.ID))
			}
		}
	}
	return ids
}

// A CreateVolume whose create request is still in the cloud's queue when
// the CO's attempt times out: the retry finds no volume by the name and
// makes one, then the first create lands. Nothing in Cinder's or
// Lunanode's API makes a create idempotent, so the two cannot be kept
// from existing together for a moment; the driver must answer one, keep
// answering it, and remove the other.
func TestReproLateCreateLandsAfterRetry(t *testing.T) {
	for _, backend := range []string{"cinder-v3", "lunanode"} {
		t.Run(backend, func(t *testing.T) { lateCreate(t, backend, landsAfterRetry) })
	}
}

// The late create lands between the retry's lookup and its create: the
// retry's volume is the later twin. The retry deletes it and answers
// Aborted; the next retry answers the earlier one.
func TestReproLateCreateLandsBeforeRetryCreates(t *testing.T) {
	for _, backend := range []string{"cinder-v3", "lunanode"} {
		t.Run(backend, func(t *testing.T) { lateCreate(t, backend, landsBeforeRetryCreates) })
	}
}

// The CO deletes the answered volume at once, before any later look at
// the name: the late twin, landed just before the delete or just after,
// must go too. With the answered one gone, nothing in the cloud tells it
// from a volume in use.
func TestReproLateCreateOutlivesTheAnsweredVolume(t *testing.T) {
	for _, backend := range []string{"cinder-v3", "lunanode"} {
		t.Run(backend+"/landed-before-the-delete", func(t *testing.T) { lateCreate(t, backend, answeredDeletedFirst) })
		t.Run(backend+"/landing-after-the-delete", func(t *testing.T) { lateCreate(t, backend, landsAfterDelete) })
	}
}

type lateCase int

const (
	landsAfterRetry lateCase = iota
	landsBeforeRetryCreates
	answeredDeletedFirst
	landsAfterDelete
)

func lateCreate(t *testing.T, backend string, when lateCase) {
	h := newHoldFirst(isVolumeCreate)
	h.early = when == landsBeforeRetryCreates
	sim, cc, _ := controllerOnlyWith(t, backend, h.wrap)
	t.Cleanup(func() {
		select {
		case <-h.release:
		default:
			close(h.release) // a failed test must not leave the request parked
		}
	})
	req := &csi.CreateVolumeRequest{Name: "twin", CapacityRange: &csi.CapacityRange{RequiredBytes: gib},
		VolumeCapabilities: []*csi.VolumeCapability{csicap.Mount("ext4")}}

	first, cancelFirst := context.WithCancel(context.Background())
	firstDone := make(chan error, 1)
	go func() { _, err := cc.CreateVolume(first, req); firstDone <- err }()
	select {
	case <-h.held:
	case <-time.After(20 * time.Second):
		t.Fatal("the first create never reached the cloud")
	}
	cancelFirst() // the CO's attempt times out
	if err := <-firstDone; err == nil {
		t.Fatal("the first attempt succeeded while its create was held")
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var retry *csi.CreateVolumeResponse
	var err error
	for start := time.Now(); ; {
		// Aborted while the first attempt's request is still winding down.
		if retry, err = cc.CreateVolume(ctx, req); status.Code(err) != codes.Aborted || time.Since(start) > 20*time.Second {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	answered := retry.GetVolume().GetVolumeId()
	if when == landsAfterDelete {
		deleteVolume(t, ctx, cc, answered)
	}
	if when != landsBeforeRetryCreates {
		close(h.release)
	}
	<-h.served
	if when == answeredDeletedFirst || when == landsAfterDelete {
		if when == answeredDeletedFirst {
			deleteVolume(t, ctx, cc, answered)
		}
		live := waitLive(sim, "twin", 0)
		if len(live) != 0 {
			t.Fatalf("live volumes named twin after the CO deleted %s, the one answered: %v", answered, live)
		}
		return
	}

	// The late volume is removed, the answered one kept.
	live := waitLive(sim, "twin", 1)
	if len(live) != 1 || live[0] != answered {
		t.Fatalf("live volumes named twin: %v; want only %s, the one answered", live, answered)
	}
	again, err := cc.CreateVolume(ctx, req)
	if err != nil {
		t.Fatalf("third attempt: %v", err)
	}
	if got := again.GetVolume().GetVolumeId(); got != answered {
		t.Fatalf("a later retry answered %s, the first answer was %s", got, answered)
	}
}

// waitLive waits up to 45 s (past the driver's first looks at a name)
// for want live volumes named name, and returns those there are.
func waitLive(sim *harness.Sim, name string, want int) []string {
	deadline := time.Now().Add(45 * time.Second)
	for {
		live := liveVolumes(sim.State(), name)
		if len(live) == want || time.Now().After(deadline) {
			return live
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func deleteVolume(t *testing.T, ctx context.Context, cc csi.ControllerClient, id string) {
	t.Helper()
	if _, err := cc.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: id}); err != nil {
		t.Fatalf("DeleteVolume %s: %v", id, err)
	}
}
