package lunanode

import (
	"context"
	"crypto/hmac"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

const (
	testID  = "abcdefghijklmnop"
	testKey = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" +
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

// Known answer computed outside Go:
//
//	printf '%s' 'volume/info/|{...}|1545008415' | openssl dgst -sha512 -hmac "$KEY"
func TestSignatureKnownAnswer(t *testing.T) {
	req := `{"api_id":"abcdefghijklmnop","api_partialkey":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","volume_id":"4682"}`
	want := "ee1ef3ba6f2634e96e2bd9d5f5b73d016fd913ed1beb2646d6900dc34e2b3ea4c27aa4ffbf47afe292767f37e565bc9b64465ae9e527ad46ccb2538d67240f06"
	if got := signature(testKey, handlerPath("volume", "info"), req, "1545008415"); got != want {
		t.Fatalf("signature = %s, want %s", got, want)
	}
}

// recorded is one request as the test server saw it.
type recorded struct {
	path, contentType string
	form              map[string]string
	req               map[string]any
}

// signingServer checks every request's signature with its own HMAC
// computation and answers with the JSON reply() gives for the action.
func signingServer(t *testing.T, reply func(action string, req map[string]any) (int, string)) (*httptest.Server, *[]recorded) {
	t.Helper()
	var mu sync.Mutex
	var seen []recorded
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Errorf("parse form: %v", err)
		}
		rec := recorded{path: r.URL.Path, contentType: r.Header.Get("Content-Type"), form: map[string]string{}}
		for k := range r.PostForm {
			rec.form[k] = r.PostForm.Get(k)
		}
		if r.Method != http.MethodPost {
			t.Errorf("method %s, want POST", r.Method)
		}
		if err := json.Unmarshal([]byte(rec.form["req"]), &rec.req); err != nil {
			t.Errorf("req is not JSON: %v", err)
		}
		handler := strings.TrimPrefix(r.URL.Path, "/api/")
		mac := hmac.New(sha512.New, []byte(testKey))
		mac.Write([]byte(handler + "|" + rec.form["req"] + "|" + rec.form["nonce"]))
		if want := hex.EncodeToString(mac.Sum(nil)); rec.form["signature"] != want {
			t.Errorf("%s: signature %q, want %q", r.URL.Path, rec.form["signature"], want)
		}
		mu.Lock()
		seen = append(seen, rec)
		mu.Unlock()
		code, body := reply(strings.TrimSuffix(handler, "/"), rec.req)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv, &seen
}

func newTestCloud(t *testing.T, url string, mod func(*Config)) *Cloud {
	t.Helper()
	cfg := Config{APIURL: url + "/api/", APIID: testID, APIKey: testKey, RetryBackoff: time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRequestIsSignedAsDocumented(t *testing.T) {
	srv, seen := signingServer(t, func(action string, req map[string]any) (int, string) {
		return 200, `{"success":"yes","volume":{"attached":"16b64847-0a86-42ea-bea8-ed60bd960c68","created":"2018-12-17T01:00:15Z","id":"4682",
			"identification":"8b48723c-f53a-4717-9f04-fa194869db18","name":"myvolume","size":"100","status":"in-use"}}`
	})
	c := newTestCloud(t, srv.URL, nil)
	before := time.Now().Unix()
	v, err := c.GetVolume(context.Background(), "toronto/4682")
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now().Unix()

	if len(*seen) != 1 {
		t.Fatalf("%d requests, want 1", len(*seen))
	}
	r := (*seen)[0]
	if r.path != "/api/volume/info/" {
		t.Errorf("path %q, want /api/volume/info/", r.path)
	}
	if r.contentType != "application/x-www-form-urlencoded" {
		t.Errorf("content type %q", r.contentType)
	}
	if len(r.form) != 3 {
		t.Errorf("form keys %v, want exactly req, signature, nonce", r.form)
	}
	n, err := strconv.ParseInt(r.form["nonce"], 10, 64)
	if err != nil || n < before || n > after {
		t.Errorf("nonce %q is not the current unix time [%d, %d]", r.form["nonce"], before, after)
	}
	wantReq := map[string]any{"api_id": testID, "api_partialkey": testKey[:64], "volume_id": "4682", "region": "toronto"}
	if len(r.req) != len(wantReq) {
		t.Errorf("req = %v, want %v", r.req, wantReq)
	}
	for k, want := range wantReq {
		if r.req[k] != want {
			t.Errorf("req[%s] = %#v, want %#v", k, r.req[k], want)
		}
	}

	if v.ID != "toronto/4682" || v.Zone != "toronto" || v.SizeGiB != 100 || v.Name != "myvolume" {
		t.Errorf("volume = %+v", v)
	}
	if v.Serial != "8b48723c-f53a-4717-9f04-fa194869db18" || v.Status != cloud.StatusInUse || v.RawStatus != "in-use" {
		t.Errorf("serial/status = %q %q %q", v.Serial, v.Status, v.RawStatus)
	}
	if !v.AttachedTo("16b64847-0a86-42ea-bea8-ed60bd960c68") || len(v.Attachments) != 1 {
		t.Errorf("attachments = %+v", v.Attachments)
	}
	if !v.CreatedAt.Equal(time.Date(2018, 12, 17, 1, 0, 15, 0, time.UTC)) {
		t.Errorf("created = %v", v.CreatedAt)
	}
}

func TestIdenticalRequestsGetDistinctNonces(t *testing.T) {
	srv, seen := signingServer(t, func(string, map[string]any) (int, string) {
		return 200, `{"success":"yes","volumes":[]}`
	})
	frozen := time.Unix(1_700_000_000, 0)
	c := newTestCloud(t, srv.URL, func(cfg *Config) { cfg.Now = func() time.Time { return frozen } })
	for range 3 {
		if _, err := c.ListVolumes(context.Background(), cloud.ListOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	sigs := map[string]bool{}
	for _, r := range *seen {
		if sigs[r.form["signature"]] {
			t.Errorf("signature repeated for nonce %s", r.form["nonce"])
		}
		sigs[r.form["signature"]] = true
		n, _ := strconv.ParseInt(r.form["nonce"], 10, 64)
		if n < frozen.Unix() || n > frozen.Unix()+2 {
			t.Errorf("nonce %d drifted from the clock %d", n, frozen.Unix())
		}
	}
}

func TestNewValidatesCredentials(t *testing.T) {
	for name, cfg := range map[string]Config{
		"short id":   {APIID: "x", APIKey: testKey},
		"short key":  {APIID: testID, APIKey: "secret-value"},
		"bad url":    {APIID: testID, APIKey: testKey, APIURL: "ftp://x"},
		"bad region": {APIID: testID, APIKey: testKey, DefaultRegion: "mars"},
	} {
		_, err := New(cfg)
		if err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg.APIURL)
			continue
		}
		if strings.Contains(err.Error(), "secret-value") || strings.Contains(err.Error(), testKey[:20]) {
			t.Errorf("%s: error shows the key: %v", name, err)
		}
	}
	c, err := New(Config{APIID: testID, APIKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	caps := c.Capabilities()
	if caps.Expansion != cloud.ExpansionOffline || caps.Backups || caps.Clone || !caps.Snapshots ||
		caps.DefaultZone != "toronto" || len(caps.Zones) != 3 || caps.SerialLength != 20 || caps.MaxVolumesPerNode != 25 {
		t.Errorf("capabilities = %+v", caps)
	}
}
