package onboarding

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/rolecall/rolecall/callback"
	"github.com/rolecall/rolecall/internal/customresource"
	"github.com/rolecall/rolecall/internal/params"
	"github.com/rolecall/rolecall/internal/state"
	"github.com/rolecall/rolecall/internal/verify"
)

// fakeVerifier answers each role with report(role), verified by default,
// and records the roles it saw.
type fakeVerifier struct {
	mu     sync.Mutex
	seen   []verify.Role
	report func(verify.Role) verify.Report
}

func (f *fakeVerifier) VerifyAll(_ context.Context, roles iter.Seq[verify.Role], each func(verify.Report)) verify.Summary {
	var s verify.Summary
	for r := range roles {
		f.mu.Lock()
		f.seen = append(f.seen, r)
		f.mu.Unlock()
		rep := verify.Report{AccountID: r.AccountID, RoleARN: r.RoleARN, Status: verify.StatusVerified}
		if f.report != nil {
			rep = f.report(r)
		}
		s.Accounts++
		switch rep.Status {
		case verify.StatusVerified:
			s.Verified++
		case verify.StatusGaps:
			s.Gaps++
		case verify.StatusFinding:
			s.Findings++
		case verify.StatusUnreachable:
			s.Unreachable++
		}
		each(rep)
	}
	return s
}

// fakeStacks lists instances and reports the stack's status and, if
// physicalID is set, this resource's physical id (else: not in the stack).
type fakeStacks struct {
	instances  []cftypes.StackInstanceSummary
	status     cftypes.StackStatus
	physicalID string
	// params are the stack's parameters DescribeStacks shows.
	params map[string]string
}

func (f fakeStacks) DescribeStackResource(_ context.Context, in *cloudformation.DescribeStackResourceInput, _ ...func(*cloudformation.Options)) (*cloudformation.DescribeStackResourceOutput, error) {
	if f.physicalID == "" {
		return nil, &smithy.GenericAPIError{Code: "ValidationError", Message: "Resource " + aws.ToString(in.LogicalResourceId) + " does not exist for stack"}
	}
	return &cloudformation.DescribeStackResourceOutput{StackResourceDetail: &cftypes.StackResourceDetail{PhysicalResourceId: aws.String(f.physicalID)}}, nil
}

// fakeState keeps records in memory.
type fakeState struct {
	mu      sync.Mutex
	records map[string]state.Record
	err     error
}

func (f *fakeState) Save(_ context.Context, rs []state.Record) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return 0, f.err
	}
	if f.records == nil {
		f.records = map[string]state.Record{}
	}
	for _, r := range rs {
		f.records[r.AccountID] = r
	}
	return len(rs), nil
}

func (f *fakeState) All(context.Context) (map[string]state.Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	return maps.Clone(f.records), nil
}

func (f *fakeState) Forget(_ context.Context, ids ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range ids {
		delete(f.records, id)
	}
	return f.err
}

// fnCtx is an invocation's context: the Lambda context names the function
// as CloudFormation's ServiceToken does.
func fnCtx(t *testing.T) context.Context {
	return lambdacontext.NewContext(t.Context(), &lambdacontext.LambdaContext{AwsRequestID: "lambda-req-1", InvokedFunctionArn: functionARN})
}

func (f fakeStacks) ListStackInstances(_ context.Context, in *cloudformation.ListStackInstancesInput, _ ...func(*cloudformation.Options)) (*cloudformation.ListStackInstancesOutput, error) {
	return &cloudformation.ListStackInstancesOutput{Summaries: f.instances}, nil
}

func (f fakeStacks) DescribeStacks(context.Context, *cloudformation.DescribeStacksInput, ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error) {
	if f.status == "" && f.params == nil {
		return nil, errors.New("no such stack")
	}
	st := cftypes.Stack{StackStatus: f.status}
	for k, v := range f.params {
		st.Parameters = append(st.Parameters, cftypes.Parameter{ParameterKey: aws.String(k), ParameterValue: aws.String(v)})
	}
	return &cloudformation.DescribeStacksOutput{Stacks: []cftypes.Stack{st}}, nil
}

