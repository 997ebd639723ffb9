package openstack

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

func faultBody(name string, code int, msg string, extra ...any) []byte {
	in := map[string]any{"code": code, "message": msg}
	for i := 0; i+1 < len(extra); i += 2 {
		in[extra[i].(string)] = extra[i+1]
	}
	b, _ := json.Marshal(map[string]any{name: in})
	return b
}

func TestMapResponse(t *testing.T) {
	cases := []struct {
		name  string
		code  int
		body  []byte
		hdr   http.Header
		kind  error
		retry time.Duration
	}{
		{"404", 404, faultBody("itemNotFound", 404, "Volume x could not be found."), nil, cloud.ErrNotFound, 0},
		{"400 must be available", 400, faultBody("badRequest", 400, "Invalid volume: Volume status must be available or error or error_restoring or error_extending or error_managing and must not be migrating, attached, belong to a group, have snapshots or be disassociated from snapshots after volume transfer."), nil, cloud.ErrWrongState, 0},
		{"400 in-use", 400, faultBody("badRequest", 400, "Invalid volume: Volume x is in-use"), nil, cloud.ErrWrongState, 0},
		{"400 has snapshots", 400, faultBody("badRequest", 400, "Invalid volume: Volume has snapshots"), nil, cloud.ErrWrongState, 0},
		{"400 status", 400, faultBody("badRequest", 400, "Invalid volume: Volume to be backed up must be available or in-use, but the current status is \"creating\"."), nil, cloud.ErrWrongState, 0},
		{"400 malformed", 400, faultBody("badRequest", 400, "Malformed request body"), nil, cloud.ErrInvalid, 0},
		{"400 size", 400, faultBody("badRequest", 400, "Invalid input received: New size for extend must be greater than current size. (current: 10, extended: 5)."), nil, cloud.ErrOutOfRange, 0},
		{"409 conflict", 409, faultBody("conflictingRequest", 409, "Cannot 'attach_volume' instance x while it is in task_state rebuilding"), nil, cloud.ErrWrongState, 0},
		{"409 exists", 409, faultBody("conflictingRequest", 409, "Volume type already exists"), nil, cloud.ErrAlreadyExists, 0},
		{"413 rate string", 413, faultBody("overLimit", 413, "This request was rate-limited.", "retryAfter", "7"), nil, cloud.ErrRateLimited, 7 * time.Second},
		{"413 rate number", 413, faultBody("overLimit", 413, "This request was rate-limited.", "retryAfter", 2), nil, cloud.ErrRateLimited, 2 * time.Second},
		{"413 rate header", 413, faultBody("overLimit", 413, "This request was rate-limited."), http.Header{"Retry-After": {"3"}}, cloud.ErrRateLimited, 3 * time.Second},
		{"429", 429, []byte(`{"message": "slow down"}`), http.Header{"Retry-After": {"1"}}, cloud.ErrRateLimited, time.Second},
		{"413 gigabytes quota", 413, faultBody("overLimit", 413, "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed Gigabytes quota", "retryAfter", 0), nil, cloud.ErrQuotaExceeded, 0},
		{"413 volume count", 413, faultBody("overLimit", 413, "VolumeLimitExceeded: Maximum number of volumes allowed (10) exceeded", "retryAfter", 0), nil, cloud.ErrQuotaExceeded, 0},
		{"401", 401, faultBody("error", 401, "The request you have made requires authentication."), nil, cloud.ErrUnauthorized, 0},
		{"403", 403, faultBody("forbidden", 403, "Policy doesn't allow volume:create to be performed."), nil, cloud.ErrForbidden, 0},
		{"403 disk devices", 403, faultBody("forbidden", 403, "The maximum allowed number of disk devices (26) to attach to a single instance has been exceeded."), nil, cloud.ErrAttachLimit, 0},
		{"403 max volumes", 403, faultBody("forbidden", 403, "Maximum number of volumes allowed (26) exceeded"), nil, cloud.ErrAttachLimit, 0},
		{"403 quota", 403, faultBody("forbidden", 403, "Quota exceeded for resources: ['gigabytes']"), nil, cloud.ErrQuotaExceeded, 0},
		{"500", 500, faultBody("computeFault", 500, "boom"), nil, cloud.ErrUnavailable, 0},
		{"502 html", 502, []byte("<html>Bad Gateway</html>"), nil, cloud.ErrUnavailable, 0},
		{"405", 405, nil, nil, cloud.ErrInvalid, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := gophercloud.ErrUnexpectedResponseCode{Actual: tc.code, Body: tc.body, ResponseHeader: tc.hdr, Method: "GET", URL: "http://x/v3/p/volumes/1"}
			err := mapError("do the thing", src)
			var ce *cloud.Error
			if !errors.As(err, &ce) {
				t.Fatalf("not a *cloud.Error: %T %v", err, err)
			}
			if !errors.Is(err, tc.kind) {
				t.Errorf("kind = %v, want %v (%v)", ce.Kind, tc.kind, err)
			}
			if ce.HTTPStatus != tc.code {
				t.Errorf("HTTPStatus = %d", ce.HTTPStatus)
			}
			if ce.RetryAfter != tc.retry {
				t.Errorf("RetryAfter = %v, want %v", ce.RetryAfter, tc.retry)
			}
			if !strings.HasPrefix(ce.Message, "do the thing: ") || !strings.Contains(ce.Message, fmt.Sprintf("HTTP %d", tc.code)) {
				t.Errorf("message = %q", ce.Message)
			}
			if strings.Contains(ce.Message, "<html>") {
				t.Errorf("HTML in message: %q", ce.Message)
			}
		})
	}
}

