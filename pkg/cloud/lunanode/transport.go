package lunanode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"k8s.io/klog/v2"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// maxResponse bounds what is read of a response body.
const maxResponse = 32 << 20

// envelope is the part every LunaNode response has.
type envelope struct {
	Success string `json:"success"`
	Error   string `json:"error"`
}

// read calls an action that changes nothing, retrying transient faults.
func (c *Cloud) read(ctx context.Context, category, action string, params map[string]string, out any) error {
	return c.call(ctx, category, action, params, c.retries, out)
}

// write calls an action once: whether a failed write took effect is only
// known by looking, which is the caller's (or the waiter's) business.
func (c *Cloud) write(ctx context.Context, category, action string, params map[string]string, out any) error {
	return c.call(ctx, category, action, params, 0, out)
}

func (c *Cloud) call(ctx context.Context, category, action string, params map[string]string, retries int, out any) error {
	pause := c.backoff
	refusals := 0
	for attempt := 0; ; attempt++ {
		err := c.paced(ctx, category, action, params, out)
		if err != nil && errors.Is(err, cloud.ErrRateLimited) && retryRefusal(ctx, refusals, retries, cloud.RetryAfterOf(err)) {
			// A 429 means the call was not acted on, so a write is
			// retried too; the learner paces the retry, and a wait the
			// API named holds this request back as well.
			refusals++
			attempt--
			if ra := cloud.RetryAfterOf(err); ra > 0 {
				c.obs.ObserveRateLimitWait(ra)
			}
			if !sleep(ctx, cloud.RetryAfterOf(err)) {
				return err
			}
			continue
		}
		if err == nil || attempt >= retries || !cloud.IsRetryable(err) || ctx.Err() != nil {
			return err
		}
		wait := pause
		if ra := cloud.RetryAfterOf(err); ra > wait {
			wait = ra
		}
		pause *= 2
		if !sleep(ctx, wait) {
			return err
		}
	}
}

// retryRefusal: a request with a deadline retries a rate-limit refusal
// for as long as the deadline leaves room for the wait the API named; one
// without, as often as its other faults.
func retryRefusal(ctx context.Context, refusals, retries int, wait time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	if dl, ok := ctx.Deadline(); ok {
		return time.Now().Add(wait).Before(dl)
	}
	return refusals < retries
}

