package hygiene

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
)

// window is the length of the secret fragments searched for: a secret
// leaks even when only part of it is shown (a truncated line, a partial
// key).
const window = 12

func randHex(n int) string {
	b := make([]byte, (n+1)/2)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)[:n]
}

// vault holds the secrets of one run. Each has a random part; any window
// of it found in the output is a leak.
type vault struct {
	mu      sync.Mutex
	secrets map[string]string // name -> value
	random  map[string]string // name -> the random part to search for
}

func newVault() *vault { return &vault{secrets: map[string]string{}, random: map[string]string{}} }

// add registers a secret: prefix + random hex, n characters in all.
func (v *vault) add(name, prefix string, n int) string {
	r := randHex(n - len(prefix))
	v.mu.Lock()
	defer v.mu.Unlock()
	v.secrets[name] = prefix + r
	v.random[name] = r
	return prefix + r
}

// addValue registers a secret whose whole value is searched for (tokens).
func (v *vault) addValue(name, value string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.secrets[name] = value
	v.random[name] = value
}

func (v *vault) names() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []string
	for n := range v.secrets {
		out = append(out, n)
	}
	return out
}

// tokenFormat is what the simulator's Keystone tokens look like
// ("sim" + base64url payload + "." + base64url HMAC).
var tokenFormat = regexp.MustCompile(`sim[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}`)

// leaks lists every secret (or fragment) found in text, with context.
func (v *vault) leaks(where, text string) []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []string
	for name, r := range v.random {
		for i := 0; i+window <= len(r); i++ {
			if j := strings.Index(text, r[i:i+window]); j >= 0 {
				out = append(out, fmt.Sprintf("%s: %s shown: %q", where, name, around(text, j)))
				break
			}
		}
	}
	if m := tokenFormat.FindStringIndex(text); m != nil {
		out = append(out, fmt.Sprintf("%s: a Keystone token shown: %q", where, around(text, m[0])))
	}
	return out
}

func around(text string, at int) string {
	start, end := max(at-80, 0), min(at+80, len(text))
	return text[start:end]
}

// tokenCatcher sits in front of the simulator and records every Keystone
// token it hands out (v3 X-Subject-Token, v2 access.token.id).
type tokenCatcher struct {
	v    *vault
	next http.Handler
	n    int
	mu   sync.Mutex
}

func (c *tokenCatcher) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/identity/") || r.Method != http.MethodPost {
		c.next.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	c.next.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	if tok := rec.Header().Get("X-Subject-Token"); tok != "" {
		c.record(tok)
	}
	var v2 struct {
		Access struct {
			Token struct {
				ID string `json:"id"`
			} `json:"token"`
		} `json:"access"`
	}
	if json.Unmarshal(body, &v2) == nil && v2.Access.Token.ID != "" {
		c.record(v2.Access.Token.ID)
	}
	for k, vals := range rec.Header() {
		w.Header()[k] = vals
	}
	w.WriteHeader(rec.Code)
	_, _ = io.Copy(w, bytes.NewReader(body))
}

func (c *tokenCatcher) record(tok string) {
	c.mu.Lock()
	c.n++
	n := c.n
	c.mu.Unlock()
	c.v.addValue(fmt.Sprintf("keystone token #%d", n), tok)
}

func (c *tokenCatcher) issued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}