func instance(account string, status cftypes.StackInstanceStatus, detailed cftypes.StackInstanceDetailedStatus, reason string) cftypes.StackInstanceSummary {
	return cftypes.StackInstanceSummary{Account: aws.String(account), Region: aws.String("us-east-1"), Status: status,
		StackInstanceStatus: &cftypes.StackInstanceComprehensiveStatus{DetailedStatus: detailed}, StatusReason: aws.String(reason)}
}

type fakeSecrets struct{ err error }

func (f fakeSecrets) GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	if f.err != nil {
		return nil, f.err
	}
	b, _ := json.Marshal(params.Secret{ExternalID: "ext-7f3c9e1d-2b4a-4c8e-9a1f-0b2c3d4e5f60", CallbackSecret: "whsec_" + strings.Repeat("A", 32)})
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(string(b))}, nil
}

// fakeSender records payloads and answers as configured.
type fakeSender struct {
	mu       sync.Mutex
	payloads []callback.Payload
	err      error
}

func (f *fakeSender) Deliver(_ context.Context, _ string, p callback.Payload) (callback.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.payloads = append(f.payloads, p)
	if f.err != nil {
		return callback.Result{Attempts: 5}, f.err
	}
	return callback.Result{Delivered: true, Attempts: 1, StatusCode: 200}, nil
}

