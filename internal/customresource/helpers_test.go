package customresource

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
)

const (
	testStackID   = "arn:aws:cloudformation:eu-west-1:111122223333:stack/onboarding/0a1b2c3d-1111-2222-3333-444455556666"
	testLogicalID = "Onboarding"
	testOldID     = "rolecall-Onboarding-existing"
	// testSignature stands for the credential in a pre-signed URL.
	testSignature = "c0ffee5157a7e5ecre7519"
	// testSecret stands for a property value that must never be logged.
	testSecret = "ext-id-never-log-me-42"
)

// recorded is one request received by a responseServer.
type recorded struct {
	method           string
	requestURI       string
	header           http.Header
	contentLength    int64
	transferEncoding []string
	body             []byte
}

// response decodes the recorded body as a CloudFormation response.
func (r recorded) response(t *testing.T) cfn.Response {
	t.Helper()
	var resp cfn.Response
	if err := json.Unmarshal(r.body, &resp); err != nil {
		t.Fatalf("response body is not JSON: %v\n%s", err, r.body)
	}
	return resp
}

// responseServer stands in for the pre-signed ResponseURL. It records
// every request and answers with the status its reply function picks for
// the nth request (1-based); 200 when reply is nil.
type responseServer struct {
	*httptest.Server
	reply func(n int, w http.ResponseWriter, r *http.Request)

	mu   sync.Mutex
	reqs []recorded
}

func newResponseServer(t *testing.T, reply func(n int, w http.ResponseWriter, r *http.Request)) *responseServer {
	t.Helper()
	s := &responseServer{reply: reply}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, recorded{
			method:           r.Method,
			requestURI:       r.RequestURI,
			header:           r.Header.Clone(),
			contentLength:    r.ContentLength,
			transferEncoding: r.TransferEncoding,
			body:             body,
		})
		n := len(s.reqs)
		s.mu.Unlock()
		if s.reply != nil {
			s.reply(n, w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// url is a pre-signed-looking URL on the server.
func (s *responseServer) url() string {
	return s.URL + "/cfn-responses/onboarding?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=" + testSignature
}

func (s *responseServer) requests() []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recorded(nil), s.reqs...)
}

// only returns the single request the server received, failing the test if
// there was not exactly one.
func (s *responseServer) only(t *testing.T) recorded {
	t.Helper()
	reqs := s.requests()
	if len(reqs) != 1 {
		t.Fatalf("server received %d requests, want exactly 1", len(reqs))
	}
	return reqs[0]
}

// fakeHandler is a Handler that runs one function for every request type.
type fakeHandler func(ctx context.Context, req Request) (Result, error)

func (f fakeHandler) Create(ctx context.Context, req Request) (Result, error) { return f(ctx, req) }
func (f fakeHandler) Update(ctx context.Context, req Request) (Result, error) { return f(ctx, req) }
func (f fakeHandler) Delete(ctx context.Context, req Request) (Result, error) { return f(ctx, req) }

// logBuffer collects log output from several goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// find returns the first log line with the message msg, failing the test
// if there is none.
func (b *logBuffer) find(t *testing.T, msg string) map[string]any {
	t.Helper()
	for _, l := range b.lines(t) {
		if l["msg"] == msg {
			return l
		}
	}
	t.Fatalf("no log line %q in:\n%s", msg, b.String())
	return nil
}

// lines decodes the JSON log lines.
func (b *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range bytes.Split([]byte(b.String()), []byte("\n")) {
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, l)
		}
		out = append(out, m)
	}
	return out
}

// newRuntime is a Runtime for tests: loopback http allowed, no backoff,
// logs captured as JSON, and a clock stopped at the time of the call (so
// that it agrees with real context deadlines).
func newRuntime(h Handler, logs io.Writer) *Runtime {
	if logs == nil {
		logs = io.Discard
	}
	now := time.Now()
	return &Runtime{
		Handler:           h,
		Now:               func() time.Time { return now },
		Logger:            slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		AllowLoopbackHTTP: true,
		retryDelay:        func(int) time.Duration { return 0 },
	}
}

// event returns a custom-resource event as CloudFormation sends it, after
// applying edits to its decoded form.
func event(t *testing.T, responseURL string, rt cfn.RequestType, edits ...func(map[string]any)) json.RawMessage {
	t.Helper()
	m := map[string]any{
		"RequestType":       string(rt),
		"ServiceToken":      "arn:aws:lambda:eu-west-1:111122223333:function:onboarding",
		"ResponseURL":       responseURL,
		"StackId":           testStackID,
		"RequestId":         "5d0f5c6e-8a52-4c2e-9a77-0f1e2d3c4b5a",
		"LogicalResourceId": testLogicalID,
		"ResourceType":      "Custom::Onboarding",
		"ResourceProperties": map[string]any{
			"ServiceToken": "arn:aws:lambda:eu-west-1:111122223333:function:onboarding",
			"ExternalId":   testSecret,
			"Regions":      []any{"eu-west-1", "us-east-1"},
		},
	}
	if rt != cfn.RequestCreate {
		m["PhysicalResourceId"] = testOldID
	}
	if rt == cfn.RequestUpdate {
		m["OldResourceProperties"] = map[string]any{"ExternalId": testSecret + "-old"}
	}
	for _, edit := range edits {
		edit(m)
	}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// farDeadline is a context whose deadline, an hour after r's clock, never
// comes during a test but makes the runtime arm its deadline guard.
func farDeadline(t *testing.T, r *Runtime) context.Context {
	t.Helper()
	ctx, cancel := context.WithDeadline(context.Background(), r.Now().Add(time.Hour))
	t.Cleanup(cancel)
	return ctx
}
