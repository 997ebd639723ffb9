package openstack_test

import (
	"context"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
)

// A volume of a type with an encryption spec reports encrypted, one of a
// plain type does not, read from Cinder's volume view (v2 and v3).
func TestVolumeReportsEncryption(t *testing.T) {
	for _, b := range backends[:2] { // cinder-v3, cinder-v2 on the generic profile
		t.Run(b.name, func(t *testing.T) {
			b.sim.VolumeTypes = []cloudsim.VolumeType{
				{ID: "11111111-0000-0000-0000-000000000001", Name: "plain"},
				{ID: "11111111-0000-0000-0000-000000000002", Name: "luks",
					Encryption: &cloudsim.TypeEncryption{ID: "e1", Provider: "luks", ControlLocation: "front-end"}},
			}
			c, _ := startCloud(t, b)
			if !c.Capabilities().Encryption {
				t.Fatal("Cinder v2/v3 does not report Encryption")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			for typ, want := range map[string]bool{"plain": false, "luks": true} {
				v, err := c.CreateVolume(ctx, cloud.CreateVolumeRequest{Name: "enc-" + typ, SizeGiB: 1, VolumeType: typ})
				if err != nil {
					t.Fatal(err)
				}
				got, err := c.GetVolume(ctx, v.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.Encrypted != want {
					t.Errorf("type %s: encrypted = %v, want %v", typ, got.Encrypted, want)
				}
			}
		})
	}
}