func newService(v *fakeVerifier, stacks fakeStacks, sender *fakeSender) *Service {
	settings, err := LoadSettings(env(), false)
	if err != nil {
		panic(err)
	}
	return &Service{
		Org:       fakeOrg{trusted: true},
		Stacks:    stacks,
		Secrets:   fakeSecrets{},
		Verifier:  v,
		NewSender: func(string, string) (deliverer, error) { return sender, nil },
		State:     &fakeState{},
		Settings:  settings,
		Region:    "us-east-1",
		Now:       func() time.Time { return time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC) },
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func verificationRequest(t cfn.RequestType) customresource.Request {
	return customresource.Request{RequestType: t, ResourceType: params.VerificationType, StackID: stackID, RequestID: "req-1",
		LogicalResourceID: "RoleVerification", Properties: verificationProps()}
}

func TestCreateVerifiesEveryRoleAndTellsTheVendor(t *testing.T) {
	v := &fakeVerifier{}
	sender := &fakeSender{}
	stacks := fakeStacks{instances: []cftypes.StackInstanceSummary{
		instance("222222222222", cftypes.StackInstanceStatusCurrent, cftypes.StackInstanceDetailedStatusSucceeded, ""),
		instance("333333333333", cftypes.StackInstanceStatusCurrent, cftypes.StackInstanceDetailedStatusSucceeded, ""),
		instance("444444444444", cftypes.StackInstanceStatusInoperable, cftypes.StackInstanceDetailedStatusFailed, "Role creation blocked by SCP"),
	}}
	res, err := newService(v, stacks, sender).Create(fnCtx(t), verificationRequest(cfn.RequestCreate))
	if err != nil {
		t.Fatalf("a member-account gap must not fail the stack: %v", err)
	}
	want := map[string]string{
		params.DataAccountCount:  "4",
		params.DataVerifiedCount: "3",
		params.DataRoleARN:       "arn:aws:iam::111111111111:role/VendorReadOnly",
	}
	for k, w := range want {
		if res.Data[k] != w {
			t.Errorf("%s = %v, want %s", k, res.Data[k], w)
		}
	}
	if s := res.Data[params.DataVerificationStatus].(string); !strings.Contains(s, "444444444444 unreachable (stack_instance_failed)") {
		t.Errorf("VerificationStatus %q does not name the failed account", s)
	}
	if s := res.Data[params.DataCallbackStatus].(string); s != "told onboarding.created at hooks.vendor.example (1 attempt, HTTP 200)" {
		t.Errorf("CallbackStatus %q", s)
	}
	if len(v.seen) != 3 || !v.seen[0].Management || v.seen[0].CURBucket != "acme-cur" || v.seen[1].CURBucket != "" {
		t.Errorf("verified roles %+v: want the management role (with CUR) and the two deployed members", v.seen)
	}
	for _, r := range v.seen {
		if r.ExternalID != "ext-7f3c9e1d-2b4a-4c8e-9a1f-0b2c3d4e5f60" || len(r.Regions) != 2 {
			t.Errorf("role %s verified with external ID %q and regions %v", r.RoleARN, r.ExternalID, r.Regions)
		}
	}
	if len(sender.payloads) != 1 {
		t.Fatalf("%d callbacks, want 1", len(sender.payloads))
	}
	p := sender.payloads[0]
	if p.Event != callback.EventOnboardingCreated || p.ManagementAccountID != mgmtAccount || p.OrganizationID != "o-abc123defg" || len(p.Accounts) != 4 {
		t.Errorf("payload %+v", p)
	}
	if err := p.Validate(); err != nil {
		t.Errorf("payload does not validate: %v", err)
	}
	failed := p.Accounts[3]
	if failed.AccountID != "444444444444" || failed.Status != callback.StatusUnreachable || failed.Diagnoses[0].Code != "stack_instance_failed" || !strings.Contains(failed.Diagnoses[0].Message, "SCP") {
		t.Errorf("failed instance reported as %+v", failed)
	}
}

func TestASecurityFindingFailsTheStackAndNamesAccountAndAction(t *testing.T) {
	v := &fakeVerifier{report: func(r verify.Role) verify.Report {
		rep := verify.Report{AccountID: r.AccountID, RoleARN: r.RoleARN, Status: verify.StatusVerified}
		if r.AccountID == "222222222222" {
			rep.Status = verify.StatusFinding
			rep.Findings = []verify.Finding{{Action: "s3:PutObject", Source: "inline policy tampered"}}
		}
		return rep
	}}
	sender := &fakeSender{}
	stacks := fakeStacks{instances: []cftypes.StackInstanceSummary{instance("222222222222", cftypes.StackInstanceStatusCurrent, cftypes.StackInstanceDetailedStatusSucceeded, "")}}
	for _, rt := range []cfn.RequestType{cfn.RequestCreate, cfn.RequestUpdate} {
		_, err := newService(v, stacks, sender).Create(fnCtx(t), verificationRequest(rt))
		var re *customresource.ReasonError
		if !errors.As(err, &re) || !strings.Contains(err.Error(), "account 222222222222: s3:PutObject allowed by inline policy tampered") {
			t.Fatalf("%s: error %v; want a reason naming the account and the action", rt, err)
		}
	}
	if got := sender.payloads[0].Accounts[1].Status; got != callback.StatusFinding {
		t.Errorf("the vendor was told %s, want finding", got)
	}
}

func TestAFindingDuringRollbackDoesNotFailTheRollback(t *testing.T) {
	v := &fakeVerifier{report: func(r verify.Role) verify.Report {
		return verify.Report{AccountID: r.AccountID, RoleARN: r.RoleARN, Status: verify.StatusFinding, Findings: []verify.Finding{{Action: "*", Source: "attached policy admin"}}}
	}}
	s := newService(v, fakeStacks{status: cftypes.StackStatusUpdateRollbackInProgress}, &fakeSender{})
	if _, err := s.Update(fnCtx(t), verificationRequest(cfn.RequestUpdate)); err != nil {
		t.Fatalf("a failed answer during rollback would leave UPDATE_ROLLBACK_FAILED: %v", err)
	}
}

func TestRotationVerifiesWithTheNewIDAndSaysSo(t *testing.T) {
	v := &fakeVerifier{}
	sender := &fakeSender{}
	req := verificationRequest(cfn.RequestUpdate)
	req.OldProperties = verificationProps()
	req.Properties = verificationProps()
	req.Properties[params.ExternalID.Name] = "ext-new-9a8b7c6d-1e2f-4a4b-8c6d-7e8f9a0b1c2d"
	req.Properties[params.PreviousExternalID.Name] = "ext-7f3c9e1d-2b4a-4c8e-9a1f-0b2c3d4e5f60"
	if _, err := newService(v, fakeStacks{}, sender).Update(fnCtx(t), req); err != nil {
		t.Fatal(err)
	}
	if v.seen[0].ExternalID != "ext-new-9a8b7c6d-1e2f-4a4b-8c6d-7e8f9a0b1c2d" {
		t.Errorf("verified with %q, want the new external ID", v.seen[0].ExternalID)
	}
	p := sender.payloads[0]
	if p.Event != callback.EventOnboardingUpdated || !p.ExternalIDRotated {
		t.Errorf("payload event %s, rotated %v", p.Event, p.ExternalIDRotated)
	}
}

func TestAFailedCallbackIsReportedNotFatal(t *testing.T) {
	sender := &fakeSender{err: errors.New("503 Service Unavailable")}
	res, err := newService(&fakeVerifier{}, fakeStacks{}, sender).Create(fnCtx(t), verificationRequest(cfn.RequestCreate))
	if err != nil {
		t.Fatal(err)
	}
	if s := res.Data[params.DataCallbackStatus].(string); !strings.Contains(s, "not delivered to hooks.vendor.example after 5 attempts") {
		t.Errorf("CallbackStatus %q", s)
	}
}

func TestAnUnreadableSecretFailsWithAReason(t *testing.T) {
	s := newService(&fakeVerifier{}, fakeStacks{}, &fakeSender{})
	s.Secrets = fakeSecrets{err: errors.New("AccessDeniedException")}
	_, err := s.Create(fnCtx(t), verificationRequest(cfn.RequestCreate))
	var re *customresource.ReasonError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "read the onboarding secret") {
		t.Fatalf("error %v", err)
	}
}

