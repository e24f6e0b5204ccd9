package customresource

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
)

// s3Error writes an S3-style XML error, with the echo of the request S3
// adds to signature errors.
func s3Error(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?>` +
		`<Error><Code>` + code + `</Code><Message>details</Message>` +
		`<StringToSign>PUT\n\n\n1700000000\n/bucket/key</StringToSign><RequestId>ABC</RequestId></Error>`))
}

func TestSendPutsThePreSignedURLAsS3Expects(t *testing.T) {
	srv := newResponseServer(t, nil)
	r := newRuntime(fakeHandler(func(context.Context, Request) (Result, error) {
		return Result{Data: map[string]any{"RoleArn": "arn:aws:iam::111122223333:role/reader"}}, nil
	}), nil)
	if err := r.Handle(context.Background(), event(t, srv.url(), cfn.RequestCreate)); err != nil {
		t.Fatal(err)
	}
	got := srv.only(t)
	if got.method != http.MethodPut {
		t.Errorf("method = %s, want PUT", got.method)
	}
	if want := strings.TrimPrefix(srv.url(), srv.URL); got.requestURI != want {
		t.Errorf("request URI = %q, want the pre-signed path and query unchanged %q", got.requestURI, want)
	}
	if v, ok := got.header["Content-Type"]; ok {
		t.Errorf("Content-Type = %q, want no header: the URL is signed without one", v)
	}
	if got.contentLength != int64(len(got.body)) || len(got.transferEncoding) != 0 {
		t.Errorf("Content-Length = %d, Transfer-Encoding = %v; want %d and none", got.contentLength, got.transferEncoding, len(got.body))
	}
	if len(got.body) > maxBodyBytes {
		t.Errorf("body is %d bytes", len(got.body))
	}
	if resp := got.response(t); resp.Status != cfn.StatusSuccess || resp.RequestID == "" || resp.LogicalResourceID != testLogicalID {
		t.Errorf("response = %+v", resp)
	}
}

func TestSendRetries(t *testing.T) {
	hang := func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
	tests := []struct {
		name         string
		reply        func(n int, w http.ResponseWriter, r *http.Request)
		sendTimeout  time.Duration
		wantRequests int
		wantSent     bool
		wantError    string // part of the logged error when not sent
	}{
		{
			name: "5xx is retried until it succeeds",
			reply: func(n int, w http.ResponseWriter, _ *http.Request) {
				switch n {
				case 1:
					w.WriteHeader(http.StatusInternalServerError)
				case 2:
					s3Error(w, http.StatusServiceUnavailable, "SlowDown")
				}
			},
			wantRequests: 3, wantSent: true,
		},
		{
			name: "429 is retried",
			reply: func(n int, w http.ResponseWriter, _ *http.Request) {
				if n == 1 {
					w.WriteHeader(http.StatusTooManyRequests)
				}
			},
			wantRequests: 2, wantSent: true,
		},
		{
			name: "S3 400 RequestTimeout is retried",
			reply: func(n int, w http.ResponseWriter, _ *http.Request) {
				if n == 1 {
					s3Error(w, http.StatusBadRequest, "RequestTimeout")
				}
			},
			wantRequests: 2, wantSent: true,
		},
		{
			name: "a try that hangs times out and is retried",
			reply: func(n int, w http.ResponseWriter, r *http.Request) {
				if n == 1 {
					hang(w, r)
				}
			},
			sendTimeout:  50 * time.Millisecond,
			wantRequests: 2, wantSent: true,
		},
		{
			name: "403 is not retried",
			reply: func(_ int, w http.ResponseWriter, _ *http.Request) {
				s3Error(w, http.StatusForbidden, "AccessDenied")
			},
			wantRequests: 1, wantError: "put response: HTTP 403 AccessDenied",
		},
		{
			name: "a signature mismatch is not retried",
			reply: func(_ int, w http.ResponseWriter, _ *http.Request) {
				s3Error(w, http.StatusForbidden, "SignatureDoesNotMatch")
			},
			wantRequests: 1, wantError: "put response: HTTP 403 SignatureDoesNotMatch",
		},
		{
			name: "persistent 5xx gives up after MaxSendAttempts",
			reply: func(_ int, w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusBadGateway)
			},
			wantRequests: 3, wantError: "put response: HTTP 502",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newResponseServer(t, tt.reply)
			logs := &logBuffer{}
			var calls atomic.Int32
			r := newRuntime(fakeHandler(func(context.Context, Request) (Result, error) {
				calls.Add(1)
				return Result{}, nil
			}), logs)
			r.MaxSendAttempts = 3
			r.SendTimeout = tt.sendTimeout
			if err := r.Handle(context.Background(), event(t, srv.url(), cfn.RequestCreate)); err != nil {
				t.Fatalf("Handle returned %v, want nil even when the send fails", err)
			}
			reqs := srv.requests()
			if len(reqs) != tt.wantRequests {
				t.Fatalf("server received %d requests, want %d", len(reqs), tt.wantRequests)
			}
			for _, req := range reqs[1:] {
				if !bytes.Equal(req.body, reqs[0].body) {
					t.Errorf("a retry sent a different body:\n%s\n%s", reqs[0].body, req.body)
				}
			}
			if n := calls.Load(); n != 1 {
				t.Errorf("handler called %d times, want 1: a failed send must not run it again", n)
			}
			if tt.wantSent {
				line := logs.find(t, "custom resource response sent")
				if line["attempts"] != float64(tt.wantRequests) {
					t.Errorf("logged attempts = %v, want %d", line["attempts"], tt.wantRequests)
				}
				return
			}
			line := logs.find(t, "custom resource response not delivered; CloudFormation waits for its own timeout")
			if msg, _ := line["error"].(string); !strings.Contains(msg, tt.wantError) {
				t.Errorf("logged error = %q, want it to contain %q", msg, tt.wantError)
			}
			if strings.Contains(logs.String(), "StringToSign") {
				t.Error("the S3 error body was logged")
			}
		})
	}
}

func TestSendStopsWhenNoTimeIsLeft(t *testing.T) {
	srv := newResponseServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	})
	logs := &logBuffer{}
	r := newRuntime(fakeHandler(func(context.Context, Request) (Result, error) { return Result{}, nil }), logs)
	r.retryDelay = func(int) time.Duration { return 2 * time.Hour } // beyond the deadline
	if err := r.Handle(farDeadline(t, r), event(t, srv.url(), cfn.RequestCreate)); err != nil {
		t.Fatal(err)
	}
	srv.only(t)
	line := logs.find(t, "custom resource response not delivered; CloudFormation waits for its own timeout")
	if msg, _ := line["error"].(string); msg != "put response: HTTP 500 (no time left to try again)" {
		t.Errorf("logged error = %q", msg)
	}
}

func TestSendNetworkErrorIsRetriedAndNeverLogsTheURL(t *testing.T) {
	srv := newResponseServer(t, nil)
	url := srv.url()
	srv.Close() // nothing listens any more
	logs := &logBuffer{}
	r := newRuntime(fakeHandler(func(context.Context, Request) (Result, error) { return Result{}, nil }), logs)
	r.MaxSendAttempts = 2
	if err := r.Handle(context.Background(), event(t, url, cfn.RequestCreate)); err != nil {
		t.Fatal(err)
	}
	line := logs.find(t, "custom resource response not delivered; CloudFormation waits for its own timeout")
	if line["attempts"] != float64(2) {
		t.Errorf("attempts = %v, want 2", line["attempts"])
	}
	if msg, _ := line["error"].(string); !strings.HasPrefix(msg, "put response: ") {
		t.Errorf("error = %q", msg)
	}
	if strings.Contains(logs.String(), testSignature) || strings.Contains(logs.String(), srv.URL) {
		t.Errorf("the ResponseURL reached the log:\n%s", logs)
	}
}

func TestJitteredBackoff(t *testing.T) {
	for attempt := 0; attempt <= 40; attempt++ {
		full := retryMaxDelay
		if attempt < 8 {
			full = min(retryBaseDelay<<(max(attempt, 1)-1), retryMaxDelay)
		}
		for range 50 {
			d := jitteredBackoff(attempt)
			if d < full/2 || d > full {
				t.Fatalf("jitteredBackoff(%d) = %v, want within [%v, %v]", attempt, d, full/2, full)
			}
		}
	}
	if jitteredBackoff(1) > retryBaseDelay || jitteredBackoff(30) < retryMaxDelay/2 {
		t.Error("backoff does not grow from retryBaseDelay to retryMaxDelay")
	}
}

func TestS3ErrorCode(t *testing.T) {
	tests := []struct{ body, want string }{
		{`<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>`, "AccessDenied"},
		{`<?xml version="1.0"?><Error><Code>RequestTimeout</Code></Error>`, "RequestTimeout"},
		{`<Error><Code>Access Denied; see https://x</Code></Error>`, ""},
		{`not xml`, ""},
		{``, ""},
	}
	for _, tt := range tests {
		if got := s3ErrorCode([]byte(tt.body)); got != tt.want {
			t.Errorf("s3ErrorCode(%q) = %q, want %q", tt.body, got, tt.want)
		}
	}
}
