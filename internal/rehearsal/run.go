package rehearsal

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsarn "github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rolecall/rolecall/callback"
	"github.com/rolecall/rolecall/internal/controlplane"
	"github.com/rolecall/rolecall/internal/emulator"
	"github.com/rolecall/rolecall/internal/ledger"
	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/params"
	"github.com/rolecall/rolecall/internal/profile"
	"github.com/rolecall/rolecall/internal/synth"
	"github.com/rolecall/rolecall/internal/vault"
	"github.com/rolecall/rolecall/internal/vendordb"
	"github.com/rolecall/rolecall/internal/verify"
	"github.com/rolecall/rolecall/internal/verify/cli"
)

// Options configure a rehearsal.
type Options struct {
	// Profile is the vendor whose kit is rehearsed.
	Profile *profile.Profile
	// Accounts is the number of member accounts (at least 4).
	Accounts int
	// Tamper applies each variant to a member role after the onboarding,
	// to show the finding or unverifiable account, the FAILED update that
	// tells the vendor, and the rollback that succeeds.
	Tamper []Tampering
	// Runtime runs the built bootstrap under the Lambda Runtime Interface
	// Emulator (see BuildRuntime); nil runs the function in-process.
	Runtime *Runtime
	// Keep, if set, pauses before the stack is deleted with the vendor's
	// page up: the rehearsal prints its address and token and goes on when
	// a line is read from Keep (the terminal's Enter).
	Keep io.Reader
	// Inspect, if set, is called at the same point with the vendor's page,
	// for the end-to-end test to look at it in a browser.
	Inspect func(ctx context.Context, page VendorPage) error
	// Out receives the readable report.
	Out io.Writer
	// Log receives the function's JSON log and the emulator's output; nil
	// discards them.
	Log io.Writer
	// DataDir holds the vendor's SQLite database; empty means a temporary
	// directory removed at the end.
	DataDir string
	// VendorDownAtDelete stops the vendor's endpoint before the stack is deleted, to
	// show that deletion never waits on the vendor.
	VendorDownAtDelete bool
	// CallAs DELEGATED_ADMIN rehearses a delegated administrator's
	// onboarding: the StackSet from the administrator's account, the
	// management account's role from a second stack. Empty means SELF.
	CallAs string
}

// Step is one timed step of the rehearsal.
type Step struct {
	Name     string
	Duration time.Duration
}

// Result is what a rehearsal did, for the end-to-end test to check.
type Result struct {
	Org               *emulator.Org
	StackID           string
	ManagementRoleARN string
	StackSetName      string
	Preflight         Response
	Create            Response
	// CreateStored is what the vendor holds after Create.
	CreateStored *ledger.Onboarding
	Rotate       Response
	RotateStored *ledger.Onboarding
	// JoinedAccount is the account that joined an OU after onboarding.
	JoinedAccount string
	JoinStored    *ledger.Onboarding
	// LeftAccount left the organization after that; LeaveStored is what
	// the vendor holds then.
	LeftAccount string
	LeaveStored *ledger.Onboarding
	// KeptAccount joined while the vendor's endpoint was down: its
	// account.added waited in the stack's outbox and went out, first, with
	// the next callback. KeptStored is what the vendor held right after
	// the event (without it).
	KeptAccount string
	KeptStored  *ledger.Onboarding
	// DeadLetterAccount joined while the function could not read its own
	// secret (a Deny someone put on its role): its event went to the
	// dead-letter queue. DeadLetters is how many events the
	// verification after that counted there; Replayed how many the replay
	// then handled, and ReplayStored what the vendor holds after it.
	DeadLetterAccount string
	DeadLetters       string
	Replayed          int
	ReplayStored      *ledger.Onboarding
	// Scheduled is what the scheduled re-verification reported.
	Scheduled *Scheduled
	// CUR has one entry per CUR placement rehearsed.
	CUR []CURPlacement
	// DelegatedAdmin is the delegated administrator's account, with CallAs
	// DELEGATED_ADMIN; Payer is the management account's own stack then,
	// and Covered the administrator's update that covers it.
	DelegatedAdmin string
	Payer          *StackResult
	Covered        Response
	CoveredStored  *ledger.Onboarding
	// Tampered has one entry per Options.Tamper variant.
	Tampered []Tampered
	// StrayDelete is a Delete sent while the stack was not being deleted.
	StrayDelete  Response
	Delete       Response
	DeleteStored *ledger.Onboarding
	// VerifyExitCode is the verify tool's exit status, run by a security
	// reviewer after the onboarding.
	VerifyExitCode int
	// VendorConfirmed is how many roles the vendor confirmed itself after
	// the Create (assumed with the external ID, read probes run).
	VendorConfirmed int
	// OrganizationProof is what the vendor's confirmation found of the
	// organization the stack claims: proven, when the management
	// account's role reports it.
	OrganizationProof string
	// RotationClosed: the vendor confirmed the new external ID and made it
	// the customer's current one.
	RotationClosed bool
	// VendorURL is the customer's page on the vendor's operator page,
	// VendorToken its access token, CustomerID the customer the vendor
	// issued.
	VendorURL, VendorToken, CustomerID string
	// Endpoints are the loopback addresses the rehearsal served on; all
	// are closed when Run returns.
	Endpoints []string
	// FunctionActions are the actions the template grants the function's
	// execution role; FunctionCalls counts the operations ("Service:
	// Operation") the function made with that role, not with the roles it
	// assumes.
	FunctionActions []string
	FunctionCalls   map[string]int
	Steps           []Step
	Total           time.Duration
}

// stackName is the onboarding stack's name, as samconfig.toml names it;
// payerStackName the management account's own stack beside a delegated
// administrator's.
const (
	stackName      = "rolecall-onboarding"
	payerStackName = "rolecall-onboarding-management"
)