func TestDeleteTellsTheVendorTheLastKnownStatusesAndNeverBlocks(t *testing.T) {
	stacks := fakeStacks{status: cftypes.StackStatusDeleteInProgress, instances: []cftypes.StackInstanceSummary{
		instance("222222222222", cftypes.StackInstanceStatusCurrent, cftypes.StackInstanceDetailedStatusSucceeded, ""),
		instance("333333333333", cftypes.StackInstanceStatusCurrent, cftypes.StackInstanceDetailedStatusSucceeded, ""),
	}}
	for _, sendErr := range []error{nil, errors.New("connection refused")} {
		sender := &fakeSender{err: sendErr}
		v := &fakeVerifier{}
		s := newService(v, stacks, sender)
		s.State = &fakeState{records: map[string]state.Record{
			mgmtAccount:    {AccountID: mgmtAccount, Status: callback.StatusVerified, Account: callback.Account{AccountID: mgmtAccount, RoleARN: "arn:aws:iam::111111111111:role/VendorReadOnly", Status: callback.StatusVerified}},
			"222222222222": {AccountID: "222222222222", Status: callback.StatusFinding, Account: callback.Account{AccountID: "222222222222", RoleARN: "arn:aws:iam::222222222222:role/VendorReadOnly", Status: callback.StatusFinding}},
		}}
		res, err := s.Delete(fnCtx(t), verificationRequest(cfn.RequestDelete))
		if err != nil {
			t.Fatalf("Delete with callback error %v: %v", sendErr, err)
		}
		if len(v.seen) != 0 {
			t.Error("Delete verified roles")
		}
		if len(sender.payloads) != 1 || sender.payloads[0].Event != callback.EventOnboardingDeleted {
			t.Fatalf("payloads %+v, want one onboarding.deleted", sender.payloads)
		}
		got := map[string]callback.Status{}
		for _, a := range sender.payloads[0].Accounts {
			got[a.AccountID] = a.Status
		}
		want := map[string]callback.Status{mgmtAccount: callback.StatusVerified, "222222222222": callback.StatusFinding, "333333333333": callback.StatusUnverifiable}
		if !maps.Equal(got, want) {
			t.Errorf("the vendor was told %v, want the last known statuses %v (an account never recorded is unverifiable)", got, want)
		}
		if err := sender.payloads[0].Validate(); err != nil {
			t.Errorf("deletion payload does not validate: %v", err)
		}
		if sendErr != nil && !strings.HasPrefix(res.Data[params.DataCallbackStatus].(string), "not told") {
			t.Errorf("CallbackStatus %q", res.Data[params.DataCallbackStatus])
		}
	}
}

