package cloud

import "time"

// Observer receives one call per HTTP request a provider makes (each
// retry counted), for metrics. Every provider reports through this one
// shape, so metrics need no adapter per provider. Implementations must be
// safe for concurrent use and fast.
type Observer interface {
	// ObserveRequest reports a finished request. service names the API
	// ("identity", "volume", "compute", "lunanode"); operation is a
	// template ("GET /volumes/{id}", "volume/info"), never a raw path with
	// ids in it; code is the HTTP status, 0 when no response arrived,
	// CodeAPIError when a 2xx answer reported a failure inside.
	ObserveRequest(service, operation string, code int, d time.Duration)
	// ObserveRateLimitWait reports time spent waiting for a client-side
	// limiter or for the cloud's retry-after.
	ObserveRateLimitWait(d time.Duration)
}

// CodeAPIError is the code of a request the cloud answered with a 2xx
// whose body reports a failure (Lunanode's "success": "no").
const CodeAPIError = -1

// NopObserver discards every observation.
type NopObserver struct{}

func (NopObserver) ObserveRequest(string, string, int, time.Duration) {}
func (NopObserver) ObserveRateLimitWait(time.Duration)                {}
