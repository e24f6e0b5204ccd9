package verify

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/rolecall/rolecall/internal/params"
)

// fakeAWSEnv, set to a latency, makes the test binary serve the wire-level
// AWS fake over TLS instead of running tests: the benchmark runs it in a
// child process, so the CPU it measures is the engine's alone.
const fakeAWSEnv = "ROLECALL_FAKE_AWS_LATENCY"

func TestMain(m *testing.M) {
	if v := os.Getenv(fakeAWSEnv); v != "" {
		serveFakeAWS(v)
		return
	}
	os.Exit(m.Run())
}

// serveFakeAWS serves the fake until its stdin closes. It prints its URL
// and its certificate (base64 DER) on one line.
func serveFakeAWS(latency string) {
	d, err := time.ParseDuration(latency)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	f := &awsFake{latency: d, byOp: map[string]int{}}
	srv := httptest.NewUnstartedServer(f)
	srv.Config.ErrorLog = nil
	srv.StartTLS()
	fmt.Printf("%s %s\n", srv.URL, base64.StdEncoding.EncodeToString(srv.Certificate().Raw))
	_, _ = io.Copy(io.Discard, os.Stdin)
	srv.Close()
}

// fakeAWSProcess is the fake in a child process.
type fakeAWSProcess struct {
	url  string
	pool *x509.CertPool
}

func startFakeAWSProcess(b *testing.B, latency time.Duration) *fakeAWSProcess {
	b.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), fakeAWSEnv+"="+latency.String())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("fake AWS process: %v", err)
	}
	url, cert, _ := strings.Cut(strings.TrimSpace(line), " ")
	der, err := base64.StdEncoding.DecodeString(cert)
	if err != nil {
		b.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		b.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return &fakeAWSProcess{url: url, pool: pool}
}

// config is what the function gets from config.LoadDefaultConfig, with
// the fake as every endpoint and its certificate trusted: the SDK's own
// HTTP client, which the engine tunes as it does in Lambda.
func (p *fakeAWSProcess) config() aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(p.url),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIACALLER", "secret", ""),
		HTTPClient: awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
			tr.TLSClientConfig.RootCAs = p.pool
		}),
	}
}

// calls asks the fake how many calls it has answered.
func (p *fakeAWSProcess) calls(b *testing.B, cfg aws.Config) int64 {
	b.Helper()
	resp, err := cfg.HTTPClient.(*awshttp.BuildableClient).Do(mustRequest(b, p.url+"/__calls"))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	n, err := strconv.ParseInt(strings.TrimSpace(string(body)), 10, 64)
	if err != nil {
		b.Fatalf("fake AWS calls: %q", body)
	}
	return n
}

