// Command demo walks one volume through the driver's gRPC API the way
// Kubernetes does (external-provisioner, external-attacher, kubelet,
// external-snapshotter), against the cloud simulator:
//
//	create → attach → format+mount → write → snapshot → restore → read back → delete
//
// As root the simulator backs attached volumes with real loop devices, so the
// node steps run mkfs and mount for real; otherwise they are skipped and the
// demo says so.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/openblock-csi/openblock-csi/test/harness"
)

func main() {
	backendName := flag.String("backend", "cinder-v2", "cloud to simulate: "+fmt.Sprint(harness.Names()))
	binary := flag.String("driver", "bin/openblock-csi", "path to the openblock-csi binary")
	keep := flag.Bool("keep", false, "keep the work directory (logs, simulator state)")
	flag.Parse()

	if err := run(*backendName, *binary, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "demo: FAILED:", err)
		os.Exit(1)
	}
	fmt.Println("demo: ok")
}

func run(backendName, binary string, keep bool) error {
	backend, err := harness.Lookup(backendName)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "openblock-demo-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Println("work directory:", work)
	} else {
		defer os.RemoveAll(work)
	}
	byID := filepath.Join(work, "by-id")
	if err := os.MkdirAll(byID, 0o755); err != nil {
		return err
	}

	sim, err := harness.StartSim(backend.SimConfig(filepath.Join(work, "sim"), byID))
	if err != nil {
		return fmt.Errorf("start simulator: %w", err)
	}
	defer sim.Close()
	cfgPath, err := backend.WriteCloudConfig(work, sim.URL)
	if err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(work, "driver.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	drv, err := harness.StartDriver(ctx, harness.DriverOptions{
		Binary: binary, Dir: work, CloudConfig: cfgPath, ByIDDir: byID, KubeletDir: work, Zone: backend.Zone,
		Stdout: logFile, Stderr: logFile,
	})
	if err != nil {
		return fmt.Errorf("start driver: %w (log: %s)", err, logFile.Name())
	}
	defer drv.Stop()

	fmt.Printf("backend %s (simulator %s, driver %s)\n", backend.Name, sim.URL, drv.Endpoint)
	d := &demo{
		ctx:     ctx,
		backend: backend,
		id:      csi.NewIdentityClient(drv.Conn),
		ctrl:    csi.NewControllerClient(drv.Conn),
		node:    csi.NewNodeClient(drv.Conn),
		work:    work,
		root:    os.Geteuid() == 0,
	}
	defer d.cleanup()
	if err := d.walk(); err != nil {
		return err
	}
	st := sim.Stats()
	fmt.Printf("  simulator served %d API calls, %d of them answered 413\n", st.Total, st.Total413)
	for _, k := range harness.RejectedCalls(st) {
		fmt.Println("    413:", k)
	}
	return d.verifyNothingLeft(sim)
}
