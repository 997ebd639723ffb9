package openstack_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// Cinder answers a create with an unknown volume type 404, as it does a
// missing source; the adapter reports it as invalid input naming the type,
// on every Cinder face, and no volume is created.
func TestUnknownVolumeTypeIsInvalid(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			c, _ := startCloud(t, b)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err := c.CreateVolume(ctx, cloud.CreateVolumeRequest{Name: "typed", SizeGiB: 1, VolumeType: "no-such-type"})
			if !errors.Is(err, cloud.ErrInvalid) || errors.Is(err, cloud.ErrNotFound) {
				t.Fatalf("create with an unknown type: %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), `"no-such-type"`) {
				t.Errorf("error %q does not name the type", err)
			}
			vols, err := c.ListVolumes(ctx, cloud.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(vols.Items) != 0 {
				t.Errorf("volumes after a refused create: %+v", vols.Items)
			}
		})
	}
}