func mustRequest(b *testing.B, url string) *http.Request {
	r, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// benchRoles returns n member roles in distinct accounts.
func benchRoles(n int) []Role {
	roles := make([]Role, n)
	for i := range roles {
		acct := fmt.Sprintf("%012d", 200000000000+i)
		roles[i] = Role{RoleARN: "arn:aws:iam::" + acct + ":role/VendorReadOnly", ExternalID: "ext-7f3c9e1d-2b4a-4c8e-9a1f-0b2c3d4e5f60", Bedrock: true, Regions: []string{"us-east-1"}}
	}
	return roles
}

// Physical bounds a verification cannot beat, whatever the engine.
const (
	// memberChain is the longest chain of dependent calls of a member
	// account: AssumeRole, then ListRolePolicies, then GetRolePolicy
	// (every other call needs only the session).
	memberChain = 3
	// lambdaConnections is how many calls one function can have in flight:
	// Lambda allows 1,024 file descriptors, one per HTTPS connection, less
	// a few for the runtime.
	lambdaConnections = 1000
	// vCPUMB is the memory at which Lambda gives a function one full vCPU;
	// below it, CPU is in proportion to memory.
	vCPUMB = 1769
)

// cpuTime is the process's user and system CPU time.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakHeap samples the heap every millisecond until stop is closed.
func peakHeap(stop <-chan struct{}) func() uint64 {
	var peak uint64
	var wg sync.WaitGroup
	wg.Go(func() {
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})
	return func() uint64 { wg.Wait(); return peak }
}

// BenchmarkShipped verifies organizations as the function ships: the
// template's memory (params.FunctionMemoryMB) and worker ceiling
// (params.FunctionConcurrency), GOMAXPROCS 1 and a CPU budget of the vCPU
// share Lambda gives that memory, against a fake AWS in a child process
// that answers every call after the latency given, over TLS. For each
// size and latency it reports, side by side:
//
//   - limit-s: the physical limit, the largest of the longest chain of
//     dependent calls × latency, all calls × latency ÷ the connections a
//     function can hold, and the accounts ÷ STS's AssumeRole rate;
//   - engine-s: the wall time, or the CPU time ÷ the vCPU share if that is
//     longer (the function could not have gone faster on its share);
//   - ratio: engine-s ÷ limit-s;
//   - calls/account, cpu-ms/account (the engine's, the fake excluded),
//     peak-heap-MB, throttles.
//
// single-account reports one account's latency in round trips.
// Run it with -benchtime=1x: each iteration is a whole organization.
func BenchmarkShipped(b *testing.B) {
	share := float64(params.FunctionMemoryMB) / vCPUMB
	procs := int(math.Ceil(min(share, 6)))
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
	TuneRuntime(params.FunctionMemoryMB)
	defer debug.SetMemoryLimit(math.MaxInt64)
	defer debug.SetGCPercent(100)
	for _, latency := range []time.Duration{50 * time.Millisecond, 100 * time.Millisecond} {
		fake := startFakeAWSProcess(b, latency)
		b.Run(fmt.Sprintf("single-account/latency=%s", latency), func(b *testing.B) {
			cfg := fake.config()
			e := New(cfg, Options{Concurrency: params.FunctionConcurrency, S3PathStyle: true, AssumeRoleWait: -1})
			roles := benchRoles(b.N + 1)
			e.Verify(context.Background(), roles[b.N]) // warm the connections
			var wall time.Duration
			i := 0
			for b.Loop() {
				start := time.Now()
				if rep := e.Verify(context.Background(), roles[i]); rep.Status != StatusVerified {
					b.Fatalf("status %s", rep.Status)
				}
				wall += time.Since(start)
				i++
			}
			b.ReportMetric(float64(wall)/float64(b.N)/float64(latency), "round-trips")
			b.ReportMetric(0, "ns/op")
		})
		for _, run := range []struct {
			name      string
			accounts  int
			scheduled bool
		}{{"accounts=1000", 1000, false}, {"accounts=5000", 5000, false}, {"scheduled/accounts=5000", 5000, true}} {
			accounts := run.accounts
			b.Run(fmt.Sprintf("%s/latency=%s", run.name, latency), func(b *testing.B) {
				cfg := fake.config()
				e := New(cfg, Options{Concurrency: params.FunctionConcurrency, S3PathStyle: true, AssumeRoleWait: -1})
				roles := benchRoles(accounts)
				if run.scheduled {
					// The scheduled re-verification: the management
					// account's role makes the paid call, the members'
					// prove the grant from their policies.
					roles[0].Management = true
					for i := range roles[1:] {
						roles[i+1].NoPaidProbes = true
					}
				}
				var wall, cpu time.Duration
				var calls, throttles, paid int64
				var heap uint64
				for b.Loop() {
					runtime.GC()
					before := fake.calls(b, cfg)
					stop := make(chan struct{})
					peak := peakHeap(stop)
					cpu0, start := cpuTime(b), time.Now()
					s := e.VerifyAll(context.Background(), slices.Values(roles), func(Report) {})
					wall += time.Since(start)
					cpu += cpuTime(b) - cpu0
					close(stop)
					heap = max(heap, peak())
					if s.Verified != accounts {
						b.Fatalf("%d of %d accounts verified: %+v", s.Verified, accounts, s)
					}
					throttles += s.Throttles
					paid += s.PaidCalls
					calls += fake.calls(b, cfg) - before - 1 // less this question
				}
				n := float64(b.N)
				perAccount := float64(calls) / n / float64(accounts)
				l := latency.Seconds()
				limit := max(memberChain*l, float64(calls)/n*l/lambdaConnections, float64(accounts)/STSQuota)
				engine := max(wall.Seconds()/n, cpu.Seconds()/n/share)
				b.ReportMetric(limit, "limit-s")
				b.ReportMetric(engine, "engine-s")
				b.ReportMetric(engine/limit, "ratio")
				b.ReportMetric(perAccount, "calls/account")
				b.ReportMetric(cpu.Seconds()*1000/n/float64(accounts), "cpu-ms/account")
				b.ReportMetric(float64(heap)/(1<<20), "peak-heap-MB")
				b.ReportMetric(float64(throttles)/n, "throttles")
				b.ReportMetric(float64(paid)/n, "paid-requests")
				b.ReportMetric(float64(paid)/n*CostExplorerRequestUSD, "paid-usd")
				b.ReportMetric(params.FunctionTimeoutSeconds/engine, "timeout-headroom-x")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}
