package emulator

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

const (
	// DefaultAccountID is moto's default account: the management account
	// of a seeded organization and the account of the administrator.
	DefaultAccountID = "123456789012"

	// DefaultRegion is the region of Server.Config unless Options.Region
	// says otherwise.
	DefaultRegion = "us-east-1"

	// AdminUserName is the IAM user, in DefaultAccountID, whose keys sign
	// every request made with Server.Config.
	AdminUserName = "emulator-admin"

	// AdminPolicyName is the inline policy that gives administrators
	// (AdminUserName, and OrganizationAccountAccessRole in member accounts
	// reached with Server.AccountConfig) every permission.
	AdminPolicyName = "AdministratorAccess"

	defaultStartTimeout = 30 * time.Second

	// portAttempts bounds how many free ports Start tries: another process
	// can take the port between our probe and moto's bind.
	portAttempts = 5

	// outputTailSize is how much of moto's output Start keeps for error
	// messages.
	outputTailSize = 8 << 10
)

// Options configure Start. The zero value is ready to use.
type Options struct {
	// MotoServer is a moto_server executable to run as it is. Empty means
	// the value of $ROLECALL_MOTO_SERVER, or else tools/moto/server.py:
	// moto with rolecall's trust-policy fixes, run by the project's
	// .venv/bin/python (see that file for what it fixes and why).
	MotoServer string

	// AuthOff leaves IAM authorisation off after the bootstrap. Use it only
	// for a server that stands in for AWS-owned infrastructure outside the
	// customer's account, such as the bucket behind CloudFormation's
	// pre-signed response URLs: moto cannot serve pre-signed requests while
	// authorisation is on.
	AuthOff bool

	// Output receives moto's stdout and stderr (one line per request).
	// Nil discards them.
	Output io.Writer

	// StartTimeout bounds how long Start waits for moto to answer and for
	// the bootstrap to finish. Zero means 30 seconds.
	StartTimeout time.Duration

	// Region is the region of Server.Config. Empty means us-east-1.
	Region string
}

// Server is a running moto server with IAM authorisation enforced. Its
// methods are safe for concurrent use.
type Server struct {
	endpoint string
	region   string
	cmd      *exec.Cmd
	out      *processOutput
	done     chan struct{} // closed once moto has exited and been reaped

	// gate keeps requests made through configs this server issued (readers)
	// out of the short windows in which authorisation is off (the writer).
	gate sync.RWMutex
	// raw reaches moto without passing the gate; only windows use it.
	raw *http.Client
	// gated is the HTTP client of every config this server issues.
	gated *http.Client

	mu            sync.Mutex
	admin         aws.Credentials
	accountAdmins map[string]bool // member accounts whose admin role is ready
	broken        error           // set if authorisation could not be turned back on

	stopOnce sync.Once
	stopErr  error
}

// Start launches moto_server on a free loopback port, waits until it
// answers, and bootstraps the administrator (AdminUserName in
// DefaultAccountID). From then on IAM authorisation is enforced. ctx bounds
// the start only; the server runs until Stop, or until the process that
// started it dies.
func Start(ctx context.Context, opts Options) (*Server, error) {
	argv, err := motoCommand(opts.MotoServer)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(opts.StartTimeout, defaultStartTimeout))
	defer cancel()

	var s *Server
	for attempt := 1; ; attempt++ {
		port, err := freePort(ctx)
		if err != nil {
			return nil, fmt.Errorf("start moto_server: %w", err)
		}
		s, err = launch(ctx, argv, port, opts)
		if err == nil {
			break
		}
		if !errors.Is(err, errPortInUse) || attempt == portAttempts {
			return nil, fmt.Errorf("start moto_server: %w", err)
		}
	}

	s.gate.Lock()
	err = s.withoutAuth(ctx, s.bootstrapAdmin)
	s.gate.Unlock()
	if err != nil {
		return nil, errors.Join(fmt.Errorf("bootstrap local AWS: %w", err), s.Stop())
	}
	if opts.AuthOff {
		if err := s.motoAPI(ctx, "/moto-api/reset-auth", "inf"); err != nil {
			return nil, errors.Join(fmt.Errorf("turn IAM authorisation off: %w", err), s.Stop())
		}
	}
	return s, nil
}

// errPortInUse reports that moto could not bind the port it was given.
var errPortInUse = errors.New("port in use")

