package openstack_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
)

// Nova's "maximum allowed number of disk devices" 403, as the simulator
// sends it, is the server's disk limit, not a refusal of the credentials;
// a policy 403 is a refusal of the operation.
func TestAttachLimitIsNotUnauthorized(t *testing.T) {
	rules, err := cloudsim.ProfileRules("generic")
	if err != nil {
		t.Fatal(err)
	}
	rules.MaxVolumesPerServer = 2 // the boot disk and one more
	b := backends[0]
	b.sim.Rules = &rules
	c, _ := startCloud(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var ids []string
	for i := range 2 {
		v, err := c.CreateVolume(ctx, cloud.CreateVolumeRequest{Name: "limit-" + string(rune('a'+i)), SizeGiB: 1})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, v.ID)
	}
	for _, id := range ids {
		for {
			v, err := c.GetVolume(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if v.Status == cloud.StatusAvailable {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if _, err := c.AttachVolume(ctx, cloudsim.DefaultServerID, ids[0]); err != nil {
		t.Fatalf("first attach: %v", err)
	}
	_, err = c.AttachVolume(ctx, cloudsim.DefaultServerID, ids[1])
	if !errors.Is(err, cloud.ErrAttachLimit) {
		t.Fatalf("attach past the limit: %v, want ErrAttachLimit", err)
	}
	if errors.Is(err, cloud.ErrUnauthorized) || !strings.Contains(err.Error(), "disk devices") {
		t.Errorf("attach past the limit: %v", err)
	}
}
