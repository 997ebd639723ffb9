package openstack

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/klog/v2"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

const v3 = "/volume/v3/" + fakeProject

type recordingObserver struct {
	mu       sync.Mutex
	requests []string
	waits    []time.Duration
}

func (o *recordingObserver) ObserveRequest(service, operation string, code int, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.requests = append(o.requests, service+" "+operation+" "+http.StatusText(code))
}

func (o *recordingObserver) ObserveRateLimitWait(d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.waits = append(o.waits, d)
}

func TestObserverAndOperationNames(t *testing.T) {
	f := newFake(t)
	getVolumeHandler(f, v3)
	obs := &recordingObserver{}
	c := f.newCloud(f.config(""), WithObserver(obs))
	if _, err := c.GetVolume(context.Background(), volID); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"identity POST /v3/auth/tokens Created",
		"volume GET /volumes/{id} OK",
	}
	if strings.Join(obs.requests, "|") != strings.Join(want, "|") {
		t.Errorf("observed %q, want %q", obs.requests, want)
	}
}

func TestRateLimitRetryAfterIsWaitedOut(t *testing.T) {
	f := newFake(t)
	var n atomic.Int32
	f.handle("GET "+v3+"/volumes/{id}", func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			writeJSON(w, 413, map[string]any{"overLimit": map[string]any{"code": 413, "message": "This request was rate-limited.", "retryAfter": "0.05"}})
			return
		}
		writeJSON(w, 200, map[string]any{"volume": cannedVolume(volID, "v", "available")})
	})
	obs := &recordingObserver{}
	c := f.newCloud(f.config(""), WithObserver(obs))
	start := time.Now()
	if _, err := c.GetVolume(context.Background(), volID); err != nil {
		t.Fatalf("GetVolume: %v", err)
	}
	if n.Load() != 2 {
		t.Errorf("calls = %d, want 2", n.Load())
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("retried after %v, before retryAfter", d)
	}
	// The named wait, then the learned pace.
	if len(obs.waits) == 0 || obs.waits[0] != 50*time.Millisecond {
		t.Errorf("rate-limit waits = %v", obs.waits)
	}
}

// A POST rate-limited with the Retry-After header is repeated with its body.
func TestRateLimitRetryAfterHeaderOnPost(t *testing.T) {
	f := newFake(t)
	var n atomic.Int32
	var bodies []string
	var mu sync.Mutex
	f.handle("POST "+v3+"/snapshots", func(w http.ResponseWriter, r *http.Request) {
		b := readBody(r)
		mu.Lock()
		bodies = append(bodies, b["snapshot"].(map[string]any)["volume_id"].(string))
		mu.Unlock()
		if n.Add(1) == 1 {
			w.Header().Set("Retry-After", "0")
			writeJSON(w, 413, map[string]any{"overLimit": map[string]any{"code": 413, "message": "This request was rate-limited."}})
			return
		}
		writeJSON(w, 202, map[string]any{"snapshot": map[string]any{"id": "s1", "status": "creating", "volume_id": volID, "size": 1, "name": "n"}})
	})
	c := f.newCloud(f.config(""))
	s, err := c.CreateSnapshot(context.Background(), cloud.CreateSnapshotRequest{Name: "n", VolumeID: volID})
	if err != nil || s.ID != "s1" || s.Status != cloud.StatusCreating {
		t.Fatalf("CreateSnapshot = %+v, %v", s, err)
	}
	if len(bodies) != 2 || bodies[1] != volID {
		t.Errorf("bodies = %v: the retry must resend the body", bodies)
	}
}

func TestRateLimitBeyondDeadline(t *testing.T) {
	f := newFake(t)
	var n atomic.Int32
	f.handle("GET "+v3+"/volumes/{id}", func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		writeJSON(w, 413, map[string]any{"overLimit": map[string]any{"code": 413, "message": "This request was rate-limited.", "retryAfter": 1}})
	})
	c := f.newCloud(f.config(""))
	ctx, cancel := context.WithTimeout(context.Background(), 900*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.GetVolume(ctx, volID)
	if !errors.Is(err, cloud.ErrRateLimited) || cloud.RetryAfterOf(err) != time.Second {
		t.Fatalf("err = %v (retry after %v), want ErrRateLimited after 1s", err, cloud.RetryAfterOf(err))
	}
	if d := time.Since(start); d > 600*time.Millisecond {
		t.Errorf("returned after %v; should not wait when the deadline is too close", d)
	}
	if !strings.Contains(err.Error(), "get volume "+volID) {
		t.Errorf("message %q does not say what was being done", err)
	}
}

