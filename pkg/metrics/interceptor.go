package metrics

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// UnaryServerInterceptor records every unary call in
// openblock_csi_rpc_duration_seconds, for a server that has no observer
// hook of its own. Do not combine it with ObserveRPC on the same server:
// calls would be counted twice.
func (r *Recorder) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		r.ObserveRPC(info.FullMethod, status.Code(err), time.Since(start))
		return resp, err
	}
}
