package cloudsim_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
)

// BenchmarkGetDuringCreates measures what a reader pays while the simulator
// is busy with changes: GET /volumes/{id} of one volume, repeated while 100
// volumes are created concurrently (each create and each creating→available
// transition is a state change). It reports the GET and create latencies.
//
//	go test -run '^$' -bench GetDuringCreates -benchtime 5x ./pkg/cloudsim/
func BenchmarkGetDuringCreates(b *testing.B) {
	const creates = 100
	_, c := start(b, cloudsim.Config{})
	id := c.createVolume(map[string]any{"size": 1})
	c.waitVolume(id, "available")
	var gets, posts []time.Duration
	var wall time.Duration
	var mu sync.Mutex
	for b.Loop() {
		done := make(chan struct{})
		readerDone := make(chan []time.Duration)
		go func() {
			var lat []time.Duration
			for {
				select {
				case <-done:
					readerDone <- lat
					return
				default:
				}
				t0 := time.Now()
				if r := c.cinder("GET", "/volumes/"+id, nil); r.code != 200 {
					b.Errorf("get: %d %s", r.code, r.raw)
				}
				lat = append(lat, time.Since(t0))
			}
		}()
		t0 := time.Now()
		var wg sync.WaitGroup
		ids := make([]string, creates)
		for i := range creates {
			wg.Go(func() {
				t := time.Now()
				r := c.cinder("POST", "/volumes", map[string]any{"volume": map[string]any{"size": 1}})
				d := time.Since(t)
				if r.code != 202 {
					b.Errorf("create: %d %s", r.code, r.raw)
					return
				}
				ids[i] = str(obj(r.body, "volume"), "id")
				mu.Lock()
				posts = append(posts, d)
				mu.Unlock()
			})
		}
		wg.Wait()
		wall += time.Since(t0)
		close(done)
		gets = append(gets, <-readerDone...)
		b.StopTimer()
		for _, v := range ids {
			if v == "" {
				continue
			}
			c.waitVolume(v, "available")
			c.cinder("DELETE", "/volumes/"+v, nil)
		}
		for _, v := range ids {
			if v != "" {
				c.waitVolume(v, "")
			}
		}
		b.StartTimer()
	}
	b.ReportMetric(quantile(gets, 0.50), "get-p50-ms")
	b.ReportMetric(quantile(gets, 0.99), "get-p99-ms")
	b.ReportMetric(quantile(posts, 0.50), "create-p50-ms")
	b.ReportMetric(quantile(posts, 0.99), "create-p99-ms")
	b.ReportMetric(float64(wall.Milliseconds())/float64(b.N), "ms/100-creates")
	b.ReportMetric(float64(len(gets))/float64(b.N), "gets/op")
}

func quantile(d []time.Duration, q float64) float64 {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[int(q*float64(len(s)-1))].Microseconds()) / 1000
}
