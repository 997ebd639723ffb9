package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openblock-csi/openblock-csi/pkg/driver"
)

// The peer reads the zone under its own topology key: a request that kept
// ours would put every volume in the cloud's default zone.
func TestSetZoneKeyMovesZoneUnderPeerKey(t *testing.T) {
	req := createRequest("pvc-x", "nova", gib)
	setZoneKey(req, peerZoneKey)
	ar := req.GetAccessibilityRequirements()
	for _, ts := range [][]string{{"requisite"}, {"preferred"}} {
		list := ar.GetRequisite()
		if ts[0] == "preferred" {
			list = ar.GetPreferred()
		}
		if len(list) != 1 {
			t.Fatalf("%s: %d topologies, want 1", ts[0], len(list))
		}
		segs := list[0].GetSegments()
		if segs[peerZoneKey] != "nova" || len(segs) != 1 {
			t.Errorf("%s segments %v, want only %s=nova", ts[0], segs, peerZoneKey)
		}
		if _, ok := segs[driver.TopologyZoneKey]; ok {
			t.Errorf("%s still carries %s", ts[0], driver.TopologyZoneKey)
		}
	}
}

func TestPeerRatiosOnlyForCompletedPairs(t *testing.T) {
	figs := []peerFigures{
		{Timing: "fast", Driver: driverPeer, Completed: true, CallsPerVolume: 14.6, WallS: 1.42},
		{Timing: "fast", Driver: driverOurs, Completed: true, CallsPerVolume: 4.2, WallS: 4.35},
		{Timing: "realistic", Driver: driverPeer, Completed: false, CallsPerVolume: 3, WallS: 2},
		{Timing: "realistic", Driver: driverOurs, Completed: true, CallsPerVolume: 4.2, WallS: 5},
	}
	got := peerRatios(figs)
	if len(got) != 1 || got[0].Timing != "fast" {
		t.Fatalf("ratios %+v, want one for fast (realistic's peer did not complete)", got)
	}
	if got[0].CallsPerVolume != 0.288 || got[0].Wall != 3.063 {
		t.Errorf("fast ratios %+v, want calls 0.288, wall 3.063 (ours ÷ peer)", got[0])
	}
}

func TestPeerCloudConfigIsGlobalOnly(t *testing.T) {
	c := peerCloudConfig("http://127.0.0.1:1")
	for _, want := range []string{"[Global]\n", "auth-url = http://127.0.0.1:1/identity/v3\n", "tenant-name = ", "domain-name = ", "region = "} {
		if !strings.Contains(c, want) {
			t.Errorf("cloud config lacks %q:\n%s", want, c)
		}
	}
	// The peer's [BlockStorage] knows none of this driver's keys.
	if strings.Contains(c, "[BlockStorage]") {
		t.Errorf("cloud config has a [BlockStorage] section:\n%s", c)
	}
}

func TestParseTimings(t *testing.T) {
	got, err := parseTimings(" fast, realistic ")
	if err != nil || strings.Join(got, ",") != "fast,realistic" {
		t.Errorf("parseTimings = %v, %v", got, err)
	}
	for _, bad := range []string{"", "slow", "fast,slow"} {
		if _, err := parseTimings(bad); err == nil {
			t.Errorf("parseTimings(%q) accepted", bad)
		}
	}
}

// The sidecars requeue any error: the side-by-side retries Internal (the
// peer's answer to an attach of a volume still being created), the
// lifecycle's own policy does not.
func TestRetryAllRetriesInternal(t *testing.T) {
	for _, tc := range []struct {
		retryAll bool
		calls    int
	}{{true, 3}, {false, 1}} {
		p := callPolicy{timeout: time.Second, maxAttempts: 5, backoff: time.Millisecond, retryAll: tc.retryAll}
		n := 0
		err := p.call(context.Background(), newRPCStats("x"), func(context.Context) error {
			if n++; n < 3 {
				return status.Error(codes.Internal, "volume is creating")
			}
			return nil
		})
		if n != tc.calls || (err == nil) != tc.retryAll {
			t.Errorf("retryAll %v: %d calls, err %v; want %d calls", tc.retryAll, n, err, tc.calls)
		}
	}
}
