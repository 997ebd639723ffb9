package driver

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"

	"github.com/openblock-csi/openblock-csi/pkg/csicap"
)

// A handler's log lines carry the call they belong to (the RPC method, the
// volume, the request name) through the logger the interceptor puts in the
// context, over a real gRPC connection; the secrets of a request never
// reach the log, not even at the verbosity that logs whole requests.
func TestHandlerLogsCarryTheCall(t *testing.T) {
	logger := ktesting.NewLogger(t, ktesting.NewConfig(ktesting.BufferLogs(true), ktesting.Verbosity(5)))
	// Contextual: klog.FromContext falls back to this logger, not to klog's own.
	klog.SetLoggerWithOptions(logger, klog.ContextualLogger(true))
	t.Cleanup(klog.ClearLogger)
	const secret = "s3cret-never-logged"

	e := newEnv(t, nil)
	e.ops.addDisk("vdb", volA, 2*GiB)
	conn := serveForTest(t, e.d)
	ctl, nd := csi.NewControllerClient(conn), csi.NewNodeClient(conn)
	created, err := ctl.CreateVolume(ctxT(t), &csi.CreateVolumeRequest{
		Name: "logged", CapacityRange: &csi.CapacityRange{RequiredBytes: GiB},
		VolumeCapabilities: []*csi.VolumeCapability{csicap.Mount("")}, Secrets: map[string]string{"password": secret},
	})
	if err != nil {
		t.Fatal(err)
	}
	volID := created.GetVolume().GetVolumeId()
	if _, err := ctl.DeleteVolume(ctxT(t), &csi.DeleteVolumeRequest{VolumeId: volID, Secrets: map[string]string{"token": secret}}); err != nil {
		t.Fatal(err)
	}
	if _, err := nd.NodeStageVolume(ctxT(t), stageReq(csicap.Mount("ext4"), pubCtx(volA, 2*GiB), nil)); err != nil {
		t.Fatal(err)
	}

	buf := logger.GetSink().(ktesting.Underlier).GetBuffer()
	for _, want := range []struct {
		msg string
		kv  map[string]string
	}{
		{"Volume created", map[string]string{"method": "/csi.v1.Controller/CreateVolume", "name": "logged", "id": volID}},
		{"Volume deleted", map[string]string{"method": "/csi.v1.Controller/DeleteVolume", "volume": volID}},
		{"Volume staged", map[string]string{"method": "/csi.v1.Node/NodeStageVolume", "volume": volA}},
	} {
		entry, ok := findEntry(buf.Data(), want.msg)
		if !ok {
			t.Errorf("no %q line in the log", want.msg)
			continue
		}
		for k, v := range want.kv {
			if got := entry[k]; got != v {
				t.Errorf("%q line: %s = %q, want %q (all: %v)", want.msg, k, got, v, entry)
			}
		}
	}
	if _, ok := findEntry(buf.Data(), "GRPC call"); !ok {
		t.Error("requests were not logged at V(4), so the secret check below proves nothing")
	}
	if strings.Contains(buf.String(), secret) {
		t.Error("a request secret reached the log")
	}
}

// findEntry returns the key-values (the logger's and the call's) of the
// first entry with msg.
func findEntry(log ktesting.Log, msg string) (map[string]string, bool) {
	for _, e := range log {
		if e.Message != msg {
			continue
		}
		kv := map[string]string{}
		all := append(append([]any{}, e.WithKVList...), e.ParameterKVList...)
		for i := 0; i+1 < len(all); i += 2 {
			kv[fmt.Sprint(all[i])] = fmt.Sprint(all[i+1])
		}
		return kv, true
	}
	return nil, false
}

// serveForTest serves d on a unix socket until the test ends and returns a
// connection to it.
func serveForTest(t *testing.T, d *Driver) *grpc.ClientConn {
	t.Helper()
	lis, err := Listen("unix://" + filepath.Join(t.TempDir(), "csi.sock"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx, lis) }()
	conn, err := grpc.NewClient("unix://"+lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return conn
}