// paced makes one call when the learned rate limit lets it leave, and
// tells the learner how the API took it.
func (c *Cloud) paced(ctx context.Context, category, action string, params map[string]string, out any) error {
	lc, wait, err := c.learner.Wait(ctx)
	if err != nil {
		return &cloud.Error{Kind: cloud.ErrRateLimited, RetryAfter: wait,
			Message: category + "/" + action + ": rate limit learned from the API: no call slot before the request's deadline", Cause: err}
	}
	if wait >= time.Millisecond {
		c.obs.ObserveRateLimitWait(wait)
	}
	err = c.do(ctx, category, action, params, out)
	var ce *cloud.Error
	if errors.As(err, &ce) && errors.Is(ce.Kind, cloud.ErrRateLimited) && ce.HTTPStatus == http.StatusTooManyRequests {
		c.learner.Refused(lc)
	} else if err == nil || ce != nil && ce.HTTPStatus != 0 {
		c.learner.Accepted(lc)
	}
	return err
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// nonceRetries bounds the re-signing of a request refused for its nonce:
// with the skips doubling, the last is 2^nonceRetries seconds ahead, past
// the 5 minutes a nonce may run ahead of the API's clock.
const nonceRetries = 9

// do makes one signed request and decodes the reply into out. Nonces are
// seconds, so another client with the same credentials (a controller's
// predecessor, doctor) can sign the identical request in the same second;
// the API refuses the second as a replay without acting on it, so it is
// signed again with a later nonce, writes included. A predecessor that
// sent one request several times a second ran its nonces for it ahead of
// the clock, by up to minutes: each re-signing skips twice as far.
func (c *Cloud) do(ctx context.Context, category, action string, params map[string]string, out any) error {
	var skip int64
	for attempt := 0; ; attempt++ {
		err := c.doSigned(ctx, category, action, params, out, skip)
		if attempt >= nonceRetries || !isNonceRefusal(err) {
			return err
		}
		skip = max(1, 2*skip)
	}
}

func isNonceRefusal(err error) bool {
	var ce *cloud.Error
	return errors.As(err, &ce) && errors.Is(ce.Kind, cloud.ErrUnauthorized) && strings.Contains(strings.ToLower(ce.Message), "nonce")
}

// doSigned makes one signed request and decodes the reply into out.
func (c *Cloud) doSigned(ctx context.Context, category, action string, params map[string]string, out any, skip int64) (err error) {
	handler := handlerPath(category, action)
	start := time.Now()
	defer func() {
		c.obs.ObserveRequest("lunanode", category+"/"+action, observedCode(err), time.Since(start))
		klog.FromContext(ctx).V(4).Info("lunanode call", "action", category+"/"+action, "duration", time.Since(start), "err", err)
	}()

	body := make(map[string]string, len(params)+2)
	for k, v := range params {
		body[k] = v
	}
	body["api_id"] = c.apiID
	body["api_partialkey"] = c.apiKey[:partialKeyLen]
	raw, jerr := json.Marshal(body)
	if jerr != nil {
		return &cloud.Error{Kind: cloud.ErrInvalid, Message: "encoding request", Cause: jerr}
	}
	req := string(raw)
	nonce := strconv.FormatInt(c.nonces.next(handler+"|"+req, skip), 10)
	form := url.Values{
		"req":       {req},
		"signature": {signature(c.apiKey, handler, req, nonce)},
		"nonce":     {nonce},
	}
	hreq, herr := http.NewRequestWithContext(ctx, http.MethodPost, c.url+handler, strings.NewReader(form.Encode()))
	if herr != nil {
		return &cloud.Error{Kind: cloud.ErrInvalid, Message: "building request for " + handler, Cause: herr}
	}
	hreq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hreq.Header.Set("Accept", "application/json")
	resp, herr := c.http.Do(hreq)
	if herr != nil {
		// Transport faults (refused, reset, timeout) may pass; the request
		// body, which holds the partial key, is not part of the message.
		return &cloud.Error{Kind: cloud.ErrUnavailable, Message: handler + ": " + transportMessage(herr), Cause: ctxErr(ctx, herr)}
	}
	defer resp.Body.Close()
	data, rerr := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if rerr != nil {
		return &cloud.Error{Kind: cloud.ErrUnavailable, Message: handler + ": reading response", HTTPStatus: resp.StatusCode, Cause: ctxErr(ctx, rerr)}
	}
	return decodeResponse(handler, resp, data, out)
}

func decodeResponse(handler string, resp *http.Response, data []byte, out any) error {
	var env envelope
	jsonErr := json.Unmarshal(data, &env)
	switch {
	case resp.StatusCode >= 500:
		return &cloud.Error{Kind: cloud.ErrUnavailable, Message: fmt.Sprintf("%s: HTTP %d%s", handler, resp.StatusCode, errSuffix(env.Error)), HTTPStatus: resp.StatusCode}
	case resp.StatusCode == http.StatusTooManyRequests:
		return &cloud.Error{Kind: cloud.ErrRateLimited, Message: handler + ": HTTP 429" + errSuffix(env.Error), HTTPStatus: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	case resp.StatusCode == http.StatusUnauthorized:
		return &cloud.Error{Kind: cloud.ErrUnauthorized, Message: fmt.Sprintf("%s: HTTP %d%s", handler, resp.StatusCode, errSuffix(env.Error)), HTTPStatus: resp.StatusCode}
	case resp.StatusCode == http.StatusForbidden:
		// A 403 is about credentials only when its text says so; else it
		// is a refusal of this operation (a partial API key, policy).
		kind := cloud.ErrForbidden
		if errorKind(env.Error) == cloud.ErrUnauthorized {
			kind = cloud.ErrUnauthorized
		}
		return &cloud.Error{Kind: kind, Message: fmt.Sprintf("%s: HTTP %d%s", handler, resp.StatusCode, errSuffix(env.Error)), HTTPStatus: resp.StatusCode}
	case jsonErr != nil && resp.StatusCode >= 300:
		return &cloud.Error{Kind: cloud.ErrInvalid, Message: fmt.Sprintf("%s: HTTP %d", handler, resp.StatusCode), HTTPStatus: resp.StatusCode}
	case jsonErr != nil:
		// A 2xx that is not JSON comes from something between us and the API.
		return &cloud.Error{Kind: cloud.ErrUnavailable, Message: handler + ": response is not JSON", HTTPStatus: resp.StatusCode, Cause: jsonErr}
	case env.Success != "yes":
		msg := env.Error
		if msg == "" {
			msg = "request failed without an error message"
		}
		return &cloud.Error{Kind: errorKind(msg), Message: handler + ": " + msg, HTTPStatus: resp.StatusCode}
	case resp.StatusCode >= 300:
		return &cloud.Error{Kind: cloud.ErrInvalid, Message: fmt.Sprintf("%s: HTTP %d", handler, resp.StatusCode), HTTPStatus: resp.StatusCode}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return &cloud.Error{Kind: cloud.ErrUnavailable, Message: handler + ": unexpected response shape", HTTPStatus: resp.StatusCode, Cause: err}
		}
	}
	return nil
}

// errorKind maps the API's error text onto an error kind. LunaNode reports
// every failure as {"success": "no", "error": "<text>"} without a code, so
// the text is all there is; the order of the checks matters ("volume is not
// attached" must not read as "attached").
func errorKind(msg string) error {
	m := strings.ToLower(msg)
	has := func(words ...string) bool {
		for _, w := range words {
			if strings.Contains(m, w) {
				return true
			}
		}
		return false
	}
	switch {
	case has("authentication", "signature", "nonce", "api_id", "api id", "api key", "unauthorized"):
		return cloud.ErrUnauthorized
	case has("api_partialkey", "permission denied", "not authorized", "not permitted"):
		// The key is known but may not do this.
		return cloud.ErrForbidden
	case has("not found", "does not exist", "doesn't exist", "no such", "not attached"):
		return cloud.ErrNotFound
	case has("quota", "limit", "insufficient credit", "insufficient funds", "credit"):
		return cloud.ErrQuotaExceeded
	case has("attached", "in use", "in-use", "dependent", "has snapshots", "not available", "busy", "in progress", "pending"):
		return cloud.ErrWrongState
	case has("larger than", "smaller than", "at least", "at most", "too large", "too small", "maximum size", "minimum size"):
		return cloud.ErrOutOfRange
	case has("already exists"):
		return cloud.ErrAlreadyExists
	case has("temporarily", "try again", "maintenance", "internal error"):
		return cloud.ErrUnavailable
	}
	return cloud.ErrInvalid
}

func errSuffix(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}

func retryAfter(h string) time.Duration {
	if s, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// transportMessage describes a transport error without the URL's query or
// anything of the request body.
func transportMessage(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + ": " + ue.Err.Error()
	}
	return err.Error()
}

// ctxErr prefers the context's error so callers can test for cancellation.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// observedCode is the code reported to the Observer: the HTTP status where
// one is known, cloud.CodeAPIError for a failure reported inside a 2xx
// ({"success":"no"}), 0 when no response arrived.
func observedCode(err error) int {
	if err == nil {
		return http.StatusOK
	}
	var ce *cloud.Error
	if !errors.As(err, &ce) || ce.HTTPStatus == 0 {
		return 0
	}
	if ce.HTTPStatus < 300 {
		return cloud.CodeAPIError
	}
	return ce.HTTPStatus
}
