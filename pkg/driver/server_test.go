package driver

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

func TestParseEndpoint(t *testing.T) {
	for in, want := range map[string][2]string{
		"unix:///csi/csi.sock":  {"unix", "/csi/csi.sock"},
		"unix:/tmp/x.sock":      {"unix", "/tmp/x.sock"},
		"/var/run/csi.sock":     {"unix", "/var/run/csi.sock"},
		"tcp://127.0.0.1:10000": {"tcp", "127.0.0.1:10000"},
	} {
		n, a, err := ParseEndpoint(in)
		if err != nil || n != want[0] || a != want[1] {
			t.Errorf("ParseEndpoint(%q) = %s %s %v", in, n, a, err)
		}
	}
	for _, bad := range []string{"", "http://x", "unix://", "tcp://"} {
		if _, _, err := ParseEndpoint(bad); err == nil {
			t.Errorf("ParseEndpoint(%q) accepted", bad)
		}
	}
}

func TestServeOverUnixSocket(t *testing.T) {
	e := newEnv(t, nil)
	var mu sync.Mutex
	seen := map[string]codes.Code{}
	e.d.cfg.Observer = func(method string, code codes.Code, _ time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		seen[method] = code
	}
	sock := filepath.Join(t.TempDir(), "csi.sock")
	// A stale socket from a crashed run must not block startup.
	stale, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("stale socket not left behind: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.d.Run(ctx, "unix://"+sock) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var info *csi.GetPluginInfoResponse
	for i := 0; ; i++ {
		info, err = csi.NewIdentityClient(conn).GetPluginInfo(ctxT(t), &csi.GetPluginInfoRequest{})
		if err == nil || i > 100 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil || info.GetName() != DefaultName {
		t.Fatalf("GetPluginInfo = %v, %v", info, err)
	}
	_, err = csi.NewControllerClient(conn).DeleteVolume(ctxT(t), &csi.DeleteVolumeRequest{})
	wantCode(t, err, codes.InvalidArgument)
	mu.Lock()
	if seen["/csi.v1.Controller/DeleteVolume"] != codes.InvalidArgument || seen["/csi.v1.Identity/GetPluginInfo"] != codes.OK {
		t.Errorf("observer saw %v", seen)
	}
	mu.Unlock()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v after cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop after cancel")
	}
	done <- nil // for the cleanup
}

// Every RPC with empty, nil-laden or garbage input must answer with an
// error code or a response, never panic. The interceptor would turn a
// panic into Internal, so the handlers are called directly here.
func TestNoInputPanics(t *testing.T) {
	e := newEnv(t, nil)
	e.ops.addDisk("vdb", volA, GiB)
	garbage := []string{"", "..", "../../x", "a\x00b", strings.Repeat("x", 5000), "backup:", "backup:../x", "s:", "b:", "-1", "\u00e9"}
	rpcs := 0
	for _, v := range []reflect.Value{reflect.ValueOf(e.id), reflect.ValueOf(e.c), reflect.ValueOf(e.n)} {
		rpcs += callAll(t, v, garbage)
	}
	// Identity 3 + Controller 16 + Node 9 implemented RPCs at least.
	if rpcs < 28 {
		t.Fatalf("only %d RPC methods exercised", rpcs)
	}
}

// callAll calls every RPC method of the service v with each garbage
// string, in empty and filled requests, and returns how many it called.
func callAll(t *testing.T, v reflect.Value, garbage []string) int {
	rpcs := 0
	for i := range v.NumMethod() {
		m := v.Type().Method(i)
		ft := m.Type
		if ft.NumIn() != 3 || ft.NumOut() != 2 || !ft.In(2).Implements(reflect.TypeOf((*proto.Message)(nil)).Elem()) {
			continue
		}
		rpcs++
		for _, g := range garbage {
			for _, fill := range []bool{false, true} {
				req := reflect.New(ft.In(2).Elem())
				if fill {
					fillStrings(req.Interface().(proto.Message).ProtoReflect(), g)
				}
				func() {
					defer func() {
						if r := recover(); r != nil {
							t.Errorf("%s panicked on %q (filled=%v): %v", m.Name, g, fill, r)
						}
					}()
					ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
					defer cancel()
					out := m.Func.Call([]reflect.Value{v, reflect.ValueOf(ctx), req})
					if err, _ := out[1].Interface().(error); err != nil {
						if _, ok := status.FromError(err); !ok {
							t.Errorf("%s returned a non-status error: %v", m.Name, err)
						}
					}
				}()
			}
		}
	}
	return rpcs
}

// fillStrings sets every string field, map and nested message of msg to g.
func fillStrings(msg protoreflect.Message, g string) {
	fields := msg.Descriptor().Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		switch {
		case f.IsMap():
			if f.MapKey().Kind() == protoreflect.StringKind && f.MapValue().Kind() == protoreflect.StringKind {
				m := msg.Mutable(f).Map()
				for _, k := range []string{g, PubSerial, PubSizeBytes, PubSerialLength, CtxFSType, CtxMkfsOptions, ParamType} {
					m.Set(protoreflect.ValueOfString(k).MapKey(), protoreflect.ValueOfString(g))
				}
			}
		case f.IsList():
		case f.Kind() == protoreflect.StringKind:
			msg.Set(f, protoreflect.ValueOfString(g))
		case f.Kind() == protoreflect.MessageKind && f.ContainingOneof() == nil:
			fillStrings(msg.Mutable(f).Message(), g)
		}
	}
}
