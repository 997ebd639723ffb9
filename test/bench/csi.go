package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openblock-csi/openblock-csi/pkg/csicap"
	"github.com/openblock-csi/openblock-csi/pkg/driver"
)

const gib = int64(1) << 30

// createRequest is CreateVolume as external-provisioner sends it with
// --extra-create-metadata and topology enabled.
func createRequest(name, zone string, sizeBytes int64) *csi.CreateVolumeRequest {
	req := &csi.CreateVolumeRequest{
		Name:               name,
		CapacityRange:      &csi.CapacityRange{RequiredBytes: sizeBytes},
		VolumeCapabilities: []*csi.VolumeCapability{csicap.Mount("ext4")},
		Parameters: map[string]string{
			driver.ParamPVCName:      "data-" + name,
			driver.ParamPVCNamespace: "bench",
			driver.ParamPVName:       name,
		},
	}
	if zone != "" {
		topo := []*csi.Topology{{Segments: map[string]string{driver.TopologyZoneKey: zone}}}
		req.AccessibilityRequirements = &csi.TopologyRequirement{Requisite: topo, Preferred: topo}
	}
	return req
}

// rpcStats collects what one RPC kind cost: the latency a sidecar saw
// (first attempt to success) and how many attempts had to be repeated.
type rpcStats struct {
	name    string
	mu      sync.Mutex
	lat     []time.Duration
	retries int
	codes   map[codes.Code]int // codes of failed attempts
}

func newRPCStats(name string) *rpcStats {
	return &rpcStats{name: name, codes: map[codes.Code]int{}}
}

func (s *rpcStats) latencies() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]time.Duration(nil), s.lat...)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// retryable are the codes the sidecars retry without giving up on the
// object (Aborted: another call for it in flight; Unavailable and
// ResourceExhausted: the cloud pushed back; DeadlineExceeded: the attempt
// timed out and the driver's idempotency makes a retry safe).
func retryable(c codes.Code) bool {
	switch c {
	case codes.Aborted, codes.Unavailable, codes.ResourceExhausted, codes.DeadlineExceeded:
		return true
	}
	return false
}

// callPolicy is how a sidecar calls the driver.
type callPolicy struct {
	timeout     time.Duration // per attempt (the sidecars' --timeout)
	maxAttempts int
	backoff     time.Duration // first retry delay, doubled each time
	// retryAll retries every failed attempt, whatever its code, as
	// external-attacher and external-provisioner requeue any error.
	retryAll bool
}

var defaultPolicy = callPolicy{timeout: 3 * time.Minute, maxAttempts: 6, backoff: time.Second}

// call runs fn like a sidecar: each attempt with its own timeout, retried
// with exponential backoff on retryable codes. It records the latency of
// a success in st.
func (p callPolicy) call(ctx context.Context, st *rpcStats, fn func(context.Context) error) error {
	start := time.Now()
	delay := p.backoff
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, p.timeout)
		err := fn(actx)
		cancel()
		if err == nil {
			st.mu.Lock()
			st.lat = append(st.lat, time.Since(start))
			st.mu.Unlock()
			return nil
		}
		code := status.Code(err)
		st.mu.Lock()
		st.codes[code]++
		st.mu.Unlock()
		if ctx.Err() != nil || !(p.retryAll || retryable(code)) || attempt >= p.maxAttempts {
			return fmt.Errorf("%s (attempt %d): %w", st.name, attempt, err)
		}
		st.mu.Lock()
		st.retries++
		st.mu.Unlock()
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (after %v)", st.name, ctx.Err(), err)
		case <-time.After(delay):
		}
		delay *= 2
	}
}

// forEach runs fn(i) for i in [0,n) on conc workers. It returns the
// first error after all started calls have ended; once one call fails,
// no new ones start.
func forEach(ctx context.Context, n, conc int, fn func(ctx context.Context, i int) error) error {
	if conc <= 0 || conc > n {
		conc = n
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(ctx, i); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					cancel()
				}
			}
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		if len(errs) > 1 {
			return fmt.Errorf("%w (and %d more failures)", errs[0], len(errs)-1)
		}
		return errs[0]
	}
	return ctx.Err()
}

// errSkipped marks a scenario that could not run here (not an error of
// the driver).
var errSkipped = errors.New("skipped")
