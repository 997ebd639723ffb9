package lunanode

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

func TestErrorKind(t *testing.T) {
	for msg, want := range map[string]error{
		"volume not found":                                cloud.ErrNotFound,
		"Volume 12 does not exist":                        cloud.ErrNotFound,
		"vm not found":                                    cloud.ErrNotFound,
		"volume is not attached":                          cloud.ErrNotFound,
		"volume is already attached to a vm":              cloud.ErrWrongState,
		"volume must be unattached to be extended":        cloud.ErrWrongState,
		"volume is in use":                                cloud.ErrWrongState,
		"volume still has dependent snapshots":            cloud.ErrWrongState,
		"volume is not available (status creating)":       cloud.ErrWrongState,
		"invalid region \"mars\"":                         cloud.ErrInvalid,
		"missing required parameter: label":               cloud.ErrInvalid,
		"something odd happened":                          cloud.ErrInvalid,
		"volume limit reached (10 volumes)":               cloud.ErrQuotaExceeded,
		"Insufficient credit to create volume":            cloud.ErrQuotaExceeded,
		"quota exceeded":                                  cloud.ErrQuotaExceeded,
		"authentication failed: invalid signature":        cloud.ErrUnauthorized,
		"Invalid API ID or key":                           cloud.ErrUnauthorized,
		"permission denied for api_partialkey":            cloud.ErrForbidden,
		"nonce was already used":                          cloud.ErrUnauthorized,
		"new size must be larger than the current size":   cloud.ErrOutOfRange,
		"size must be at least the snapshot size (10 GB)": cloud.ErrOutOfRange,
		"internal error":                                  cloud.ErrUnavailable,
	} {
		if got := errorKind(msg); got != want {
			t.Errorf("errorKind(%q) = %v, want %v", msg, got, want)
		}
	}
}

