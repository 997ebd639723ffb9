package lunanode_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/lookup"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
)

// The shared waiter and name lookups work on this provider: batched waits go through
// ListVolumes, which must report real statuses (not volume/list's "active").
func TestWaiterOnLunanode(t *testing.T) {
	r := newRig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w := waiter.New(r.c, waiter.Options{InitialDelay: 5 * time.Millisecond, Interval: 10 * time.Millisecond, PageLimit: 2})
	defer w.Close()

	var ids []string
	for i := range 3 {
		v, err := r.c.CreateVolume(ctx, cloud.CreateVolumeRequest{Name: fmt.Sprintf("w-%d", i), SizeGiB: 1})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, v.ID)
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := w.WaitVolume(ctx, id, waiter.VolumeReady(cloud.StatusAvailable))
			if err != nil || v.Status != cloud.StatusAvailable || v.Serial == "" {
				t.Errorf("wait %s: %+v %v", id, v, err)
			}
		}()
	}
	wg.Wait()

	if _, err := r.c.AttachVolume(ctx, localVM, ids[0]); err != nil {
		t.Fatal(err)
	}
	v, err := w.WaitVolume(ctx, ids[0], waiter.VolumeReady(cloud.StatusInUse))
	if err != nil || !v.AttachedTo(localVM) {
		t.Fatalf("wait attached: %+v %v", v, err)
	}

	names := lookup.New(r.c, w.Options())
	defer names.Close()
	found, err := names.Volume(ctx, "w-1")
	if err != nil || found == nil || found.ID != ids[1] {
		t.Fatalf("find by name = %+v, %v", found, err)
	}
	if none, err := names.Volume(ctx, "nobody"); err != nil || none != nil {
		t.Errorf("find missing = %+v, %v", none, err)
	}

	if err := r.c.DetachVolume(ctx, localVM, ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := w.WaitVolume(ctx, ids[0], waiter.VolumeReady(cloud.StatusAvailable)); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if err := r.c.DeleteVolume(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids {
		if err := w.WaitVolumeGone(ctx, id); err != nil {
			t.Errorf("wait gone %s: %v", id, err)
		}
	}
	if st := r.sim.State(); len(st.Volumes) != 0 {
		t.Errorf("leftover volumes: %+v", st.Volumes)
	}
}
