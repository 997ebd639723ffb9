package openstack_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
)

// os-retype over HTTP: the volume's type changes on the generic profile
// (v3 and v2); an unknown type is invalid input; HP Helion (Cinder v1) and
// NHN (whose document has no retype) do not offer it.
func TestRetypeVolume(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			b.sim.VolumeTypes = []cloudsim.VolumeType{
				{ID: "22222222-0000-0000-0000-000000000001", Name: "plain"},
				{ID: "22222222-0000-0000-0000-000000000002", Name: "gold"},
			}
			c, _ := startCloud(t, b)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			v, err := c.CreateVolume(ctx, cloud.CreateVolumeRequest{Name: "retype-me", SizeGiB: 1, VolumeType: "plain"})
			if err != nil {
				t.Fatal(err)
			}
			for {
				got, err := c.GetVolume(ctx, v.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.Status == cloud.StatusAvailable {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			err = c.RetypeVolume(ctx, v.ID, "gold", cloud.MigrationNever)
			if !c.Capabilities().Retype {
				if !errors.Is(err, cloud.ErrUnsupported) {
					t.Fatalf("retype on a cloud without it: %v, want ErrUnsupported", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for {
				got, err := c.GetVolume(ctx, v.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.Status == cloud.StatusAvailable && got.VolumeType == "gold" {
					break
				}
				if ctx.Err() != nil {
					t.Fatalf("volume %+v never became gold", got)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err := c.RetypeVolume(ctx, v.ID, "no-such-type", cloud.MigrationOnDemand); !errors.Is(err, cloud.ErrInvalid) {
				t.Errorf("retype to an unknown type: %v, want ErrInvalid", err)
			}
		})
	}
}