// Run rehearses an onboarding end to end and stops everything it started
// before it returns, also when ctx is cancelled.
func Run(ctx context.Context, opts Options) (res *Result, err error) {
	if opts.Profile == nil {
		return nil, errors.New("rehearsal: no vendor profile")
	}
	if opts.Accounts < 4 {
		return nil, fmt.Errorf("rehearsal: %d accounts; use at least 4, one per OU", opts.Accounts)
	}
	r := &rehearsal{opts: opts, res: &Result{}, out: opts.Out, began: time.Now(), stackRun: &stackRun{}, metrics: &metricLines{}}
	if r.out == nil {
		r.out = io.Discard
	}
	r.out = &syncWriter{w: r.out}
	logw := opts.Log
	if logw == nil {
		logw = io.Discard
	}
	r.log = slog.New(slog.NewJSONHandler(logw, nil))
	defer func() {
		r.res.Total = time.Since(r.began)
		if r.calls != nil {
			r.res.FunctionCalls = r.calls.Snapshot()
		}
		if cerr := r.close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	if err := r.run(ctx); err != nil {
		return r.res, err
	}
	return r.res, nil
}

type rehearsal struct {
	opts  Options
	res   *Result
	out   io.Writer
	log   *slog.Logger
	began time.Time

	aws, responses *emulator.Server
	fakes          *emulator.RecordedFakes
	admin          aws.Config
	org            *emulator.Org
	dataDir        string
	tempDir        bool
	// The vendor: rolecall-vendor's control plane on SQLite in dataDir,
	// the customer it issued, and its operator token.
	vendor       *controlplane.Service
	vendorDB     *vendordb.DB
	customer     *controlplane.HandOver
	vendorToken  string
	vendorURL    string
	stopReceiver context.CancelFunc
	receiverDone chan error
	receiverURL  string
	// vendorDown makes the vendor's callback endpoint answer 404, as an endpoint that is
	// misdeployed for a while.
	vendorDown atomic.Bool

	mgmt, role []byte
	reviewer   aws.Config
	reviewerID string

	// The stack being rehearsed. With a delegated administrator there are
	// two: the administrator's (this one) and the management account's
	// own, created by swapping it in.
	*stackRun
	payer *stackRun
	// rie are the emulator processes started, stopped at the end.
	rie []*rieFunction
	// metrics keeps the function's metrics lines (embedded metric format)
	// as CloudWatch Logs would receive them.
	metrics *metricLines
}

// stackRun is one onboarding stack and its function, as CloudFormation
// and Lambda run them.
type stackRun struct {
	d      *Deployment
	values map[string]string
	fn     *onboarding.Function
	// invokeFn invokes the function as Lambda would.
	invokeFn func(context.Context, json.RawMessage) error
	calls    *emulator.CallLog
	cf       *cloudFormation
	stack    *emulator.PlayedStack
	// functionSession is the function's execution role, as Lambda uses it
	// for the function's destinations.
	functionSession aws.Config
}

func (r *rehearsal) printf(format string, args ...any) { fmt.Fprintf(r.out, format, args...) }

// step runs fn as a timed, numbered step of the report.
func (r *rehearsal) step(name string, fn func() error) error {
	r.printf("\n== %s\n", name)
	start := time.Now()
	err := fn()
	took := time.Since(start)
	r.res.Steps = append(r.res.Steps, Step{Name: name, Duration: took})
	if err != nil {
		r.printf("   FAILED after %s: %v\n", round(took), err)
		return fmt.Errorf("%s: %w", name, err)
	}
	r.printf("   (%s)\n", round(took))
	return nil
}

func (r *rehearsal) run(ctx context.Context) error {
	p := r.opts.Profile
	r.printf("rolecall rehearsal: %s onboarding of an organization with %d member accounts, on a local AWS emulator.\n", p.Name, r.opts.Accounts)
	r.printf("No AWS account or credentials are used; every AWS call goes to moto on loopback, with IAM authorisation enforced.\n")
	type stepFn struct {
		name string
		fn   func(context.Context) error
	}
	steps := []stepFn{
		{"Local AWS: an organization, its CUR bucket, and the vendor (rolecall-vendor)", r.setUp},
		{"Create the onboarding stack, resource by resource, from " + synth.ManagementTemplatePath, r.create},
		{"Rotate the external ID (an Update that keeps the old value as PreviousExternalId)", r.rotate},
		{"Accounts join an OU and one leaves: the StackSet follows, EventBridge tells the function; news the vendor misses waits in the outbox, an event the function cannot handle in the dead-letter queue", r.join},
		{"CUR where customers keep it: another region, a log-archive account, SSE-KMS, a CUR 2.0 export", r.curPlacements},
		{"Replay the kept instance event, as the customer guide says", r.replay},
		{"Time passes: the re-verification schedule fires three times (played here: moto's scheduler fires nothing); a role drifts while the vendor is down, an account joins unannounced, the role is put right", r.timePasses},
	}
	if r.delegated() {
		steps = []stepFn{
			{"Local AWS: an organization with a delegated administrator for StackSets, its CUR bucket, and the vendor (rolecall-vendor)", r.setUp},
			{"Create the delegated administrator's stack (StackSetCallAs DELEGATED_ADMIN): the StackSet, every member; the management account is not covered yet", r.create},
			{"Create the management account's own stack (StackSetCallAs SELF, DeployToOrganization false), trusting the administrator's function", r.createPayerStack},
			{"Update the administrator's stack: it now verifies the management account's role too", r.coverManagement},
		}
	}
	if len(r.opts.Tamper) > 0 {
		var names []string
		for _, t := range r.opts.Tamper {
			names = append(names, t.Name)
		}
		steps = append(steps, stepFn{"Tampering (" + strings.Join(names, ", ") + "): a member role is changed behind the stack's back, then the stack is updated", r.tamper})
	}
	steps = append(steps, stepFn{"A security reviewer runs the verify tool", r.reviewerVerifies})
	if r.opts.Keep != nil || r.opts.Inspect != nil {
		steps = append(steps, stepFn{"The vendor's operator page, kept up", r.keepUp})
	}
	steps = append(steps,
		stepFn{"Delete the stack: the vendor is told first, then the roles go", func(ctx context.Context) error {
			if err := r.delete(ctx); err != nil {
				return err
			}
			return r.deletePayer(ctx)
		}},
	)
	for i := range steps {
		steps[i].name = fmt.Sprintf("%d. %s", i+1, steps[i].name)
	}
	for _, s := range steps {
		if err := r.step(s.name, func() error { return s.fn(ctx) }); err != nil {
			return err
		}
	}
	return nil
}

func (r *rehearsal) setUp(ctx context.Context) error {
	var err error
	emuLog := r.opts.Log
	r.aws, err = emulator.Start(ctx, emulator.Options{Output: emuLog})
	if err != nil {
		return err
	}
	r.res.Endpoints = append(r.res.Endpoints, r.aws.Endpoint())
	r.responses, err = emulator.Start(ctx, emulator.Options{Output: emuLog, AuthOff: true})
	if err != nil {
		return err
	}
	r.res.Endpoints = append(r.res.Endpoints, r.responses.Endpoint())
	r.fakes, err = r.aws.StartRecordedFakes(ctx)
	if err != nil {
		return err
	}
	r.res.Endpoints = append(r.res.Endpoints, r.fakes.Endpoint())
	r.admin = r.aws.Config()
	r.printf("   moto (IAM authorisation enforced) on %s; CloudFormation's response bucket on %s (a second moto: that bucket is not in your account)\n", r.aws.Endpoint(), r.responses.Endpoint())
	r.printf("   APIs moto lacks (%s) answered with recorded responses on %s\n", strings.Join(emulator.RecordedAPIs(), ", "), r.fakes.Endpoint())

	r.org, err = emulator.SeedOrganization(ctx, r.admin, orgSpec(r.opts.Accounts))
	if err != nil {
		return err
	}
	r.res.Org = r.org
	r.printf("   organization %s: management account %s, %d member accounts:\n", r.org.ID, r.org.ManagementAccountID, len(r.org.Accounts))
	for _, ou := range r.org.OUs {
		r.printf("     %-22s %s  %d accounts\n", ou.Path, ou.ID, len(ou.AccountIDs))
	}
	bucket := "org-cur-" + r.org.ManagementAccountID
	if err := createCURBucket(ctx, r.admin, bucket, "cur/"); err != nil {
		return err
	}
	r.printf("   CUR bucket %s with a report under cur/\n", bucket)

	// A security reviewer of the customer's, allowed to run the verify tool.
	reviewerARN := "arn:aws:iam::" + r.org.ManagementAccountID + ":user/security-reviewer"
	r.reviewer, err = emulator.CreateUser(ctx, r.admin, "security-reviewer", emulator.AllowPolicy("sts:AssumeRole", "cloudformation:ListStackInstances", "cloudformation:DescribeStackSet"))
	if err != nil {
		return err
	}
	r.reviewerID = reviewerARN

	if err := r.startVendor(ctx); err != nil {
		return err
	}
	r.values = map[string]string{
		params.ExternalID.Name:                      r.customer.ExternalID,
		params.CallbackSecret.Name:                  r.customer.Secret,
		params.CURBucketName.Name:                   bucket,
		params.CURReportPrefix.Name:                 "cur/",
		params.LogGroupNames.Name:                   "/aws/bedrock/modelinvocations",
		params.RolePath.Name:                        "/vendors/",
		params.ResourceTags.Name:                    "cost-center=1234,owner=platform",
		params.AdditionalVerifierPrincipalARNs.Name: reviewerARN,
	}
	if r.delegated() {
		if err := r.registerDelegatedAdmin(ctx); err != nil {
			return err
		}
	}
	return nil
}

// startVendor runs rolecall-vendor's control plane as the vendor, on
// loopback with a SQLite database: it issues the customer's external ID and
// callback secret, receives every callback (each identity proof checked
// against the emulator's STS), and confirms every reported role by
// assuming it as the vendor's ingestion principal.
func (r *rehearsal) startVendor(ctx context.Context) error {
	r.dataDir = r.opts.DataDir
	if r.dataDir == "" {
		dir, err := os.MkdirTemp("", "rolecall-vendor-")
		if err != nil {
			return err
		}
		r.dataDir, r.tempDir = dir, true
	}
	keyLine, err := vault.NewKey("rehearsal")
	if err != nil {
		return err
	}
	keys, err := vault.ParseKeys(keyLine)
	if err != nil {
		return err
	}
	r.vendorDB, err = vendordb.Open(ctx, filepath.Join(r.dataDir, "vendor.db"), vendordb.Options{})
	if err != nil {
		return err
	}
	confirmer, principal, err := r.vendorConfirmer(ctx)
	if err != nil {
		return err
	}
	r.vendor, err = controlplane.New(controlplane.Config{
		DB: r.vendorDB, Keys: keys, Profile: r.opts.Profile,
		// The function signs its identity proof for the endpoint its SDK
		// uses; the front forwards STS to moto.
		STSEndpoint: r.fakes.Endpoint(),
		STSRegion:   emulator.DefaultRegion,
		Confirmer:   confirmer,
		Out:         newPrefixWriter(r.out, "   vendor: "),
		Logger:      r.log,
	})
	if err != nil {
		return err
	}
	r.customer, err = r.vendor.AddCustomer(ctx, controlplane.AddRequest{Name: "Example Corp", Region: emulator.DefaultRegion})
	if err != nil {
		return err
	}
	token := make([]byte, 24)
	if _, err := rand.Read(token); err != nil {
		return err
	}
	r.vendorToken = hex.EncodeToString(token)
	u, err := url.Parse(r.opts.Profile.Callback.URL)
	if err != nil {
		return err
	}
	h, err := r.vendor.Handler(controlplane.HandlerOptions{CallbackPath: u.Path, Token: r.vendorToken})
	if err != nil {
		return err
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	r.receiverURL = "http://" + ln.Addr().String() + u.Path
	r.vendorURL = "http://" + ln.Addr().String() + "/customers/" + r.customer.CustomerID
	r.res.Endpoints = append(r.res.Endpoints, ln.Addr().String())
	r.res.VendorURL, r.res.VendorToken, r.res.CustomerID = r.vendorURL, r.vendorToken, r.customer.CustomerID
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.stopReceiver = cancel
	r.receiverDone = make(chan error, 1)
	down := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.vendorDown.Load() && req.URL.Path == u.Path {
			// A misdeployed endpoint (404) is not retried by the sender,
			// so the failure reaches Lambda at once; an outage (503)
			// would be retried for minutes first.
			http.Error(w, "no such route: the vendor's endpoint is being redeployed", http.StatusNotFound)
			return
		}
		h.ServeHTTP(w, req)
	})
	go func() { r.receiverDone <- controlplane.Serve(rctx, ln, down, "", "") }()
	r.printf("   %s's endpoint %s is played by rolecall-vendor on %s (SQLite, %s)\n", r.opts.Profile.Name, r.opts.Profile.Callback.URL, r.receiverURL, r.vendorDB.Where())
	r.printf("   (each callback is checked with its customer's secret only, and its AWS identity proof against the emulator's STS)\n")
	r.printf("   $ rolecall-vendor customers add --name \"Example Corp\" --region %s\n", r.customer.Region)
	r.printf("   customer %s: external ID %s, callback secret whsec_... (key id %s)\n", r.customer.CustomerID, r.customer.ExternalID, r.customer.KeyID)
	r.printf("   the vendor confirms every reported role as %s\n", principal)
	r.printf("   operator page: %s (token %s)\n", r.vendorURL, r.vendorToken)
	return nil
}

