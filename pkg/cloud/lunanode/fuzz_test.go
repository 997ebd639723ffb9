package lunanode

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

const (
	fuzzAPIID  = "fuzzfuzzfuzz0001"
	fuzzAPIKey = "FUZZ-KEY-must-never-leak-" // padded to 128 below
)

func fuzzKey() string { return (fuzzAPIKey + strings.Repeat("k", apiKeyLen))[:apiKeyLen] }

func fuzzCloud(t testing.TB, url string) *Cloud {
	c, err := New(Config{APIURL: url, APIID: fuzzAPIID, APIKey: fuzzKey(), MaxRetries: -1,
		HTTPClient: &http.Client{Timeout: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// FuzzParseIDs checks the strict id parsers: what they accept prints back
// as the same id and parses to the same reference.
func FuzzParseIDs(f *testing.F) {
	for _, s := range []string{
		"toronto/4682", "montreal/0", "roubaix/007", "toronto/18446744073709551615", "toronto/18446744073709551616",
		"toronto/484a06d3-7ea6-40d6-8e72-9e7e23f6826b", "toronto/", "/4682", "nowhere/1", "toronto/1/2",
		"toronto/-1", "toronto/+1", "toronto/1e3", "toronto/ 1", "TORONTO/1", "toronto/ABCDEF12",
	} {
		f.Add(s)
	}
	c := fuzzCloud(f, "http://127.0.0.1:1/api/")
	f.Fuzz(func(t *testing.T, id string) {
		if ref, err := c.parseVolumeID(id); err == nil {
			if ref.String() != id {
				t.Fatalf("volume id %q parsed to %q", id, ref.String())
			}
			again, err := c.parseVolumeID(ref.String())
			if err != nil || again != ref {
				t.Fatalf("volume id %q: reparse %v, %v", id, again, err)
			}
			if strconv.FormatUint(ref.num, 10) != strings.TrimLeft(ref.id, "0") && !(ref.num == 0 && strings.Trim(ref.id, "0") == "") {
				t.Fatalf("volume id %q: number %d does not match %q", id, ref.num, ref.id)
			}
		} else if !errors.Is(err, cloud.ErrNotFound) {
			t.Fatalf("volume id %q: %v is not NotFound", id, err)
		}
		if ref, err := c.parseSnapshotID(id); err == nil {
			if ref.String() != id {
				t.Fatalf("snapshot id %q parsed to %q", id, ref.String())
			}
		} else if !errors.Is(err, cloud.ErrNotFound) {
			t.Fatalf("snapshot id %q: %v is not NotFound", id, err)
		}
	})
}

// FuzzDecodeResponse feeds arbitrary status codes, headers and bodies to the
// response decoder and the wire conversions: an error is always a
// *cloud.Error with a kind, never a panic.
func FuzzDecodeResponse(f *testing.F) {
	f.Add(200, "", []byte(`{"success":"yes","volumes":[{"id":"4682","name":"v","region":"toronto","size":"10","status":"active","time_created":"2024-01-02 03:04:05"}]}`))
	f.Add(200, "", []byte(`{"success":"yes","volume":{"id":4682,"size":10.5,"status":"in-use","attached":"vm-1","created":"2024-01-02T03:04:05Z"}}`))
	f.Add(200, "", []byte(`{"success":"no","error":"Volume not found"}`))
	f.Add(200, "", []byte(`{"success":"yes","snapshots":[{"id":"484a06d3","name":"s","region":"toronto","size":"1","status":"active","volume":{"id":"1"}}]}`))
	f.Add(429, "3", []byte(``))
	f.Add(503, "Wed, 21 Oct 2015 07:28:00 GMT", []byte(`<html>bad gateway</html>`))
	f.Add(200, "", []byte(`{"success":"yes","volumes":[{"id":null,"size":"-1e309"}]}`))
	f.Add(302, "", []byte(`{"success":"yes"}`))
	f.Fuzz(func(t *testing.T, code int, retryAfter string, body []byte) {
		if code < 100 || code > 999 {
			code = 200
		}
		resp := &http.Response{StatusCode: code, Header: http.Header{"Retry-After": {retryAfter}}}
		var lv listVolumesResponse
		var vi volumeInfoResponse
		var ls listSnapshotsResponse
		for _, out := range []any{&lv, &vi, &ls, nil} {
			err := decodeResponse("volume/list/", resp, body, out)
			if err == nil {
				continue
			}
			var ce *cloud.Error
			if !errors.As(err, &ce) || ce.Kind == nil {
				t.Fatalf("decodeResponse error %T %v has no kind", err, err)
			}
			if ce.RetryAfter < 0 {
				t.Fatalf("negative Retry-After %s from %q", ce.RetryAfter, retryAfter)
			}
		}
		ref := volumeRef{region: "toronto", id: "1", num: 1}
		for i := range lv.Volumes {
			_ = toVolume(ref, &lv.Volumes[i])
		}
		if vi.Volume != nil {
			v := toVolume(ref, vi.Volume)
			if v.SizeGiB < 0 {
				t.Fatalf("negative size %d from %q", v.SizeGiB, vi.Volume.Size)
			}
		}
		for _, s := range ls.Snapshots {
			_ = snapshotStatus(s.Status)
			_ = s.Size.gib()
		}
	})
}

// FuzzClientResponses runs the real client over HTTP against a server that
// answers with arbitrary bodies: no panic, errors typed, and the API key
// in no error message.
func FuzzClientResponses(f *testing.F) {
	f.Add(200, []byte(`{"success":"yes","volume":{"id":"1","name":"pvc-1","size":"1","status":"available","identification":"1b2c3d4e-0000-4000-8000-000000000001"}}`))
	f.Add(200, []byte(`{"success":"yes","volumes":[]}`))
	f.Add(200, []byte(`{"success":"no","error":"authentication failed: invalid API ID or key"}`))
	f.Add(500, []byte(`{"success":"no","error":"internal error"}`))
	f.Add(200, []byte(`not json`))
	f.Add(200, []byte(`{"success":"yes","volume_id":"../../x"}`))
	var code int
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(code)
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	c := fuzzCloud(f, srv.URL+"/api/")
	f.Fuzz(func(t *testing.T, status int, b []byte) {
		if status < 200 || status > 599 {
			status = 200
		}
		code, body = status, b // the fuzzer runs one input at a time per process
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		check := func(what string, err error) {
			if err == nil {
				return
			}
			var ce *cloud.Error
			if !errors.As(err, &ce) || ce.Kind == nil {
				t.Fatalf("%s: error %T %v has no kind", what, err, err)
			}
			if strings.Contains(err.Error(), fuzzKey()[:partialKeyLen]) || strings.Contains(err.Error(), fuzzAPIKey) {
				t.Fatalf("%s: the API key is in the error: %v", what, err)
			}
		}
		_, err := c.GetVolume(ctx, "toronto/1")
		check("GetVolume", err)
		_, err = c.ListVolumes(ctx, cloud.ListOptions{Limit: 10})
		check("ListVolumes", err)
		_, err = c.CreateVolume(ctx, cloud.CreateVolumeRequest{Name: "pvc-1", SizeGiB: 1})
		check("CreateVolume", err)
		_, err = c.CreateSnapshot(ctx, cloud.CreateSnapshotRequest{Name: "s", VolumeID: "toronto/1"})
		check("CreateSnapshot", err)
		_, err = c.ListSnapshots(ctx, cloud.ListOptions{})
		check("ListSnapshots", err)
	})
}
