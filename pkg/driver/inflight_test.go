package driver

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/openblock-csi/openblock-csi/pkg/inflight"
)

// A held key refuses a second taker with Aborted naming what it guards,
// leaves other keys free, and is free again once released.
func TestHold(t *testing.T) {
	var keys inflight.Set
	release, err := hold(&keys, "volume/v1", "volume v1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = hold(&keys, "volume/v1", "volume v1")
	wantCode(t, err, codes.Aborted)
	if !strings.Contains(err.Error(), "volume v1") {
		t.Errorf("error %q does not name the volume", err)
	}
	other, err := hold(&keys, "node/v1", "volume v1")
	if err != nil {
		t.Fatalf("another key refused: %v", err)
	}
	other()
	release()
	again, err := hold(&keys, "volume/v1", "volume v1")
	if err != nil {
		t.Fatalf("released key refused: %v", err)
	}
	again()
	if keys.Len() != 0 {
		t.Errorf("%d keys left held", keys.Len())
	}
}
