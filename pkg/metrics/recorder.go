// Package metrics holds the driver's Prometheus metrics: one Recorder per
// process, with its own registry, fed by the observer hooks of the CSI
// services, the cloud clients and the waiter, and served over HTTP with a
// health endpoint.
package metrics

import (
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc/codes"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
)

// Namespace prefixes every metric of the driver.
const Namespace = "openblock_csi"

// Bucket sets. RPCs include whole create/attach waits, which on a slow
// cloud take minutes; single cloud calls rarely exceed a minute.
var (
	rpcBuckets       = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}
	cloudBuckets     = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
	rateLimitBuckets = []float64{0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60}
	batchBuckets     = []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000}
)

// Recorder owns a registry and every driver metric. All methods are safe
// for concurrent use. It implements the observer hooks of the driver
// (ObserveRPC), of every provider (cloud.Observer: ObserveRequest,
// ObserveRateLimitWait) and of the waiter and name lookups (ObserveBatch
// as a func(waiter.Event)).
type Recorder struct {
	reg *prometheus.Registry

	rpcDuration   *prometheus.HistogramVec
	cloudRequests *prometheus.CounterVec
	cloudDuration *prometheus.HistogramVec
	rateLimitWait prometheus.Histogram
	batchSize     *prometheus.HistogramVec
	waiterCalls   *prometheus.CounterVec
	buildInfo     *prometheus.GaugeVec
}

// NewRecorder returns a Recorder whose registry holds the driver metrics,
// the Go runtime and the process collectors. version is exported as
// openblock_csi_build_info{version}.
func NewRecorder(version string) *Recorder {
	if version == "" {
		version = "unknown"
	}
	r := &Recorder{reg: prometheus.NewRegistry()}
	r.rpcDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "rpc_duration_seconds",
		Help:    "Duration of CSI gRPC calls, by method and gRPC status code.",
		Buckets: rpcBuckets,
	}, []string{"method", "code"})
	r.cloudRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "cloud_requests_total",
		Help: "HTTP requests made to the cloud API (each retry counted), by service, operation template and HTTP status (0: no response; api_error: failure reported inside a 2xx answer).",
	}, []string{"service", "operation", "code"})
	r.cloudDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "cloud_request_duration_seconds",
		Help:    "Duration of HTTP requests to the cloud API, by service, operation template and HTTP status.",
		Buckets: cloudBuckets,
	}, []string{"service", "operation", "code"})
	r.rateLimitWait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "cloud_ratelimit_wait_seconds",
		Help:    "Time requests spent waiting for the client-side rate limiter or a cloud's retryAfter; _sum is total seconds throttled.",
		Buckets: rateLimitBuckets,
	})
	r.batchSize = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "waiter_batch_size",
		Help:    "Number of pending waits or name lookups one waiter poll answered, by kind.",
		Buckets: batchBuckets,
	}, []string{"kind"})
	r.waiterCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "waiter_calls_total",
		Help: "Cloud API calls (list pages or gets) the waiter made, by kind and result (ok, error).",
	}, []string{"kind", "result"})
	r.buildInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "build_info",
		Help: "Always 1; the version label is the driver's version.",
	}, []string{"version"})
	r.buildInfo.WithLabelValues(version).Set(1)

	r.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		r.rpcDuration, r.cloudRequests, r.cloudDuration, r.rateLimitWait,
		r.batchSize, r.waiterCalls, r.buildInfo,
	)
	return r
}

// Registry is the Recorder's own registry (not the global one), for
// serving or for registering more collectors.
func (r *Recorder) Registry() *prometheus.Registry { return r.reg }

// ObserveRPC records one finished CSI call. method may be the full gRPC
// name ("/csi.v1.Controller/CreateVolume") or the bare one; the label is
// the bare one.
func (r *Recorder) ObserveRPC(method string, code codes.Code, d time.Duration) {
	if i := strings.LastIndexByte(method, '/'); i >= 0 {
		method = method[i+1:]
	}
	r.rpcDuration.WithLabelValues(method, code.String()).Observe(d.Seconds())
}

// ObserveRequest records one HTTP request to the cloud. operation must be a
// template ("GET /volumes/{id}"), never a raw path with ids in it; callers
// holding raw paths pass them through RouteTemplate; as a safeguard any
// element that is not a known route word is recorded as {id}. code is the HTTP
// status, 0 when no response arrived, cloud.CodeAPIError (label
// "api_error") for a failure reported inside a 2xx answer.
func (r *Recorder) ObserveRequest(service, operation string, code int, d time.Duration) {
	label := strconv.Itoa(code)
	if code == cloud.CodeAPIError {
		label = "api_error"
	}
	operation = boundOperation(operation)
	r.cloudRequests.WithLabelValues(service, operation, label).Inc()
	r.cloudDuration.WithLabelValues(service, operation, label).Observe(d.Seconds())
}

// ObserveRateLimitWait records time spent throttled before a request.
func (r *Recorder) ObserveRateLimitWait(d time.Duration) {
	r.rateLimitWait.Observe(d.Seconds())
}

// ObserveBatch records one waiter poll. Its method value fits
// waiter.Options.Observer.
func (r *Recorder) ObserveBatch(ev waiter.Event) {
	kind := ev.Kind
	if kind == "" {
		kind = "unknown"
	}
	r.batchSize.WithLabelValues(kind).Observe(float64(ev.Waiters))
	result := "ok"
	if ev.Err != nil {
		result = "error"
	}
	if ev.Calls > 0 {
		r.waiterCalls.WithLabelValues(kind, result).Add(float64(ev.Calls))
	}
}
