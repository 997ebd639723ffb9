package openstack

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// FuzzMapResponse decodes arbitrary error answers: every one becomes a
// *cloud.Error with a kind and a Retry-After that is never negative.
func FuzzMapResponse(f *testing.F) {
	f.Add(404, []byte(`{"itemNotFound": {"code": 404, "message": "Volume 1 could not be found."}}`), "")
	f.Add(413, []byte(`{"overLimit": {"code": 413, "message": "This request was rate-limited.", "retryAfter": "5"}}`), "")
	f.Add(413, []byte(`{"overLimit": {"code": 413, "message": "VolumeSizeExceedsAvailableQuota", "retryAfter": 0}}`), "")
	f.Add(429, []byte(``), "Wed, 21 Oct 2015 07:28:00 GMT")
	f.Add(400, []byte(`{"badRequest": {"code": 400, "message": "Invalid volume: Volume status must be available"}}`), "")
	f.Add(401, []byte(`{"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}`), "")
	f.Add(409, []byte(`{"conflictingRequest": {"message": "already exists"}}`), "")
	f.Add(503, []byte(`<html><body>Service Unavailable</body></html>`), "120")
	f.Add(413, []byte(`{"overLimit": {"retryAfter": 1e300}}`), "NaN")
	f.Fuzz(func(t *testing.T, code int, body []byte, retryAfter string) {
		if code < 100 || code > 599 {
			code = 500
		}
		hdr := http.Header{"Retry-After": {retryAfter}}
		err := mapResponse("op", code, body, hdr, nil)
		var ce *cloud.Error
		if !errors.As(err, &ce) || ce.Kind == nil {
			t.Fatalf("mapResponse(%d, %q) = %T %v without a kind", code, body, err, err)
		}
		if ce.RetryAfter < 0 {
			t.Fatalf("negative RetryAfter %s from body %q header %q", ce.RetryAfter, body, retryAfter)
		}
		if d, ok := retryAfterHeader(hdr, time.Now()); ok && d < 0 {
			t.Fatalf("retryAfterHeader(%q) = %s", retryAfter, d)
		}
	})
}

// A huge or non-finite retryAfter ("1e300", "NaN", "Inf", in the fault
// body or the Retry-After header) must not overflow into a negative wait
// (found by FuzzMapResponse).
func TestRetryAfterNeverNegative(t *testing.T) {
	for _, v := range []string{"1e300", "NaN", "Inf", "9.3e9"} {
		if d, ok := parseRetryAfter([]byte(`"` + v + `"`)); ok && d < 0 {
			t.Errorf("parseRetryAfter(%q) = %s", v, d)
		}
		if d, ok := retryAfterHeader(http.Header{"Retry-After": {v}}, time.Now()); ok && d < 0 {
			t.Errorf("retryAfterHeader(%q) = %s", v, d)
		}
	}
}

// FuzzPathTemplate checks the operation names used as metric labels: only
// known path words and {id} survive, so no id, token or name can become a
// label value.
func FuzzPathTemplate(f *testing.F) {
	for _, p := range []string{"/volumes/detail", "/demo/volumes/1234/action", "/servers/x/os-volume_attachments/y",
		"/v3/auth/tokens", "", "/", "//", "/volumes/gAAAAAB-token-looking/metadata", "/../..", "/volumes?limit=1"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		out := pathTemplate(p)
		if !strings.HasPrefix(out, "/") {
			t.Fatalf("pathTemplate(%q) = %q", p, out)
		}
		for _, part := range strings.Split(strings.Trim(out, "/"), "/") {
			if part != "" && part != "{id}" && !pathWords[part] {
				t.Fatalf("pathTemplate(%q) = %q keeps %q", p, out, part)
			}
		}
	})
}

// FuzzIDsAndStatus: ids that pass checkID are safe URL path elements;
// versionFromURL and mapStatus take anything.
func FuzzIDsAndStatus(f *testing.F) {
	for _, s := range []string{"6a4952af-0a13-40a7-9c5b-c07d22c850ff", "detail", "..", "a/b", "a?b", "x%2F", "error_deleting",
		"in-use", "http://h:8776/v3/demo", "https://h/volume/v2.1/", "::", "ERROR"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if checkID(s) == nil && (strings.ContainsAny(s, "/?#% \\") || s == "." || s == ".." || s == "") {
			t.Fatalf("checkID(%q) accepted", s)
		}
		if v := versionFromURL(s); v < 0 || v > 9 {
			t.Fatalf("versionFromURL(%q) = %d", s, v)
		}
		st := mapStatus(s)
		if strings.HasPrefix(strings.ToLower(s), "error") && st != cloud.StatusError {
			t.Fatalf("mapStatus(%q) = %v", s, st)
		}
	})
}
