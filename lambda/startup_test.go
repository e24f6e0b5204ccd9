package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/rolecall/rolecall/internal/cfnyaml"
	"github.com/rolecall/rolecall/internal/params"
	"github.com/rolecall/rolecall/internal/synth"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if bin, err := buildBootstrap(); err == nil {
		_ = os.RemoveAll(filepath.Dir(bin))
	}
	os.Exit(code)
}

// buildBootstrap builds this command for the host, with the flags of the
// Lambda build, once per test binary.
var buildBootstrap = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "rolecall-bootstrap-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", &buildError{out: string(out), err: err}
	}
	return bin, nil
})

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + "\n" + e.out }

// fakeRuntimeAPI is the Lambda runtime API as far as a starting function
// sees it: ready is closed when the function first asks for an invocation.
type fakeRuntimeAPI struct {
	srv   *httptest.Server
	ready chan struct{}
	once  sync.Once
	stop  chan struct{}
}

func newFakeRuntimeAPI(t testing.TB) *fakeRuntimeAPI {
	f := &fakeRuntimeAPI{ready: make(chan struct{}), stop: make(chan struct{})}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/runtime/invocation/next") {
			f.once.Do(func() { close(f.ready) })
			// Hold the request, as Lambda does until an event arrives.
			select {
			case <-f.stop:
			case <-r.Context().Done():
			}
			http.Error(w, "shutting down", http.StatusGone)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(func() { close(f.stop); f.srv.Close() })
	return f
}

// shippedEnv is what the committed template gives the function that the
// Go runtime itself reads: GOGC, and the memory size Lambda announces.
func shippedEnv(t testing.TB) []string {
	t.Helper()
	raw, err := os.ReadFile("../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := cfnyaml.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	res, _ := doc["Resources"].(map[string]any)
	fn, _ := res[synth.FunctionLogicalID].(map[string]any)
	props, _ := fn["Properties"].(map[string]any)
	env, _ := props["Environment"].(map[string]any)
	vars, _ := env["Variables"].(map[string]any)
	gogc, ok := vars[params.EnvGOGC].(string)
	if !ok {
		t.Fatalf("template.yaml: %s has no %s variable", synth.FunctionLogicalID, params.EnvGOGC)
	}
	return []string{
		params.EnvGOGC + "=" + gogc,
		fmt.Sprintf("AWS_LAMBDA_FUNCTION_MEMORY_SIZE=%v", props["MemorySize"]),
	}
}

// start runs the bootstrap against the fake runtime API, with the
// template's environment, and returns how long it took to ask for its
// first invocation.
func start(t testing.TB, bin string) time.Duration {
	t.Helper()
	api := newFakeRuntimeAPI(t)
	cmd := exec.Command(bin)
	cmd.Env = append(shippedEnv(t),
		"AWS_LAMBDA_RUNTIME_API="+strings.TrimPrefix(api.srv.URL, "http://"),
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=AKIASTARTUPTEST00000",
		"AWS_SECRET_ACCESS_KEY=unused",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_LAMBDA_FUNCTION_NAME=onboarding",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/onboarding",
		"AWS_LAMBDA_LOG_STREAM_NAME=stream",
		"HOME="+t.TempDir(),
	)
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		if err := <-exited; err == nil {
			t.Log("the bootstrap exited cleanly before it was killed")
		}
	}()
	select {
	case <-api.ready:
		return time.Since(begin)
	case err := <-exited:
		t.Fatalf("the bootstrap exited before asking for an invocation: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the bootstrap did not ask for an invocation within 30s")
	}
	return 0
}

// The built function starts, loads its configuration from the Lambda
// environment and asks the runtime API for work.
func TestBootstrapAsksTheRuntimeAPIForWork(t *testing.T) {
	bin, err := buildBootstrap()
	if err != nil {
		t.Fatal(err)
	}
	start(t, bin)
}

// BenchmarkStartToReady measures a cold start: process start to the first
// request for an invocation (what Lambda's Init Duration covers).
func BenchmarkStartToReady(b *testing.B) {
	bin, err := buildBootstrap()
	if err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for b.Loop() {
		total += start(b, bin)
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/start")
}

// Only a loopback SDK endpoint (a local emulator) loosens anything: on
// AWS, or with any other endpoint, the options are the production zero.
func TestLocalOptionsOnlyForALoopbackEndpoint(t *testing.T) {
	for _, tt := range []struct {
		endpoint string
		local    bool
	}{
		{"", false},
		{"https://sts.amazonaws.com", false},
		{"http://10.0.0.5:4566", false},
		{"http://localhost.evil.example:4566", false},
		{"http://127.0.0.1:4566", true},
		{"http://[::1]:4566", true},
	} {
		cfg := aws.Config{Region: "us-east-1"}
		if tt.endpoint != "" {
			cfg.BaseEndpoint = aws.String(tt.endpoint)
		}
		o := localOptions(cfg)
		if o.AllowLoopbackHTTP != tt.local || (o.STSEndpoint != "") != tt.local {
			t.Errorf("%q: %+v, want local %v", tt.endpoint, o, tt.local)
		}
	}
}