// VendorPage is the vendor's operator page while the rehearsal runs.
type VendorPage struct {
	// BaseURL serves the customers page at /; CustomerURL is the
	// rehearsed customer's page.
	BaseURL, CustomerURL, Token string
	CustomerID, OrganizationKey string
	DB                          *vendordb.DB
}

// keepUp hands the vendor's page to Inspect, then prints it and waits for
// a line from Keep.
func (r *rehearsal) keepUp(ctx context.Context) error {
	r.vendor.WaitConfirmations()
	if r.opts.Inspect != nil {
		page := VendorPage{BaseURL: strings.TrimSuffix(r.vendorURL, "/customers/"+r.customer.CustomerID), CustomerURL: r.vendorURL, Token: r.vendorToken,
			CustomerID: r.customer.CustomerID, OrganizationKey: r.org.ID, DB: r.vendorDB}
		if err := r.opts.Inspect(ctx, page); err != nil {
			return fmt.Errorf("the vendor's page: %w", err)
		}
		r.printf("   the vendor's page was inspected in a browser\n")
	}
	if r.opts.Keep == nil {
		return nil
	}
	r.printf("   The vendor's operator page is up:\n\n     %s\n     %s\n\n", strings.TrimSuffix(r.vendorURL, "/customers/"+r.customer.CustomerID)+"/", r.vendorURL)
	r.printf("   Sign in with any user name and the token as password: %s\n", r.vendorToken)
	r.printf("   (or: curl -H 'Authorization: Bearer %s' %s/api/v1/customers/%s)\n", r.vendorToken, strings.TrimSuffix(r.vendorURL, "/customers/"+r.customer.CustomerID), r.customer.CustomerID)
	r.printf("   Press Enter to delete the stack and finish.\n")
	line := make(chan error, 1)
	go func() {
		_, err := bufio.NewReader(r.opts.Keep).ReadString('\n')
		line <- err
	}()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case err := <-line:
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read the terminal: %w", err)
		}
		return nil
	}
}

