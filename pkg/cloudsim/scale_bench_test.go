package cloudsim_test

import (
	"fmt"
	"testing"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
)

// scaleSeed is the project bench-scale starts from: 10,000 volumes before
// its own 1,000 arrive.
const scaleSeed = 10000

// startScale is a simulator holding scaleSeed volumes in the default
// project, with no quota and no rate limit, as make bench-scale runs it.
func startScale(b *testing.B) (*cloudsim.Sim, *client) {
	b.Helper()
	return start(b, cloudsim.Config{
		RateLimit: -1, SeedVolumes: scaleSeed,
		Quota: &cloudsim.Quota{Volumes: -1, Snapshots: -1, Gigabytes: -1, Backups: -1, BackupGigabytes: -1},
	})
}

// BenchmarkScale measures the simulator's hot paths at bench-scale's size
// over real HTTP: a full /volumes/detail page (1,000 volumes, sorted out of
// 10,000), a create and a show. Profile with
//
//	go test -run '^$' -bench Scale -cpuprofile /tmp/cpu.out ./pkg/cloudsim/
func BenchmarkScale(b *testing.B) {
	b.Run("list-detail-page", func(b *testing.B) {
		_, c := startScale(b)
		r := c.cinder("GET", "/volumes/detail?limit=1000", nil)
		items, _ := r.body["volumes"].([]any)
		if r.code != 200 || len(items) != 1000 {
			b.Fatalf("first page: %d, %d volumes", r.code, len(items))
		}
		// The fifth page: a marker in the middle of the order.
		marker := ""
		for range 4 {
			r := c.cinder("GET", "/volumes/detail?limit=1000"+marker, nil)
			items := r.body["volumes"].([]any)
			marker = "&marker=" + str(items[len(items)-1].(map[string]any), "id")
		}
		b.ResetTimer()
		for b.Loop() {
			if r := c.raw("GET", "/volume/v3/"+c.project+"/volumes/detail?limit=1000"+marker, ""); r.code != 200 {
				b.Fatalf("list: %d %s", r.code, r.raw)
			}
		}
	})
	b.Run("create", func(b *testing.B) {
		_, c := startScale(b)
		i := 0
		for b.Loop() {
			r := c.cinder("POST", "/volumes", map[string]any{"volume": map[string]any{"size": 1, "name": fmt.Sprintf("b-%d", i)}})
			if r.code != 202 {
				b.Fatalf("create: %d %s", r.code, r.raw)
			}
			i++
		}
	})
	// 64 creates at a time, as the controller's call pool makes them: each
	// waits for its change to be on disk, so this is mostly commits.
	b.Run("create-64-at-once", func(b *testing.B) {
		_, c := startScale(b)
		b.SetParallelism(32) // × GOMAXPROCS 2
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				r := c.cinder("POST", "/volumes", map[string]any{"volume": map[string]any{"size": 1}})
				if r.code != 202 {
					b.Errorf("create: %d %s", r.code, r.raw)
					return
				}
			}
		})
	})
	b.Run("show", func(b *testing.B) {
		_, c := startScale(b)
		id := c.createVolume(map[string]any{"size": 1})
		for b.Loop() {
			if r := c.cinder("GET", "/volumes/"+id, nil); r.code != 200 {
				b.Fatalf("show: %d %s", r.code, r.raw)
			}
		}
	})
}
