package httppool

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A burst of calls far larger than the pool shares its connections, and
// the next burst finds them open instead of dialing again.
func TestBurstsShareABoundedPool(t *testing.T) {
	var dialed atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(10 * time.Millisecond) // hold the connection, as an API call does
		_, _ = io.WriteString(w, "{}")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dialed.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	tr := NewTransport()
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}

	burst := func() {
		const calls = 5 * MaxConnsPerHost
		var wg sync.WaitGroup
		for range calls {
			wg.Go(func() {
				resp, err := client.Get(srv.URL)
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			})
		}
		wg.Wait()
	}
	burst()
	if n := dialed.Load(); n > MaxConnsPerHost {
		t.Errorf("a burst of %d calls opened %d connections, want at most %d", 5*MaxConnsPerHost, n, MaxConnsPerHost)
	}
	first := dialed.Load()
	burst()
	if n := dialed.Load() - first; n > MaxConnsPerHost/8 {
		t.Errorf("the second burst opened %d more connections, want the first burst's kept open", n)
	}
}