// vendorConfirmer is the vendor's ingestion principal in the emulator: the
// profile's principal (a role in the vendor's account), assumed, with
// sts:AssumeRole on customer roles.
func (r *rehearsal) vendorConfirmer(ctx context.Context) (controlplane.Confirmer, string, error) {
	arn := r.opts.Profile.Principal("aws")
	parsed, err := awsarn.Parse(arn)
	if err != nil || !strings.HasPrefix(parsed.Resource, "role/") {
		return nil, "", fmt.Errorf("the vendor profile's principal %q is not a role ARN the rehearsal can play", arn)
	}
	name := parsed.Resource[strings.LastIndex(parsed.Resource, "/")+1:]
	admin, err := r.aws.AccountConfig(ctx, parsed.AccountID)
	if err != nil {
		return nil, "", err
	}
	adminARN := "arn:aws:sts::" + parsed.AccountID + ":assumed-role/" + emulator.OrganizationAccountAccessRole + "/emulator-admin"
	if _, err := emulator.CreateRole(ctx, admin, name, emulator.TrustPolicy(adminARN), emulator.AllowPolicy("sts:AssumeRole")); err != nil {
		return nil, "", err
	}
	session, err := emulator.AssumeRole(ctx, admin, arn, "", "ingestion")
	if err != nil {
		return nil, "", err
	}
	engine := verify.New(r.fakes.Through(session), verify.Options{S3PathStyle: true, Concurrency: 32, Regions: []string{emulator.DefaultRegion}})
	return controlplane.EngineConfirmer{Engine: engine}, arn, nil
}

func (r *rehearsal) create(ctx context.Context) error {
	files, err := synth.Build(r.opts.Profile)
	if err != nil {
		return err
	}
	r.mgmt, r.role, err = templateFiles(files)
	if err != nil {
		return err
	}
	admin, account := r.admin, r.org.ManagementAccountID
	if r.delegated() {
		account = r.res.DelegatedAdmin
		if admin, err = r.aws.AccountConfig(ctx, account); err != nil {
			return err
		}
	}
	sr, err := r.createStack(ctx, admin, account, stackName)
	r.res.StackID, r.res.Preflight, r.res.Create, r.res.CreateStored = sr.StackID, sr.Preflight, sr.Create, sr.Stored
	r.res.ManagementRoleARN, r.res.StackSetName = sr.ManagementRoleARN, sr.StackSetName
	if err != nil || r.delegated() {
		return err
	}
	org, _, err := r.vendorDB.Onboarding(ctx, r.org.ID)
	if err != nil {
		return err
	}
	r.res.VendorConfirmed = org.Confirmed
	r.res.OrganizationProof = string(org.Proof)
	return nil
}

// StackResult is what creating one onboarding stack did.
type StackResult struct {
	StackID           string
	Preflight, Create Response
	// Stored is what the vendor holds after the Create.
	Stored            *ledger.Onboarding
	ManagementRoleARN string
	StackSetName      string
}