func TestRateLimitRetriesAreBounded(t *testing.T) {
	f := newFake(t)
	var n atomic.Int32
	f.handle("GET "+v3+"/volumes/{id}", func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		writeJSON(w, 413, map[string]any{"overLimit": map[string]any{"code": 413, "message": "This request was rate-limited.", "retryAfter": 0}})
	})
	c := f.newCloud(f.config(""))
	_, err := c.GetVolume(context.Background(), volID)
	if !errors.Is(err, cloud.ErrRateLimited) {
		t.Fatalf("err = %v", err)
	}
	if got := n.Load(); got != int32(fastRetry.MaxRateLimitRetries+1) {
		t.Errorf("calls = %d, want %d", got, fastRetry.MaxRateLimitRetries+1)
	}
}

// A quota 413 (as in the Helion document, with retryAfter 0) is not a rate
// limit: no retry, ErrQuotaExceeded.
func TestQuota413IsNotRetried(t *testing.T) {
	f := newFake(t)
	var n atomic.Int32
	f.handle("POST "+v3+"/volumes", func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		writeJSON(w, 413, map[string]any{"overLimit": map[string]any{"code": 413,
			"message": "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed Gigabytes quota", "retryAfter": 0}})
	})
	c := f.newCloud(f.config(""))
	_, err := c.CreateVolume(context.Background(), cloud.CreateVolumeRequest{Name: "big", SizeGiB: 5000})
	if !errors.Is(err, cloud.ErrQuotaExceeded) {
		t.Fatalf("err = %v, want ErrQuotaExceeded", err)
	}
	if n.Load() != 1 {
		t.Errorf("calls = %d, want 1", n.Load())
	}
	if !strings.Contains(err.Error(), "VolumeSizeExceedsAvailableQuota") || !strings.Contains(err.Error(), `create volume "big"`) {
		t.Errorf("message = %q", err)
	}
}

func TestClientSideRateLimit(t *testing.T) {
	f := newFake(t)
	getVolumeHandler(f, v3)
	obs := &recordingObserver{}
	c := f.newCloud(f.config("[BlockStorage]\nrate-limit = 20\nrate-burst = 1\n"), WithObserver(obs))
	ctx := context.Background()
	start := time.Now()
	for i := 0; i < 4; i++ {
		if _, err := c.GetVolume(ctx, volID); err != nil {
			t.Fatal(err)
		}
	}
	// 4 calls at 20/s with a burst of 1: at least 3 intervals of 50ms.
	if d := time.Since(start); d < 140*time.Millisecond {
		t.Errorf("4 calls took %v, limiter not applied", d)
	}
	if len(obs.waits) < 2 {
		t.Errorf("limiter waits observed: %v", obs.waits)
	}
	// A deadline the limiter cannot meet is ErrRateLimited, without a call.
	before := len(f.callLog())
	short, cancel := context.WithTimeout(ctx, 5*time.Millisecond)
	defer cancel()
	c.GetVolume(ctx, volID) // take the token
	_, err := c.GetVolume(short, volID)
	if !errors.Is(err, cloud.ErrRateLimited) {
		t.Errorf("err = %v, want ErrRateLimited", err)
	}
	if got := len(f.callLog()) - before; got != 1 {
		t.Errorf("calls = %d, want 1", got)
	}
}

func TestIdempotentRetriedOn5xx(t *testing.T) {
	f := newFake(t)
	var gets, posts atomic.Int32
	f.handle("GET "+v3+"/volumes/{id}", func(w http.ResponseWriter, r *http.Request) {
		if gets.Add(1) < 3 {
			writeJSON(w, 503, map[string]any{"computeFault": map[string]any{"code": 503, "message": "Service Unavailable"}})
			return
		}
		writeJSON(w, 200, map[string]any{"volume": cannedVolume(volID, "v", "available")})
	})
	f.handle("POST "+v3+"/volumes", func(w http.ResponseWriter, r *http.Request) {
		posts.Add(1)
		writeJSON(w, 500, map[string]any{"computeFault": map[string]any{"code": 500, "message": "The server has either erred or is incapable of performing the requested operation."}})
	})
	c := f.newCloud(f.config(""))
	if _, err := c.GetVolume(context.Background(), volID); err != nil {
		t.Fatalf("GET after two 503s: %v", err)
	}
	if gets.Load() != 3 {
		t.Errorf("GETs = %d, want 3", gets.Load())
	}
	_, err := c.CreateVolume(context.Background(), cloud.CreateVolumeRequest{Name: "x", SizeGiB: 1})
	if !errors.Is(err, cloud.ErrUnavailable) || !strings.Contains(err.Error(), "erred") {
		t.Errorf("POST 500: err = %v", err)
	}
	if posts.Load() != 1 {
		t.Errorf("POSTs = %d: a create must never be repeated on 5xx", posts.Load())
	}
	// Persistent 5xx: bounded.
	gets.Store(-100)
	_, err = c.GetVolume(context.Background(), volID)
	if !errors.Is(err, cloud.ErrUnavailable) {
		t.Errorf("err = %v", err)
	}
	if got := gets.Load() + 100; got != int32(fastRetry.MaxAttempts) {
		t.Errorf("GET attempts = %d, want %d", got, fastRetry.MaxAttempts)
	}
}

