package lunanode

import (
	"crypto/hmac"
	"crypto/sha512"
	"encoding/hex"
	"sync"
	"time"
)

// Request signing of the LunaNode Dynamic API, as documented in "API
// Overview / Technical Details" (https://www.lunanode.com/api/overview) and
// implemented by LunaNode's own clients (lndynamic-api, lndynamic.py and
// lndynamic.php, stored as github.com/promogekko/lndynamic-api; Go:
// github.com/LunaNode/cloug provider/lunanode/api/api.go):
//
//   - req: the JSON encoding of the string-to-string parameter map with two
//     keys added, api_id (16 characters) and api_partialkey (the first 64
//     characters of the 128-character API key);
//   - nonce: the current UTC time in seconds since the epoch, as a decimal
//     string;
//   - handler: "{category}/{action}/" (with the trailing slash);
//   - signature: hex(HMAC-SHA512(key = the whole API key,
//     message = handler + "|" + req + "|" + nonce));
//   - POST to {api url}/{category}/{action}/ with the form-URL-encoded keys
//     req, signature and nonce.
const (
	apiIDLen      = 16
	apiKeyLen     = 128
	partialKeyLen = 64
)

// handlerPath is the handler string that is both signed and the URL suffix.
func handlerPath(category, action string) string {
	return category + "/" + action + "/"
}

// signature is hex(HMAC-SHA512(apiKey, handler|req|nonce)).
func signature(apiKey, handler, req, nonce string) string {
	m := hmac.New(sha512.New, []byte(apiKey))
	m.Write([]byte(handler + "|" + req + "|" + nonce))
	return hex.EncodeToString(m.Sum(nil))
}

// nonceSource hands out the nonce (UTC seconds) for a request. Two identical
// requests signed in the same second would carry the same signature, which
// a server that refuses replays rejects; so an identical request gets the
// next second instead. Only repeats of the very same request are pushed
// ahead, so nonces stay within seconds of the clock under any load.
type nonceSource struct {
	now func() time.Time

	mu   sync.Mutex
	last map[string]int64 // handler|req -> last nonce used for it
}

func newNonceSource(now func() time.Time) *nonceSource {
	return &nonceSource{now: now, last: map[string]int64{}}
}

// next returns the nonce for the request identified by key (handler|req),
// skip seconds past the next free one.
func (n *nonceSource) next(key string, skip int64) int64 {
	t := n.now().Unix()
	n.mu.Lock()
	defer n.mu.Unlock()
	if l, ok := n.last[key]; ok && t <= l {
		t = l + 1
	}
	t += skip
	n.last[key] = t
	if len(n.last) > 512 {
		// Entries more than a minute behind the clock can no longer collide.
		cut := n.now().Unix() - 60
		for k, v := range n.last {
			if v < cut {
				delete(n.last, k)
			}
		}
	}
	return t
}