// createStack plays CloudFormation creating the onboarding stack name in
// account (admin is an administrator there), as r.stackRun.
func (r *rehearsal) createStack(ctx context.Context, admin aws.Config, account, name string) (StackResult, error) {
	var res StackResult
	var err error
	r.d, err = deployBase(ctx, admin, account, r.mgmt, name, r.values)
	if err != nil {
		return res, err
	}
	res.StackID = r.d.StackID
	// CloudFormation is played here, not by moto: the front answers the
	// function's questions about its own stack with the played status.
	r.stack = r.fakes.PlayStack(r.d.StackID, name, "CREATE_IN_PROGRESS")
	r.stack.SetParameters(r.d.stack.Parameters())
	r.printf("   %-28s %s\n", synth.SecretLogicalID, r.d.SecretARN)
	r.printf("   %-28s %s (the policy in template.yaml, enforced by moto)\n", synth.FunctionRoleLogicalID, r.d.FunctionRoleARN)
	if err := r.startFunction(ctx); err != nil {
		return res, err
	}

	pre, err := r.invoke(ctx, r.event(cfn.RequestCreate, synth.PreflightLogicalID, params.PreflightType, nil, ""), cfn.StatusSuccess, params.DataDeploymentTargets, params.DataAccounts)
	res.Preflight = pre
	if err != nil {
		return res, err
	}
	if err := r.d.deployStackSetPolicy(ctx, r.d.Admin, pre.Data); err != nil {
		return res, err
	}
	if r.stackRun != r.payer {
		r.res.FunctionActions = r.d.FunctionActions
	}
	if err := r.d.deployQueuePolicy(ctx, r.d.Admin); err != nil {
		return res, err
	}
	if err := r.d.deployManagementRole(ctx, r.d.Admin, r.role); err != nil {
		return res, err
	}
	res.ManagementRoleARN = r.d.ManagementRoleARN
	if r.d.ManagementRoleARN != "" {
		r.printf("   %-28s nested stack from %s: %s\n", synth.ManagementRoleLogicalID, synth.RoleTemplatePath, r.d.ManagementRoleARN)
	} else {
		r.printf("   %-28s none: a delegated administrator's stack creates no role of its own\n", synth.ManagementRoleLogicalID)
	}
	if ok, err := r.d.stack.HasResource(synth.StackSetLogicalID); err != nil {
		return res, err
	} else if ok {
		start := time.Now()
		if err := r.d.deployStackSet(ctx, r.d.Admin, pre.Data); err != nil {
			return res, err
		}
		res.StackSetName = r.d.StackSetName
		instances, err := emulator.ListInstances(ctx, r.d.Admin, r.d.StackSetName, r.d.CallAs)
		if err != nil {
			return res, err
		}
		r.printf("   %-28s service-managed (CallAs %s), %d instances CURRENT (%s)\n", synth.StackSetLogicalID, r.d.CallAs, len(instances), round(time.Since(start)))
	}

	created, err := r.invoke(ctx, r.event(cfn.RequestCreate, synth.VerificationLogicalID, params.VerificationType, nil, ""), cfn.StatusSuccess,
		params.DataAccountCount, params.DataVerifiedCount, params.DataVerificationStatus, params.DataCallbackStatus)
	res.Create = created
	if err != nil {
		return res, err
	}
	r.stack.SetStatus("CREATE_COMPLETE")
	r.stack.SetResource(synth.VerificationLogicalID, created.PhysicalResourceID, params.VerificationType)
	res.Stored, err = r.stored(ctx)
	if err != nil {
		return res, err
	}
	r.printStored(res.Stored)
	return res, nil
}

// startFunction builds the onboarding function as Lambda would run it:
// under a session of its execution role, with the template's environment.
// The vendor's callback URL is the one change: rolecall-vendor plays it.
func (r *rehearsal) startFunction(ctx context.Context) error {
	session, err := emulator.AssumeRole(ctx, r.d.Admin, r.d.FunctionRoleARN, "", "onboarding-function")
	if err != nil {
		return fmt.Errorf("assume the function's execution role: %w", err)
	}
	creds, err := session.Credentials.Retrieve(ctx)
	if err != nil {
		return err
	}
	// What the function does with its own role is counted where the
	// requests pass, whichever way it runs.
	r.calls = r.fakes.RecordCalls(creds.AccessKeyID)
	r.functionSession = session
	env := map[string]string{}
	for k, v := range r.d.FunctionEnv {
		env[k] = v
	}
	env[params.EnvCallbackURL] = r.receiverURL
	if rt := r.opts.Runtime; rt != nil {
		return r.startRIE(ctx, *rt, env, creds)
	}
	r.fn = onboarding.NewFunction(r.fakes.Through(session), onboarding.Options{
		AllowLoopbackHTTP: true,
		Logger:            r.log,
		Getenv:            func(k string) string { return env[k] },
		Verify:            verify.Options{AssumeRoleWait: 2 * time.Second, Logger: r.log},
		STSEndpoint:       r.fakes.Endpoint(),
		STSRegion:         emulator.DefaultRegion,
		// Retries come sooner than against a real endpoint: the rehearsal
		// shows what happens, it need not wait as long for it.
		Callback: callback.SenderConfig{BaseDelay: 200 * time.Millisecond, MaxDelay: time.Second},
		Metrics:  r.metrics,
	})
	// Lambda tells the function which function it is; the function answers
	// only events whose ServiceToken is itself.
	invoke := func(ctx context.Context, raw json.RawMessage) error {
		ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: uuidLike(), InvokedFunctionArn: r.d.FunctionARN})
		return r.fn.Invoke(ctx, raw)
	}
	r.invokeFn = invoke
	r.cf, err = newCloudFormation(ctx, r.responses.Config(), invoke)
	return err
}

// startRIE runs the built bootstrap under AWS's runtime interface
// emulator, configured only through its environment: the template's
// variables (the vendor's callback URL replaced by rolecall-vendor's), what
// Lambda sets (region, the execution role's credentials, the function's
// name, memory, timeout and log group), and AWS_ENDPOINT_URL, which points
// the SDK at the emulator. Events go through the emulator's invoke
// endpoint.
func (r *rehearsal) startRIE(ctx context.Context, rt Runtime, env map[string]string, creds aws.Credentials) error {
	props, err := r.d.stack.Properties(synth.FunctionLogicalID)
	if err != nil {
		return err
	}
	name := r.d.physicalName(synth.FunctionLogicalID)
	if len(name) > 64 {
		name = name[:64]
	}
	r.d.useFunctionARN(rieFunctionARN + name)
	env["PATH"] = "/usr/bin:/bin"
	env["AWS_REGION"], env["AWS_DEFAULT_REGION"] = r.d.Region, r.d.Region
	env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_SESSION_TOKEN"] = creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken
	env["AWS_ENDPOINT_URL"] = r.fakes.Endpoint()
	env["AWS_LAMBDA_FUNCTION_NAME"] = name
	env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = fmt.Sprint(props["MemorySize"])
	env["AWS_LAMBDA_FUNCTION_TIMEOUT"] = fmt.Sprint(props["Timeout"])
	if lc, ok := props["LoggingConfig"].(map[string]any); ok {
		env["AWS_LAMBDA_LOG_FORMAT"] = fmt.Sprint(lc["LogFormat"])
		env["AWS_LAMBDA_LOG_GROUP_NAME"] = fmt.Sprint(lc["LogGroup"])
	}
	logw := r.opts.Log
	if logw == nil {
		logw = io.Discard
	}
	f, err := startRIE(ctx, rt, env, io.MultiWriter(logw, r.metrics))
	if err != nil {
		return err
	}
	r.rie = append(r.rie, f)
	r.invokeFn = f.invoke
	r.cf, err = newCloudFormation(ctx, r.responses.Config(), f.invoke)
	if err != nil {
		return err
	}
	r.printf("   %-28s %s under the Lambda Runtime Interface Emulator (%s)\n", synth.FunctionLogicalID, filepath.Base(rt.Bootstrap), r.d.FunctionARN)
	return nil
}