func TestConnectionRefusedIsUnavailable(t *testing.T) {
	f := newFake(t)
	c := f.newCloud(f.config(""))
	// Point the volume service at a closed port.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c.volume.(*cinder).sc.Endpoint = "http://" + addr + "/volume/v3/p/"
	_, err = c.GetVolume(context.Background(), volID)
	if !errors.Is(err, cloud.ErrUnavailable) || !cloud.IsRetryable(err) {
		t.Errorf("err = %v, want ErrUnavailable", err)
	}
	_, err = c.CreateVolume(context.Background(), cloud.CreateVolumeRequest{Name: "x", SizeGiB: 1})
	if !errors.Is(err, cloud.ErrUnavailable) {
		t.Errorf("POST: err = %v", err)
	}
}

func TestTimeoutIsUnavailable(t *testing.T) {
	f := newFake(t)
	f.handle("GET "+v3+"/volumes/{id}", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	})
	c := f.newCloud(f.config(""))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.GetVolume(ctx, volID)
	if !errors.Is(err, cloud.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v", err)
	}
}

// Tokens and passwords appear neither in logs (V(5) included) nor in
// errors.
func TestNoSecretsInLogsOrErrors(t *testing.T) {
	var buf bytes.Buffer
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	_ = fs.Set("v", "6")
	_ = fs.Set("logtostderr", "false")
	_ = fs.Set("alsologtostderr", "false")
	klog.SetOutput(&buf)
	t.Cleanup(func() {
		_ = fs.Set("v", "0")
		_ = fs.Set("logtostderr", "true")
		klog.SetOutput(nil)
	})

	f := newFake(t)
	getVolumeHandler(f, v3)
	c := f.newCloud(f.config(""))
	ctx := context.Background()
	if _, err := c.GetVolume(ctx, volID); err != nil {
		t.Fatal(err)
	}
	_, err1 := c.GetVolume(ctx, "00000000-0000-0000-0000-000000000000")
	f.expireTokens()
	f.authFail = true
	_, err2 := c.GetVolume(ctx, volID)
	klog.Flush()
	out := buf.String()
	if !strings.Contains(out, "/volumes/"+volID) {
		t.Errorf("V(5) log lacks the request path:\n%s", out)
	}
	for _, secret := range append([]string{fakePassword}, f.tokens...) {
		for name, s := range map[string]string{"log": out, "err1": errString(err1), "err2": errString(err2)} {
			if strings.Contains(s, secret) {
				t.Errorf("%s contains secret %q: %s", name, secret, s)
			}
		}
	}
	if !errors.Is(err1, cloud.ErrNotFound) || !errors.Is(err2, cloud.ErrUnauthorized) {
		t.Errorf("err1 = %v, err2 = %v", err1, err2)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// With no rate-limit configured, a cloud that refuses as HP Helion does
// (413 overLimit, no retryAfter, no Retry-After) is learned: every request
// with a deadline is served, after few refusals, at a pace near the limit.
func TestLearnedRateLimitServesEveryRequest(t *testing.T) {
	f := newFake(t)
	lim := rate.NewLimiter(10, 1)
	var served, refused atomic.Int32
	f.handle("GET "+v3+"/volumes/{id}", func(w http.ResponseWriter, r *http.Request) {
		if res := lim.Reserve(); res.Delay() > 0 {
			res.Cancel()
			refused.Add(1)
			writeJSON(w, 413, map[string]any{"overLimit": map[string]any{"code": 413, "message": "This request was rate-limited."}})
			return
		}
		served.Add(1)
		writeJSON(w, 200, map[string]any{"volume": cannedVolume(volID, "v", "available")})
	})
	c := f.newCloud(f.config(""))
	const n = 20
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.GetVolume(ctx, volID); err != nil {
				t.Errorf("GetVolume: %v", err)
			}
		}()
	}
	wg.Wait()
	t.Logf("%d served, %d refused, %s, learned %.2f calls/s", served.Load(), refused.Load(), time.Since(start).Round(time.Millisecond), c.transport.LearnedRate("volume"))
	if served.Load() != n {
		t.Errorf("served %d of %d", served.Load(), n)
	}
	if r := refused.Load(); r > n/4 {
		t.Errorf("%d refusals for %d requests", r, n)
	}
	// The pace, not the wall time (which a loaded machine stretches), is
	// what says the learner found the limit rather than crawling under it.
	if r := c.transport.LearnedRate("volume"); r < 4 || r > 12 {
		t.Errorf("learned %.2f calls/s; the cloud allows 10", r)
	}
}
