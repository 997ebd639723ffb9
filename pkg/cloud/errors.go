package cloud

import (
	"errors"
	"fmt"
	"time"
)

// Error kinds every provider maps its faults into. Test with errors.Is.
var (
	ErrNotFound      = errors.New("not found")
	ErrAlreadyExists = errors.New("already exists")
	// ErrInvalid: the cloud rejected the request as malformed.
	ErrInvalid = errors.New("invalid request")
	// ErrOutOfRange: a size or count outside what the cloud allows.
	ErrOutOfRange = errors.New("out of range")
	// ErrQuotaExceeded: the project's quota would be exceeded.
	ErrQuotaExceeded = errors.New("quota exceeded")
	// ErrRateLimited: the cloud throttled the call; see RetryAfter.
	ErrRateLimited = errors.New("rate limited")
	// ErrWrongState: the resource is in use or in a state that forbids the
	// operation (attached, has snapshots, still creating, ...).
	ErrWrongState = errors.New("wrong state")
	// ErrUnavailable: a transient fault (5xx, connection refused/reset).
	ErrUnavailable = errors.New("unavailable")
	// ErrUnauthorized: credentials were refused.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden: the credentials were accepted, but the cloud's policy
	// does not let them perform this operation (a 403 that is not about
	// who is asking).
	ErrForbidden = errors.New("forbidden by policy")
	// ErrAttachLimit: the server cannot take another disk (Nova's
	// "maximum allowed number of disk devices").
	ErrAttachLimit = errors.New("server disk limit reached")
	// ErrUnsupported: the cloud does not offer the operation.
	ErrUnsupported = errors.New("not supported")
	// ErrFailed: the resource went to an error state.
	ErrFailed = errors.New("operation failed")
)

// Error is the error every provider returns. Kind is one of the Err*
// values above; Message is safe to show to a user (never holds credentials).
type Error struct {
	Kind    error
	Message string
	// RetryAfter is set for ErrRateLimited when the cloud said how long to
	// wait.
	RetryAfter time.Duration
	// HTTPStatus is the provider's status code where there was one (0
	// otherwise); informational.
	HTTPStatus int
	Cause      error
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" && e.Cause != nil {
		msg = e.Cause.Error()
	}
	if msg == "" {
		return e.Kind.Error()
	}
	return fmt.Sprintf("%s: %s", e.Kind, msg)
}

// Unwrap lets errors.Is match both the kind and the underlying cause.
func (e *Error) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Cause}
}

// Errorf builds an *Error of the given kind.
func Errorf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// RetryAfterOf returns how long the cloud asked to wait, or 0.
func RetryAfterOf(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// IsNotFound is errors.Is(err, ErrNotFound), the most common check.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsRetryable reports whether repeating the same call later may succeed.
func IsRetryable(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, ErrRateLimited)
}
