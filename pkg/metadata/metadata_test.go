package metadata

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
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

func TestAllZeroProductUUIDRejected(t *testing.T) {
	down, _ := metadataServer(t, "oops", 500)
	for name, content := range map[string]string{
		"all zero":       "00000000-0000-0000-0000-000000000000\n",
		"empty":          "",
		"only a newline": "\n",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "product_uuid")
			writeFile(t, path, content)
			u, err := FromProductUUID(path)
			var pe *fs.PathError
			if err == nil || !errors.As(err, &pe) || pe.Path != path || !strings.Contains(err.Error(), "all-zero") {
				t.Fatalf("FromProductUUID = %q, %v; want a *fs.PathError for %s", u, err, path)
			}
			// Resolve falls through to an error naming the product uuid, not a bogus id.
			id, err := Resolve(context.Background(), Options{ServiceURL: down.URL, ConfigDrive: t.TempDir(), ProductUUIDPath: path})
			if err == nil || id.NodeID != "" {
				t.Fatalf("Resolve = %+v, %v; want no node id", id, err)
			}
			if !strings.Contains(err.Error(), "product uuid: read "+path+": empty or all-zero UUID") {
				t.Errorf("error %q does not name the product uuid %s", err, path)
			}
		})
	}
}

func TestEmptyMetaDataPassedOver(t *testing.T) {
	// Valid JSON, but nothing the driver uses.
	empty, _ := metadataServer(t, `{"name":"worker-1","hostname":"worker-1"}`, 200)
	if d, err := FromService(context.Background(), Options{ServiceURL: empty.URL}); err == nil || err.Error() != "meta_data.json has neither uuid nor availability_zone" {
		t.Fatalf("FromService = %+v, %v", d, err)
	}

	// The service is passed over for the config drive.
	drive := t.TempDir()
	writeFile(t, filepath.Join(drive, "openstack/latest/meta_data.json"), `{"uuid":"from-drive","availability_zone":"nova"}`)
	id, err := Resolve(context.Background(), Options{ServiceURL: empty.URL, ConfigDrive: drive, ProductUUIDPath: "-"})
	if err != nil || id.NodeID != "from-drive" || id.NodeIDSource != "config drive" || id.ZoneSource != "config drive" {
		t.Fatalf("Resolve = %+v, %v", id, err)
	}

	// An empty document on the config drive is passed over for the product uuid.
	blank := t.TempDir()
	writeFile(t, filepath.Join(blank, "openstack/latest/meta_data.json"), `{}`)
	if d, err := FromConfigDrive(blank); err == nil {
		t.Fatalf("FromConfigDrive = %+v, want an error", d)
	}
	uuidFile := filepath.Join(t.TempDir(), "product_uuid")
	writeFile(t, uuidFile, "83679162-1378-4288-a2d4-70e13ec132aa\n")
	id, err = Resolve(context.Background(), Options{ServiceURL: empty.URL, ConfigDrive: blank, ProductUUIDPath: uuidFile})
	if err != nil || id.NodeIDSource != "product uuid" {
		t.Fatalf("Resolve = %+v, %v", id, err)
	}

	// With nothing after it, the error says why the document was not used.
	_, err = Resolve(context.Background(), Options{ServiceURL: empty.URL, ProductUUIDPath: "-"})
	if err == nil || !strings.Contains(err.Error(), "metadata service: meta_data.json has neither uuid nor availability_zone") {
		t.Fatalf("Resolve error = %v", err)
	}
}

func TestServiceErrorsReadable(t *testing.T) {
	// A service that never answers: the error names the timeout.
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) }) // runs first, so Close does not wait for the handler
	_, err := FromService(context.Background(), Options{ServiceURL: slow.URL, Timeout: 100 * time.Millisecond})
	if err == nil || err.Error() != "no answer within 100ms" {
		t.Errorf("slow service: err = %v, want %q", err, "no answer within 100ms")
	}

	// A refused connection: the reason, without Go's `Get "URL": ` prefix.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	_, err = FromService(context.Background(), Options{ServiceURL: dead, Timeout: 2 * time.Second})
	if err == nil || strings.Contains(err.Error(), `Get "`) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("refused: err = %v", err)
	}

	// An HTTP error names the URL and status.
	notFound, _ := metadataServer(t, "", 404)
	_, err = FromService(context.Background(), Options{ServiceURL: notFound.URL})
	want := notFound.URL + "/openstack/latest/meta_data.json returned 404 Not Found"
	if err == nil || err.Error() != want {
		t.Errorf("404: err = %v, want %q", err, want)
	}

	// A caller that gives up is not a timeout of the service.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := FromService(ctx, Options{ServiceURL: slow.URL, Timeout: time.Minute}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v, want context.Canceled", err)
	}
}
