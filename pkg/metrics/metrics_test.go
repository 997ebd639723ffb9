package metrics

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
	"github.com/openblock-csi/openblock-csi/pkg/driver"
)

// The Recorder must fit the providers' and the waiter's hooks exactly.
var (
	_ cloud.Observer = (*Recorder)(nil)
	_                = waiter.Options{Observer: (*Recorder)(nil).ObserveBatch}
	_                = driver.Config{Observer: (*Recorder)(nil).ObserveRPC}
)

const volID = "0c9a4c5e-3b1f-4f0a-9d7e-2b8f1c6a7e10"

// serve starts the metrics server on a loopback port and returns its base
// URL; the server is shut down (and its result checked) at cleanup.
func serve(t *testing.T, rec *Recorder, ready func() error) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeListener(ctx, ln, rec, ready) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("ServeListener returned %v after shutdown, want nil", err)
			}
		case <-time.After(ShutdownTimeout + time.Second):
			t.Error("ServeListener did not return after its context ended")
		}
	})
	return "http://" + ln.Addr().String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func scrape(t *testing.T, base string) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	code, body := get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: HTTP %d: %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams, body
}

// find returns the series of family name whose labels include want.
func find(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("metric %s not exported", name)
	}
next:
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		return m
	}
	t.Fatalf("%s has no series with labels %v", name, want)
	return nil
}

func TestScrapeAfterObservations(t *testing.T) {
	rec := NewRecorder("v1.2.3")
	rec.ObserveRPC("/csi.v1.Controller/CreateVolume", codes.OK, 2*time.Second)
	rec.ObserveRPC("/csi.v1.Controller/CreateVolume", codes.OK, 4*time.Second)
	rec.ObserveRPC("NodeStageVolume", codes.NotFound, 10*time.Millisecond)

	rec.ObserveRequest("volume", "GET /volumes/{id}", 200, 30*time.Millisecond)
	rec.ObserveRequest("volume", "GET /volumes/{id}", 200, 50*time.Millisecond)
	rec.ObserveRequest("volume", "POST /volumes", 413, time.Millisecond)
	rec.ObserveRequest("compute", "POST /servers/{id}/os-volume_attachments", 0, time.Second)
	rec.ObserveRateLimitWait(1500 * time.Millisecond)
	rec.ObserveRateLimitWait(500 * time.Millisecond)

	rec.ObserveRequest("lunanode", "volume/info", 200, 20*time.Millisecond)
	rec.ObserveRequest("lunanode", "volume/info", cloud.CodeAPIError, 20*time.Millisecond)
	rec.ObserveRequest("lunanode", "volume/list", 502, 20*time.Millisecond)
	rec.ObserveRequest("lunanode", "volume/list", 0, 20*time.Millisecond)

	rec.ObserveBatch(waiter.Event{Kind: "volume", Waiters: 7, Calls: 2})
	rec.ObserveBatch(waiter.Event{Kind: "volume", Waiters: 1, Calls: 1, Err: errors.New("boom")})

	base := serve(t, rec, nil)
	fams, _ := scrape(t, base)

	h := find(t, fams, "openblock_csi_rpc_duration_seconds", map[string]string{"method": "CreateVolume", "code": "OK"}).GetHistogram()
	if h.GetSampleCount() != 2 || h.GetSampleSum() != 6 {
		t.Errorf("CreateVolume/OK: count %d sum %v, want 2 and 6", h.GetSampleCount(), h.GetSampleSum())
	}
	if h := find(t, fams, "openblock_csi_rpc_duration_seconds", map[string]string{"method": "NodeStageVolume", "code": "NotFound"}).GetHistogram(); h.GetSampleCount() != 1 {
		t.Errorf("NodeStageVolume/NotFound count %d, want 1", h.GetSampleCount())
	}

	counts := map[[3]string]float64{
		{"volume", "GET /volumes/{id}", "200"}:                       2,
		{"volume", "POST /volumes", "413"}:                           1,
		{"compute", "POST /servers/{id}/os-volume_attachments", "0"}: 1,
		{"lunanode", "volume/info", "200"}:                           1,
		{"lunanode", "volume/info", "api_error"}:                     1,
		{"lunanode", "volume/list", "502"}:                           1,
		{"lunanode", "volume/list", "0"}:                             1,
	}
	for k, want := range counts {
		labels := map[string]string{"service": k[0], "operation": k[1], "code": k[2]}
		if got := find(t, fams, "openblock_csi_cloud_requests_total", labels).GetCounter().GetValue(); got != want {
			t.Errorf("cloud_requests_total%v = %v, want %v", labels, got, want)
		}
		if got := find(t, fams, "openblock_csi_cloud_request_duration_seconds", labels).GetHistogram().GetSampleCount(); got != uint64(want) {
			t.Errorf("cloud_request_duration_seconds%v count = %v, want %v", labels, got, want)
		}
	}
	if n := len(fams["openblock_csi_cloud_requests_total"].Metric); n != len(counts) {
		t.Errorf("cloud_requests_total has %d series, want %d", n, len(counts))
	}

	rl := fams["openblock_csi_cloud_ratelimit_wait_seconds"].GetMetric()[0].GetHistogram()
	if rl.GetSampleCount() != 2 || rl.GetSampleSum() != 2 {
		t.Errorf("ratelimit wait: count %d sum %v, want 2 and 2", rl.GetSampleCount(), rl.GetSampleSum())
	}

	b := find(t, fams, "openblock_csi_waiter_batch_size", map[string]string{"kind": "volume"}).GetHistogram()
	if b.GetSampleCount() != 2 || b.GetSampleSum() != 8 {
		t.Errorf("waiter batch size: count %d sum %v, want 2 and 8", b.GetSampleCount(), b.GetSampleSum())
	}
	if got := find(t, fams, "openblock_csi_waiter_calls_total", map[string]string{"kind": "volume", "result": "ok"}).GetCounter().GetValue(); got != 2 {
		t.Errorf("waiter calls ok = %v, want 2", got)
	}
	if got := find(t, fams, "openblock_csi_waiter_calls_total", map[string]string{"kind": "volume", "result": "error"}).GetCounter().GetValue(); got != 1 {
		t.Errorf("waiter calls error = %v, want 1", got)
	}

	if got := find(t, fams, "openblock_csi_build_info", map[string]string{"version": "v1.2.3"}).GetGauge().GetValue(); got != 1 {
		t.Errorf("build_info = %v, want 1", got)
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("%s missing: the Go and process collectors must be registered", name)
		}
	}
	if _, ok := fams["promhttp_metric_handler_requests_total"]; ok {
		t.Error("the global registry's handler metrics are served; the Recorder must use its own registry")
	}
}

