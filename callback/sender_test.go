package callback

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a receiver that answers from a script, then 204, and keeps
// the headers of every request.
type recorder struct {
	mu      sync.Mutex
	headers []http.Header
	bodies  [][]byte
	script  []func(w http.ResponseWriter, r *http.Request)
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body := new(bytes.Buffer)
	_, _ = body.ReadFrom(r.Body)
	rc.mu.Lock()
	n := len(rc.headers)
	rc.headers = append(rc.headers, r.Header.Clone())
	rc.bodies = append(rc.bodies, body.Bytes())
	var step func(http.ResponseWriter, *http.Request)
	if n < len(rc.script) {
		step = rc.script[n]
	}
	rc.mu.Unlock()
	if step == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	step(w, r)
}

func (rc *recorder) requests() ([]http.Header, [][]byte) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.headers), slices.Clone(rc.bodies)
}

func status(code int, header ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		fmt.Fprintf(w, "status %d from the test receiver", code)
	}
}

// reset closes the connection with a TCP RST before answering.
func reset(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	conn.Close()
}

// testSender returns a sender on a fake clock whose sleeps advance the
// clock and are recorded, and whose jitter is the full step.
func testSender(t *testing.T, edit func(*SenderConfig)) (*Sender, *fakeClock, *[]time.Duration, *bytes.Buffer) {
	t.Helper()
	clock := &fakeClock{t: testTime}
	var waits []time.Duration
	logs := &bytes.Buffer{}
	cfg := SenderConfig{
		Signer:        newTestSigner(t, clock.Now),
		AllowLoopback: true,
		Now:           clock.Now,
		Sleep: func(_ context.Context, d time.Duration) error {
			waits = append(waits, d)
			clock.t = clock.t.Add(d)
			return nil
		},
		Jitter: func(limit time.Duration) time.Duration { return limit },
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
	}
	if edit != nil {
		edit(&cfg)
	}
	s, err := NewSender(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, clock, &waits, logs
}

func TestDeliverRetriesTransientFailures(t *testing.T) {
	tests := []struct {
		name      string
		script    []func(http.ResponseWriter, *http.Request)
		wantWaits []time.Duration
	}{
		{"503 twice", []func(http.ResponseWriter, *http.Request){status(503), status(503)}, []time.Duration{time.Second, 2 * time.Second}},
		{"429 with Retry-After in seconds", []func(http.ResponseWriter, *http.Request){status(429, "Retry-After", "7")}, []time.Duration{7 * time.Second}},
		{"503 with Retry-After as an HTTP date", []func(http.ResponseWriter, *http.Request){
			status(503, "Retry-After", testTime.Add(12*time.Second).Format(http.TimeFormat)),
		}, []time.Duration{12 * time.Second}},
		{"408", []func(http.ResponseWriter, *http.Request){status(408)}, []time.Duration{time.Second}},
		{"connection reset three times", []func(http.ResponseWriter, *http.Request){reset, reset, reset}, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}},
		{"backoff capped at MaxDelay", []func(http.ResponseWriter, *http.Request){status(500), status(502), status(504), status(500), status(503), status(503), status(500)},
			[]time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := &recorder{script: tt.script}
			srv := httptest.NewServer(rc)
			defer srv.Close()
			s, clock, waits, _ := testSender(t, nil)
			p := testPayload(EventOnboardingCreated, 2)

			res, err := s.Deliver(t.Context(), srv.URL+"/hooks/rolecall", p)
			if err != nil {
				t.Fatalf("Deliver: %v (result %+v)", err, res)
			}
			want := len(tt.script) + 1
			if !res.Delivered || res.Attempts != want || res.StatusCode != 204 || res.LastErr != nil {
				t.Errorf("result %+v, want delivered in %d attempts with 204", res, want)
			}
			if !slices.Equal(*waits, tt.wantWaits) {
				t.Errorf("waits %v, want %v", *waits, tt.wantWaits)
			}
			if got, want := res.Duration, clock.t.Sub(testTime); got != want {
				t.Errorf("duration %s, want %s (the fake clock's advance)", got, want)
			}
			headers, bodies := rc.requests()
			if len(headers) != want {
				t.Fatalf("receiver saw %d requests, want %d", len(headers), want)
			}
			stamps := map[string]bool{}
			for i, h := range headers {
				if h.Get(HeaderID) != p.ID {
					t.Errorf("attempt %d: webhook-id %q, want %q", i+1, h.Get(HeaderID), p.ID)
				}
				stamps[h.Get(HeaderTimestamp)] = true
				if !bytes.Equal(bodies[i], bodies[0]) {
					t.Errorf("attempt %d sent another body", i+1)
				}
			}
			if len(stamps) != len(tt.wantWaits)+1 {
				t.Errorf("%d distinct timestamps over %d attempts: each attempt must be signed afresh", len(stamps), want)
			}
			// The last attempt, signed after the waits, verifies then.
			v := newTestVerifier(t, clock.Now, fakeSTS(testMgmt, nil))
			if _, err := v.Verify(t.Context(), headers[want-1], bodies[want-1]); err != nil {
				t.Errorf("the delivered attempt does not verify: %v", err)
			}
		})
	}
}

