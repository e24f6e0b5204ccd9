package verify

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/rolecall/rolecall/internal/iamdata"
	"github.com/rolecall/rolecall/internal/permissions"
	"github.com/rolecall/rolecall/internal/sdkbody"
)

// Defaults of Options.
const (
	DefaultConcurrency    = 16
	DefaultAccountTimeout = 2 * time.Minute
	DefaultAssumeRoleWait = 30 * time.Second
	DefaultSessionName    = "rolecall-verify"

	// sessionSeconds is the shortest session AWS issues: the verification
	// needs far less.
	sessionSeconds = 900
	// AssumeRoleRate paces AssumeRole, which counts against the calling
	// account's STS request rate. AWS does not publish that quota in its
	// quota tables (its guidance is to back off on Throttling); 600
	// requests a second per account and Region is the commonly reported
	// figure, uncertain. The engine keeps a sixth of it for the account's
	// other work, and backs off on Throttling too (see aimd).
	AssumeRoleRate = 500
	// STSQuota is that figure, for the benchmark's physical limit.
	STSQuota = 600
	// lookupEventsInterval paces CloudTrail LookupEvents, which allows two
	// calls a second per account and region.
	lookupEventsInterval = 500 * time.Millisecond
)

// Options configure an Engine. The zero value is ready to use.
type Options struct {
	// Concurrency bounds how many roles VerifyAll verifies at once: the
	// ceiling of its adaptive concurrency, which halves when AWS throttles
	// and grows back by one account per window while it does not. Zero
	// means DefaultConcurrency.
	Concurrency int
	// MinConcurrency is the floor the adaptive concurrency never goes
	// below. Zero means an eighth of Concurrency, at least 1.
	MinConcurrency int
	// AccountTimeout bounds the verification of one role, AssumeRole
	// retries included. Zero means DefaultAccountTimeout.
	AccountTimeout time.Duration
	// AssumeRoleWait is how long AssumeRole is retried while it is denied:
	// IAM takes a while to propagate a new role or trust policy. Zero
	// means DefaultAssumeRoleWait; a negative value tries once.
	AssumeRoleWait time.Duration
	// Regions are the inventory regions of a Role that has none. Empty
	// means the config's region.
	Regions []string
	// SessionName names the role sessions in CloudTrail. Empty means
	// DefaultSessionName.
	SessionName string
	// S3PathStyle makes S3 calls path-style, as a local endpoint needs.
	S3PathStyle bool
	// Logger receives one line per verified role. Nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Engine verifies roles. It is safe for concurrent use.
type Engine struct {
	base         aws.Config
	opts         Options
	build        builders
	sts          stsAPI
	lookupEvents *keyedLimiter
	// assumeRoles paces AssumeRole at AssumeRoleRate.
	assumeRoles *keyedLimiter
	// sleep waits between AssumeRole attempts; tests replace it.
	sleep func(context.Context, time.Duration) error

	writes sync.Map // granted services -> the write actions simulated
	// inflight holds a token per call in flight (MaxCallsInFlight).
	inflight chan struct{}
	// idle hands a call to a worker waiting for one (see work).
	idle chan func()
	// throttles counts the throttling answers AWS gave any client.
	throttles *atomic.Int64
	// calls counts the AWS calls made for roles (AssumeRole included),
	// paidCalls those AWS charges for.
	calls, paidCalls atomic.Int64
	// data replaces the embedded IAM action dataset in tests.
	data *iamdata.Dataset
}

// New returns an Engine that assumes roles with cfg's credentials. Every
// client it makes, for the caller and for each role session, uses a copy of
// cfg with the SDK's adaptive retry mode, which slows down when AWS
// throttles; cfg's RetryMaxAttempts, if set, still bounds the attempts.
func New(cfg aws.Config, opts Options) *Engine {
	return newEngine(cfg, opts, sdkBuilders(opts.S3PathStyle))
}

func newEngine(cfg aws.Config, opts Options, b builders) *Engine {
	opts.Concurrency = max(cmp.Or(opts.Concurrency, DefaultConcurrency), 1)
	opts.MinConcurrency = min(max(cmp.Or(opts.MinConcurrency, opts.Concurrency/8), 1), opts.Concurrency)
	opts.AccountTimeout = cmp.Or(opts.AccountTimeout, DefaultAccountTimeout)
	opts.AssumeRoleWait = cmp.Or(opts.AssumeRoleWait, DefaultAssumeRoleWait)
	opts.SessionName = cmp.Or(opts.SessionName, DefaultSessionName)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	base := cfg.Copy()
	// Every session's clients share the config's HTTP client; the SDK's
	// default keeps 10 idle connections per host, so hundreds of accounts
	// in flight against iam.amazonaws.com would open (and TLS-handshake) a
	// new connection for most calls. Keep as many as can be in flight.
	if base.HTTPClient == nil {
		base.HTTPClient = awshttp.NewBuildableClient()
	}
	if bc, ok := base.HTTPClient.(*awshttp.BuildableClient); ok {
		conns := MaxCallsInFlight + opts.Concurrency // the calls, and the AssumeRoles
		base.HTTPClient = bc.WithTransportOptions(func(tr *http.Transport) {
			tr.MaxIdleConns = max(tr.MaxIdleConns, conns)
			tr.MaxIdleConnsPerHost = max(tr.MaxIdleConnsPerHost, conns)
		})
	}
	throttles := new(atomic.Int64)
	base.Retryer = func() aws.Retryer { return throttleCounter{RetryerV2: retry.NewAdaptiveMode(), n: throttles} }
	base.APIOptions = append(base.APIOptions, sdkbody.PlainRequestBody)
	if len(opts.Regions) == 0 && base.Region != "" {
		opts.Regions = []string{base.Region}
	}
	e := &Engine{
		base:      base,
		opts:      opts,
		build:     b,
		sleep:     sleepContext,
		throttles: throttles,
		inflight:  make(chan struct{}, MaxCallsInFlight),
		idle:      make(chan func()),
	}
	stsCfg := base.Copy()
	if stsCfg.Region == "" {
		stsCfg.Region = homeRegion("aws")
	}
	e.sts = b.sts(stsCfg)
	e.assumeRoles = newKeyedLimiter(time.Second/AssumeRoleRate, e.now, func(ctx context.Context, d time.Duration) error { return e.sleep(ctx, d) })
	e.lookupEvents = newKeyedLimiter(lookupEventsInterval, e.now, func(ctx context.Context, d time.Duration) error { return e.sleep(ctx, d) })
	return e
}

func (e *Engine) now() time.Time { return e.opts.Now() }

// dataset returns the IAM action dataset, parsed on first use so that
// building an Engine costs nothing at a cold start.
func (e *Engine) dataset() *iamdata.Dataset {
	if e.data != nil {
		return e.data
	}
	return iamdata.Embedded()
}

// facts are what probes saw that diagnoses need.
type facts struct {
	curEmpty bool
	// curRegion is where the CUR bucket answered; curKey the first
	// report file listed.
	curRegion, curKey string
	// curKMSKey is the KMS key a report file is encrypted with, when it
	// is not the key the stack was given.
	curKMSKey         string
	cur               curSources
	bedrockLoggingOff []string
	// roleDiffers says how the role differs from what the stack set;
	// boundary is the role's permissions boundary, if it has one.
	roleDiffers []string
	boundary    string
}

// run is the state of one verification.
type run struct {
	e       *Engine
	role    Role
	arn     ARN
	home    string
	granted []string
	s       *session
	rep     Report
	facts   facts
	// docs are the role's policies as read back; docsRead is true when
	// every one of them was read.
	docs     []permissions.Document
	docsRead bool
	// sem bounds the calls in flight for this account (perAccountCalls);
	// forks share it.
	sem chan struct{}
	// mu guards facts that concurrent probes add to.
	mu sync.Mutex
}

// Verify verifies one role. It never returns an error: whatever goes wrong
// is in the Report.
func (e *Engine) Verify(ctx context.Context, r Role) Report {
	start := e.now()
	arn, arnErr := ParseRoleARN(r.RoleARN)
	if r.AccountID == "" && arnErr == nil {
		r.AccountID = arn.AccountID
	}
	v := &run{e: e, role: r, arn: arn, rep: Report{AccountID: r.AccountID, RoleARN: r.RoleARN}}
	v.verify(ctx)
	v.rep.Duration = e.now().Sub(start)
	e.opts.Logger.LogAttrs(ctx, slog.LevelInfo, "role verified",
		slog.String("accountId", v.rep.AccountID),
		slog.String("status", string(v.rep.Status)),
		slog.Int("probes", len(v.rep.Probes)),
		slog.Int("findings", len(v.rep.Findings)),
		slog.Int64("durationMs", v.rep.Duration.Milliseconds()))
	return v.rep
}

func (v *run) verify(ctx context.Context) {
	e := v.e
	if err := v.role.Validate(); err != nil {
		v.rep.Status = StatusUnreachable
		v.add(DiagnosisInvalidRole, err.Error())
		return
	}
	if len(v.role.Regions) == 0 {
		v.role.Regions = e.opts.Regions
	}
	if len(v.role.Regions) == 0 {
		v.role.Regions = []string{homeRegion(v.arn.Partition)}
	}
	ctx, cancel := context.WithTimeout(ctx, e.opts.AccountTimeout)
	defer cancel()

	creds, ok := v.assume(ctx)
	if !ok {
		v.rep.Status = status(v.rep, false)
		return
	}
	cfg := e.base.Copy()
	cfg.Credentials = aws.NewCredentialsCache(credentials.StaticCredentialsProvider{Value: creds})
	v.s = &session{cfg: cfg, build: &e.build}
	v.home = homeRegion(v.arn.Partition)
	v.granted = permissions.GrantedServices(v.role.Target())

	// Everything after AssumeRole runs at once, bounded per account: the
	// write-safety reads (the longest chain: list, get, get version) start
	// first, then every probe; only the CUR object read waits for the
	// listing that names the object.
	v.sem = make(chan struct{}, perAccountCalls)
	ws := v.fork()
	var wg sync.WaitGroup
	wg.Go(func() { ws.checkWriteSafety(ctx) })
	probes := probesFor(v.role, v.granted, v.home, v.role.Regions)
	results := make([]Probe, len(probes))
	made := make([]bool, len(probes))
	var fromDocs []int // paid probes proven from the policies read back
	for _, chain := range probeChains(probes) {
		wg.Go(func() {
			for _, i := range chain {
				p := probes[i]
				spec, _ := specOf(p)
				if spec.paid && v.role.NoPaidProbes {
					v.mu.Lock()
					fromDocs = append(fromDocs, i)
					v.mu.Unlock()
					continue
				}
				if spec.paid {
					e.paidCalls.Add(1)
				}
				err := v.do(ctx, func() error { return spec.call(ctx, v, &p) })
				if errors.Is(err, errNotMade) {
					continue
				}
				c := classify(err)
				p.Outcome, p.Code = c.outcome, c.code
				if err != nil {
					p.Message = c.message
				}
				results[i], made[i] = p, true
			}
		})
	}
	wg.Wait()
	for _, i := range fromDocs {
		spec, _ := specOf(probes[i])
		results[i], made[i] = proveFromDocuments(probes[i], spec.iamAction, ws.docsRead, ws.docs), true
	}
	for i, p := range results {
		if made[i] {
			v.rep.Probes = append(v.rep.Probes, p)
		}
	}
	v.merge(ws)
	v.docsRead = ws.docsRead
	v.diagnose()
	v.rep.Status = status(v.rep, true)
}

// perAccountCalls bounds the calls one account's verification has in
// flight: enough for every probe of one inventory region, the two policy
// lists and the simulation at once (13), so an account takes a few round
// trips, and few enough to stay well inside one account's IAM request
// rate, which these calls share with the account's own work.
const perAccountCalls = 16

// MaxCallsInFlight bounds the calls the engine has in flight across all
// accounts: each holds an HTTPS connection, and a Lambda function has
// 1,024 file descriptors. Connections are reused from account to
// account, so a run pays for this many TLS handshakes, not one per call.
const MaxCallsInFlight = 768

// do makes one call under the account's bound and the engine's.
func (v *run) do(ctx context.Context, call func() error) error {
	select {
	case v.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-v.sem }()
	select {
	case v.e.inflight <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-v.e.inflight }()
	v.e.calls.Add(1)
	done := make(chan error, 1)
	v.e.work(func() { done <- call() })
	return <-done
}

// workerIdle is how long a call worker waits for its next call before it
// exits.
const workerIdle = 2 * time.Second

// work runs f on an idle call worker, or on a new one. Workers live from
// call to call, so the deep stack an SDK call grows is grown once per
// worker, not once per call (a new goroutine starts with a few kilobytes
// and copies its stack as it grows: a tenth of the engine's CPU before
// workers). There are never more than MaxCallsInFlight busy workers.
func (e *Engine) work(f func()) {
	select {
	case e.idle <- f:
	default:
		go e.worker(f)
	}
}

func (e *Engine) worker(f func()) {
	t := time.NewTimer(workerIdle)
	defer t.Stop()
	for {
		f()
		t.Reset(workerIdle)
		select {
		case f = <-e.idle:
		case <-t.C:
			return
		}
	}
}

// probeChains groups the probes into chains that run one after the
// other: the S3 probes (the object read needs the listing's key), and
// every other probe alone.
func probeChains(probes []Probe) [][]int {
	var chains [][]int
	s3 := -1
	for i, p := range probes {
		if p.Service == "s3" {
			if s3 < 0 {
				s3 = len(chains)
				chains = append(chains, nil)
			}
			chains[s3] = append(chains[s3], i)
			continue
		}
		chains = append(chains, []int{i})
	}
	return chains
}

// fork returns a run for one concurrent part of v's verification: it
// shares v's role, session and bound, and collects its probes, findings,
// unproven checks and documents on its own, for merge to add in a fixed
// order.
func (v *run) fork() *run {
	f := &run{e: v.e, role: v.role, arn: v.arn, home: v.home, granted: v.granted, s: v.s, sem: v.sem}
	f.rep.AccountID, f.rep.RoleARN = v.rep.AccountID, v.rep.RoleARN
	return f
}

// merge adds what a fork collected to v.
func (v *run) merge(f *run) {
	v.rep.Probes = append(v.rep.Probes, f.rep.Probes...)
	v.rep.Findings = append(v.rep.Findings, f.rep.Findings...)
	v.rep.Unproven = append(v.rep.Unproven, f.rep.Unproven...)
	v.docs = append(v.docs, f.docs...)
}

// assume assumes the role with the external ID, retrying while AWS denies
// it for up to AssumeRoleWait, and records the attempt as a probe.
func (v *run) assume(ctx context.Context) (aws.Credentials, bool) {
	e := v.e
	p := Probe{Service: "sts", Action: "AssumeRole", Region: stsRegion(e.base)}
	deadline := e.now().Add(e.opts.AssumeRoleWait)
	delay := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		if err := e.assumeRoles.wait(ctx, "sts"); err != nil {
			p.Outcome, p.Message = OutcomeError, err.Error()
			v.rep.Probes = append(v.rep.Probes, p)
			return aws.Credentials{}, false
		}
		e.calls.Add(1)
		out, err := e.sts.AssumeRole(ctx, &sts.AssumeRoleInput{
			RoleArn:         aws.String(v.role.RoleARN),
			RoleSessionName: aws.String(e.opts.SessionName),
			ExternalId:      aws.String(v.role.ExternalID),
			DurationSeconds: aws.Int32(sessionSeconds),
		})
		if err == nil && out.Credentials != nil {
			p.Outcome = OutcomeOK
			if attempt > 1 {
				p.Message = fmt.Sprintf("allowed after %d attempts", attempt)
			}
			v.rep.Probes = append(v.rep.Probes, p)
			c := out.Credentials
			return aws.Credentials{
				AccessKeyID:     aws.ToString(c.AccessKeyId),
				SecretAccessKey: aws.ToString(c.SecretAccessKey),
				SessionToken:    aws.ToString(c.SessionToken),
				Source:          "rolecall-verify",
			}, true
		}
		if err == nil {
			err = fmt.Errorf("AssumeRole returned no credentials")
		}
		wait := delay + rand.N(delay/2) //nolint:gosec // jitter, not a secret
		if isAccessDenied(err) && e.now().Add(wait).Before(deadline) {
			if serr := e.sleep(ctx, wait); serr == nil {
				delay = min(2*delay, 5*time.Second)
				continue
			}
		}
		c := classify(err)
		p.Outcome, p.Code, p.Message = c.outcome, c.code, c.message
		v.rep.Probes = append(v.rep.Probes, p)
		if c.outcome == OutcomeDenied {
			v.add(DiagnosisExternalIDMismatch, fmt.Sprintf(
				"AWS refused to let this identity assume %s (%s), also after %d attempts over %s: the external ID does not match the one the role trusts, or the role's trust policy does not name this identity. Confirm the external ID your vendor gave you (it must equal the onboarding stack's ExternalId), and run verify as the vendor's verifier or an identity listed in AdditionalVerifierPrincipalArns.",
				v.role.RoleARN, c.code, attempt, e.opts.AssumeRoleWait.Round(time.Second)))
		} else {
			v.add(DiagnosisAssumeRoleFailed, fmt.Sprintf(
				"AssumeRole of %s failed: %s. Nothing about the role is known; check your credentials, region and network, then verify again.", v.role.RoleARN, c.message))
		}
		return aws.Credentials{}, false
	}
}

