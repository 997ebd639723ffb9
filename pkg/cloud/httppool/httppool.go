// Package httppool is the HTTP transport the cloud adapters talk through:
// a bounded pool of connections per API host, kept open between bursts.
//
// Go's default transport opens a connection for every request in flight
// and keeps only two idle per host. A controller given a thousand
// CreateVolume calls at once then dials a thousand connections to the
// cloud (two goroutines and two buffers each, most of the controller's
// peak memory), closes all but two when the burst ends and dials them
// again for the next step of the lifecycle. A cloud answers calls in
// milliseconds and limits them to a few per second: a few dozen
// connections carry any rate it allows, and requests beyond that wait
// for a free connection instead of costing one each.
package httppool

import (
	"net/http"
	"time"
)

// MaxConnsPerHost bounds the connections to one API host, in use or
// idle. At 100 ms a call it carries 640 calls/s, above any cloud's limit.
const MaxConnsPerHost = 64

// ResponseHeaderTimeout: a hung API must not hold a caller without a
// deadline forever.
const ResponseHeaderTimeout = 2 * time.Minute

// NewTransport returns a transport with the pool bounds above and
// otherwise http.DefaultTransport's settings (proxy from the
// environment, dial and TLS handshake timeouts, HTTP/2).
func NewTransport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxConnsPerHost = MaxConnsPerHost
	// Idle connections are kept up to the same bound, so the next burst
	// finds them open.
	tr.MaxIdleConnsPerHost = MaxConnsPerHost
	tr.MaxIdleConns = 4 * MaxConnsPerHost
	tr.ResponseHeaderTimeout = ResponseHeaderTimeout
	return tr
}