func TestDeleteWithAnUnreadableStateReportsEveryAccountUnverifiable(t *testing.T) {
	sender := &fakeSender{}
	s := newService(&fakeVerifier{}, fakeStacks{status: cftypes.StackStatusDeleteInProgress}, sender)
	s.State = &fakeState{err: errors.New("AccessDeniedException")}
	if _, err := s.Delete(fnCtx(t), verificationRequest(cfn.RequestDelete)); err != nil {
		t.Fatal(err)
	}
	a := sender.payloads[0].Accounts
	if len(a) != 1 || a[0].Status != callback.StatusUnverifiable || a[0].Diagnoses[0].Code != "no_verification_on_record" || !strings.Contains(a[0].Diagnoses[0].Message, "AccessDeniedException") {
		t.Errorf("accounts %+v", a)
	}
}

// A Delete is real only when CloudFormation says so; otherwise the vendor
// hears nothing, and the answer is SUCCESS all the same.
func TestDeleteTellsTheVendorOnlyWhenCloudFormationConfirmsIt(t *testing.T) {
	tests := []struct {
		name   string
		stacks fakeStacks
		tell   bool
	}{
		{"stack deletion", fakeStacks{status: cftypes.StackStatusDeleteInProgress}, true},
		{"rollback of a failed creation", fakeStacks{status: cftypes.StackStatusRollbackInProgress}, true},
		{"resource removed by an update", fakeStacks{status: cftypes.StackStatusUpdateCompleteCleanupInProgress}, true},
		{"resource of the update being cleaned up", fakeStacks{status: cftypes.StackStatusUpdateCompleteCleanupInProgress, physicalID: "phys-1"}, true},
		{"resource replaced by an update", fakeStacks{status: cftypes.StackStatusUpdateCompleteCleanupInProgress, physicalID: "phys-2"}, false},
		{"a Delete sent to a running stack", fakeStacks{status: cftypes.StackStatusCreateComplete}, false},
		{"CloudFormation cannot say", fakeStacks{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sender := &fakeSender{}
			req := verificationRequest(cfn.RequestDelete)
			req.PhysicalResourceID = "phys-1"
			res, err := newService(&fakeVerifier{}, tt.stacks, sender).Delete(fnCtx(t), req)
			if err != nil {
				t.Fatalf("Delete failed: %v", err)
			}
			if told := len(sender.payloads) == 1; told != tt.tell {
				t.Errorf("told the vendor %v, want %v (%v)", told, tt.tell, res.Data[params.DataCallbackStatus])
			}
			if !tt.tell && !strings.HasPrefix(res.Data[params.DataCallbackStatus].(string), "not told: ") {
				t.Errorf("CallbackStatus %q does not say why", res.Data[params.DataCallbackStatus])
			}
		})
	}
}

