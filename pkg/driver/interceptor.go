package driver

import (
	"context"
	"time"

	"github.com/kubernetes-csi/csi-lib-utils/protosanitizer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"
)

// interceptor logs every call (requests and responses at V(4) with
// secrets stripped, failures at V(2)), turns a panic into an Internal error
// instead of a crashed driver, and reports the call to the Observer.
func (d *Driver) interceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	start := time.Now()
	klog.V(4).InfoS("GRPC call", "method", info.FullMethod, "request", protosanitizer.StripSecrets(req))
	defer func() {
		if r := recover(); r != nil {
			klog.ErrorS(nil, "GRPC handler panicked", "method", info.FullMethod, "panic", r)
			resp, err = nil, status.Errorf(codes.Internal, "internal error in %s", info.FullMethod)
		}
		code := status.Code(err)
		if err != nil {
			klog.V(2).InfoS("GRPC error", "method", info.FullMethod, "code", code.String(), "err", err.Error(), "duration", time.Since(start))
		} else {
			klog.V(4).InfoS("GRPC response", "method", info.FullMethod, "response", protosanitizer.StripSecrets(resp), "duration", time.Since(start))
		}
		if d.cfg.Observer != nil {
			d.cfg.Observer(info.FullMethod, code, time.Since(start))
		}
	}()
	return handler(ctx, req)
}