func TestUnaryInterceptor(t *testing.T) {
	rec := NewRecorder("test")
	ic := rec.UnaryServerInterceptor()
	info := &grpc.UnaryServerInfo{FullMethod: "/csi.v1.Controller/DeleteVolume"}
	_, err := ic(context.Background(), nil, info, func(context.Context, any) (any, error) {
		return nil, status.Error(codes.FailedPrecondition, "attached")
	})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("interceptor changed the error: %v", err)
	}
	fams, _ := scrape(t, serve(t, rec, nil))
	h := find(t, fams, "openblock_csi_rpc_duration_seconds", map[string]string{"method": "DeleteVolume", "code": "FailedPrecondition"}).GetHistogram()
	if h.GetSampleCount() != 1 {
		t.Errorf("count %d, want 1", h.GetSampleCount())
	}
}

func TestOwnRegistry(t *testing.T) {
	a, b := NewRecorder("a"), NewRecorder("b")
	a.ObserveRPC("CreateVolume", codes.OK, time.Second)
	fams, _ := scrape(t, serve(t, b, nil))
	if f, ok := fams["openblock_csi_rpc_duration_seconds"]; ok && len(f.Metric) > 0 {
		t.Errorf("recorder b serves a's observations: %v", f.Metric)
	}
	if _, ok := fams["openblock_csi_build_info"]; !ok {
		t.Error("build_info missing")
	}
	find(t, fams, "openblock_csi_build_info", map[string]string{"version": "b"})
}

var uuidRe = regexp.MustCompile(`[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}`)