func TestMapErrorKeepsCloudMessage(t *testing.T) {
	err := mapError("delete volume v1", gophercloud.ErrUnexpectedResponseCode{Actual: 400, Body: faultBody("badRequest", 400, "Invalid volume: Volume status must be available")})
	if got := err.Error(); !strings.Contains(got, "delete volume v1: Invalid volume: Volume status must be available (HTTP 400)") {
		t.Errorf("Error() = %q", got)
	}
	// Wrapped after re-authentication, too.
	wrapped := &gophercloud.ErrErrorAfterReauthentication{}
	wrapped.ErrOriginal = gophercloud.ErrUnexpectedResponseCode{Actual: 404, Body: faultBody("itemNotFound", 404, "gone")}
	if err := mapError("get", wrapped); !errors.Is(err, cloud.ErrNotFound) {
		t.Errorf("after reauth: %v", err)
	}
	if mapError("x", nil) != nil {
		t.Errorf("nil error mapped to non-nil")
	}
}

func TestMapStatus(t *testing.T) {
	for raw, want := range map[string]cloud.Status{
		"creating": cloud.StatusCreating, "available": cloud.StatusAvailable, "attaching": cloud.StatusAttaching,
		"reserved": cloud.StatusAttaching, "in-use": cloud.StatusInUse, "detaching": cloud.StatusDetaching,
		"deleting": cloud.StatusDeleting, "extending": cloud.StatusExtending, "backing-up": cloud.StatusBackingUp,
		"restoring-backup": cloud.StatusRestoring, "restoring": cloud.StatusRestoring,
		"error": cloud.StatusError, "error_deleting": cloud.StatusError, "error_extending": cloud.StatusError,
		"error_restoring": cloud.StatusError, "error_backing-up": cloud.StatusError, "error_attaching": cloud.StatusError,
		"error_detaching": cloud.StatusError,
		"maintenance":     cloud.StatusBusy, "uploading": cloud.StatusBusy, "downloading": cloud.StatusBusy,
		"retyping": cloud.StatusBusy, "awaiting-transfer": cloud.StatusBusy, "something-new": cloud.StatusBusy,
	} {
		if got := mapStatus(raw); got != want {
			t.Errorf("mapStatus(%q) = %q, want %q", raw, got, want)
		}
	}
}

func TestCheckID(t *testing.T) {
	for _, id := range []string{volID, "123", "vol_1.a"} {
		if err := checkID(id); err != nil {
			t.Errorf("checkID(%q) = %v", id, err)
		}
	}
	for _, id := range []string{"", "detail", "..", "a/b", "a?b", "a b", "%2e", "x#"} {
		if checkID(id) == nil {
			t.Errorf("checkID(%q) accepted", id)
		}
	}
}
