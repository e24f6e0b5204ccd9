package customresource

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"
)

// Backoff between tries at the response PUT: exponential from
// retryBaseDelay, capped at retryMaxDelay, with jitter.
const (
	retryBaseDelay = 250 * time.Millisecond
	retryMaxDelay  = 4 * time.Second
)

// send PUTs body to the pre-signed URL, trying again on network errors,
// timeouts, 5xx, 429 and S3's request-timeout errors, until it succeeds,
// MaxSendAttempts is reached or the invocation's deadline would pass. It
// returns the number of tries and the last error. It never runs the
// handler again.
//
// The tries are bounded by ctx's deadline but not by its cancellation: an
// answer is worth sending until the function is stopped.
func (r *Runtime) send(ctx context.Context, rawURL string, body []byte) (int, error) {
	sctx := context.WithoutCancel(ctx)
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		sctx, cancel = context.WithDeadline(sctx, dl)
		defer cancel()
	}

	maxAttempts := r.MaxSendAttempts
	if maxAttempts <= 0 {
		maxAttempts = DefaultMaxSendAttempts
	}
	for attempt := 1; ; attempt++ {
		retry, err := r.put(sctx, rawURL, body)
		if err == nil || !retry || attempt >= maxAttempts {
			return attempt, err
		}
		wait := r.backoff(attempt)
		if dl, ok := sctx.Deadline(); ok && time.Until(dl) < wait {
			return attempt, fmt.Errorf("%w (no time left to try again)", err)
		}
		t := time.NewTimer(wait)
		select {
		case <-sctx.Done():
			t.Stop()
			return attempt, fmt.Errorf("%w (no time left to try again)", err)
		case <-t.C:
		}
	}
}

// put makes one try at the response PUT and says whether a failure is
// worth another try.
//
// The request carries the body with an exact Content-Length (S3 refuses a
// chunked PUT) and no Content-Type: CloudFormation pre-signs the URL without
// one, and a signature that covers the content type (query-string SigV2)
// fails when a value is sent. Go's client adds neither header on its own.
func (r *Runtime) put(ctx context.Context, rawURL string, body []byte) (retry bool, err error) {
	timeout := r.SendTimeout
	if timeout <= 0 {
		timeout = DefaultSendTimeout
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	req, err := http.NewRequestWithContext(actx, http.MethodPut, rawURL, bytes.NewReader(body))
	if err != nil {
		// The error would repeat the URL, a bearer credential.
		return false, errors.New("put response: ResponseURL is not a valid URL")
	}
	client := r.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		// The parent context ends only at the deadline: then no try is
		// left. A try's own timeout is worth another try.
		return ctx.Err() == nil, fmt.Errorf("put response: %w", withoutURL(err))
	}
	defer resp.Body.Close()
	// Read a little of the body so the connection can be reused, and for
	// S3's error code.
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return false, nil
	}
	code := s3ErrorCode(msg)
	err = fmt.Errorf("put response: HTTP %d", resp.StatusCode)
	if code != "" {
		err = fmt.Errorf("put response: HTTP %d %s", resp.StatusCode, code)
	}
	switch {
	case resp.StatusCode >= 500, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout:
		return true, err
	case code == "RequestTimeout" || code == "SlowDown":
		// S3 reports an upload it gave up waiting for as 400 RequestTimeout.
		return true, err
	}
	return false, err
}

// withoutURL drops the *url.Error wrapper the client puts around every
// error: its text repeats the URL, which must never reach a log.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// s3ErrorCode returns the Code of an S3 XML error body, or "" if there is
// none. Only the code is kept: the rest of an S3 error can echo the
// request, signature included.
func s3ErrorCode(body []byte) string {
	var e struct {
		Code string `xml:"Code"`
	}
	if xml.Unmarshal(body, &e) != nil {
		return ""
	}
	if len(e.Code) > 64 {
		return ""
	}
	for _, r := range e.Code {
		if !isCodeRune(r) {
			return ""
		}
	}
	return e.Code
}

// isCodeRune reports whether r may appear in an S3 error code, such as
// "AccessDenied" or "XAmzContentSHA256Mismatch".
func isCodeRune(r rune) bool {
	return r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.'
}

// backoff is the wait before try attempt+1.
func (r *Runtime) backoff(attempt int) time.Duration {
	if r.retryDelay != nil {
		return r.retryDelay(attempt)
	}
	return jitteredBackoff(attempt)
}

// jitteredBackoff doubles from retryBaseDelay up to retryMaxDelay and picks
// a wait between half and all of that ("equal jitter"), so that
// invocations failing together do not retry together, yet always wait.
func jitteredBackoff(attempt int) time.Duration {
	attempt = max(attempt, 1)
	d := retryMaxDelay
	if attempt < 8 {
		d = min(retryBaseDelay<<(attempt-1), retryMaxDelay)
	}
	return d/2 + rand.N(d/2+1) //nolint:gosec // G404: jitter spreads retries out; it needs no unpredictability.
}
