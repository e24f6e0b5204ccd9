package callback

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Sender defaults.
const (
	DefaultAttemptTimeout = 15 * time.Second
	DefaultMaxAttempts    = 8
	DefaultBaseDelay      = time.Second
	DefaultMaxDelay       = 30 * time.Second
	DefaultMaxRetryAfter  = 5 * time.Minute
)

// SenderConfig configures NewSender.
type SenderConfig struct {
	// Signer signs every attempt.
	Signer *Signer
	// AttemptTimeout bounds one attempt; zero means DefaultAttemptTimeout.
	AttemptTimeout time.Duration
	// MaxAttempts bounds the attempts; zero means DefaultMaxAttempts. The
	// caller's ctx deadline bounds them too.
	MaxAttempts int
	// BaseDelay and MaxDelay shape the backoff: before attempt n+1 the
	// sender waits a random time up to min(MaxDelay, BaseDelay*2^(n-1))
	// ("full jitter"), or what Retry-After asks, up to MaxRetryAfter.
	// Zero means the defaults.
	BaseDelay, MaxDelay, MaxRetryAfter time.Duration
	// AllowLoopback permits loopback addresses, and plain http to a
	// loopback IP literal: for tests and the local demo only.
	AllowLoopback bool
	// TLSConfig is the TLS client configuration; nil means the system's
	// roots.
	TLSConfig *tls.Config
	// Resolver looks up callback hosts; nil means net.DefaultResolver.
	Resolver Resolver
	// Logger receives one line per failed attempt and one per outcome;
	// nil means slog.Default(). Secrets, signatures and proofs are never
	// logged, nor the URL beyond its host.
	Logger *slog.Logger
	// Now, Sleep and Jitter make delivery deterministic in tests. Nil
	// means time.Now, a timer that ctx can cut short, and a uniformly
	// random duration in [0, limit].
	Now    func() time.Time
	Sleep  func(ctx context.Context, d time.Duration) error
	Jitter func(limit time.Duration) time.Duration
}

// Sender delivers callbacks. It is safe for concurrent use.
type Sender struct {
	signer        *Signer
	client        *http.Client
	attemptTO     time.Duration
	maxAttempts   int
	base, cap     time.Duration
	maxRetryAfter time.Duration
	allowLoopback bool
	log           *slog.Logger
	now           func() time.Time
	sleep         func(context.Context, time.Duration) error
	jitter        func(time.Duration) time.Duration
}

// Result says how a delivery went.
type Result struct {
	// Delivered is true once the receiver answered 2xx.
	Delivered bool
	// Attempts is the number of requests sent (or tried).
	Attempts int
	// StatusCode is the last attempt's HTTP status; 0 if it got no answer.
	StatusCode int
	// LastErr is the last attempt's failure; nil if it succeeded.
	LastErr error
	// Duration runs from the call to Deliver to its return.
	Duration time.Duration
}

// NewSender checks cfg and returns a Sender.
func NewSender(cfg SenderConfig) (*Sender, error) {
	if cfg.Signer == nil {
		return nil, errors.New("callback sender: no signer")
	}
	s := &Sender{
		signer:        cfg.Signer,
		attemptTO:     cmp.Or(cfg.AttemptTimeout, DefaultAttemptTimeout),
		maxAttempts:   cmp.Or(cfg.MaxAttempts, DefaultMaxAttempts),
		base:          cmp.Or(cfg.BaseDelay, DefaultBaseDelay),
		cap:           cmp.Or(cfg.MaxDelay, DefaultMaxDelay),
		maxRetryAfter: cmp.Or(cfg.MaxRetryAfter, DefaultMaxRetryAfter),
		allowLoopback: cfg.AllowLoopback,
		log:           cmp.Or(cfg.Logger, slog.Default()),
		now:           orNow(cfg.Now),
		sleep:         cfg.Sleep,
		jitter:        cfg.Jitter,
	}
	if s.sleep == nil {
		s.sleep = sleepContext
	}
	if s.jitter == nil {
		s.jitter = fullJitter
	}
	dialer := newSafeDialer(addressPolicy{allowLoopback: cfg.AllowLoopback}, cfg.Resolver)
	s.client = &http.Client{
		Transport: &http.Transport{
			// No proxy: a proxy would connect on the sender's behalf,
			// past the address checks.
			Proxy:                 nil,
			DialContext:           dialer.DialContext,
			TLSClientConfig:       cfg.TLSConfig,
			ForceAttemptHTTP2:     true,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: s.attemptTO,
			MaxIdleConns:          4,
			IdleConnTimeout:       30 * time.Second,
		},
		// Standard Webhooks: a redirect is a failure; the URL should be
		// fixed instead.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return s, nil
}

// Deliver POSTs p to rawURL until the receiver answers 2xx. p.SentAt is
// set to now if zero; p is validated and marshalled once, and every attempt
// is signed afresh (new timestamp, new proof) under the same webhook-id,
// p.ID. It retries on network errors, 408, 429 and 5xx, with exponential
// backoff and full jitter or as Retry-After asks; it never retries another
// status, and never starts an attempt it would have to start after ctx's
// deadline. The error is nil exactly when Result.Delivered is true.
func (s *Sender) Deliver(ctx context.Context, rawURL string, p Payload) (Result, error) {
	start := s.now()
	res := Result{}
	done := func(err error) (Result, error) {
		res.Duration = s.now().Sub(start)
		if err != nil {
			s.log.Warn("callback not delivered", "webhookId", p.ID, "event", p.Event, "attempts", res.Attempts, "status", res.StatusCode, "err", err)
		} else {
			s.log.Info("callback delivered", "webhookId", p.ID, "event", p.Event, "attempts", res.Attempts, "status", res.StatusCode)
		}
		return res, err
	}
	u, err := s.checkURL(rawURL)
	if err != nil {
		return done(err)
	}
	if p.SentAt.IsZero() {
		p.SentAt = start
	}
	body, err := p.Marshal()
	if err != nil {
		return done(fmt.Errorf("callback %s: %w", p.ID, err))
	}
	for {
		res.Attempts++
		status, retryAfter, err := s.attempt(ctx, u, p.ID, body)
		res.StatusCode, res.LastErr = status, err
		if err == nil {
			res.Delivered = true
			return done(nil)
		}
		if !retryable(ctx, status, err) {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				err = fmt.Errorf("%w: %w", ErrDeadline, err)
			}
			return done(err)
		}
		if res.Attempts >= s.maxAttempts {
			return done(fmt.Errorf("%w after %d attempts: %w", ErrAttempts, res.Attempts, err))
		}
		wait := s.backoff(res.Attempts, retryAfter)
		if deadline, ok := ctx.Deadline(); ok {
			if left := deadline.Sub(s.now()); left < wait {
				return done(fmt.Errorf("%w: next attempt due in %s, %s left before the deadline: %w", ErrDeadline, wait.Round(time.Millisecond), max(left, 0).Round(time.Millisecond), err))
			}
		}
		s.log.Warn("callback attempt failed", "webhookId", p.ID, "host", u.Host, "attempt", res.Attempts, "status", status, "err", err, "retryIn", wait)
		if serr := s.sleep(ctx, wait); serr != nil {
			return done(fmt.Errorf("%w: %w (last attempt: %w)", ErrDeadline, serr, err))
		}
	}
}

