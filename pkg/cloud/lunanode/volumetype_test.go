package lunanode_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// LunaNode has no volume types: a StorageClass naming one is refused as
// invalid input, before anything is created.
func TestVolumeTypeIsRefused(t *testing.T) {
	r := newRig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := r.c.CreateVolume(ctx, cloud.CreateVolumeRequest{Name: "typed", SizeGiB: 1, VolumeType: "no-such-type"})
	if !errors.Is(err, cloud.ErrInvalid) || !strings.Contains(err.Error(), "no-such-type") {
		t.Fatalf("create with a type: %v, want ErrInvalid naming the type", err)
	}
	vols, err := r.c.ListVolumes(ctx, cloud.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(vols.Items) != 0 {
		t.Errorf("volumes after a refused create: %+v", vols.Items)
	}
}