func stsRegion(cfg aws.Config) string {
	if cfg.Region != "" {
		return cfg.Region
	}
	return homeRegion("aws")
}

// VerifyAll verifies every role of roles with at most Concurrency at once,
// calls each (if not nil) with every report as it finishes, one call at a
// time, and returns the counts. Reports are not kept: a caller that needs
// them keeps them in each. A role whose ctx ends before it is verified is
// still reported, as unreachable.
func (e *Engine) VerifyAll(ctx context.Context, roles iter.Seq[Role], each func(Report)) Summary {
	start := e.now()
	jobs := make(chan Role)
	results := make(chan Report)
	gate := newAIMD(e.opts.MinConcurrency, e.opts.Concurrency, aimdCooldown, e.now)
	throttlesBefore := e.throttles.Load()
	callsBefore, paidBefore := e.calls.Load(), e.paidCalls.Load()
	var wg sync.WaitGroup
	for range e.opts.Concurrency {
		wg.Go(func() {
			for r := range jobs {
				gate.acquire()
				before := e.throttles.Load()
				rep := e.Verify(ctx, r)
				gate.release(e.throttles.Load() > before)
				results <- rep
			}
		})
	}
	go func() {
		for r := range roles {
			jobs <- r
		}
		close(jobs)
		wg.Wait()
		close(results)
	}()
	var s Summary
	for rep := range results {
		s.Add(rep)
		if each != nil {
			each(rep)
		}
	}
	s.Duration = e.now().Sub(start)
	s.Throttles = e.throttles.Load() - throttlesBefore
	s.Calls, s.PaidCalls = e.calls.Load()-callsBefore, e.paidCalls.Load()-paidBefore
	_, s.LowestConcurrency = gate.current()
	if s.Throttles > 0 {
		e.opts.Logger.LogAttrs(ctx, slog.LevelWarn, "AWS throttled the verification",
			slog.Int64("throttles", s.Throttles), slog.Int("lowestConcurrency", s.LowestConcurrency), slog.Int("ceiling", e.opts.Concurrency))
	}
	return s
}

// aimdCooldown is how long after halving the concurrency another throttle
// may halve it again: about one account's verification, so the answers to
// calls made before the cut do not cut it twice.
const aimdCooldown = time.Second

// Unverified returns the report of a role that was not verified because
// something before verification failed, such as its StackSet instance:
// status unreachable, with the diagnosis given.
func Unverified(accountID, roleARN string, d Diagnosis) Report {
	return Report{AccountID: accountID, RoleARN: roleARN, Status: StatusUnreachable, Diagnoses: []Diagnosis{d}}
}

// sleepContext waits for d or until ctx ends.
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
