package registrar

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

const testDriver = "block.csi.openblock.io"

// kubeletProto is api.proto of k8s.io/kubelet/pkg/apis/pluginregistration/v1,
// built as a descriptor: the fake kubelet encodes with the real protobuf
// runtime, so the registrar's hand-written encoding is checked against it.
func kubeletProto(t *testing.T) protoreflect.FileDescriptor {
	t.Helper()
	str := func(name string, num int32, label descriptorpb.FieldDescriptorProto_Label) *descriptorpb.FieldDescriptorProto {
		return &descriptorpb.FieldDescriptorProto{
			Name: proto.String(name), Number: proto.Int32(num), Label: label.Enum(),
			Type: descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(), JsonName: proto.String(name),
		}
	}
	opt := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL
	rep := descriptorpb.FieldDescriptorProto_LABEL_REPEATED
	fd := &descriptorpb.FileDescriptorProto{
		Name: proto.String("api.proto"), Package: proto.String("pluginregistration"), Syntax: proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{
			{Name: proto.String("PluginInfo"), Field: []*descriptorpb.FieldDescriptorProto{
				str("type", 1, opt), str("name", 2, opt), str("endpoint", 3, opt), str("supported_versions", 4, rep),
			}},
			{Name: proto.String("RegistrationStatus"), Field: []*descriptorpb.FieldDescriptorProto{
				{Name: proto.String("plugin_registered"), Number: proto.Int32(1), Label: opt.Enum(),
					Type: descriptorpb.FieldDescriptorProto_TYPE_BOOL.Enum(), JsonName: proto.String("pluginRegistered")},
				str("error", 2, opt),
			}},
			{Name: proto.String("RegistrationStatusResponse")},
			{Name: proto.String("InfoRequest")},
		},
	}
	f, err := protodesc.NewFile(fd, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// fakeKubelet is the kubelet's side of the registration socket.
type fakeKubelet struct {
	conn *grpc.ClientConn
	file protoreflect.FileDescriptor
}

func dialKubelet(t *testing.T, sock string) *fakeKubelet {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &fakeKubelet{conn: conn, file: kubeletProto(t)}
}

func (k *fakeKubelet) msg(name string) *dynamicpb.Message {
	return dynamicpb.NewMessage(k.file.Messages().ByName(protoreflect.Name(name)))
}

func (k *fakeKubelet) getInfo(ctx context.Context) (*dynamicpb.Message, error) {
	out := k.msg("PluginInfo")
	err := k.conn.Invoke(ctx, "/pluginregistration.Registration/GetInfo", k.msg("InfoRequest"), out)
	return out, err
}

func (k *fakeKubelet) notify(ctx context.Context, ok bool, msg string) error {
	in := k.msg("RegistrationStatus")
	in.Set(in.Descriptor().Fields().ByName("plugin_registered"), protoreflect.ValueOfBool(ok))
	in.Set(in.Descriptor().Fields().ByName("error"), protoreflect.ValueOfString(msg))
	return k.conn.Invoke(ctx, "/pluginregistration.Registration/NotifyRegistrationStatus", in, k.msg("RegistrationStatusResponse"))
}

// identity is a CSI driver that only tells its name.
type identity struct {
	csi.UnimplementedIdentityServer
}

func (identity) GetPluginInfo(context.Context, *csi.GetPluginInfoRequest) (*csi.GetPluginInfoResponse, error) {
	return &csi.GetPluginInfoResponse{Name: testDriver, VendorVersion: "test"}, nil
}

// startDriver serves identity on dir/csi.sock after delay.
func startDriver(t *testing.T, dir string, delay time.Duration) string {
	t.Helper()
	sock := filepath.Join(dir, "csi.sock")
	srv := grpc.NewServer()
	csi.RegisterIdentityServer(srv, identity{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(delay)
		ln, err := net.Listen("unix", sock)
		if err != nil {
			t.Error(err)
			return
		}
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() { srv.Stop(); <-done })
	return sock
}

// waitForSocket waits until path exists.
func waitForSocket(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared", path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func runAsync(ctx context.Context, opts Options) <-chan error {
	errc := make(chan error, 1)
	go func() { errc <- Run(ctx, opts) }()
	return errc
}

func TestRegistersWithTheKubelet(t *testing.T) {
	dir := t.TempDir()
	// The driver comes up after the registrar, as containers of one pod may.
	csiSock := startDriver(t, dir, 300*time.Millisecond)
	regDir := filepath.Join(dir, "registry")
	if err := os.Mkdir(regDir, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := SocketPath(regDir, testDriver)
	// A socket left by an earlier container.
	if err := os.WriteFile(sock, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hostPath := "/var/lib/kubelet/plugins/" + testDriver + "/csi.sock"
	errc := runAsync(ctx, Options{CSIAddress: "unix://" + csiSock, KubeletRegistrationPath: hostPath, RegistrationDir: regDir})

	k := dialKubelet(t, sock)
	var info *dynamicpb.Message
	deadline := time.Now().Add(10 * time.Second)
	for {
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		var err error
		info, err = k.getInfo(cctx)
		ccancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GetInfo: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	fields := info.Descriptor().Fields()
	if got := info.Get(fields.ByName("type")).String(); got != "CSIPlugin" {
		t.Errorf("type = %q, want CSIPlugin", got)
	}
	if got := info.Get(fields.ByName("name")).String(); got != testDriver {
		t.Errorf("name = %q, want %q (from the driver's GetPluginInfo)", got, testDriver)
	}
	if got := info.Get(fields.ByName("endpoint")).String(); got != hostPath {
		t.Errorf("endpoint = %q, want %q", got, hostPath)
	}
	list := info.Get(fields.ByName("supported_versions")).List()
	var versions []string
	for i := 0; i < list.Len(); i++ {
		versions = append(versions, list.Get(i).String())
	}
	if !reflect.DeepEqual(versions, DefaultVersions) {
		t.Errorf("supported_versions = %v, want %v", versions, DefaultVersions)
	}
	if err := k.notify(ctx, true, ""); err != nil {
		t.Fatalf("NotifyRegistrationStatus: %v", err)
	}

	// Still serving after a successful registration; stops with ctx and
	// removes its socket.
	select {
	case err := <-errc:
		t.Fatalf("Run returned after a successful registration: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("registration socket left behind: %v", err)
	}
}

func TestKubeletRefusal(t *testing.T) {
	regDir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := runAsync(ctx, Options{
		DriverName: testDriver, KubeletRegistrationPath: "/var/lib/kubelet/plugins/x/csi.sock",
		RegistrationDir: regDir, Versions: []string{"1.0.0", "1.1.0"},
	})
	sock := SocketPath(regDir, testDriver)
	waitForSocket(t, sock)
	k := dialKubelet(t, sock)
	info, err := k.getInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := info.Get(info.Descriptor().Fields().ByName("supported_versions")).List().Len(); n != 2 {
		t.Errorf("supported_versions has %d entries, want 2", n)
	}
	if err := k.notify(ctx, false, "version 9 not supported"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "version 9 not supported") {
			t.Fatalf("Run = %v, want the kubelet's error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run kept serving after the kubelet refused the registration")
	}
}

func TestOptionsValidated(t *testing.T) {
	ctx := context.Background()
	if err := Run(ctx, Options{DriverName: testDriver, KubeletRegistrationPath: "csi.sock", RegistrationDir: t.TempDir()}); err == nil {
		t.Error("a relative kubelet registration path was accepted")
	}
	if err := Run(ctx, Options{KubeletRegistrationPath: "/x/csi.sock", RegistrationDir: t.TempDir()}); err == nil {
		t.Error("neither a CSI address nor a driver name, yet no error")
	}
	// No driver ever answers: Run gives up when ctx ends.
	cctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	err := Run(cctx, Options{CSIAddress: filepath.Join(t.TempDir(), "none.sock"), KubeletRegistrationPath: "/x/csi.sock", RegistrationDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "no answer from the driver") {
		t.Errorf("Run without a driver = %v", err)
	}
}

func TestMessagesRoundTrip(t *testing.T) {
	in := &PluginInfo{Type: PluginType, Name: "n", Endpoint: "/e", SupportedVersions: []string{"1.0.0", ""}}
	var out PluginInfo
	if err := out.unmarshal(in.marshal()); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*in, out) {
		t.Errorf("PluginInfo round trip: got %+v, want %+v", out, *in)
	}
	if err := out.unmarshal([]byte{0x0a, 0x05, 'a'}); err == nil {
		t.Error("a truncated message was accepted")
	}
}