// launch starts moto on port and waits until it answers there. It returns
// an error wrapping errPortInUse if moto could not bind the port.
func launch(ctx context.Context, argv []string, port int, opts Options) (*Server, error) {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil // loopback only
	transport.MaxIdleConnsPerHost = 32
	s := &Server{
		endpoint:      "http://127.0.0.1:" + strconv.Itoa(port),
		region:        cmp.Or(opts.Region, DefaultRegion),
		done:          make(chan struct{}),
		raw:           &http.Client{Transport: transport},
		accountAdmins: map[string]bool{},
		out: &processOutput{
			user:   opts.Output,
			marker: []byte("Running on http://127.0.0.1:" + strconv.Itoa(port)),
		},
	}
	s.gated = &http.Client{Transport: &gatedTransport{s: s, base: transport}}

	args := append(append([]string(nil), argv[1:]...), "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	s.cmd = exec.Command(argv[0], args...) //nolint:gosec,noctx // the project's own moto launcher; it outlives the start ctx until Stop

	s.cmd.Env = childEnv(port)
	s.cmd.Stdout = s.out
	s.cmd.Stderr = s.out
	s.cmd.SysProcAttr = sysProcAttr()
	s.cmd.WaitDelay = 5 * time.Second

	started := make(chan error, 1)
	go func() {
		// Linux delivers the parent-death signal when the thread that
		// forked the child exits, not the process. Keep this goroutine on
		// its thread until moto is gone; the thread ends with it.
		runtime.LockOSThread()
		defer close(s.done)
		if err := s.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = s.cmd.Wait() // moto is killed by Stop; its exit status says nothing
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("run %s: %w", strings.Join(argv, " "), err)
	}
	if err := s.waitReady(ctx); err != nil {
		_ = s.Stop()
		return nil, err
	}
	return s, nil
}

// waitReady polls moto until it answers and has reported binding its port
// itself: another server that grabbed the port first would answer too.
func (s *Server) waitReady(ctx context.Context) error {
	const interval = 25 * time.Millisecond
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-s.done:
			tail := s.out.String()
			if strings.Contains(tail, "Address already in use") || strings.Contains(tail, "is in use by another program") {
				return fmt.Errorf("%s: %w", s.endpoint, errPortInUse)
			}
			return fmt.Errorf("moto_server exited before answering on %s: %s", s.endpoint, lastLines(tail, 20))
		case <-ctx.Done():
			return fmt.Errorf("moto_server did not answer on %s: %w; its output: %s", s.endpoint, ctx.Err(), lastLines(s.out.String(), 20))
		case <-timer.C:
		}
		if s.answers(ctx) && s.out.hasBound() {
			return nil
		}
		timer.Reset(interval)
	}
}

// answers reports whether moto's own API answers.
func (s *Server) answers(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.endpoint+"/moto-api/config", nil)
	if err != nil {
		return false
	}
	resp, err := s.raw.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode < 300
}

// Endpoint returns the server's URL, such as http://127.0.0.1:40123. Every
// service answers there.
func (s *Server) Endpoint() string { return s.endpoint }

// Region returns the region of the configs the server issues.
func (s *Server) Region() string { return s.region }

// Stop kills moto and everything it started, and waits for it to exit. It
// may be called more than once; later calls return the first call's result.
// It reports an error if moto had already exited on its own.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		select {
		case <-s.done:
			s.stopErr = fmt.Errorf("moto_server on %s had exited before Stop: %s", s.endpoint, lastLines(s.out.String(), 20))
			return
		default:
		}
		if err := killGroup(s.cmd.Process); err != nil {
			s.stopErr = fmt.Errorf("stop moto_server: %w", err)
		}
		<-s.done
	})
	return s.stopErr
}

// Reset wipes every resource in every account (POST /moto-api/reset) and
// bootstraps the administrator again. Reset leaves authorisation on, but
// wipes IAM, so the administrator gets new keys: configs issued before Reset
// stop working; take Config again.
func (s *Server) Reset(ctx context.Context) error {
	s.gate.Lock()
	defer s.gate.Unlock()
	if err := s.motoAPI(ctx, "/moto-api/reset", ""); err != nil {
		return fmt.Errorf("reset local AWS: %w", err)
	}
	s.mu.Lock()
	s.admin = aws.Credentials{}
	clear(s.accountAdmins)
	s.mu.Unlock()
	if err := s.withoutAuth(ctx, s.bootstrapAdmin); err != nil {
		return fmt.Errorf("reset local AWS: %w", err)
	}
	return nil
}

// Config returns a config for the administrator (AdminUserName in
// DefaultAccountID, allowed every action), pointed at the server with
// BaseEndpoint, with static credentials and no retries: a failure of a local
// server is never transient, and a retry would only repeat it. Its
// APIOptions make up for two faults of moto's authorisation layer (see
// compat.go): append to them, do not replace them.
//
// S3 needs path-style addressing: build S3 clients with S3Client, or pass
// func(o *s3.Options) { o.UsePathStyle = true } to s3.NewFromConfig.
func (s *Server) Config() aws.Config {
	s.mu.Lock()
	creds := s.admin
	s.mu.Unlock()
	return s.config(creds)
}

// config returns a config for creds that passes the gate.
func (s *Server) config(creds aws.Credentials) aws.Config {
	creds.Source = "emulator"
	return aws.Config{
		Region:           s.region,
		BaseEndpoint:     aws.String(s.endpoint),
		Credentials:      aws.NewCredentialsCache(credentials.StaticCredentialsProvider{Value: creds}),
		HTTPClient:       s.gated,
		RetryMaxAttempts: 1,
		APIOptions:       CompatAPIOptions(),
	}
}

