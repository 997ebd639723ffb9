// Package registrar registers the node plugin with the kubelet: it serves the
// kubelet's plugin registration API on a socket in the kubelet's
// plugins_registry directory, telling it the driver's name and where the
// driver's CSI socket is on the host. It is what node-driver-registrar does,
// carried by the driver's own binary (`openblock-csi register`).
package registrar

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"k8s.io/klog/v2"
)

// DefaultRegistrationDir is where the chart mounts the kubelet's
// plugins_registry directory.
const DefaultRegistrationDir = "/registration"

// DefaultVersions are the CSI versions reported to the kubelet.
var DefaultVersions = []string{"1.0.0"}

// Options configure Run.
type Options struct {
	// CSIAddress is the driver's socket as this process sees it
	// (/csi/csi.sock or unix:///csi/csi.sock).
	CSIAddress string
	// KubeletRegistrationPath is the same socket as the kubelet sees it on
	// the host (/var/lib/kubelet/plugins/<driver>/csi.sock).
	KubeletRegistrationPath string
	// RegistrationDir holds the registration socket (default /registration).
	RegistrationDir string
	// DriverName; empty: asked from the driver (GetPluginInfo).
	DriverName string
	// Versions reported to the kubelet (default DefaultVersions).
	Versions []string
}

// SocketPath is the registration socket of driverName in dir.
func SocketPath(dir, driverName string) string {
	return filepath.Join(dir, driverName+"-reg.sock")
}

// Run serves the registration socket until ctx ends. It returns an error
// when the kubelet reports that the registration failed, so the container
// restarts and registration is tried again.
func Run(ctx context.Context, opts Options) error {
	if opts.KubeletRegistrationPath == "" || !filepath.IsAbs(opts.KubeletRegistrationPath) {
		return fmt.Errorf("registrar: the kubelet registration path must be absolute, got %q", opts.KubeletRegistrationPath)
	}
	if opts.RegistrationDir == "" {
		opts.RegistrationDir = DefaultRegistrationDir
	}
	if len(opts.Versions) == 0 {
		opts.Versions = DefaultVersions
	}
	if opts.DriverName == "" {
		if opts.CSIAddress == "" {
			return errors.New("registrar: need the CSI address or the driver name")
		}
		name, err := driverName(ctx, opts.CSIAddress)
		if err != nil {
			return err
		}
		opts.DriverName = name
	}

	sock := SocketPath(opts.RegistrationDir, opts.DriverName)
	// A socket left by an earlier run refuses new listeners.
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("registrar: removing stale socket: %w", err)
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("registrar: %w", err)
	}
	defer os.Remove(sock)

	failed := make(chan string, 1)
	srv := grpc.NewServer(grpc.ForceServerCodec(codec{}))
	srv.RegisterService(&serviceDesc, &service{
		info: PluginInfo{
			Type:              PluginType,
			Name:              opts.DriverName,
			Endpoint:          opts.KubeletRegistrationPath,
			SupportedVersions: opts.Versions,
		},
		failed: failed,
	})
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	klog.InfoS("Registration socket ready", "socket", sock, "driver", opts.DriverName, "endpoint", opts.KubeletRegistrationPath)

	select {
	case <-ctx.Done():
		srv.GracefulStop()
		return nil
	case msg := <-failed:
		// Graceful: the kubelet still gets its answer.
		srv.GracefulStop()
		return fmt.Errorf("registrar: the kubelet refused the registration of %s: %s", opts.DriverName, msg)
	case err := <-serveErr:
		return fmt.Errorf("registrar: serving %s: %w", sock, err)
	}
}

// driverName asks the driver for its name, waiting for its socket to come
// up (the containers of the node pod start in any order).
func driverName(ctx context.Context, address string) (string, error) {
	target := "unix://" + strings.TrimPrefix(strings.TrimPrefix(address, "unix://"), "unix:")
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return "", fmt.Errorf("registrar: %w", err)
	}
	defer conn.Close()
	client := csi.NewIdentityClient(conn)
	for attempt := 0; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := client.GetPluginInfo(cctx, &csi.GetPluginInfoRequest{})
		cancel()
		if err == nil {
			if resp.GetName() == "" {
				return "", errors.New("registrar: the driver reports an empty name")
			}
			return resp.GetName(), nil
		}
		if attempt%10 == 0 {
			klog.InfoS("Waiting for the driver", "address", address, "err", err)
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("registrar: no answer from the driver at %s: %w", address, err)
		case <-time.After(time.Second):
		}
	}
}
