package openstack

import "time"

// Observer receives one call per HTTP request the provider makes, for
// metrics. Implementations must be safe for concurrent use and fast.
type Observer interface {
	// ObserveRequest reports a finished request: service is "identity",
	// "volume" or "compute"; operation is the method and the path template
	// ("GET /volumes/{id}"); code is the HTTP status, 0 when no response
	// arrived.
	ObserveRequest(service, operation string, code int, d time.Duration)
	// ObserveRateLimitWait reports time spent waiting for the client-side
	// limiter or for a 413's retryAfter.
	ObserveRateLimitWait(d time.Duration)
}

type nopObserver struct{}

func (nopObserver) ObserveRequest(string, string, int, time.Duration) {}
func (nopObserver) ObserveRateLimitWait(time.Duration)                {}
