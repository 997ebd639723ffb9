// Package guesttest boots the test guest for a Go test: the agent (and,
// when asked, the node plugin) in it, stopped and removed at the end of
// the test, skipped saying why when QEMU or the built guest is missing.
package guesttest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/guest"
)

// CSIPort is where the node plugin serves in the guest.
const CSIPort = 10000

// Options choose what runs in the guest besides the agent.
type Options struct {
	// NodeBinary is the static openblock-csi to run as the node plugin
	// (none when empty), with NodeID as its node id and NodeArgs added.
	NodeBinary string
	NodeID     string
	NodeArgs   []string
}

// Boot starts a guest for t, or skips t when none can run here.
func Boot(t testing.TB, o Options) *guest.VM {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the guest test needs root (QEMU's sockets and the cached guest)")
	}
	dir, reason, ok := guest.Dir()
	if !ok {
		t.Skip(reason)
	}
	tmp := t.TempDir()
	agent := filepath.Join(tmp, "agent")
	build := exec.Command("go", "build", "-o", agent, "github.com/openblock-csi/openblock-csi/hack/guest/agent")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the guest agent: %v: %s", err, out)
	}
	files := []guest.File{fileFrom(t, "/usr/local/bin/agent", agent)}
	start := "#!/bin/sh\n/usr/local/bin/agent -listen :7000 >/run/agent.log 2>&1 &\n"
	forward := []int{guest.AgentPort}
	if o.NodeBinary != "" {
		files = append(files, fileFrom(t, "/usr/local/bin/openblock-csi", o.NodeBinary))
		args := append([]string{"--mode=node", fmt.Sprintf("--endpoint=tcp://0.0.0.0:%d", CSIPort),
			"--node-id=" + o.NodeID, "--metadata-url=-", "-v=4"}, o.NodeArgs...)
		start += "/usr/local/bin/openblock-csi " + strings.Join(args, " ") + " >/run/node.log 2>&1 &\n"
		forward = append(forward, CSIPort)
	}
	files = append(files, guest.File{Path: "/etc/guest/start", Mode: 0o755, Data: []byte(start)})
	// The run directory is short: unix socket paths are limited to 107 bytes.
	run, err := os.MkdirTemp("", "guest-")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	began := time.Now()
	vm, err := guest.Start(ctx, guest.Config{Dir: dir, RunDir: run, Files: files, Forward: forward, Ready: []int{guest.AgentPort}})
	if err != nil {
		os.RemoveAll(run)
		t.Fatalf("boot the guest: %v", err)
	}
	if o.NodeBinary != "" {
		if err := vm.WaitPort(ctx, CSIPort); err != nil {
			out, _ := vm.Run(context.Background(), "cat", "/run/node.log")
			_ = vm.Stop()
			t.Fatalf("the node plugin in the guest does not answer: %v; its log:\n%s", err, out)
		}
	}
	t.Logf("guest booted in %s", time.Since(began).Round(100*time.Millisecond))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("guest console (end):\n%s", tail(vm.Console(), 40))
			if out, err := vm.Run(context.Background(), "tail", "-n", "60", "/run/node.log"); err == nil {
				t.Logf("node plugin log (end):\n%s", out)
			}
		}
		if err := vm.Stop(); err != nil {
			t.Errorf("stop the guest: %v", err)
		}
	})
	return vm
}

func fileFrom(t testing.TB, guestPath, hostPath string) guest.File {
	b, err := os.ReadFile(hostPath)
	if err != nil {
		t.Fatal(err)
	}
	return guest.File{Path: guestPath, Mode: 0o755, Data: b}
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// WaitLink waits until /dev/disk/by-id/<name> exists in the guest (want
// true) or is gone (want false), and returns how long that took.
func WaitLink(ctx context.Context, vm *guest.VM, name string, want bool, limit time.Duration) (time.Duration, error) {
	began := time.Now()
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		_, err := vm.Run(ctx, "test", "-b", "/dev/disk/by-id/"+name)
		if (err == nil) == want {
			return time.Since(began), nil
		}
		select {
		case <-ctx.Done():
			return time.Since(began), fmt.Errorf("by-id link %s present=%v not reached in %s", name, want, limit)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