func TestNoIDsInLabels(t *testing.T) {
	rec := NewRecorder("test")
	// Callers that pass raw paths (or forget to) must not create a series per id.
	rec.ObserveRequest("volume", "GET /volumes/"+volID, 200, time.Millisecond)
	rec.ObserveRequest("volume", "POST /v3/9b2c1e7a4d5f4a0b8c3d2e1f0a9b8c7d/volumes/"+volID+"/action", 202, time.Millisecond)
	rec.ObserveRequest("compute", "DELETE /servers/"+volID+"/os-volume_attachments/"+volID, 202, time.Millisecond)
	rec.ObserveRequest("volume", RouteTemplate("/volume/v3/demo/snapshots/"+volID+"?all_tenants=1"), 200, time.Millisecond)
	rec.ObserveRequest("lunanode", "volume/"+volID, 200, time.Millisecond)
	rec.ObserveRPC("/csi.v1.Node/NodePublishVolume", codes.OK, time.Millisecond)

	fams, body := scrape(t, serve(t, rec, nil))
	for _, f := range fams {
		if !strings.HasPrefix(f.GetName(), Namespace) {
			continue
		}
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if uuidRe.MatchString(l.GetValue()) {
					t.Errorf("%s{%s=%q}: label value holds an id", f.GetName(), l.GetName(), l.GetValue())
				}
			}
		}
	}
	if uuidRe.MatchString(body) {
		t.Error("scrape output holds a UUID")
	}
	find(t, fams, "openblock_csi_cloud_requests_total", map[string]string{"operation": "GET /volumes/{id}"})
	find(t, fams, "openblock_csi_cloud_requests_total", map[string]string{"operation": "POST /v3/{id}/volumes/{id}/action"})
	find(t, fams, "openblock_csi_cloud_requests_total", map[string]string{"operation": "DELETE /servers/{id}/os-volume_attachments/{id}"})
	find(t, fams, "openblock_csi_cloud_requests_total", map[string]string{"operation": "snapshots/{id}"})
	find(t, fams, "openblock_csi_cloud_requests_total", map[string]string{"service": "lunanode", "operation": "volume/{id}"})
}

func TestRouteTemplate(t *testing.T) {
	for in, want := range map[string]string{
		"/v3/9b2c1e7a4d5f4a0b8c3d2e1f0a9b8c7d/volumes/" + volID + "/action":  "volumes/{id}/action",
		"/v3/{project}/volumes/" + volID + "/action":                         "volumes/{id}/action",
		"/volume/v2/demo/volumes/detail?limit=1000&marker=" + volID:          "volumes/detail",
		"/volume/v1/demo/snapshots/" + volID + "/metadata":                   "snapshots/{id}/metadata",
		"/compute/v2.1/servers/" + volID + "/os-volume_attachments/" + volID: "servers/{id}/os-volume_attachments/{id}",
		"/compute/v2/demo/servers/" + volID + "/os-volume_attachments":       "servers/{id}/os-volume_attachments",
		"/identity/v3/auth/tokens":                                           "auth/tokens",
		"/identity/v2.0/tokens":                                              "tokens",
		"/v2/demo/limits":                                                    "limits",
		"POST /v3/demo/volumes":                                              "POST volumes",
		"volume/info":                                                        "volume/info",
		"/lunanode/api/volume/snapshot-create/":                              "lunanode/api/volume/snapshot-create",
		"":                                                                   "",
	} {
		if got := RouteTemplate(in); got != want {
			t.Errorf("RouteTemplate(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHealthz(t *testing.T) {
	var notReady error = errors.New("cloud not reachable: dial tcp 10.0.0.1:5000: connection refused")
	ready := func() error { return notReady }
	base := serve(t, NewRecorder("test"), ready)

	code, body := get(t, base+"/healthz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "connection refused") {
		t.Errorf("not ready: HTTP %d %q, want 503 with the error", code, body)
	}
	notReady = nil
	code, body = get(t, base+"/healthz")
	if code != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Errorf("ready: HTTP %d %q, want 200 ok", code, body)
	}

	// A nil ready func means always healthy.
	code, body = get(t, serve(t, NewRecorder("test"), nil)+"/healthz")
	if code != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Errorf("nil ready: HTTP %d %q, want 200 ok", code, body)
	}
}

func TestServeAddrAndShutdown(t *testing.T) {
	if err := Serve(context.Background(), "256.0.0.1:bad", NewRecorder("x"), nil); err == nil {
		t.Error("Serve on a bad address returned nil")
	}

	// Pick a free port, then let Serve listen on it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, addr, NewRecorder("x"), nil) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server never answered: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after cancel = %v, want nil", err)
		}
	case <-time.After(ShutdownTimeout + time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Error("server still answers after shutdown")
	}
}