func TestAPIErrorEnvelope(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"success":"no","error":"volume not found"}`))
	}))
	defer srv.Close()
	c := newTestCloud(t, srv.URL, nil)
	err := c.DeleteVolume(context.Background(), "montreal/77")
	if !cloud.IsNotFound(err) {
		t.Fatalf("err = %v, want not found", err)
	}
	var ce *cloud.Error
	if !errors.As(err, &ce) || !strings.Contains(ce.Message, "volume not found") {
		t.Errorf("message does not carry the API's text: %v", err)
	}
	if strings.Contains(err.Error(), testKey[:64]) {
		t.Errorf("error shows the key: %v", err)
	}
}

// Reads are retried on 5xx with backoff; writes are not.
func TestTransientFaults(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		_, _ = w.Write([]byte(`{"success":"yes","volumes":[]}`))
	}))
	defer srv.Close()
	obs := &countingObserver{}
	c := newTestCloud(t, srv.URL, func(cfg *Config) { cfg.Observer = obs })
	if _, err := c.ListVolumes(context.Background(), cloud.ListOptions{}); err != nil {
		t.Fatalf("list after two 502s: %v", err)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
	if obs.calls.Load() != 3 || obs.failed.Load() != 2 {
		t.Errorf("observer saw %d calls, %d failed; want 3 and 2", obs.calls.Load(), obs.failed.Load())
	}

	calls.Store(0)
	err := c.DeleteVolume(context.Background(), "toronto/1")
	if !errors.Is(err, cloud.ErrUnavailable) {
		t.Errorf("delete on 502 = %v, want unavailable", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("write attempted %d times, want 1", n)
	}
}

func TestHTTPStatusKinds(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
		header map[string]string
		want   error
	}{
		{"rate limited", 429, ``, map[string]string{"Retry-After": "7"}, cloud.ErrRateLimited},
		{"forbidden", 403, `forbidden`, nil, cloud.ErrForbidden},
		{"forbidden bad key", 403, `{"success":"no","error":"authentication failed"}`, nil, cloud.ErrUnauthorized},
		{"not json", 200, `<html>proxy</html>`, nil, cloud.ErrUnavailable},
		{"wrong url", 404, `not here`, nil, cloud.ErrInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			c := newTestCloud(t, srv.URL, func(cfg *Config) { cfg.MaxRetries = -1 })
			_, err := c.GetVolume(context.Background(), "toronto/1")
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.want == cloud.ErrRateLimited && cloud.RetryAfterOf(err) != 7*time.Second {
				t.Errorf("retry after = %v", cloud.RetryAfterOf(err))
			}
		})
	}
}

func TestConnectionRefusedIsUnavailable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c := newTestCloud(t, url, func(cfg *Config) { cfg.MaxRetries = 1 })
	_, err := c.GetVolume(context.Background(), "toronto/1")
	if !errors.Is(err, cloud.ErrUnavailable) || !cloud.IsRetryable(err) {
		t.Fatalf("err = %v, want unavailable", err)
	}
}

// Malformed ids are ErrNotFound and never reach the API.
func TestMalformedIDs(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		_, _ = w.Write([]byte(`{"success":"yes"}`))
	}))
	defer srv.Close()
	c := newTestCloud(t, srv.URL, nil)
	ctx := context.Background()
	for _, id := range []string{"", "4682", "toronto/", "toronto/abc", "mars/12", "toronto/12/3", "toronto/-1", "/12", "toronto/99999999999999999999"} {
		if _, err := c.GetVolume(ctx, id); !cloud.IsNotFound(err) {
			t.Errorf("GetVolume(%q) = %v, want not found", id, err)
		}
		if err := c.DeleteVolume(ctx, id); !cloud.IsNotFound(err) {
			t.Errorf("DeleteVolume(%q) = %v, want not found", id, err)
		}
	}
	for _, id := range []string{"", "484a06d3-7ea6-40d6-8e72-9e7e23f6826b", "toronto/", "mars/484a06d3-7ea6-40d6-8e72-9e7e23f6826b", "toronto/not a uuid!"} {
		if _, err := c.GetSnapshot(ctx, id); !cloud.IsNotFound(err) {
			t.Errorf("GetSnapshot(%q) = %v, want not found", id, err)
		}
		if err := c.DeleteSnapshot(ctx, id); !cloud.IsNotFound(err) {
			t.Errorf("DeleteSnapshot(%q) = %v, want not found", id, err)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("%d API calls for malformed ids", n)
	}
	if _, err := c.CreateBackup(ctx, cloud.CreateBackupRequest{}); !errors.Is(err, cloud.ErrUnsupported) {
		t.Errorf("CreateBackup = %v", err)
	}
	if _, err := c.CreateVolume(ctx, cloud.CreateVolumeRequest{Name: "x", SizeGiB: 1, SourceVolumeID: "toronto/1"}); !errors.Is(err, cloud.ErrUnsupported) {
		t.Errorf("clone = %v", err)
	}
}

type countingObserver struct{ calls, failed atomic.Int32 }

func (o *countingObserver) ObserveRequest(service, action string, code int, _ time.Duration) {
	if service != "lunanode" || action != "volume/list" {
		return
	}
	o.calls.Add(1)
	if code != http.StatusOK {
		o.failed.Add(1)
	}
}

func (o *countingObserver) ObserveRateLimitWait(time.Duration) {}

// The Observer gets the HTTP status, CodeAPIError for a refusal inside a
// 2xx answer, and 0 when no answer came: metrics tell the three apart.
func TestObservedCode(t *testing.T) {
	cases := []struct {
		err  error
		want int
	}{
		{nil, http.StatusOK},
		{&cloud.Error{Kind: cloud.ErrNotFound, HTTPStatus: 200}, cloud.CodeAPIError},
		{&cloud.Error{Kind: cloud.ErrUnavailable, HTTPStatus: 502}, 502},
		{&cloud.Error{Kind: cloud.ErrUnavailable}, 0},
		{errors.New("dial tcp: refused"), 0},
	}
	for _, c := range cases {
		if got := observedCode(c.err); got != c.want {
			t.Errorf("observedCode(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}

// An API that refuses with 429 and no Retry-After past a rate it never
// documented: the client learns the rate, and every request with a
// deadline, writes included, is served after few refusals.
func TestLearnedRateLimit(t *testing.T) {
	lim := rate.NewLimiter(10, 1)
	var served, refused atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if res := lim.Reserve(); res.Delay() > 0 {
			res.Cancel()
			refused.Add(1)
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		served.Add(1)
		_, _ = w.Write([]byte(`{"success":"yes"}`))
	}))
	defer srv.Close()
	c := newTestCloud(t, srv.URL, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const n = 20
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.DeleteVolume(ctx, fmt.Sprintf("toronto/%d", i+1)); err != nil {
				t.Errorf("DeleteVolume: %v", err)
			}
		}()
	}
	wg.Wait()
	t.Logf("%d served, %d refused, %s", served.Load(), refused.Load(), time.Since(start).Round(time.Millisecond))
	if served.Load() != n {
		t.Errorf("served %d of %d", served.Load(), n)
	}
	if r := refused.Load(); r > n/4 {
		t.Errorf("%d refusals for %d requests", r, n)
	}
}