func TestDeliverDoesNotRetryRejections(t *testing.T) {
	for _, code := range []int{400, 401, 404, 409, 410, 413, 301} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			rc := &recorder{script: []func(http.ResponseWriter, *http.Request){status(code, "Location", "https://elsewhere.example/")}}
			srv := httptest.NewServer(rc)
			defer srv.Close()
			s, _, waits, _ := testSender(t, nil)
			res, err := s.Deliver(t.Context(), srv.URL, testPayload(EventOnboardingCreated, 1))
			if !errors.Is(err, ErrRejected) {
				t.Fatalf("Deliver: %v, want ErrRejected", err)
			}
			if res.Delivered || res.Attempts != 1 || res.StatusCode != code || len(*waits) != 0 {
				t.Errorf("result %+v after %d waits, want one attempt answered %d", res, len(*waits), code)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("status %d from the test receiver", code)) {
				t.Errorf("error %q does not carry the receiver's answer", err)
			}
		})
	}
}

func TestDeliverGivesUpAfterMaxAttempts(t *testing.T) {
	rc := &recorder{script: slices.Repeat([]func(http.ResponseWriter, *http.Request){status(503)}, 10)}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	s, _, _, _ := testSender(t, func(c *SenderConfig) { c.MaxAttempts = 3 })
	res, err := s.Deliver(t.Context(), srv.URL, testPayload(EventOnboardingCreated, 1))
	if !errors.Is(err, ErrAttempts) || res.Attempts != 3 || res.StatusCode != 503 || res.LastErr == nil {
		t.Errorf("Deliver: %v, %+v; want ErrAttempts after 3 attempts, last 503", err, res)
	}
}

func TestDeliverStopsBeforeTheDeadline(t *testing.T) {
	tests := []struct {
		name   string
		script func(http.ResponseWriter, *http.Request)
		edit   func(*SenderConfig)
	}{
		{"backoff longer than the time left", status(503), func(c *SenderConfig) { c.BaseDelay, c.MaxDelay = time.Hour, 2*time.Hour }},
		{"Retry-After longer than the time left", status(429, "Retry-After", "3600"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := &recorder{script: slices.Repeat([]func(http.ResponseWriter, *http.Request){tt.script}, 10)}
			srv := httptest.NewServer(rc)
			defer srv.Close()
			// The deadline is on the real clock, so the sender is too.
			slept := false
			s, _, _, _ := testSender(t, func(c *SenderConfig) {
				c.Now = time.Now
				c.Signer = newTestSigner(t, time.Now)
				c.Sleep = func(context.Context, time.Duration) error { slept = true; return nil }
				if tt.edit != nil {
					tt.edit(c)
				}
			})
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			res, err := s.Deliver(ctx, srv.URL, testPayload(EventOnboardingCreated, 1))
			if !errors.Is(err, ErrDeadline) {
				t.Fatalf("Deliver: %v, want ErrDeadline", err)
			}
			if slept || res.Attempts != 1 {
				t.Errorf("slept %v, %d attempts; want no sleep past the deadline and one attempt", slept, res.Attempts)
			}
			if !strings.Contains(err.Error(), "left before the deadline") || !strings.Contains(err.Error(), "HTTP") {
				t.Errorf("error %q should say why it stopped and what the last attempt got", err)
			}
		})
	}
}

// fakeResolver answers from a table.
type fakeResolver map[string][]string

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, s := range f[host] {
		out = append(out, netip.MustParseAddr(s))
	}
	if out == nil {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return out, nil
}

func TestDeliverRefusesForbiddenDestinations(t *testing.T) {
	resolver := fakeResolver{
		"metadata.example":  {"169.254.169.254"},
		"mixed.example":     {"203.0.113.10", "169.254.169.254"},
		"ecs-creds.example": {"169.254.170.2"},
		"ipv6-imds.example": {"fd00:ec2::254"},
		"nat64.example":     {"64:ff9b::a9fe:a9fe"},
		"zero.example":      {"0.0.0.0"},
		"local.example":     {"127.0.0.1"},
	}
	tests := []struct {
		name          string
		url           string
		allowLoopback bool
		want          error
	}{
		{"http to a public host", "http://hooks.vendor.example/cb", true, ErrDestination},
		{"http to loopback without the option", "http://127.0.0.1:9/cb", false, ErrDestination},
		{"http to localhost by name", "http://localhost:9/cb", true, ErrDestination},
		{"another scheme", "ftp://hooks.vendor.example/cb", true, ErrDestination},
		{"user info in the URL", "https://user:pass@hooks.vendor.example/cb", true, ErrDestination},
		{"host resolving to the metadata service", "https://metadata.example/cb", false, ErrForbiddenAddress},
		{"host resolving to a public and a metadata address", "https://mixed.example/cb", false, ErrForbiddenAddress},
		{"host resolving to the ECS credentials endpoint", "https://ecs-creds.example/cb", false, ErrForbiddenAddress},
		{"host resolving to the IPv6 metadata service", "https://ipv6-imds.example/cb", false, ErrForbiddenAddress},
		{"host resolving to the metadata service through NAT64", "https://nat64.example/cb", false, ErrForbiddenAddress},
		{"host resolving to the unspecified address", "https://zero.example/cb", false, ErrForbiddenAddress},
		{"host resolving to loopback without the option", "https://local.example/cb", false, ErrForbiddenAddress},
		{"metadata IP literal", "https://169.254.169.254/latest/meta-data/", true, ErrForbiddenAddress},
		{"IPv4-mapped metadata literal", "https://[::ffff:169.254.169.254]/", true, ErrForbiddenAddress},
		{"link-local IPv6 literal", "https://[fe80::1]/", true, ErrForbiddenAddress},
		{"multicast literal", "https://224.0.0.1/", true, ErrForbiddenAddress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, waits, _ := testSender(t, func(c *SenderConfig) {
				c.AllowLoopback = tt.allowLoopback
				c.Resolver = resolver
			})
			res, err := s.Deliver(t.Context(), tt.url, testPayload(EventOnboardingCreated, 1))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Deliver: %v, want %v", err, tt.want)
			}
			if res.Delivered || res.Attempts > 1 || len(*waits) > 0 {
				t.Errorf("result %+v after %d waits: a refused destination is never retried", res, len(*waits))
			}
		})
	}
}

