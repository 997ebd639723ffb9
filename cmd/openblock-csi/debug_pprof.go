//go:build pprof

package main

import (
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof on the default mux
	"os"

	"k8s.io/klog/v2"
)

// A binary built with -tags pprof serves Go's profiles (heap, allocs,
// goroutine, CPU) on the address in OPENBLOCK_CSI_PPROF, for measuring
// where a controller's memory and time go under a bench's load. Release
// builds carry none of it.
func init() {
	addr := os.Getenv("OPENBLOCK_CSI_PPROF")
	if addr == "" {
		return
	}
	go func() {
		if err := http.ListenAndServe(addr, nil); err != nil {
			klog.ErrorS(err, "pprof endpoint failed", "address", addr)
		}
	}()
}
