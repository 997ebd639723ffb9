package lunanode_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/contract"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/lunanode"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/disk"
	simln "github.com/openblock-csi/openblock-csi/pkg/cloudsim/lunanode"
	"github.com/openblock-csi/openblock-csi/pkg/node/nodetest"
)

const (
	localVM = "16b64847-0a86-42ea-bea8-ed60bd960c68"
	otherVM = "2b0d9f8e-9f43-4c55-9a0e-6c1d8e0c2f11"
)

type rig struct {
	c     *lunanode.Cloud
	sim   *simln.Handler
	store *disk.Store
	byID  string
	url   string
}

// newRig serves the simulator over real HTTP (mounted at /lunanode/ as the
// main simulator does) with short durations, and points a client at it.
func newRig(t *testing.T) *rig {
	t.Helper()
	dir := t.TempDir()
	byID := filepath.Join(dir, "by-id")
	store, err := disk.NewStore(filepath.Join(dir, "state"), byID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := store.Close(); err != nil {
			t.Errorf("store close: %v", err)
		}
	})
	d := 30 * time.Millisecond
	sim, err := simln.NewHandler(simln.Config{
		Store:     store,
		StatePath: filepath.Join(dir, "lunanode.json"),
		LocalVMID: localVM,
		VMs:       []simln.VM{{ID: otherVM, Region: "toronto"}},
		Durations: simln.Durations{Create: d, Attach: d, Detach: d, Snapshot: d, Delete: d},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/lunanode/", sim)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		_ = sim.Close()
	})
	c, err := lunanode.New(lunanode.Config{
		APIURL: srv.URL + "/lunanode/api/",
		APIID:  simln.DefaultAPIID, APIKey: simln.DefaultAPIKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &rig{c: c, sim: sim, store: store, byID: byID, url: srv.URL}
}

// Lunanode runs the same behaviour suite as every other provider; the
// tests below it cover only what is Lunanode's own.
func TestContract(t *testing.T) {
	contract.Run(t, func(t *testing.T) cloud.Cloud { return newRig(t).c },
		contract.Env{ServerID: otherVM, Zone: "toronto", MissingID: "toronto/999999", Poll: 10 * time.Millisecond,
			NoMetadata: true, NoSourceRecord: true})
}

func waitVolume(t *testing.T, c cloud.Cloud, id string, want cloud.Status) *cloud.Volume {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		v, err := c.GetVolume(context.Background(), id)
		if err != nil {
			t.Fatalf("waiting for %s to be %s: %v", id, want, err)
		}
		if v.Status == want {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("volume %s stays %s (%s), want %s", id, v.Status, v.RawStatus, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitGone(t *testing.T, get func() error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := get()
		if cloud.IsNotFound(err) {
			return
		}
		if err != nil {
			t.Fatalf("waiting for deletion: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("resource not deleted in time")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitSnapshot(t *testing.T, c cloud.Cloud, id string) *cloud.Snapshot {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err := c.GetSnapshot(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if s.Status == cloud.StatusAvailable {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("snapshot %s stays %s", id, s.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// What the contract cannot see: ids carry the region, the serial is the
// whole identification UUID and the attached disk shows up on this
// machine under its first 20 characters, an attached volume cannot grow
// (offline expansion) nor go to a second VM, a snapshot restores only in
// its own region and at least at its size, and its data comes along.
func TestRegionsDisksAndData(t *testing.T) {
	r := newRig(t)
	c := r.c
	ctx := context.Background()

	v, err := c.CreateVolume(ctx, cloud.CreateVolumeRequest{Name: "pvc-1", SizeGiB: 1, Description: "dropped", Metadata: map[string]string{"a": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(v.ID, "toronto/") || v.Status != cloud.StatusCreating || v.Zone != "toronto" {
		t.Errorf("created = %+v", v)
	}
	v = waitVolume(t, c, v.ID, cloud.StatusAvailable)
	if len(v.Serial) != 36 {
		t.Errorf("serial %q: want the whole identification UUID", v.Serial)
	}

	att, err := c.AttachVolume(ctx, localVM, v.ID)
	if err != nil || att.ServerID != localVM || att.VolumeID != v.ID {
		t.Fatalf("attach = %+v, %v", att, err)
	}
	v = waitVolume(t, c, v.ID, cloud.StatusInUse)
	if _, err := c.AttachVolume(ctx, localVM, v.ID); err != nil {
		t.Errorf("repeated attach to the same vm = %v, want success", err)
	}
	if _, err := c.AttachVolume(ctx, otherVM, v.ID); !errors.Is(err, cloud.ErrWrongState) {
		t.Errorf("attach to a second vm = %v, want wrong state", err)
	}
	if err := c.ExtendVolume(ctx, v.ID, 2); !errors.Is(err, cloud.ErrWrongState) {
		t.Errorf("extend while attached = %v, want wrong state", err)
	}
	payload := []byte("data written through the attached disk")
	dev := filepath.Join(r.byID, "virtio-"+v.Serial[:20])
	nodetest.WriteAt(t, dev, 1<<20, payload)
	if err := c.DetachVolume(ctx, localVM, v.ID); err != nil {
		t.Fatal(err)
	}
	v = waitVolume(t, c, v.ID, cloud.StatusAvailable)
	if _, err := os.Lstat(dev); !os.IsNotExist(err) {
		t.Errorf("by-id link remains after detach: %v", err)
	}
	if err := c.ExtendVolume(ctx, v.ID, 2); err != nil {
		t.Fatalf("extend detached: %v", err)
	}

	s, err := c.CreateSnapshot(ctx, cloud.CreateSnapshotRequest{Name: "snap-1", VolumeID: v.ID})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.ID, "toronto/") {
		t.Errorf("snapshot = %+v", s)
	}
	s = waitSnapshot(t, c, s.ID)
	if _, err := c.CreateVolume(ctx, cloud.CreateVolumeRequest{Name: "x", SizeGiB: 2, SnapshotID: s.ID, Zone: "montreal"}); !errors.Is(err, cloud.ErrInvalid) {
		t.Errorf("restore into another region = %v, want invalid", err)
	}
	if _, err := c.CreateVolume(ctx, cloud.CreateVolumeRequest{Name: "x", SizeGiB: 1, SnapshotID: s.ID}); !errors.Is(err, cloud.ErrOutOfRange) {
		t.Errorf("restore smaller than the snapshot = %v, want out of range", err)
	}
	restored, err := c.CreateVolume(ctx, cloud.CreateVolumeRequest{Name: "pvc-2", SizeGiB: 3, SnapshotID: s.ID})
	if err != nil {
		t.Fatal(err)
	}
	if restored.Zone != "toronto" || restored.SourceSnapshotID != s.ID {
		t.Errorf("restored = %+v", restored)
	}
	restored = waitVolume(t, c, restored.ID, cloud.StatusAvailable)
	var rnum int
	fmt.Sscanf(strings.TrimPrefix(restored.ID, "toronto/"), "%d", &rnum)
	got := nodetest.ReadAt(t, r.store.Path(disk.KindVolumes, fmt.Sprintf("lunanode-%d", rnum)), 1<<20, len(payload))
	if !bytes.Equal(got, payload) {
		t.Errorf("restored volume holds %q, want %q", got, payload)
	}

	if err := c.DeleteSnapshot(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	waitGone(t, func() error { _, err := c.GetSnapshot(ctx, s.ID); return err })
	for _, id := range []string{v.ID, restored.ID} {
		if err := c.DeleteVolume(ctx, id); err != nil {
			t.Fatal(err)
		}
		waitGone(t, func() error { _, err := c.GetVolume(ctx, id); return err })
	}

	// Nothing leaked, in the simulator's state or on disk.
	st := r.sim.State()
	if len(st.Volumes) != 0 || len(st.Snapshots) != 0 || len(st.Attachments) != 0 {
		t.Errorf("leftover state: %+v", st)
	}
	for _, kind := range []string{disk.KindVolumes, disk.KindSnapshots} {
		if ids, _ := r.store.List(kind); len(ids) != 0 {
			t.Errorf("leftover %s files: %v", kind, ids)
		}
	}
	if stats := r.sim.Stats(); stats.AuthFailures != 0 || stats.Calls["volume/create"] != 3 {
		t.Errorf("stats = %+v", stats)
	}
}

func TestWrongCredentialsAreUnauthorized(t *testing.T) {
	r := newRig(t)
	c, err := lunanode.New(lunanode.Config{
		APIURL: r.url + "/lunanode/api/", APIID: simln.DefaultAPIID,
		APIKey: strings.Repeat("x", 128),
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ListVolumes(context.Background(), cloud.ListOptions{})
	if !errors.Is(err, cloud.ErrUnauthorized) {
		t.Fatalf("err = %v, want unauthorized", err)
	}
	if strings.Contains(err.Error(), "xxxxxxxx") {
		t.Errorf("error shows the key: %v", err)
	}
}

// Concurrent identical reads must not trip the simulator's replay check.
func TestConcurrentIdenticalReads(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	v, err := r.c.CreateVolume(ctx, cloud.CreateVolumeRequest{Name: "same", SizeGiB: 1})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 20)
	for range 20 {
		go func() { _, err := r.c.GetVolume(ctx, v.ID); errs <- err }()
	}
	for range 20 {
		if err := <-errs; err != nil {
			t.Errorf("concurrent get: %v", err)
		}
	}
}
