package metrics

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/klog/v2"
)

// ShutdownTimeout bounds how long Serve waits for in-flight scrapes once
// its context is done.
const ShutdownTimeout = 5 * time.Second

// Handler serves /metrics from rec's registry and /healthz: 200 "ok" when
// ready is nil or returns nil, 503 with the error text otherwise.
func Handler(rec *Recorder, ready func() error) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(rec.reg, promhttp.HandlerOpts{
		Registry:          rec.reg, // counts scrape errors in promhttp_metric_handler_errors_total
		EnableOpenMetrics: true,
	}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if ready != nil {
			if err := ready(); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte(err.Error() + "\n"))
				return
			}
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}

// Serve listens on addr (":9808", "127.0.0.1:0") and serves Handler until
// ctx is done, then shuts down gracefully. It returns nil after a graceful
// shutdown and the listen or serve error otherwise.
func Serve(ctx context.Context, addr string, rec *Recorder, ready func() error) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return ServeListener(ctx, ln, rec, ready)
}

// ServeListener is Serve on an existing listener, which it closes.
func ServeListener(ctx context.Context, ln net.Listener, rec *Recorder, ready func() error) error {
	srv := &http.Server{
		Handler:           Handler(rec, ready),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	klog.FromContext(ctx).V(2).Info("metrics server listening", "address", ln.Addr().String())

	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return err
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
