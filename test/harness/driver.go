package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// DriverProcess is the openblock-csi binary running as a child process.
type DriverProcess struct {
	Cmd      *exec.Cmd
	Endpoint string // unix:///path
	Socket   string
	Conn     *grpc.ClientConn
	done     chan error
}

// DriverOptions says how to start the driver.
type DriverOptions struct {
	Binary      string // path to openblock-csi
	Dir         string // where the socket lives
	CloudConfig string
	ByIDDir     string
	// KubeletDir is where node calls may act (--kubelet-dir); a test
	// passes its own work directory.
	KubeletDir string
	Mode       string // all, controller, node
	NodeID     string
	Zone       string // the node's zone; the metadata service is never asked
	ExtraArgs  []string
	Stdout     *os.File // nil: discard
	Stderr     *os.File
}

// StartDriver starts the binary and waits until its socket accepts gRPC.
func StartDriver(ctx context.Context, o DriverOptions) (*DriverProcess, error) {
	if o.Mode == "" {
		o.Mode = "all"
	}
	if o.NodeID == "" {
		o.NodeID = LocalServerID
	}
	sock := filepath.Join(o.Dir, "csi.sock")
	args := []string{
		"--endpoint=unix://" + sock,
		"--mode=" + o.Mode,
		"--node-id=" + o.NodeID,
		// There is no metadata service here, and tests never send traffic
		// off loopback (the default is 169.254.169.254).
		"--metadata-url=-",
	}
	if o.Zone != "" {
		args = append(args, "--zone="+o.Zone)
	}
	if o.CloudConfig != "" {
		args = append(args, "--cloud-config="+o.CloudConfig)
	}
	if o.ByIDDir != "" {
		args = append(args, "--by-id-dir="+o.ByIDDir)
	}
	if o.KubeletDir != "" {
		args = append(args, "--kubelet-dir="+o.KubeletDir)
	}
	args = append(args, o.ExtraArgs...)
	return StartCSIProcess(o.Binary, args, sock, o.Stdout, o.Stderr)
}

// StartCSIProcess starts any CSI driver binary with args, which must make
// it serve on the unix socket sock, and waits until the socket accepts
// gRPC. The bench runs another project's driver through it.
func StartCSIProcess(binary string, args []string, sock string, stdout, stderr *os.File) (*DriverProcess, error) {
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &DriverProcess{Cmd: cmd, Socket: sock, Endpoint: "unix://" + sock, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()

	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		select {
		case err := <-p.done:
			return nil, fmt.Errorf("driver exited before serving: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, fmt.Errorf("driver socket %s did not appear within 20s", sock)
		}
	}
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		p.Stop()
		return nil, err
	}
	p.Conn = conn
	return p, nil
}

// Stop sends SIGTERM, waits up to 10 s, then kills.
func (p *DriverProcess) Stop() error {
	if p.Conn != nil {
		p.Conn.Close()
	}
	if p.Cmd.Process == nil {
		return nil
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		return err
	case <-time.After(10 * time.Second):
		_ = p.Cmd.Process.Kill()
		return <-p.done
	}
}

// Kill sends SIGKILL and reaps the process (for crash tests).
func (p *DriverProcess) Kill() {
	if p.Conn != nil {
		p.Conn.Close()
	}
	_ = p.Cmd.Process.Kill()
	<-p.done
}

// Done is closed-over wait result: receives once when the process exits.
func (p *DriverProcess) Done() <-chan error { return p.done }

// WaitReady polls fn until it succeeds or ctx ends.
func WaitReady(ctx context.Context, fn func(context.Context) error) error {
	for {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
