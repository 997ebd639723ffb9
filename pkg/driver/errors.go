package driver

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/node"
)

// codeOf maps a cloud, node or context error to the gRPC code a CO acts
// on.
func codeOf(err error) codes.Code {
	if s, ok := status.FromError(err); ok && s.Code() != codes.Unknown {
		return s.Code()
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	case errors.Is(err, cloud.ErrNotFound):
		return codes.NotFound
	case errors.Is(err, cloud.ErrAlreadyExists):
		return codes.AlreadyExists
	case errors.Is(err, cloud.ErrInvalid), errors.Is(err, cloud.ErrUnsupported):
		return codes.InvalidArgument
	case errors.Is(err, cloud.ErrOutOfRange):
		return codes.OutOfRange
	case errors.Is(err, cloud.ErrQuotaExceeded), errors.Is(err, cloud.ErrAttachLimit):
		return codes.ResourceExhausted
	case errors.Is(err, cloud.ErrForbidden):
		return codes.PermissionDenied
	case errors.Is(err, cloud.ErrRateLimited), errors.Is(err, cloud.ErrUnavailable):
		return codes.Unavailable
	case errors.Is(err, cloud.ErrWrongState):
		return codes.FailedPrecondition
	case errors.Is(err, cloud.ErrUnauthorized):
		return codes.Unauthenticated
	case errors.Is(err, node.ErrDeviceNotFound):
		return codes.NotFound
	case errors.Is(err, node.ErrUnsupportedFS):
		return codes.InvalidArgument
	case errors.Is(err, node.ErrFilesystemMismatch), errors.Is(err, node.ErrBlankReadOnly):
		return codes.FailedPrecondition
	case errors.Is(err, node.ErrMountedElsewhere):
		return codes.AlreadyExists
	}
	return codes.Internal
}

// failed wraps err as a gRPC status with a message that says what was
// being done. A status error passes through unchanged.
func failed(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	msg := fmt.Sprintf(format, args...)
	switch {
	case errors.Is(err, cloud.ErrUnauthorized):
		msg += " (the cloud refused the driver's credentials; check the cloud config)"
	case errors.Is(err, cloud.ErrForbidden):
		msg += " (the cloud's policy does not allow this for the driver's account)"
	case errors.Is(err, cloud.ErrAttachLimit):
		msg += " (the server has reached its limit of attached disks)"
	}
	return status.Errorf(codeOf(err), "%s: %v", msg, err)
}

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

func notFound(format string, args ...any) error {
	return status.Errorf(codes.NotFound, format, args...)
}

func precondition(format string, args ...any) error {
	return status.Errorf(codes.FailedPrecondition, format, args...)
}

func aborted(key string) error {
	return status.Errorf(codes.Aborted, "an operation on %s is already in progress", key)
}

func outOfRange(format string, args ...any) error {
	return status.Errorf(codes.OutOfRange, format, args...)
}

func alreadyExists(format string, args ...any) error {
	return status.Errorf(codes.AlreadyExists, format, args...)
}

func exhausted(format string, args ...any) error {
	return status.Errorf(codes.ResourceExhausted, format, args...)
}