// The function answers only its own stack's events: another ServiceToken
// or another stack is FAILED (a Delete: SUCCESS without a word to the
// vendor), and nothing is signed or sent.
func TestTheFunctionTrustsOnlyItsOwnStack(t *testing.T) {
	otherStack := strings.Replace(stackID, "stack/onboarding/1234", "stack/intruder/5678", 1)
	tests := []struct {
		name string
		ctx  func(t *testing.T) context.Context
		edit func(*customresource.Request)
		want string
	}{
		{"another function's token", fnCtx, func(r *customresource.Request) {
			r.Properties["ServiceToken"] = "arn:aws:lambda:us-east-1:999999999999:function:theirs"
		}, "is not this function"},
		{"no token", fnCtx, func(r *customresource.Request) { delete(r.Properties, "ServiceToken") }, "is not this function"},
		{"another stack", fnCtx, func(r *customresource.Request) { r.StackID = otherStack }, "this function belongs to"},
		{"no Lambda context", func(t *testing.T) context.Context { return t.Context() }, func(*customresource.Request) {}, "cannot tell which function it is"},
	}
	for _, tt := range tests {
		for _, rt := range []cfn.RequestType{cfn.RequestCreate, cfn.RequestUpdate, cfn.RequestDelete} {
			t.Run(tt.name+"/"+string(rt), func(t *testing.T) {
				v, sender := &fakeVerifier{}, &fakeSender{}
				s := newService(v, fakeStacks{status: cftypes.StackStatusDeleteInProgress}, sender)
				req := verificationRequest(rt)
				tt.edit(&req)
				_, err := s.dispatch(tt.ctx(t), req)
				var re *customresource.ReasonError
				if !errors.As(err, &re) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error %v, want a reason containing %q", err, tt.want)
				}
				if len(v.seen) != 0 || len(sender.payloads) != 0 {
					t.Errorf("verified %d roles and sent %d callbacks for a foreign event", len(v.seen), len(sender.payloads))
				}
			})
		}
	}
}

// A failed Create tells the vendor verification.failed: the receiver never
// opens the onboarding. The Reason says what the vendor was told.
func TestAFailedCreateTellsTheVendorVerificationFailed(t *testing.T) {
	v := &fakeVerifier{report: func(r verify.Role) verify.Report {
		rep := verify.Report{AccountID: r.AccountID, RoleARN: r.RoleARN, Status: verify.StatusVerified}
		if !r.Management {
			rep.Status = verify.StatusUnverifiable
			rep.Unproven = []verify.Unproven{{Check: "iam:GetPolicyVersion", Target: "attached policy arn:aws:iam::222222222222:policy/X", Code: "AccessDenied", Message: "explicit deny"}}
		}
		return rep
	}}
	sender := &fakeSender{}
	stacks := fakeStacks{instances: []cftypes.StackInstanceSummary{instance("222222222222", cftypes.StackInstanceStatusCurrent, cftypes.StackInstanceDetailedStatusSucceeded, "")}}
	_, err := newService(v, stacks, sender).Create(fnCtx(t), verificationRequest(cfn.RequestCreate))
	var re *customresource.ReasonError
	if !errors.As(err, &re) {
		t.Fatalf("an unverifiable account must fail the stack: %v", err)
	}
	for _, want := range []string{"unverifiable: account 222222222222: iam:GetPolicyVersion on attached policy arn:aws:iam::222222222222:policy/X refused (AccessDenied)", "vendor told verification.failed; "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("reason %q lacks %q", err, want)
		}
	}
	p := sender.payloads[0]
	if p.Event != callback.EventVerificationFailed || p.Accounts[1].Status != callback.StatusUnverifiable || len(p.Accounts[1].Unproven) != 1 {
		t.Errorf("payload %s %+v", p.Event, p.Accounts)
	}
	if err := p.Validate(); err != nil {
		t.Errorf("payload does not validate: %v", err)
	}
}

