package verify

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/rolecall/rolecall/internal/iamdata"
	"github.com/rolecall/rolecall/internal/permissions"
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
	// lookupEventsInterval paces CloudTrail LookupEvents, which allows two
	// calls a second per account and region.
	lookupEventsInterval = 500 * time.Millisecond
)

// Options configure an Engine. The zero value is ready to use.
type Options struct {
	// Concurrency bounds how many roles VerifyAll verifies at once.
	// Zero means DefaultConcurrency.
	Concurrency int
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
	// sleep waits between AssumeRole attempts; tests replace it.
	sleep func(context.Context, time.Duration) error

	writes sync.Map // granted services -> sorted write actions
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
	base.Retryer = func() aws.Retryer { return retry.NewAdaptiveMode() }
	base.APIOptions = append(base.APIOptions, PlainRequestBody)
	if len(opts.Regions) == 0 && base.Region != "" {
		opts.Regions = []string{base.Region}
	}
	e := &Engine{
		base:  base,
		opts:  opts,
		build: b,
		sleep: sleepContext,
	}
	stsCfg := base.Copy()
	if stsCfg.Region == "" {
		stsCfg.Region = homeRegion("aws")
	}
	e.sts = b.sts(stsCfg)
	e.lookupEvents = newKeyedLimiter(lookupEventsInterval, e.now, func(ctx context.Context, d time.Duration) error { return e.sleep(ctx, d) })
	return e
}

func (e *Engine) now() time.Time { return e.opts.Now() }

// dataset returns the IAM action dataset, parsed on first use so that
// building an Engine costs nothing at a cold start.
func (e *Engine) dataset() *iamdata.Dataset { return iamdata.Embedded() }

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

	for _, p := range probesFor(v.role, v.granted, v.home, v.role.Regions) {
		spec, _ := specOf(p)
		err := spec.call(ctx, v, &p)
		if errors.Is(err, errNotMade) {
			continue
		}
		c := classify(err)
		p.Outcome, p.Code = c.outcome, c.code
		if err != nil {
			p.Message = c.message
		}
		v.rep.Probes = append(v.rep.Probes, p)
	}
	v.checkWriteSafety(ctx)
	v.diagnose()
	v.rep.Status = status(v.rep, true)
}

// assume assumes the role with the external ID, retrying while AWS denies
// it for up to AssumeRoleWait, and records the attempt as a probe.
func (v *run) assume(ctx context.Context) (aws.Credentials, bool) {
	e := v.e
	p := Probe{Service: "sts", Action: "AssumeRole", Region: stsRegion(e.base)}
	deadline := e.now().Add(e.opts.AssumeRoleWait)
	delay := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
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
	var wg sync.WaitGroup
	for range e.opts.Concurrency {
		wg.Go(func() {
			for r := range jobs {
				results <- e.Verify(ctx, r)
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
	return s
}

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
