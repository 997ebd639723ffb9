package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
	"github.com/openblock-csi/openblock-csi/test/harness"
)

// env is one simulator with the driver processes that talk to it, all in
// one work directory. Every run gets its own, so counters, rate-limit
// buckets and leftovers of one run never leak into the next.
type env struct {
	name    string
	dir     string
	byID    string
	backend harness.Backend
	sim     *harness.Sim
	cfgPath string
	drivers []*driverProc
	keep    bool
}

// driverProc is one openblock-csi child process and its gRPC clients.
type driverProc struct {
	name  string
	proc  *harness.DriverProcess
	log   string
	ident csi.IdentityClient
	ctrl  csi.ControllerClient
	node  csi.NodeClient
}

// envOptions say how to set up an env.
type envOptions struct {
	name     string
	backend  harness.Backend
	workRoot string
	// sim adjusts the backend's simulator configuration.
	sim func(*cloudsim.Config)
	// blockStorage is added to the cloud config's [BlockStorage] section.
	blockStorage []string
	keep         bool
}

func newEnv(o envOptions) (*env, error) {
	dir, err := os.MkdirTemp(o.workRoot, "ob-bench-"+o.name+"-")
	if err != nil {
		return nil, err
	}
	e := &env{name: o.name, dir: dir, byID: filepath.Join(dir, "by-id"), backend: o.backend, keep: o.keep}
	if err := os.MkdirAll(e.byID, 0o755); err != nil {
		e.close(false)
		return nil, err
	}
	cfg := o.backend.SimConfig(filepath.Join(dir, "sim"), e.byID)
	if o.sim != nil {
		o.sim(&cfg)
	}
	if e.sim, err = harness.StartSim(cfg); err != nil {
		e.close(false)
		return nil, fmt.Errorf("start simulator: %w", err)
	}
	text := o.backend.CloudConfig(e.sim.URL)
	if len(o.blockStorage) > 0 {
		extra := strings.Join(o.blockStorage, "\n") + "\n"
		if !strings.Contains(text, "[BlockStorage]\n") {
			e.close(false)
			return nil, fmt.Errorf("cloud config of %s has no [BlockStorage] section", o.backend.Name)
		}
		text = strings.Replace(text, "[BlockStorage]\n", "[BlockStorage]\n"+extra, 1)
	}
	e.cfgPath = filepath.Join(dir, "cloud.conf")
	if err := os.WriteFile(e.cfgPath, []byte(text), 0o600); err != nil {
		e.close(false)
		return nil, err
	}
	return e, nil
}

// startDriver runs the driver binary in mode with the given waiter mode
// (ignored by a node-only driver) and waits until it answers Probe.
func (e *env) startDriver(ctx context.Context, binary, name, mode, waiter string, extra ...string) (*driverProc, error) {
	sockDir := filepath.Join(e.dir, name)
	if err := os.MkdirAll(sockDir, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(e.dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	// The child has its own copy of the descriptor.
	defer logFile.Close()
	args := append([]string{}, extra...)
	if waiter != "" {
		args = append(args, "--waiter-mode="+waiter)
	}
	p, err := harness.StartDriver(ctx, harness.DriverOptions{
		Binary: binary, Dir: sockDir, CloudConfig: e.cfgPath, ByIDDir: e.byID, KubeletDir: e.dir,
		Mode: mode, ExtraArgs: args, Stdout: logFile, Stderr: logFile,
	})
	if err != nil {
		return nil, fmt.Errorf("start driver %s: %w%s", name, err, tail(logPath, 15))
	}
	return e.adopt(ctx, name, logPath, p)
}

// adopt keeps a started CSI process among the env's drivers (stopped with
// it) and waits until it answers Probe.
func (e *env) adopt(ctx context.Context, name, logPath string, p *harness.DriverProcess) (*driverProc, error) {
	d := &driverProc{
		name: name, proc: p, log: logPath,
		ident: csi.NewIdentityClient(p.Conn), ctrl: csi.NewControllerClient(p.Conn), node: csi.NewNodeClient(p.Conn),
	}
	e.drivers = append(e.drivers, d)
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := harness.WaitReady(pctx, func(ctx context.Context) error {
		_, err := d.ident.Probe(ctx, &csi.ProbeRequest{})
		return err
	}); err != nil {
		return nil, fmt.Errorf("driver %s never answered Probe: %w%s", name, err, tail(logPath, 15))
	}
	return d, nil
}

func (d *driverProc) pid() int { return d.proc.Cmd.Process.Pid }

// memory reads the driver's VmRSS and VmHWM.
func (d *driverProc) memory() (harness.ProcMemory, error) {
	return harness.ReadProcMemory(d.pid())
}

// close stops the drivers and the simulator (which releases its loop
// devices), unmounts anything left under the work directory and removes
// it. failed also prints the tail of each driver's log.
func (e *env) close(failed bool) {
	for i := len(e.drivers) - 1; i >= 0; i-- {
		d := e.drivers[i]
		if err := d.proc.Stop(); err != nil && !strings.Contains(err.Error(), "signal: terminated") {
			fmt.Fprintf(os.Stderr, "bench: %s: driver %s exited: %v\n", e.name, d.name, err)
		}
		if failed {
			// After Stop: the driver flushes its log on the way out.
			fmt.Fprintf(os.Stderr, "bench: %s: last lines of %s:%s\n", e.name, d.name, tail(d.log, 20))
		}
	}
	e.drivers = nil
	unmountUnder(e.dir)
	if e.sim != nil {
		if err := e.sim.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %s: closing simulator: %v\n", e.name, err)
		}
		e.sim = nil
	}
	if e.keep {
		fmt.Fprintf(os.Stderr, "bench: %s: kept %s\n", e.name, e.dir)
		return
	}
	if err := os.RemoveAll(e.dir); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %s: removing %s: %v\n", e.name, e.dir, err)
	}
}

// tail returns the last n lines of a file, indented, for error messages.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	if len(lines) == 0 {
		return ""
	}
	return "\n    " + strings.Join(lines, "\n    ")
}