// A report that does not validate is never dropped: the vendor gets a
// minimal verification.failed naming every account, and the Reason says so.
func TestAnInvalidReportBecomesAMinimalOne(t *testing.T) {
	v := &fakeVerifier{report: func(r verify.Role) verify.Report {
		rep := verify.Report{AccountID: r.AccountID, RoleARN: r.RoleARN, Status: verify.StatusFinding,
			Findings: []verify.Finding{{Kind: "all_actions", Source: "attached policy x", PolicyType: "managed", Action: "*", Detail: "d"}}}
		// A diagnosis code the schema refuses: a report gone wrong.
		rep.Diagnoses = []verify.Diagnosis{{Code: "Not A Code", Message: "m"}}
		return rep
	}}
	sender := &validatingSender{}
	s := newService(v, fakeStacks{}, nil)
	s.NewSender = func(string, string) (deliverer, error) { return sender, nil }
	_, err := s.Create(fnCtx(t), verificationRequest(cfn.RequestCreate))
	if err == nil || !strings.HasPrefix(err.Error(), "vendor told verification.failed (minimal report); security finding: account 111111111111") {
		t.Fatalf("reason %v", err)
	}
	if len(sender.delivered) != 1 {
		t.Fatalf("%d delivered, want the minimal report", len(sender.delivered))
	}
	p := sender.delivered[0]
	if p.Event != callback.EventVerificationFailed || len(p.Accounts) != 1 || p.Accounts[0].Status != callback.StatusFinding || p.Accounts[0].FindingsTotal != 1 {
		t.Errorf("minimal payload %+v", p)
	}
}

// validatingSender validates as the real sender does before delivering.
type validatingSender struct{ delivered []callback.Payload }

func (v *validatingSender) Deliver(_ context.Context, _ string, p callback.Payload) (callback.Result, error) {
	if _, err := p.Marshal(); err != nil {
		return callback.Result{}, err
	}
	v.delivered = append(v.delivered, p)
	return callback.Result{Delivered: true, Attempts: 1, StatusCode: 200}, nil
}

// The response stays within CloudFormation's 4,096 bytes whatever the
// number of accounts, through the real runtime.
func TestResponseFitsWith5000Accounts(t *testing.T) {
	var instances []cftypes.StackInstanceSummary
	for i := range 5000 {
		instances = append(instances, instance(fmt.Sprintf("%012d", 200000000000+i), cftypes.StackInstanceStatusCurrent, cftypes.StackInstanceDetailedStatusSucceeded, ""))
	}
	v := &fakeVerifier{report: func(r verify.Role) verify.Report {
		rep := verify.Report{AccountID: r.AccountID, RoleARN: r.RoleARN, Status: verify.StatusVerified}
		if r.AccountID[11] == '7' {
			rep.Status = verify.StatusGaps
			rep.Probes = []verify.Probe{{Service: "ce", Action: "GetCostAndUsage", Outcome: verify.OutcomeDenied}}
		}
		return rep
	}}
	sender := &fakeSender{}
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ = io.ReadAll(r.Body)
	}))
	defer srv.Close()
	rt := &customresource.Runtime{Handler: newService(v, fakeStacks{instances: instances}, sender), AllowLoopbackHTTP: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ev := map[string]any{
		"RequestType": "Create", "ResponseURL": srv.URL + "/response", "StackId": stackID, "RequestId": "req-1",
		"LogicalResourceId": "RoleVerification", "ResourceType": params.VerificationType, "ResourceProperties": verificationProps(),
	}
	raw, _ := json.Marshal(ev)
	ctx, cancel := context.WithTimeout(fnCtx(t), time.Minute)
	defer cancel()
	if err := rt.Handle(ctx, raw); err != nil {
		t.Fatal(err)
	}
	var resp cfn.Response
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatalf("response %q: %v", body, err)
	}
	if resp.Status != cfn.StatusSuccess || resp.Data[params.DataAccountCount] != "5001" || len(body) > 4096 {
		t.Errorf("status %s, %d accounts, %d bytes: %s", resp.Status, resp.Data[params.DataAccountCount], len(body), body)
	}
	if len(sender.payloads[0].Accounts) != 5001 {
		t.Errorf("the callback lists %d accounts, want all 5001", len(sender.payloads[0].Accounts))
	}
	t.Logf("5,001 accounts: response %d bytes: %s", len(body), resp.Data[params.DataVerificationStatus])
}
