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

// interceptor puts a logger carrying the call into the context (handlers,
// the waiter and the cloud adapters log through klog.FromContext), logs
// every call (requests and responses at V(4) with secrets stripped,
// failures at V(2)), turns a panic into an Internal error instead of a
// crashed driver, and reports the call to the Observer.
func (d *Driver) interceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	start := time.Now()
	logger := callLogger(klog.FromContext(ctx), info.FullMethod, req)
	ctx = klog.NewContext(ctx, logger)
	logger.V(4).Info("GRPC call", "request", protosanitizer.StripSecrets(req))
	defer func() {
		if r := recover(); r != nil {
			logger.Error(nil, "GRPC handler panicked", "panic", r)
			resp, err = nil, status.Errorf(codes.Internal, "internal error in %s", info.FullMethod)
		}
		code := status.Code(err)
		if err != nil {
			logger.V(2).Info("GRPC error", "code", code.String(), "err", err.Error(), "duration", time.Since(start))
		} else {
			logger.V(4).Info("GRPC response", "response", protosanitizer.StripSecrets(resp), "duration", time.Since(start))
		}
		if d.cfg.Observer != nil {
			d.cfg.Observer(info.FullMethod, code, time.Since(start))
		}
	}()
	return handler(ctx, req)
}

// callLogger adds to base the method and what the request is about: the
// volume, source volume, snapshot, node and request name where it has
// them. Only ids and names: secrets and parameters stay out.
func callLogger(base klog.Logger, method string, req any) klog.Logger {
	kv := []any{"method", method}
	add := func(key, v string) {
		if v != "" {
			kv = append(kv, key, v)
		}
	}
	if r, ok := req.(interface{ GetVolumeId() string }); ok {
		add("volume", r.GetVolumeId())
	}
	if r, ok := req.(interface{ GetSourceVolumeId() string }); ok {
		add("sourceVolume", r.GetSourceVolumeId())
	}
	if r, ok := req.(interface{ GetSnapshotId() string }); ok {
		add("snapshot", r.GetSnapshotId())
	}
	if r, ok := req.(interface{ GetNodeId() string }); ok {
		add("node", r.GetNodeId())
	}
	if r, ok := req.(interface{ GetName() string }); ok {
		add("name", r.GetName())
	}
	return base.WithValues(kv...)
}
