package main

import (
	"context"
	"flag"
	"fmt"
	"os/signal"
	"syscall"

	"k8s.io/klog/v2"

	"github.com/openblock-csi/openblock-csi/pkg/registrar"
)

// runRegister is `openblock-csi register`: the node plugin's registration
// with the kubelet (the chart's builtin registrar container).
func runRegister(args []string) error {
	fs := flag.NewFlagSet("register", flag.ContinueOnError)
	var opts registrar.Options
	fs.StringVar(&opts.CSIAddress, "csi-address", "/csi/csi.sock", "the driver's CSI socket in this container")
	fs.StringVar(&opts.KubeletRegistrationPath, "kubelet-registration-path", "",
		"the same socket's path on the host, as the kubelet sees it (e.g. /var/lib/kubelet/plugins/block.csi.openblock.io/csi.sock)")
	fs.StringVar(&opts.RegistrationDir, "registration-dir", registrar.DefaultRegistrationDir,
		"the kubelet's plugins_registry directory in this container")
	klog.InitFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("register: unexpected arguments %q", fs.Args())
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return registrar.Run(ctx, opts)
}

// registerMain is runRegister for main: it reports an error and returns the
// process's exit code.
func registerMain(args []string) int {
	if err := runRegister(args); err != nil {
		klog.ErrorS(err, "openblock-csi register failed")
		klog.Flush()
		return 1
	}
	klog.Flush()
	return 0
}