// The dialer's last check runs on the very address a socket connects to,
// whatever resolved it.
func TestDialerControlRechecksTheConnectedAddress(t *testing.T) {
	d := newSafeDialer(addressPolicy{}, fakeResolver{})
	for _, addr := range []string{"169.254.169.254:80", "[fd00:ec2::254]:80", "127.0.0.1:9001", "0.0.0.0:443"} {
		if err := d.control("tcp", addr, nil); !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("control(%s) = %v, want ErrForbiddenAddress", addr, err)
		}
	}
	if err := d.control("tcp", "203.0.113.10:443", nil); err != nil {
		t.Errorf("control(public address) = %v", err)
	}
}

func TestDeliverOverTLS(t *testing.T) {
	rc := &recorder{}
	srv := httptest.NewUnstartedServer(rc)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	srv.StartTLS()
	defer srv.Close()

	t.Run("trusted certificate", func(t *testing.T) {
		s, _, _, _ := testSender(t, func(c *SenderConfig) { c.TLSConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig })
		if res, err := s.Deliver(t.Context(), srv.URL, testPayload(EventOnboardingCreated, 1)); err != nil || !res.Delivered {
			t.Fatalf("Deliver: %v, %+v", err, res)
		}
	})
	t.Run("untrusted certificate is not retried", func(t *testing.T) {
		s, _, waits, _ := testSender(t, nil)
		res, err := s.Deliver(t.Context(), srv.URL, testPayload(EventOnboardingCreated, 1))
		if err == nil || res.Attempts != 1 || len(*waits) != 0 {
			t.Errorf("Deliver: %v, %+v; want one failed attempt", err, res)
		}
	})
}

func TestDeliverRefusesAnInvalidPayload(t *testing.T) {
	rc := &recorder{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	s, _, _, _ := testSender(t, nil)
	p := testPayload(EventOnboardingCreated, 1)
	p.Accounts[0].RoleARN = "not an ARN"
	res, err := s.Deliver(t.Context(), srv.URL, p)
	if !errors.Is(err, ErrInvalidPayload) || res.Attempts != 0 {
		t.Errorf("Deliver: %v, %+v; want ErrInvalidPayload before any attempt", err, res)
	}
	if h, _ := rc.requests(); len(h) != 0 {
		t.Errorf("%d requests reached the receiver", len(h))
	}
}

func TestDeliverLogsNoSecretSignatureOrProof(t *testing.T) {
	rc := &recorder{script: []func(http.ResponseWriter, *http.Request){status(503), status(400)}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	s, _, _, logs := testSender(t, nil)
	if _, err := s.Deliver(t.Context(), srv.URL+"/cb?token=query-secret", testPayload(EventOnboardingCreated, 1)); err == nil {
		t.Fatal("Deliver succeeded")
	}
	headers, _ := rc.requests()
	out := logs.String()
	if !strings.Contains(out, "callback attempt failed") || !strings.Contains(out, "callback not delivered") {
		t.Fatalf("logs lack the attempt and outcome lines:\n%s", out)
	}
	secretPart := strings.TrimPrefix(testSecret, SecretPrefix)
	for _, h := range headers {
		sig := strings.TrimPrefix(h.Get(HeaderSignature), "v1,")
		proof := h.Get(HeaderIdentityProof)
		for name, leak := range map[string]string{"signature": sig, "proof": proof[:40], "secret": secretPart, "query": "query-secret"} {
			if strings.Contains(out, leak) {
				t.Errorf("logs contain the %s:\n%s", name, out)
			}
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := testTime
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", -1},
		{"0", 0},
		{"120", 2 * time.Minute},
		{"-5", -1},
		{"soon", -1},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"99999999999", 24 * time.Hour},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
