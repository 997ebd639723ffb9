package openstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gophercloud/gophercloud/v2"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// fault is an OpenStack error body: {"itemNotFound": {"code": 404,
// "message": "..."}} (Cinder, Nova), {"error": {"code": 401, "message":
// "...", "title": "..."}} (Keystone), {"overLimit": {..., "retryAfter":
// "5"}}.
type fault struct {
	Name       string
	Message    string
	RetryAfter time.Duration
	HasRetry   bool
}

func parseFault(body []byte) fault {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		text := strings.TrimSpace(string(body))
		if len(text) > 200 || strings.HasPrefix(text, "<") {
			text = ""
		}
		return fault{Message: text}
	}
	type inner struct {
		Message    string          `json:"message"`
		Title      string          `json:"title"`
		RetryAfter json.RawMessage `json:"retryAfter"`
	}
	if m, ok := top["message"]; ok {
		var s string
		_ = json.Unmarshal(m, &s)
		return fault{Message: s}
	}
	for name, raw := range top {
		var in inner
		if json.Unmarshal(raw, &in) != nil {
			continue
		}
		f := fault{Name: name, Message: in.Message}
		if f.Message == "" {
			f.Message = in.Title
		}
		if d, ok := parseRetryAfter(in.RetryAfter); ok {
			f.RetryAfter, f.HasRetry = d, true
		}
		return f
	}
	return fault{}
}

// parseRetryAfter reads retryAfter as a number or a numeric string of
// seconds.
func parseRetryAfter(raw json.RawMessage) (time.Duration, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		s = string(raw)
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || f < 0 {
		return 0, false
	}
	return secondsDuration(f), true
}

// maxRetryAfter caps a cloud's retryAfter: a larger (or infinite) value
// would overflow time.Duration, and no RPC waits that long anyway.
const maxRetryAfter = 24 * time.Hour

func secondsDuration(f float64) time.Duration {
	if f != f || f >= maxRetryAfter.Seconds() { // NaN or too large
		return maxRetryAfter
	}
	return time.Duration(f * float64(time.Second))
}

// retryAfterHeader reads an HTTP Retry-After header (seconds or a date).
func retryAfterHeader(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseFloat(v, 64); err == nil && n >= 0 {
		return secondsDuration(n), true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

// isQuotaMessage tells a quota 413 (VolumeSizeExceedsAvailableQuota,
// VolumeLimitExceeded, ...) from a rate limit 413 ("This request was
// rate-limited.").
func isQuotaMessage(msg string) bool {
	m := strings.ToLower(msg)
	for _, k := range []string{"quota", "limitexceeded", "exceeds allowed", "maximum number of", "gigabytes exceeded"} {
		if strings.Contains(m, k) {
			return true
		}
	}
	return false
}

// isAttachLimitMessage tells Nova's TooManyDiskDevices 403 ("The maximum
// allowed number of disk devices (26) to attach to a single instance has
// been exceeded.", older releases "Maximum number of volumes ...") from a
// policy refusal.
func isAttachLimitMessage(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "number of disk devices") || strings.Contains(m, "maximum number of volumes")
}

// isWrongStateMessage tells a 400 about the resource's state (attached,
// has snapshots, still creating) from a malformed request.
func isWrongStateMessage(msg string) bool {
	m := strings.ToLower(msg)
	for _, k := range []string{"must be available", "in-use", "in use", "has snapshots", "have snapshots", "dependent", "status", "attached", "still"} {
		if strings.Contains(m, k) {
			return true
		}
	}
	return false
}

// isOutOfRangeMessage tells a 400 about a size bound.
func isOutOfRangeMessage(msg string) bool {
	m := strings.ToLower(msg)
	if !strings.Contains(m, "size") {
		return false
	}
	for _, k := range []string{"greater than", "less than", "exceed", "between", "maximum", "minimum", "out of range", "too large", "too small"} {
		if strings.Contains(m, k) {
			return true
		}
	}
	return false
}

// mapError turns any error of a gophercloud call into a *cloud.Error whose
// message says what was being done (op) and what the cloud said.
func mapError(op string, err error) error {
	if err == nil {
		return nil
	}
	var ce *cloud.Error
	if errors.As(err, &ce) {
		// Already classified (the transport's rate limit, our own checks).
		out := *ce
		out.Message = op + ": " + ce.Message
		return &out
	}
	var resp gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &resp) {
		return mapResponse(op, resp.Actual, resp.Body, resp.ResponseHeader, err)
	}
	var reauth *gophercloud.ErrUnableToReauthenticate
	if errors.As(err, &reauth) {
		// The token expired and a new one could not be had: Keystone down
		// is transient, Keystone refusing is not.
		inner := mapError(op+": re-authenticate", reauth.ErrReauth)
		var ie *cloud.Error
		if errors.As(inner, &ie) && errors.Is(ie.Kind, cloud.ErrUnavailable) {
			return inner
		}
		msg := op + ": the token expired and re-authentication failed"
		if ie != nil {
			msg = ie.Message
		}
		return &cloud.Error{Kind: cloud.ErrUnauthorized, Message: msg, HTTPStatus: http.StatusUnauthorized, Cause: err}
	}
	kind, msg := cloud.ErrUnavailable, ""
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		msg = "timed out"
	case errors.Is(err, context.Canceled):
		msg = "canceled"
	case errors.Is(err, syscall.ECONNREFUSED):
		msg = "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		msg = "connection reset"
	case isTimeout(err):
		msg = "timed out"
	case isNetError(err):
		msg = "network error: " + netErrorText(err)
	default:
		// Malformed responses and unexpected client-side failures: the
		// call may work when repeated, and the cause is kept.
		msg = "unexpected response: " + err.Error()
	}
	return &cloud.Error{Kind: kind, Message: op + ": " + msg, Cause: err}
}

