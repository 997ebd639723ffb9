package cloudsim_test

import (
	"crypto/hmac"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloudsim"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/lunanode"
	"github.com/openblock-csi/openblock-csi/pkg/cloudsim/simtest"
)

// lunanodeCall signs a request the way LunaNode documents it.
func lunanodeCall(t *testing.T, base, handler string, p map[string]string) map[string]any {
	t.Helper()
	m := map[string]string{"api_id": lunanode.DefaultAPIID, "api_partialkey": lunanode.DefaultAPIKey[:64]}
	for k, v := range p {
		m[k] = v
	}
	req, _ := json.Marshal(m)
	nonce := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha512.New, []byte(lunanode.DefaultAPIKey))
	mac.Write([]byte(handler + "|" + string(req) + "|" + nonce))
	resp, err := http.PostForm(base+"/lunanode/api/"+handler, url.Values{
		"req": {string(req)}, "signature": {hex.EncodeToString(mac.Sum(nil))}, "nonce": {nonce}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLunanodeMounted(t *testing.T) {
	sim, base := simtest.Start(t, cloudsim.Config{})
	out := lunanodeCall(t, base, "volume/create/", map[string]string{"region": "toronto", "label": "ln", "size": "5"})
	if out["success"] != "yes" {
		t.Fatalf("volume/create: %v", out)
	}
	out = lunanodeCall(t, base, "volume/list/", map[string]string{"region": "toronto"})
	if out["success"] != "yes" {
		t.Fatalf("volume/list: %v", out)
	}
	if n := sim.Stats().ByFace[cloudsim.FaceLunanode]; n != 2 {
		t.Fatalf("lunanode calls counted: %d", n)
	}
}