// checkURL allows https anywhere (addresses are checked when dialling), and
// plain http only to a loopback IP literal with AllowLoopback.
func (s *Sender) checkURL(rawURL string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot parse it", ErrDestination)
	}
	if u.Host == "" || u.User != nil || u.Opaque != "" {
		return nil, fmt.Errorf("%w: %s://%s needs a host and no user info", ErrDestination, u.Scheme, u.Host)
	}
	switch u.Scheme {
	case "https":
		return u, nil
	case "http":
		a, err := netip.ParseAddr(u.Hostname())
		if s.allowLoopback && err == nil && a.Unmap().IsLoopback() {
			return u, nil
		}
		return nil, fmt.Errorf("%w: plain http to %s; use https (http is allowed only to a loopback address, in tests)", ErrDestination, u.Hostname())
	default:
		return nil, fmt.Errorf("%w: scheme %q; use https", ErrDestination, u.Scheme)
	}
}

// attempt sends one signed request. It returns the status (0 if none),
// the Retry-After delay asked for (-1 if none), and nil for a 2xx.
func (s *Sender) attempt(ctx context.Context, u *url.URL, id string, body []byte) (int, time.Duration, error) {
	h, err := s.signer.Sign(ctx, id, body)
	if err != nil {
		return 0, -1, permanentError{err}
	}
	actx, cancel := context.WithTimeout(ctx, s.attemptTO)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return 0, -1, fmt.Errorf("%w: %v", ErrDestination, err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "rolecall-callback/"+Version)
	resp, err := s.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may carry more than the host
		}
		return 0, -1, fmt.Errorf("POST to %s: %w", u.Host, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp.StatusCode, -1, nil
	}
	retryAfter := parseRetryAfter(resp.Header.Get("Retry-After"), s.now())
	msg := fmt.Sprintf("HTTP %d from %s", resp.StatusCode, u.Host)
	if t := oneLine(snippet); t != "" {
		msg += ": " + t
	}
	if isRetryableStatus(resp.StatusCode) {
		return resp.StatusCode, retryAfter, errors.New(msg)
	}
	return resp.StatusCode, retryAfter, fmt.Errorf("%w: %s", ErrRejected, msg)
}

func isRetryableStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
}

// retryable reports whether a failed attempt is worth another.
func retryable(ctx context.Context, status int, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if status != 0 {
		return isRetryableStatus(status)
	}
	var certErr *tls.CertificateVerificationError
	var perm permanentError
	switch {
	case errors.Is(err, ErrForbiddenAddress), errors.Is(err, ErrDestination),
		errors.As(err, &certErr), errors.As(err, &perm):
		return false
	}
	return true
}

// permanentError marks a failure that another attempt would repeat, such
// as a failure to sign.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// backoff returns the wait before attempt n+1: Retry-After if the
// receiver asked (capped), else full jitter over the exponential step.
func (s *Sender) backoff(n int, retryAfter time.Duration) time.Duration {
	if retryAfter >= 0 {
		return min(retryAfter, s.maxRetryAfter)
	}
	step := s.cap
	if n-1 < 30 {
		step = min(s.cap, s.base<<(n-1))
	}
	return max(0, min(step, s.jitter(step)))
}

// parseRetryAfter reads Retry-After: delay seconds or an HTTP date. It
// returns -1 if absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return -1
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return -1
		}
		return time.Duration(min(secs, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return -1
}

func fullJitter(limit time.Duration) time.Duration {
	if limit <= 0 {
		return 0
	}
	return rand.N(limit + 1) //nolint:gosec // G404: jitter spreads retries, it guards nothing
}

func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// oneLine returns the start of a response body as one short line.
func oneLine(b []byte) string {
	s := strings.Join(strings.Fields(string(bytes.ToValidUTF8(b, nil))), " ")
	return clip(s, 200)
}
