package lunanode

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestSignatureAndNonceChecks(t *testing.T) {
	e := newEnv(t, nil)
	now := e.clock.Now().Unix()
	const path = "/lunanode/api/volume/list/"
	good := func(n int64) url.Values { return sign(DefaultAPIID, DefaultAPIKey, "volume/list/", nil, n) }

	cases := []struct {
		name string
		form url.Values
		want string
	}{
		{"unknown api_id", sign("nosuchapiid00000", DefaultAPIKey, "volume/list/", nil, now), "authentication failed"},
		{"wrong key", sign(DefaultAPIID, strings.Repeat("k", 128), "volume/list/", nil, now), "authentication failed"},
		{"signed for another handler", sign(DefaultAPIID, DefaultAPIKey, "volume/info/", nil, now), "invalid signature"},
		{"signed without trailing slash", sign(DefaultAPIID, DefaultAPIKey, "volume/list", nil, now), "invalid signature"},
		{"nonce in the past", good(now - 3600), "nonce is too far"},
		{"nonce in the future", good(now + 3600), "nonce is too far"},
		{"missing signature", url.Values{"req": {`{}`}, "nonce": {"1"}}, "authentication failed"},
	}
	for _, tc := range cases {
		code, out := e.post(path, tc.form)
		if code != http.StatusOK || out["success"] != "no" {
			t.Errorf("%s: %d %v, want a refusal", tc.name, code, out)
			continue
		}
		if msg, _ := out["error"].(string); !strings.Contains(msg, tc.want) {
			t.Errorf("%s: error %q, want %q", tc.name, msg, tc.want)
		}
	}

	// A tampered req (signature no longer matches).
	f := good(now)
	f.Set("req", strings.Replace(f.Get("req"), "}", `,"region":"toronto"}`, 1))
	if _, out := e.post(path, f); out["success"] != "no" {
		t.Errorf("tampered req accepted: %v", out)
	}

	// Partial key must be the key's first 64 characters even with a valid HMAC.
	bad := sign(DefaultAPIID, DefaultAPIKey, "volume/list/", map[string]string{}, now)
	bad.Set("req", strings.Replace(bad.Get("req"), DefaultAPIKey[:64], DefaultAPIKey[64:], 1))
	if _, out := e.post(path, bad); out["success"] != "no" {
		t.Errorf("wrong api_partialkey accepted: %v", out)
	}

	// The same request with the same nonce is a replay; another request with
	// the same nonce is fine (clients send the time in seconds).
	first := good(now)
	if _, out := e.post(path, first); out["success"] != "yes" {
		t.Fatalf("valid request refused: %v", out)
	}
	if _, out := e.post(path, first); out["success"] != "no" || !strings.Contains(out["error"].(string), "already used") {
		t.Errorf("replay: %v", out)
	}
	other := sign(DefaultAPIID, DefaultAPIKey, "volume/list/", map[string]string{"region": "toronto"}, now)
	if _, out := e.post(path, other); out["success"] != "yes" {
		t.Errorf("different request with the same nonce refused: %v", out)
	}

	if st := e.h.Stats(); st.AuthFailures != int64(len(cases))+3 || st.Calls["volume/list"] != int64(len(cases))+5 {
		t.Errorf("stats = %+v", st)
	}
}

func TestNumbersAreNotAccepted(t *testing.T) {
	e := newEnv(t, nil)
	now := e.clock.Now().Unix()
	// Hand-built req with a JSON number for size, correctly signed.
	req := `{"api_id":"` + DefaultAPIID + `","api_partialkey":"` + DefaultAPIKey[:64] + `","label":"x","region":"toronto","size":10}`
	f := signRaw(DefaultAPIKey, "volume/create/", req, now)
	_, out := e.post("/lunanode/api/volume/create/", f)
	if out["success"] != "no" || !strings.Contains(out["error"].(string), "must be a string") {
		t.Errorf("numeric size: %v", out)
	}
}

func TestPaths(t *testing.T) {
	e := newEnv(t, nil)
	now := e.clock.Now().Unix()
	// Mounted with the prefix stripped.
	stripped := http.StripPrefix("/lunanode", e.h)
	rec := httptest.NewRecorder()
	r, _ := http.NewRequest(http.MethodPost, "/lunanode/api/volume/list/", strings.NewReader(sign(DefaultAPIID, DefaultAPIKey, "volume/list/", nil, now).Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	stripped.ServeHTTP(rec, r)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"success":"yes"`) {
		t.Errorf("stripped mount: %d %s", rec.Code, rec.Body.String())
	}
	if code, _ := e.post("/lunanode/nothing", url.Values{}); code != http.StatusNotFound {
		t.Errorf("unknown path: %d", code)
	}
	resp, err := http.Get(e.srv.URL + "/lunanode/api/volume/list/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}
	e.fails("volume/frobnicate", nil, "invalid category or action")
	e.fails("volume/create", map[string]string{"region": "toronto", "size": "1"}, "missing required parameter: label")
}
