package cloudsim_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/volumeattach"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/simtest"
)

// gophercloud is what the driver uses: it must work against the simulator
// unmodified, through the catalog, with reauthentication on 401.

func TestGophercloudV3(t *testing.T) {
	ctx := context.Background()
	sim, base := simtest.Start(t, cloudsim.Config{TokenTTL: 500 * time.Millisecond})
	pc, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
		IdentityEndpoint: base + "/identity/v3", Username: "admin", Password: "secret",
		DomainName: "Default", TenantName: "demo", AllowReauth: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	eo := gophercloud.EndpointOpts{Region: cloudsim.DefaultRegion}
	bs, err := openstack.NewBlockStorageV3(pc, eo)
	if err != nil {
		t.Fatal(err)
	}
	if bs.Endpoint != base+"/volume/v3/demo/" {
		t.Fatalf("block storage endpoint %s", bs.Endpoint)
	}
	cs, err := openstack.NewComputeV2(pc, eo)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := 0; i < 3; i++ {
		v, err := volumes.Create(ctx, bs, volumes.CreateOpts{Size: 1, Name: "gc", Metadata: map[string]string{"i": "x"}}, nil).Extract()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, v.ID)
	}
	pages, err := volumes.List(bs, volumes.ListOpts{Limit: 1, Name: "gc"}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all, err := volumes.ExtractVolumes(pages)
	if err != nil || len(all) != 3 {
		t.Fatalf("paged list: %d volumes, %v", len(all), err)
	}
	if n := sim.Stats().ByRoute["GET /volume/{ver}/{project}/volumes/detail"]; n < 3 {
		t.Fatalf("%d list calls for 3 pages of 1", n)
	}
	time.Sleep(600 * time.Millisecond) // token expired: gophercloud must reauthenticate on 401
	deadline := time.Now().Add(5 * time.Second)
	for {
		v, err := volumes.Get(ctx, bs, ids[0]).Extract()
		if err != nil {
			t.Fatalf("get after token expiry: %v", err)
		}
		if v.Status == "available" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %s", v.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := sim.Stats(); st.ByStatus["401"] == 0 || st.ByRoute["POST /identity/v3/auth/tokens"] < 2 {
		t.Fatalf("no 401 + reauth seen: %+v", st.ByStatus)
	}
	att, err := volumeattach.Create(ctx, cs, cloudsim.DefaultServerID, volumeattach.CreateOpts{VolumeID: ids[0]}).Extract()
	if err != nil || att.Device != "/dev/vdb" || att.VolumeID != ids[0] {
		t.Fatalf("attach: %+v %v", att, err)
	}
	// A business-rule refusal surfaces as a 400 gophercloud recognises.
	err = volumes.Delete(ctx, bs, ids[0], nil).ExtractErr()
	if !gophercloud.ResponseCodeIs(err, http.StatusBadRequest) {
		t.Fatalf("delete attached volume: %v", err)
	}
	_, err = volumes.Get(ctx, bs, "missing").Extract()
	if !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		t.Fatalf("get missing: %v", err)
	}
}

func TestGophercloudKeystoneV2(t *testing.T) {
	ctx := context.Background()
	_, base := simtest.Start(t, cloudsim.Config{Profile: "nhn"})
	pc, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
		IdentityEndpoint: base + "/identity/v2.0", Username: "admin", Password: "secret", TenantID: "demo",
	})
	if err != nil {
		t.Fatal(err)
	}
	bs, err := openstack.NewBlockStorageV2(pc, gophercloud.EndpointOpts{Region: cloudsim.DefaultRegion})
	if err != nil {
		t.Fatal(err)
	}
	if bs.Endpoint != base+"/volume/v2/demo/" {
		t.Fatalf("endpoint %s", bs.Endpoint)
	}
	v, err := volumes.Create(ctx, bs, volumes.CreateOpts{Size: 10, Name: "DATA"}, nil).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if v.AvailabilityZone != "kr-pub-a" || v.VolumeType != "General HDD" || v.Status != "creating" {
		t.Fatalf("nhn defaults: %+v", v)
	}
	cs, err := openstack.NewComputeV2(pc, gophercloud.EndpointOpts{Region: cloudsim.DefaultRegion})
	if err != nil {
		t.Fatal(err)
	}
	if cs.Endpoint != base+"/compute/v2/demo/" {
		t.Fatalf("nhn compute endpoint %s", cs.Endpoint)
	}
}