// event builds a custom-resource event with the properties the template
// gives the resource, as CloudFormation evaluates them.
func (r *rehearsal) event(rt cfn.RequestType, logicalID, resourceType string, old map[string]any, physicalID string) cfn.Event {
	props, err := r.d.stack.Properties(logicalID)
	if err != nil {
		panic(fmt.Sprintf("rehearsal: evaluate %s: %v", logicalID, err))
	}
	return cfn.Event{
		RequestType:           rt,
		StackID:               r.d.StackID,
		LogicalResourceID:     logicalID,
		ResourceType:          resourceType,
		PhysicalResourceID:    physicalID,
		ResourceProperties:    props,
		OldResourceProperties: old,
	}
}

func (r *rehearsal) rotate(ctx context.Context) error {
	oldProps, err := r.d.stack.Properties(synth.VerificationLogicalID)
	if err != nil {
		return err
	}
	rot, err := r.vendor.RotateExternalID(ctx, r.customer.CustomerID, false)
	if err != nil {
		return err
	}
	r.printf("   $ rolecall-vendor customers rotate %s\n", r.customer.CustomerID)
	r.printf("   the vendor issues %s; the customer updates the stack with it, the old value as PreviousExternalId\n", rot.ExternalID)
	r.values[params.PreviousExternalID.Name] = rot.Previous
	r.values[params.ExternalID.Name] = rot.ExternalID
	if err := r.d.reload(r.mgmt, r.values); err != nil {
		return err
	}
	r.stack.SetParameters(r.d.stack.Parameters())
	// CloudFormation updates the resources that use the parameters: the
	// secret, the nested management role, the StackSet (every instance).
	props, err := r.d.stack.Properties(synth.SecretLogicalID)
	if err != nil {
		return err
	}
	if _, err := secretsmanager.NewFromConfig(r.d.Admin).PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(r.d.SecretARN), SecretString: aws.String(fmt.Sprint(props["SecretString"])),
	}); err != nil {
		return err
	}
	if err := r.d.updateManagementRole(ctx, r.d.Admin, r.role); err != nil {
		return err
	}
	if err := r.d.updateStackSet(ctx, r.d.Admin); err != nil {
		return err
	}
	r.printf("   ExternalId is new; PreviousExternalId holds the old one; the management role and %d member roles now trust both\n", len(r.org.Accounts))
	physical := r.res.Create.PhysicalResourceID
	r.stack.SetStatus("UPDATE_IN_PROGRESS")
	resp, err := r.invoke(ctx, r.event(cfn.RequestUpdate, synth.VerificationLogicalID, params.VerificationType, oldProps, physical), cfn.StatusSuccess,
		params.DataVerifiedCount, params.DataVerificationStatus, params.DataCallbackStatus)
	r.res.Rotate = resp
	if err != nil {
		return err
	}
	r.stack.SetStatus("UPDATE_COMPLETE")
	r.res.RotateStored, err = r.stored(ctx)
	if err != nil {
		return err
	}
	rotated := "not recorded"
	if r.res.RotateStored.ExternalIDRotatedAt != nil {
		rotated = "recorded at " + r.res.RotateStored.ExternalIDRotatedAt.Format(time.RFC3339)
	}
	r.printf("   vendor: external-ID rotation %s\n", rotated)
	v, err := r.vendor.Customer(ctx, r.customer.CustomerID, 0)
	if err != nil {
		return err
	}
	if v.PendingExternalID != "" || v.ExternalID != rot.ExternalID {
		return fmt.Errorf("the vendor did not close the rotation: it could not assume every role with the new external ID")
	}
	r.res.RotationClosed = true
	r.printf("   the vendor assumed every role with the new value and closed the rotation; the customer may clear PreviousExternalId\n")
	return nil
}

func (r *rehearsal) join(ctx context.Context) error {
	const path = "Root/Workloads/Dev"
	id, err := joinOU(ctx, r.admin, r.org, path, "workloads-dev-new-team")
	if err != nil {
		return err
	}
	r.res.JoinedAccount = id
	r.printf("   account %s created and moved into %s\n", id, path)
	// Automatic deployment: the StackSet deploys to the new account.
	ou, _ := r.org.OUByPath(path)
	op, err := r.d.createInstances(ctx, ou.ID)
	if err != nil {
		return err
	}
	if err := emulator.WaitOperation(ctx, r.d.Admin, r.d.StackSetName, op, r.d.CallAs); err != nil {
		return err
	}
	r.printf("   the StackSet's automatic deployment created the role in %s\n", id)
	if err := r.instanceEvent(ctx, id, "CREATE"); err != nil {
		return err
	}
	r.printf("   EventBridge delivered the StackSet instance event (CREATE, SUCCEEDED) to the function\n")
	r.res.JoinStored, err = r.stored(ctx)
	if err != nil {
		return err
	}
	joined := false
	for _, a := range r.res.JoinStored.Accounts {
		if a.AccountID == id {
			r.printf("   vendor: account.added %s %s %s; the organization now has %d roles\n", a.AccountID, a.RoleARN, a.Status, len(r.res.JoinStored.Accounts))
			joined = true
		}
	}
	if !joined {
		return fmt.Errorf("the vendor has no role for the new account %s", id)
	}

	// An account leaves: the StackSet removes its instance, EventBridge
	// tells the function, which forgets it and tells the vendor.
	leaver := r.org.Accounts[0]
	out, err := cloudformation.NewFromConfig(r.d.Admin).DeleteStackInstances(ctx, &cloudformation.DeleteStackInstancesInput{
		StackSetName: aws.String(r.d.StackSetName), Accounts: []string{leaver.ID}, Regions: []string{r.d.Region}, RetainStacks: aws.Bool(false), CallAs: r.d.CallAs,
	})
	if err != nil {
		return fmt.Errorf("remove the role of the account that leaves: %w", err)
	}
	if err := emulator.WaitOperation(ctx, r.d.Admin, r.d.StackSetName, aws.ToString(out.OperationId), r.d.CallAs); err != nil {
		return err
	}
	r.printf("   account %s (%s) left the organization; the StackSet removed its role\n", leaver.ID, leaver.Name)
	if err := r.instanceEvent(ctx, leaver.ID, "DELETE"); err != nil {
		return err
	}
	r.res.LeftAccount = leaver.ID
	r.res.LeaveStored, err = r.stored(ctx)
	if err != nil {
		return err
	}
	for _, a := range r.res.LeaveStored.Accounts {
		if a.AccountID == leaver.ID {
			return fmt.Errorf("the vendor still lists account %s, which left", leaver.ID)
		}
	}
	r.printf("   vendor: account.removed %s; the organization now has %d roles\n", leaver.ID, len(r.res.LeaveStored.Accounts))

	// Another account joins while the vendor's endpoint is down: the
	// function keeps the news in its outbox; the next callback takes it.
	kept, err := r.joinLate(ctx, ou.ID, path, "workloads-dev-kept-team")
	if err != nil {
		return err
	}
	r.vendorDown.Store(true)
	err = r.instanceEvent(ctx, kept, "CREATE")
	r.vendorDown.Store(false)
	if err != nil {
		return fmt.Errorf("an event the vendor missed must be kept, not failed: %w", err)
	}
	r.res.KeptAccount = kept
	if r.res.KeptStored, err = r.stored(ctx); err != nil {
		return err
	}
	if _, ok := accountOf(r.res.KeptStored, kept); ok {
		return fmt.Errorf("the vendor has account %s although its endpoint was down", kept)
	}
	r.printf("   the vendor's endpoint answers 404 for a while: the function kept account.added for %s in the stack's outbox (the event is done: nothing for Lambda to retry)\n", kept)

	// And one joins while the function cannot read its own secret: it
	// fails the event, Lambda retries, then keeps it in the dead-letter
	// queue.
	late, err := r.joinLate(ctx, ou.ID, path, "workloads-dev-late-team")
	if err != nil {
		return err
	}
	r.res.DeadLetterAccount = late
	return r.failEvent(ctx, late)
}

