package lunanode

import (
	"crypto/hmac"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"
)

// authenticate checks a request as LunaNode documents it
// (https://www.lunanode.com/api/overview): req is a JSON object of strings
// holding api_id and api_partialkey (the key's first 64 characters); the
// signature is hex(HMAC-SHA512(api key, handler|req|nonce)) with handler
// "{category}/{action}/"; the nonce is UTC seconds. It returns the
// parameters without the two credential keys.
func (h *Handler) authenticate(handler, req, sig, nonce string) (params, error) {
	if req == "" || sig == "" || nonce == "" {
		return nil, apiError("authentication failed: req, signature and nonce are required")
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(req), &raw); err != nil {
		return nil, apiError("invalid request: req is not a JSON object")
	}
	p := params{}
	for k, v := range raw {
		s, ok := v.(string)
		if !ok {
			return nil, errorf("invalid request: parameter %s must be a string", k)
		}
		p[k] = s
	}
	id := p["api_id"]
	key, ok := h.creds[id]
	if !ok {
		return nil, apiError("authentication failed: invalid API ID or key")
	}
	if subtle.ConstantTimeCompare([]byte(p["api_partialkey"]), []byte(key[:64])) != 1 {
		return nil, apiError("authentication failed: invalid API ID or key")
	}
	m := hmac.New(sha512.New, []byte(key))
	m.Write([]byte(handler + "|" + req + "|" + nonce))
	want := hex.EncodeToString(m.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return nil, apiError("authentication failed: invalid signature")
	}
	n, err := strconv.ParseInt(nonce, 10, 64)
	if err != nil {
		return nil, apiError("authentication failed: invalid nonce")
	}
	now := h.cfg.Now().Unix()
	window := int64(h.cfg.NonceWindow / time.Second)
	if n < now-window || n > now+window {
		return nil, apiError("authentication failed: nonce is too far from the current time")
	}
	if err := h.checkReplay(id+"|"+sig, n, now-window); err != nil {
		return nil, err
	}
	delete(p, "api_id")
	delete(p, "api_partialkey")
	return p, nil
}

// checkReplay refuses a signature seen before: the same request with the
// same nonce. Entries older than the window cannot pass the time check any
// more and are dropped.
func (h *Handler) checkReplay(key string, nonce, oldest int64) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, dup := h.seen[key]; dup {
		return apiError("authentication failed: nonce was already used for this request")
	}
	h.seen[key] = nonce
	if len(h.seen) > 4096 && h.prunedAt != oldest {
		h.prunedAt = oldest // at most one sweep a second
		for k, n := range h.seen {
			if n < oldest {
				delete(h.seen, k)
			}
		}
	}
	return nil
}
