package openstack_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/openstack"
	"github.com/openblock-csi/openblock-csi/pkg/cloudconfig"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/simtest"
	"github.com/openblock-csi/openblock-csi/pkg/provider"
)

// api-version = auto takes the newest Cinder each cloud's catalog offers:
// v3 on a generic cloud, v2 on NHN (volumev2 only), v1 on HP Helion
// (volume only); and a version the catalog lacks is refused, naming it.
func TestAPIVersionAutoPerProfile(t *testing.T) {
	for _, tc := range []struct {
		profile    string
		keystoneV2 bool // NHN Cloud signs in with Keystone v2.0
		want       int
		absent     []int
	}{
		{"generic", false, 3, nil},
		{"nhn", true, 2, []int{1, 3}},
		{"helion", false, 1, []int{2, 3}},
	} {
		t.Run(tc.profile, func(t *testing.T) {
			t.Parallel()
			_, base := simtest.Start(t, cloudsim.Config{Profile: tc.profile, RateLimit: -1})
			connect := func(version string) (*openstack.Cloud, error) {
				ini := simtest.CloudConfig{KeystoneV2: tc.keystoneV2, Profile: tc.profile, BlockStorage: "api-version = " + version + "\n"}.INI(base)
				cfg, err := cloudconfig.Parse([]byte(ini))
				if err != nil {
					t.Fatalf("config: %v", err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				return openstack.New(ctx, provider.OpenStackConfig(cfg))
			}
			c, err := connect("auto")
			if err != nil {
				t.Fatalf("auto: %v", err)
			}
			if c.APIVersion() != tc.want {
				t.Fatalf("auto picked Cinder v%d, want v%d", c.APIVersion(), tc.want)
			}
			// The face it picked answers.
			if _, err := c.ListVolumes(context.Background(), cloud.ListOptions{}); err != nil {
				t.Fatalf("list on v%d: %v", tc.want, err)
			}
			for _, v := range tc.absent {
				if _, err := connect(fmt.Sprint(v)); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("has no block storage v%d endpoint", v)) {
					t.Fatalf("api-version = %d on %s: %v, want the catalog's refusal", v, tc.profile, err)
				}
			}
		})
	}
}