// joinLate creates an account in the OU at path and its StackSet instance.
func (r *rehearsal) joinLate(ctx context.Context, ouID, path, name string) (string, error) {
	id, err := joinOU(ctx, r.admin, r.org, path, name)
	if err != nil {
		return "", err
	}
	op, err := r.d.createInstances(ctx, ouID)
	if err != nil {
		return "", err
	}
	if err := emulator.WaitOperation(ctx, r.d.Admin, r.d.StackSetName, op, r.d.CallAs); err != nil {
		return "", err
	}
	r.printf("   account %s joined %s and got its role\n", id, path)
	return id, nil
}

// instanceEvent delivers EventBridge's StackSet instance event for an
// account (action CREATE or DELETE, SUCCEEDED) to the function.
func (r *rehearsal) instanceEvent(ctx context.Context, account, action string) error {
	ictx, cancel := context.WithTimeout(ctx, time.Duration(synth.FunctionTimeoutSeconds)*time.Second)
	defer cancel()
	if err := r.invokeFn(ictx, r.instanceEventJSON(account, action)); err != nil {
		return fmt.Errorf("the function did not handle the StackSet instance event: %w", err)
	}
	return nil
}

// instanceEventJSON is the event EventBridge delivers when an account's
// instance reaches SUCCEEDED.
func (r *rehearsal) instanceEventJSON(account, action string) json.RawMessage {
	ev := map[string]any{
		"version": "0", "id": uuidLike(), "detail-type": params.StackInstanceEventType, "source": "aws.cloudformation",
		"account": r.d.AccountID, "time": time.Now().UTC().Format(time.RFC3339), "region": r.d.Region,
		"resources": []string{r.stackSetARN()},
		"detail": map[string]any{
			"stack-set-arn":  r.stackSetARN(),
			"stack-id":       fmt.Sprintf("arn:aws:cloudformation:%s:%s:stack/StackSet-%s-%s/%s", r.d.Region, account, r.d.StackSetName, uuidLike()[:8], uuidLike()),
			"action":         action,
			"status-details": map[string]any{"status": "CURRENT", "detailed-status": "SUCCEEDED"},
		},
	}
	raw, _ := json.Marshal(ev)
	return raw
}

// replay replays the dead-letter queue and shows the vendor got the event.
func (r *rehearsal) replay(ctx context.Context) error {
	r.printf("   the verification of the last update counted %s unprocessed event(s) in the dead-letter queue and told the vendor\n", r.res.DeadLetters)
	n, err := r.replayDeadLetters(ctx)
	if err != nil {
		return err
	}
	r.res.Replayed = n
	r.res.ReplayStored, err = r.stored(ctx)
	if err != nil {
		return err
	}
	a, ok := accountOf(r.res.ReplayStored, r.res.DeadLetterAccount)
	if !ok {
		return fmt.Errorf("after the replay the vendor still has no role for account %s", r.res.DeadLetterAccount)
	}
	r.printf("   replayed %d event(s) from the queue; vendor: account.added %s %s\n", n, a.AccountID, a.Status)
	k, ok := accountOf(r.res.ReplayStored, r.res.KeptAccount)
	if !ok {
		return fmt.Errorf("the vendor never got account %s, whose account.added waited in the outbox", r.res.KeptAccount)
	}
	r.printf("   and account.added %s %s, kept in the outbox while the endpoint was down, went out first with the next callback\n", k.AccountID, k.Status)
	return nil
}

func (r *rehearsal) stackSetARN() string {
	return fmt.Sprintf("arn:aws:cloudformation:%s:%s:stackset/%s", r.d.Region, r.d.AccountID, r.d.StackSetID)
}

func (r *rehearsal) delete(ctx context.Context) error {
	if r.opts.VendorDownAtDelete {
		if err := r.stopReceiving(); err != nil {
			return err
		}
		r.printf("   the vendor's endpoint is down\n")
	}
	// A Delete that CloudFormation did not send (someone allowed to invoke
	// the function sent it while the stack is running) tells no one.
	stray, err := r.invoke(ctx, r.event(cfn.RequestDelete, synth.VerificationLogicalID, params.VerificationType, nil, r.res.Create.PhysicalResourceID), cfn.StatusSuccess, params.DataCallbackStatus)
	r.res.StrayDelete = stray
	if err != nil {
		return err
	}
	if cs, _ := stray.Data[params.DataCallbackStatus].(string); !strings.HasPrefix(cs, "not told") {
		return fmt.Errorf("a Delete sent while the stack is not being deleted told the vendor: %s", cs)
	}
	r.printf("   a Delete sent to the function while the stack is not being deleted: SUCCESS, and the vendor is not told\n")
	r.stack.SetStatus("DELETE_IN_PROGRESS")
	resp, err := r.invoke(ctx, r.event(cfn.RequestDelete, synth.VerificationLogicalID, params.VerificationType, nil, r.res.Create.PhysicalResourceID), cfn.StatusSuccess, params.DataCallbackStatus)
	r.res.Delete = resp
	if err != nil {
		return err
	}
	r.res.DeleteStored, err = r.stored(ctx)
	if err != nil {
		return err
	}
	if !r.opts.VendorDownAtDelete {
		r.printf("   vendor: onboarding %s is %s\n", r.res.DeleteStored.Key, r.res.DeleteStored.Status)
	}
	// Then CloudFormation removes the roles: the StackSet's instances and
	// the nested stack.
	if err := r.d.removeRoles(ctx, r.d.Admin); err != nil {
		return err
	}
	if r.d.managementStack != "" {
		r.printf("   the StackSet's instances, the StackSet and the management role's stack are deleted\n")
	} else {
		r.printf("   the StackSet's instances and the StackSet are deleted\n")
	}
	return nil
}

