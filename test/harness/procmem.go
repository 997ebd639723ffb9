package harness

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ProcMemory is a process's memory as the kernel reports it in
// /proc/<pid>/status, in bytes.
type ProcMemory struct {
	RSS  uint64 // VmRSS: resident now
	Peak uint64 // VmHWM: the most it was ever resident
}

// ReadProcMemory reads VmRSS and VmHWM of pid (Linux only).
func ReadProcMemory(pid int) (ProcMemory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ProcMemory{}, err
	}
	defer f.Close()
	var m ProcMemory
	var seen int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *uint64
		switch key {
		case "VmRSS":
			dst = &m.RSS
		case "VmHWM":
			dst = &m.Peak
		default:
			continue
		}
		// The kernel prints "   1234 kB".
		fields := strings.Fields(val)
		if len(fields) != 2 || fields[1] != "kB" {
			return m, fmt.Errorf("/proc/%d/status: unexpected %s line %q", pid, key, sc.Text())
		}
		kb, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return m, fmt.Errorf("/proc/%d/status: %s: %w", pid, key, err)
		}
		*dst = kb * 1024
		seen++
	}
	if err := sc.Err(); err != nil {
		return m, err
	}
	if seen != 2 {
		return m, fmt.Errorf("/proc/%d/status has no VmRSS/VmHWM (a kernel thread or a zombie?)", pid)
	}
	return m, nil
}

// MiB converts bytes to mebibytes.
func MiB(b uint64) float64 { return float64(b) / (1 << 20) }
