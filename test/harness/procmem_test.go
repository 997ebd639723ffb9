package harness

import (
	"os"
	"runtime"
	"testing"
)

func TestReadProcMemory(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc (Linux)")
	}
	m, err := ReadProcMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// A Go test binary is resident in megabytes, and its peak is at least
	// what it holds now.
	if m.RSS < 1<<20 || m.Peak < m.RSS {
		t.Errorf("RSS %d, peak %d: implausible", m.RSS, m.Peak)
	}
	if _, err := ReadProcMemory(-1); err == nil {
		t.Error("no error for pid -1")
	}
}