// stored reads what the vendor holds for this organization, once its
// confirmations in flight are done.
func (r *rehearsal) stored(ctx context.Context) (*ledger.Onboarding, error) {
	r.vendor.WaitConfirmations()
	return r.vendorDB.Timeline(ctx, r.org.ID, 100000)
}

// invoke sends one custom-resource event, prints the response with the
// Data keys given, and fails unless the status is the one expected.
func (r *rehearsal) invoke(ctx context.Context, ev cfn.Event, want cfn.StatusType, keys ...string) (Response, error) {
	resp, err := r.cf.send(ctx, ev)
	if err != nil {
		return resp, err
	}
	r.printResponse(ev.LogicalResourceID, resp, keys...)
	if resp.Status != want {
		return resp, fmt.Errorf("%s %s answered %s, want %s: %s", ev.RequestType, ev.LogicalResourceID, resp.Status, want, resp.Reason)
	}
	return resp, nil
}

func (r *rehearsal) printResponse(logicalID string, resp Response, keys ...string) {
	r.printf("   %-28s %s %s in %s (response %d bytes)\n", logicalID, resp.Status, resp.PhysicalResourceID, round(resp.Duration), resp.Bytes)
	if resp.Reason != "" {
		r.printf("     Reason: %s\n", resp.Reason)
	}
	for _, k := range keys {
		if v, ok := resp.Data[k]; ok {
			r.printf("     %s: %v\n", k, v)
		}
	}
}

func (r *rehearsal) printStored(o *ledger.Onboarding) {
	counts := map[callback.Status]int{}
	for _, a := range o.Accounts {
		counts[a.Status]++
	}
	r.printf("   vendor stored organization %s (%s): %d roles, %d verified; signed by %s\n", o.Key, o.Status, len(o.Accounts), counts[callback.StatusVerified], o.CallerARN)
	show := o.Accounts
	if len(show) > 12 {
		show = show[:10]
	}
	for _, a := range show {
		r.printf("     %s  %-55s %s\n", a.AccountID, a.RoleARN, a.Status)
	}
	if len(show) < len(o.Accounts) {
		r.printf("     ... and %d more\n", len(o.Accounts)-len(show))
	}
	for _, a := range o.Accounts {
		if a.Status == callback.StatusVerified {
			continue
		}
		r.printf("     %s is %s:\n", a.AccountID, a.Status)
		for _, d := range a.Diagnoses {
			r.printf("       %s: %s\n", d.Code, d.Message)
		}
		for _, p := range a.FailedProbes {
			r.printf("       %s %s %s\n", p.Outcome, p.Action, p.Region)
		}
	}
}

// stopReceiving stops the receiver, once.
func (r *rehearsal) stopReceiving() error {
	if r.stopReceiver == nil {
		return nil
	}
	r.stopReceiver()
	r.stopReceiver = nil
	if err := <-r.receiverDone; err != nil {
		return fmt.Errorf("stop the vendor's server: %w", err)
	}
	return nil
}

func (r *rehearsal) close() error {
	var errs []error
	for _, f := range r.rie {
		errs = append(errs, f.stop())
	}
	errs = append(errs, r.stopReceiving())
	if r.vendor != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		errs = append(errs, r.vendor.Close(ctx))
		cancel()
	}
	if r.vendorDB != nil {
		errs = append(errs, r.vendorDB.Close())
	}
	if r.fakes != nil {
		errs = append(errs, r.fakes.Close())
	}
	for _, s := range []*emulator.Server{r.aws, r.responses} {
		if s != nil {
			errs = append(errs, s.Stop())
		}
	}
	if r.tempDir {
		errs = append(errs, os.RemoveAll(r.dataDir))
	}
	err := errors.Join(errs...)
	if err == nil {
		r.printf("\nEverything the rehearsal started is stopped (%s in all).\n", round(time.Since(r.began)))
	}
	return err
}

// prefixWriter prefixes each line written to w, also when a line arrives
// in several writes. It is safe for concurrent use (the vendor prints from
// its request handlers and its confirmations), and writes each call's
// lines to w in one Write.
type prefixWriter struct {
	w      io.Writer
	prefix string
	mu     sync.Mutex
	mid    bool // within a line
}

func newPrefixWriter(w io.Writer, prefix string) *prefixWriter {
	return &prefixWriter{w: w, prefix: prefix}
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out strings.Builder
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line == "" {
			continue
		}
		if !p.mid {
			out.WriteString(p.prefix)
		}
		out.WriteString(line)
		p.mid = !strings.HasSuffix(line, "\n")
	}
	if _, err := io.WriteString(p.w, out.String()); err != nil {
		return 0, err
	}
	return len(b), nil
}

// syncWriter serialises writes to w: the report is written by the
// rehearsal and, at the same time, by the vendor's server and its
// confirmations.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

func round(d time.Duration) time.Duration {
	if d > time.Second {
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

// reviewerVerifies runs the verify tool as the customer's security
// reviewer would, with the reviewer's own credentials (trusted through
// AdditionalVerifierPrincipalArns) and the external ID in the environment.
func (r *rehearsal) reviewerVerifies(ctx context.Context) error {
	args := []string{"--stack-set", r.d.StackSetName, "--role-name", r.opts.Profile.RoleName}
	env := map[string]string{"ROLECALL_EXTERNAL_ID": r.values[params.ExternalID.Name]}
	r.printf("   $ ROLECALL_EXTERNAL_ID=... rolecall-verify %s\n", strings.Join(args, " "))
	out := newPrefixWriter(r.out, "   | ")
	code := cli.Run(ctx, cli.Env{
		Args:   args,
		Getenv: func(k string) string { return env[k] },
		Stdout: out,
		// The progress lines are for a terminal; the report shows the result.
		Stderr: io.Discard,
		LoadConfig: func(context.Context, string, string) (aws.Config, error) {
			return r.fakes.Through(r.reviewer), nil
		},
	})
	r.res.VerifyExitCode = code
	r.printf("   exit status %d\n", code)
	if code != 0 {
		return fmt.Errorf("the verify tool exited %d", code)
	}
	return nil
}
