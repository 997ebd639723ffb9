package metadata

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// All tests point at loopback servers and temp files: never the real
// 169.254.169.254 or /sys.

func metadataServer(t *testing.T, body string, code int) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path != "/openstack/latest/meta_data.json" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFlagsWinWithoutLookups(t *testing.T) {
	srv, hits := metadataServer(t, `{"uuid":"other"}`, 200)
	id, err := Resolve(context.Background(), Options{NodeID: "n1", Zone: "z1", ServiceURL: srv.URL, ProductUUIDPath: "-"})
	if err != nil || id.NodeID != "n1" || id.Zone != "z1" || id.NodeIDSource != "flag" {
		t.Fatalf("Resolve = %+v, %v", id, err)
	}
	if hits.Load() != 0 {
		t.Error("metadata service asked although flags gave everything")
	}
}

func TestMetadataService(t *testing.T) {
	srv, _ := metadataServer(t, `{"uuid":"83679162-1378-4288-a2d4-70e13ec132aa","availability_zone":"az2","name":"node-1"}`, 200)
	id, err := Resolve(context.Background(), Options{ServiceURL: srv.URL + "/", ProductUUIDPath: "-"})
	if err != nil {
		t.Fatal(err)
	}
	if id.NodeID != "83679162-1378-4288-a2d4-70e13ec132aa" || id.Zone != "az2" || id.NodeIDSource != "metadata service" {
		t.Errorf("Resolve = %+v", id)
	}
	// Node id from the flag, zone from the service.
	id, err = Resolve(context.Background(), Options{NodeID: "mine", ServiceURL: srv.URL, ProductUUIDPath: "-"})
	if err != nil || id.NodeID != "mine" || id.Zone != "az2" || id.ZoneSource != "metadata service" {
		t.Errorf("Resolve = %+v, %v", id, err)
	}
}

func TestConfigDriveThenProductUUID(t *testing.T) {
	down, _ := metadataServer(t, "oops", 500)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "openstack/latest/meta_data.json"), `{"uuid":"from-drive","availability_zone":"nova"}`)
	id, err := Resolve(context.Background(), Options{ServiceURL: down.URL, ConfigDrive: dir, ProductUUIDPath: "-"})
	if err != nil || id.NodeID != "from-drive" || id.Zone != "nova" || id.NodeIDSource != "config drive" {
		t.Fatalf("Resolve = %+v, %v", id, err)
	}

	uuidFile := filepath.Join(t.TempDir(), "product_uuid")
	writeFile(t, uuidFile, "83679162-1378-4288-A2D4-70E13EC132AA\n")
	id, err = Resolve(context.Background(), Options{ServiceURL: down.URL, ConfigDrive: t.TempDir(), ProductUUIDPath: uuidFile})
	if err != nil || id.NodeID != "83679162-1378-4288-a2d4-70e13ec132aa" || id.Zone != "" || id.NodeIDSource != "product uuid" {
		t.Fatalf("Resolve = %+v, %v", id, err)
	}
}

func TestNothingFound(t *testing.T) {
	down, _ := metadataServer(t, "{not json", 200)
	_, err := Resolve(context.Background(), Options{ServiceURL: down.URL, ProductUUIDPath: filepath.Join(t.TempDir(), "absent")})
	if err == nil {
		t.Fatal("Resolve succeeded with no source")
	}
	// Disabled service: no request at all.
	srv, hits := metadataServer(t, `{"uuid":"x"}`, 200)
	_ = srv
	if _, err := Resolve(context.Background(), Options{ServiceURL: "-", ProductUUIDPath: "-"}); err == nil {
		t.Fatal("Resolve succeeded with every source disabled")
	}
	if hits.Load() != 0 {
		t.Error("disabled metadata service was asked")
	}
}