// withoutAuth turns IAM authorisation off, runs fn with a config whose
// requests skip the gate, and turns authorisation back on. The caller holds
// s.gate for writing, so no request made through an issued config can slip
// through unauthenticated. If authorisation cannot be turned back on, the
// server refuses every later request rather than answer it unchecked.
func (s *Server) withoutAuth(ctx context.Context, fn func(context.Context, aws.Config) error) (err error) {
	// Moto counts requests towards INITIAL_NO_AUTH_ACTION_COUNT, retries
	// and failed requests included; reset-auth sets the limit and zeroes
	// the count, so the window is exact whatever happens inside it.
	if err := s.motoAPI(ctx, "/moto-api/reset-auth", "inf"); err != nil {
		return fmt.Errorf("turn IAM authorisation off: %w", err)
	}
	defer func() {
		if rerr := s.motoAPI(context.WithoutCancel(ctx), "/moto-api/reset-auth", "0"); rerr != nil {
			rerr = fmt.Errorf("turn IAM authorisation back on: %w", rerr)
			s.mu.Lock()
			s.broken = rerr
			s.mu.Unlock()
			err = errors.Join(err, rerr)
		}
	}()
	return fn(ctx, aws.Config{
		Region:       s.region,
		BaseEndpoint: aws.String(s.endpoint),
		// Unchecked while authorisation is off, but the SDK signs with
		// something, and moto reads the account from the key: an unknown
		// key means DefaultAccountID.
		Credentials:      credentials.NewStaticCredentialsProvider("AKIAEMULATORBOOTSTRP", "unused", ""),
		HTTPClient:       s.raw,
		RetryMaxAttempts: 1,
		APIOptions:       CompatAPIOptions(),
	})
}

// bootstrapAdmin creates the administrator and its access key. It runs
// while authorisation is off.
func (s *Server) bootstrapAdmin(ctx context.Context, cfg aws.Config) error {
	client := iam.NewFromConfig(cfg)
	if _, err := client.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(AdminUserName)}); err != nil {
		return fmt.Errorf("create administrator: %w", err)
	}
	if _, err := client.PutUserPolicy(ctx, &iam.PutUserPolicyInput{
		UserName:       aws.String(AdminUserName),
		PolicyName:     aws.String(AdminPolicyName),
		PolicyDocument: aws.String(AllowPolicy("*")),
	}); err != nil {
		return fmt.Errorf("grant administrator: %w", err)
	}
	out, err := client.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(AdminUserName)})
	if err != nil {
		return fmt.Errorf("create administrator key: %w", err)
	}
	s.mu.Lock()
	s.admin = aws.Credentials{
		AccessKeyID:     aws.ToString(out.AccessKey.AccessKeyId),
		SecretAccessKey: aws.ToString(out.AccessKey.SecretAccessKey),
	}
	s.mu.Unlock()
	return nil
}

// motoAPI posts body to one of moto's own endpoints, which are never
// authorised and never counted towards INITIAL_NO_AUTH_ACTION_COUNT.
func (s *Server) motoAPI(ctx context.Context, path, body string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/plain")
	resp, err := s.raw.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %s: %s", path, resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// gatedTransport holds the server's gate for reading during each request,
// and refuses requests once the server is unsafe to use.
type gatedTransport struct {
	s    *Server
	base http.RoundTripper
}

func (t *gatedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.s.gate.RLock()
	defer t.s.gate.RUnlock()
	t.s.mu.Lock()
	broken := t.s.broken
	t.s.mu.Unlock()
	if broken != nil {
		return nil, fmt.Errorf("local AWS unusable: %w", broken)
	}
	return t.base.RoundTrip(req)
}

// freePort returns a loopback port that was free a moment ago.
func freePort(ctx context.Context) (int, error) {
	l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	return port, nil
}

// childEnv returns moto's environment: ours without settings that would
// change how moto behaves, plus authorisation on from the first request
// (Start opens the bootstrap window explicitly).
func childEnv(port int) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "MOTO_"), strings.HasPrefix(name, "AWS_"),
			name == "INITIAL_NO_AUTH_ACTION_COUNT", name == "TEST_SERVER_MODE":
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"INITIAL_NO_AUTH_ACTION_COUNT=0",
		"MOTO_PORT="+strconv.Itoa(port),
		"PYTHONUNBUFFERED=1",
	)
}

// processOutput receives moto's stdout and stderr: it keeps the tail for
// error messages, notices the line saying moto has bound its port, and
// copies everything to the caller's writer.
type processOutput struct {
	user   io.Writer
	marker []byte

	mu    sync.Mutex
	tail  []byte
	bound bool
}

func (o *processOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	o.tail = append(o.tail, p...)
	if !o.bound && bytes.Contains(o.tail, o.marker) {
		o.bound = true
	}
	if len(o.tail) > outputTailSize {
		o.tail = append(o.tail[:0], o.tail[len(o.tail)-outputTailSize:]...)
	}
	o.mu.Unlock()
	if o.user != nil {
		// A failing writer must not block moto: its pipe would fill.
		_, _ = o.user.Write(p)
	}
	return len(p), nil
}

func (o *processOutput) hasBound() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.bound
}

func (o *processOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return string(o.tail)
}

// lastLines returns the last n lines of s, on one line, for error messages.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 1 && lines[0] == "" {
		return "(no output)"
	}
	return strings.Join(lines, " | ")
}