func mapResponse(op string, code int, body []byte, hdr http.Header, cause error) error {
	f := parseFault(body)
	msg := f.Message
	if msg == "" {
		msg = http.StatusText(code)
	}
	e := &cloud.Error{HTTPStatus: code, Message: fmt.Sprintf("%s: %s (HTTP %d)", op, msg, code), Cause: cause}
	switch {
	case code == http.StatusNotFound:
		e.Kind = cloud.ErrNotFound
	case code == http.StatusUnauthorized:
		e.Kind = cloud.ErrUnauthorized
	case code == http.StatusForbidden:
		// Keystone answers bad credentials with 401; a 403 comes from
		// policy or a limit, never from who is asking.
		switch {
		case isAttachLimitMessage(msg):
			e.Kind = cloud.ErrAttachLimit
		case isQuotaMessage(msg):
			e.Kind = cloud.ErrQuotaExceeded
		default:
			e.Kind = cloud.ErrForbidden
		}
	case code == http.StatusRequestEntityTooLarge || code == http.StatusTooManyRequests:
		if isQuotaMessage(msg) {
			e.Kind = cloud.ErrQuotaExceeded
			break
		}
		e.Kind = cloud.ErrRateLimited
		if f.HasRetry {
			e.RetryAfter = f.RetryAfter
		} else if d, ok := retryAfterHeader(hdr, time.Now()); ok {
			e.RetryAfter = d
		}
	case code == http.StatusConflict:
		if strings.Contains(strings.ToLower(msg), "already exists") {
			e.Kind = cloud.ErrAlreadyExists
		} else {
			e.Kind = cloud.ErrWrongState
		}
	case code == http.StatusBadRequest:
		switch {
		case isQuotaMessage(msg):
			e.Kind = cloud.ErrQuotaExceeded
		case isWrongStateMessage(msg):
			e.Kind = cloud.ErrWrongState
		case isOutOfRangeMessage(msg):
			e.Kind = cloud.ErrOutOfRange
		default:
			e.Kind = cloud.ErrInvalid
		}
	case code >= 500:
		e.Kind = cloud.ErrUnavailable
	default:
		e.Kind = cloud.ErrInvalid
	}
	return e
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isNetError(err error) bool {
	var oe *net.OpError
	var de *net.DNSError
	return errors.As(err, &oe) || errors.As(err, &de)
}

func netErrorText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// isDialError: the request never reached the server, so repeating it is
// safe whatever the method.
func isDialError(err error) bool {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// isTransientNetError: worth repeating an idempotent request.
func isTransientNetError(err error) bool {
	return isDialError(err) || isTimeout(err) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isNetError(err)
}
