package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	"github.com/aws/aws-sdk-go-v2/service/costandusagereportservice"
	curtypes "github.com/aws/aws-sdk-go-v2/service/costandusagereportservice/types"
	"github.com/aws/aws-sdk-go-v2/service/costexplorer"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/rolecall/rolecall/internal/iamdata"
	"github.com/rolecall/rolecall/internal/permissions"
)

const (
	memberAccount = "210987654321"
	mgmtAccount   = "123456789012"
	testExtID     = "ext-7f3c9e1d-2b4a-4c8e-9a1f-0b2c3d4e5f60"
)

func memberRole() Role {
	return Role{RoleARN: "arn:aws:iam::" + memberAccount + ":role/VendorReadOnly", ExternalID: testExtID, Bedrock: true, Regions: []string{"us-east-1", "eu-west-1"}}
}

func mgmtRole() Role {
	return Role{RoleARN: "arn:aws:iam::" + mgmtAccount + ":role/VendorReadOnly", ExternalID: testExtID, Management: true,
		CURBucket: "acme-cur", CURPrefix: "cur/", Bedrock: true, Regions: []string{"us-east-1"}}
}

// newFake returns a fake whose default policies are the catalog's for r.
func newFake(r Role) *fakeAWS {
	return &fakeAWS{target: r.Target()}
}

func verifyWith(t *testing.T, r Role, f *fakeAWS) Report {
	t.Helper()
	return testEngine(f, newClock(), Options{}).Verify(t.Context(), r)
}

func probeNamed(t *testing.T, r Report, name, region string) Probe {
	t.Helper()
	for _, p := range r.Probes {
		if p.Name() == name && (region == "" || p.Region == region) {
			return p
		}
	}
	t.Fatalf("no probe %s (%s) in %+v", name, region, r.Probes)
	return Probe{}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		want     Outcome
		wantCode string
	}{
		{"success", nil, OutcomeOK, ""},
		{"AccessDenied", apiError(403, "AccessDenied", "not authorized"), OutcomeDenied, "AccessDenied"},
		{"AccessDeniedException", apiError(400, "AccessDeniedException", "no"), OutcomeDenied, "AccessDeniedException"},
		{"403 with an unknown code", apiError(403, "Forbidden", ""), OutcomeDenied, "Forbidden"},
		{"403 without a body", httpError(403, nil), OutcomeDenied, ""},
		{"NoSuchBucket", apiError(404, "NoSuchBucket", "gone"), OutcomeNotFound, "NoSuchBucket"},
		{"ResourceNotFoundException", apiError(400, "ResourceNotFoundException", "gone"), OutcomeNotFound, "ResourceNotFoundException"},
		{"organization not in use", apiError(400, "AWSOrganizationsNotInUseException", ""), OutcomeNotFound, "AWSOrganizationsNotInUseException"},
		{"throttling after retries", apiError(400, "Throttling", "Rate exceeded"), OutcomeError, "Throttling"},
		{"429", apiError(429, "TooManyRequestsException", ""), OutcomeError, "TooManyRequestsException"},
		{"server error", apiError(500, "InternalFailure", ""), OutcomeError, "InternalFailure"},
		{"expired credentials are not a permission gap", apiError(403, "ExpiredToken", ""), OutcomeError, "ExpiredToken"},
		{"bad signature is not a permission gap", apiError(403, "SignatureDoesNotMatch", ""), OutcomeError, "SignatureDoesNotMatch"},
		{"an invalid request proves nothing", apiError(400, "ValidationException", "bad"), OutcomeError, "ValidationException"},
		{"a 404 without a not-found code proves nothing", apiError(404, "UnknownOperationException", ""), OutcomeError, "UnknownOperationException"},
		{"network", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, OutcomeError, ""},
		{"deadline", fmt.Errorf("call: %w", context.DeadlineExceeded), OutcomeError, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := classify(tt.err)
			if c.outcome != tt.want || c.code != tt.wantCode {
				t.Errorf("classify(%v) = %s %q, want %s %q", tt.err, c.outcome, c.code, tt.want, tt.wantCode)
			}
			if tt.err != nil && c.message == "" {
				t.Error("no message")
			}
		})
	}
}

func TestCorrectRoleVerifies(t *testing.T) {
	for _, r := range []Role{memberRole(), mgmtRole()} {
		t.Run(r.RoleARN, func(t *testing.T) {
			f := newFake(r)
			rep := verifyWith(t, r, f)
			if rep.Status != StatusVerified {
				t.Fatalf("status %s, want verified: %+v", rep.Status, rep)
			}
			if len(rep.Diagnoses) != 0 || len(rep.Findings) != 0 {
				t.Errorf("diagnoses %+v findings %+v", rep.Diagnoses, rep.Findings)
			}
			if rep.AccountID != r.arn().AccountID {
				t.Errorf("account %q", rep.AccountID)
			}
			// Regional probes run once per region, global ones once in
			// the home region.
			for _, region := range r.Regions {
				probeNamed(t, rep, "cloudtrail:LookupEvents", region)
			}
			if n := f.called("iam:ListRoles@us-east-1"); n != 1 {
				t.Errorf("iam:ListRoles called %d times, want 1", n)
			}
			if got := f.called("s3:ListObjectsV2@us-east-1"); got != map[bool]int{true: 1, false: 0}[r.Management] {
				t.Errorf("s3 probe called %d times (management %v)", got, r.Management)
			}
		})
	}
}

func TestAssumeRoleSendsTheExternalIDAndAShortSession(t *testing.T) {
	f := newFake(memberRole())
	var got *sts.AssumeRoleInput
	f.AssumeRoleFunc = func(in *sts.AssumeRoleInput) (*sts.AssumeRoleOutput, error) { got = in; return okAssume(), nil }
	verifyWith(t, memberRole(), f)
	if aws.ToString(got.ExternalId) != testExtID || aws.ToInt32(got.DurationSeconds) != 900 || aws.ToString(got.RoleSessionName) != DefaultSessionName {
		t.Errorf("AssumeRole input %+v", got)
	}
}

func TestInvalidRoleNeverReachesAWS(t *testing.T) {
	tests := map[string]func(*Role){
		"no external ID":               func(r *Role) { r.ExternalID = "" },
		"short external ID":            func(r *Role) { r.ExternalID = "abc" },
		"not a role ARN":               func(r *Role) { r.RoleARN = "arn:aws:iam::210987654321:user/bob" },
		"account mismatch":             func(r *Role) { r.AccountID = "111111111111" },
		"bad region":                   func(r *Role) { r.Regions = []string{"mars-1"} },
		"member with another's bucket": func(r *Role) { r.CURBucket, r.CURAccountID = "acme-cur", "123456789012" },
		"KMS key without a bucket": func(r *Role) {
			r.CURKMSKey = "arn:aws:kms:us-east-1:210987654321:key/1234abcd-12ab-34cd-56ef-1234567890ab"
		},
		"KMS key in another region": func(r *Role) {
			r.CURBucket, r.CURRegion, r.CURKMSKey = "acme-cur", "eu-west-1", "arn:aws:kms:us-east-1:210987654321:key/1234abcd-12ab-34cd-56ef-1234567890ab"
		},
		"wildcard log group pattern": func(r *Role) { r.LogGroups = []string{"app*"} },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			r := memberRole()
			mutate(&r)
			f := newFake(memberRole())
			rep := verifyWith(t, r, f)
			if rep.Status != StatusUnreachable || !rep.HasDiagnosis(DiagnosisInvalidRole) {
				t.Errorf("status %s diagnoses %+v, want unreachable invalid_role", rep.Status, rep.Diagnoses)
			}
			if n := f.called("sts:AssumeRole"); n != 0 {
				t.Errorf("AssumeRole called %d times", n)
			}
			for _, d := range rep.Diagnoses {
				if r.ExternalID != "" && strings.Contains(d.Message, r.ExternalID) {
					t.Errorf("diagnosis shows the external ID: %s", d.Message)
				}
			}
		})
	}
}

func TestAssumeRoleDeniedIsRetriedThenUnreachable(t *testing.T) {
	f := newFake(memberRole())
	f.AssumeRoleFunc = func(*sts.AssumeRoleInput) (*sts.AssumeRoleOutput, error) {
		return nil, apiError(403, "AccessDenied", "not authorized to perform sts:AssumeRole")
	}
	c := newClock()
	start := c.Now()
	rep := testEngine(f, c, Options{AssumeRoleWait: 10 * time.Second}).Verify(t.Context(), memberRole())
	if rep.Status != StatusUnreachable {
		t.Fatalf("status %s", rep.Status)
	}
	if !rep.HasDiagnosis(DiagnosisExternalIDMismatch) {
		t.Errorf("diagnoses %+v", rep.Diagnoses)
	}
	attempts := f.called("sts:AssumeRole")
	if attempts < 4 {
		t.Errorf("%d attempts in 10s of backoff, want at least 4", attempts)
	}
	if waited := c.Now().Sub(start); waited > 10*time.Second {
		t.Errorf("waited %s, more than AssumeRoleWait", waited)
	}
	if len(rep.Probes) != 1 || rep.Probes[0].Outcome != OutcomeDenied {
		t.Errorf("probes %+v, want one denied AssumeRole", rep.Probes)
	}
	for _, d := range rep.Diagnoses {
		if !strings.Contains(d.Message, "external ID your vendor gave you") {
			t.Errorf("diagnosis does not say what to do: %s", d.Message)
		}
	}
}

func TestAssumeRoleSucceedsAfterPropagation(t *testing.T) {
	f := newFake(memberRole())
	n := 0
	f.AssumeRoleFunc = func(*sts.AssumeRoleInput) (*sts.AssumeRoleOutput, error) {
		if n++; n < 3 {
			return nil, apiError(403, "AccessDenied", "not yet")
		}
		return okAssume(), nil
	}
	rep := verifyWith(t, memberRole(), f)
	if rep.Status != StatusVerified {
		t.Fatalf("status %s: %+v", rep.Status, rep)
	}
	if p := probeNamed(t, rep, "sts:AssumeRole", ""); !strings.Contains(p.Message, "3 attempts") {
		t.Errorf("AssumeRole probe message %q", p.Message)
	}
}

func TestAssumeRoleOtherErrorsAreNotRetried(t *testing.T) {
	f := newFake(memberRole())
	f.AssumeRoleFunc = func(*sts.AssumeRoleInput) (*sts.AssumeRoleOutput, error) {
		return nil, apiError(403, "InvalidClientTokenId", "the security token is invalid")
	}
	rep := verifyWith(t, memberRole(), f)
	if rep.Status != StatusUnreachable || !rep.HasDiagnosis(DiagnosisAssumeRoleFailed) {
		t.Errorf("status %s diagnoses %+v", rep.Status, rep.Diagnoses)
	}
	if n := f.called("sts:AssumeRole"); n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
}

func TestProbeOutcomesMakeTheStatus(t *testing.T) {
	denied := func() error { return apiError(403, "AccessDenied", "no") }
	tests := []struct {
		name      string
		role      Role
		set       func(*fakeAWS)
		want      Status
		probe     string
		outcome   Outcome
		diagnosis string
	}{
		{
			name: "a denied probe whose policy is gone is a gap", role: memberRole(),
			set: func(f *fakeAWS) {
				f.ListRolesFunc = denied
				in := f.inline()
				delete(in, "rolecall-identity")
				f.InlinePolicies = in
			},
			want: StatusGaps, probe: "iam:ListRoles", outcome: OutcomeDenied, diagnosis: DiagnosisPermissionGap,
		},
		{
			name: "a denied probe the role's policy allows is blocked outside the role", role: memberRole(),
			set:  func(f *fakeAWS) { f.ListRolesFunc = denied },
			want: StatusGaps, probe: "iam:ListRoles", outcome: OutcomeDenied, diagnosis: DiagnosisBlockedOutside,
		},
		{
			name: "throttling after retries is an error", role: memberRole(),
			set: func(f *fakeAWS) {
				f.LookupEventsFunc = func() error { return apiError(400, "ThrottlingException", "Rate exceeded") }
			},
			want: StatusGaps, probe: "cloudtrail:LookupEvents", outcome: OutcomeError, diagnosis: DiagnosisProbeErrors,
		},
		{
			name: "a not-found answer passes", role: memberRole(),
			set: func(f *fakeAWS) {
				f.OrganizationsFunc = func() error { return apiError(400, "AWSOrganizationsNotInUseException", "") }
			},
			want: StatusVerified, probe: "organizations:DescribeOrganization", outcome: OutcomeNotFound,
		},
		{
			name: "the simulator allowing a write is a finding", role: memberRole(),
			set: func(f *fakeAWS) {
				f.SimulateFunc = func(in *iam.SimulatePrincipalPolicyInput) (*iam.SimulatePrincipalPolicyOutput, error) {
					return simulate(in, map[string]bool{"iam:AttachRolePolicy": true}), nil
				}
			},
			want: StatusFinding, probe: "iam:SimulatePrincipalPolicy", outcome: OutcomeWriteAllowed, diagnosis: DiagnosisWriteAccess,
		},
		{
			name: "a finding wins over gaps", role: memberRole(),
			set: func(f *fakeAWS) {
				f.ListRolesFunc = denied
				f.SimulateFunc = func(in *iam.SimulatePrincipalPolicyInput) (*iam.SimulatePrincipalPolicyOutput, error) {
					return simulate(in, map[string]bool{"iam:PutRolePolicy": true}), nil
				}
			},
			want: StatusFinding, probe: "iam:SimulatePrincipalPolicy", outcome: OutcomeWriteAllowed,
		},
		{
			name: "a denied simulation leaves write safety unproven", role: memberRole(),
			set: func(f *fakeAWS) {
				f.SimulateFunc = func(*iam.SimulatePrincipalPolicyInput) (*iam.SimulatePrincipalPolicyOutput, error) {
					return nil, apiError(403, "AccessDenied", "no")
				}
			},
			want: StatusUnverifiable, probe: "iam:SimulatePrincipalPolicy", outcome: OutcomeDenied, diagnosis: DiagnosisWriteSafetyUnproven,
		},
		{
			name: "a simulation that skips actions proves nothing", role: memberRole(),
			set: func(f *fakeAWS) {
				f.SimulateFunc = func(in *iam.SimulatePrincipalPolicyInput) (*iam.SimulatePrincipalPolicyOutput, error) {
					in.ActionNames = in.ActionNames[1:]
					return simulate(in, nil), nil
				}
			},
			want: StatusUnverifiable, probe: "iam:SimulatePrincipalPolicy", outcome: OutcomeError, diagnosis: DiagnosisWriteSafetyUnproven,
		},
		{
			name: "an inline s3:PutObject is a finding", role: mgmtRole(),
			set: func(f *fakeAWS) {
				in := f.inline()
				in["upload"] = url.QueryEscape(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::acme-cur/cur/*"}]}`)
				f.InlinePolicies = in
			},
			want: StatusFinding, probe: "iam:GetRolePolicy", outcome: OutcomeWriteAllowed, diagnosis: DiagnosisWriteAccess,
		},
		{
			name: "an attached administrator policy is a finding", role: memberRole(),
			set: func(f *fakeAWS) {
				f.AttachedPolicies = map[string]string{"arn:aws:iam::aws:policy/AdministratorAccess": url.QueryEscape(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)}
			},
			want: StatusFinding, probe: "iam:GetPolicyVersion", outcome: OutcomeWriteAllowed,
		},
		{
			name: "an attached read-only policy passes", role: memberRole(),
			set: func(f *fakeAWS) {
				f.AttachedPolicies = map[string]string{"arn:aws:iam::210987654321:policy/extra": url.QueryEscape(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:ListUsers","Resource":"*"}}`)}
			},
			want: StatusVerified, probe: "iam:GetPolicyVersion", outcome: OutcomeOK,
		},
		{
			name: "the management role's CUR policy passes the gate with its scope", role: mgmtRole(),
			want: StatusVerified, probe: "iam:GetRolePolicy", outcome: OutcomeOK,
		},
		{
			name: "a member role with the CUR policy is a finding", role: memberRole(),
			set: func(f *fakeAWS) {
				in := f.inline()
				for _, p := range permissions.Policies(mgmtRole().Target()) {
					if p.Name == "rolecall-cost-cur-bucket" {
						b, _ := json.Marshal(p.Document)
						in[p.Name] = url.QueryEscape(string(b))
					}
				}
				f.InlinePolicies = in
			},
			want: StatusFinding, probe: "iam:GetRolePolicy", outcome: OutcomeWriteAllowed,
		},
		{
			name: "a policy document that cannot be read is an error", role: memberRole(),
			set: func(f *fakeAWS) {
				in := f.inline()
				in["broken"] = "%ZZnot-encoded"
				f.InlinePolicies = in
			},
			want: StatusUnverifiable, probe: "iam:GetRolePolicy", outcome: OutcomeError, diagnosis: DiagnosisWriteSafetyUnproven,
		},
		{
			name: "a refused list of attached policies leaves write safety unproven", role: memberRole(),
			set: func(f *fakeAWS) {
				f.ListAttachedFunc = func() error {
					return apiError(403, "AccessDenied", "with an explicit deny in an identity-based policy: arn:aws:iam::210987654321:policy/NoSelfCheck")
				}
			},
			want: StatusUnverifiable, probe: "iam:ListAttachedRolePolicies", outcome: OutcomeDenied, diagnosis: DiagnosisWriteSafetyUnproven,
		},
		{
			name: "an action the dataset does not know cannot be evaluated", role: memberRole(),
			set: func(f *fakeAWS) {
				f.AttachedPolicies = map[string]string{"arn:aws:iam::210987654321:policy/new": url.QueryEscape(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"newservice:DoThings","Resource":"*"}}`)}
			},
			want: StatusUnverifiable, probe: "iam:GetPolicyVersion", outcome: OutcomeOK, diagnosis: DiagnosisWriteSafetyUnproven,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(tt.role)
			if tt.set != nil {
				tt.set(f)
			}
			rep := verifyWith(t, tt.role, f)
			if rep.Status != tt.want {
				t.Errorf("status %s, want %s: probes %+v findings %+v", rep.Status, tt.want, rep.Probes, rep.Findings)
			}
			if p := probeNamed(t, rep, tt.probe, ""); p.Outcome != tt.outcome {
				t.Errorf("%s: %s (%s), want %s", tt.probe, p.Outcome, p.Message, tt.outcome)
			}
			if tt.diagnosis != "" && !rep.HasDiagnosis(tt.diagnosis) {
				t.Errorf("no %s diagnosis: %+v", tt.diagnosis, rep.Diagnoses)
			}
			if (rep.Status == StatusFinding) != (len(rep.Findings) > 0) {
				t.Errorf("status %s with %d findings", rep.Status, len(rep.Findings))
			}
		})
	}
}

func TestSimulationFindingsAreBounded(t *testing.T) {
	f := newFake(memberRole())
	f.SimulateFunc = func(in *iam.SimulatePrincipalPolicyInput) (*iam.SimulatePrincipalPolicyOutput, error) {
		all := map[string]bool{}
		for _, a := range in.ActionNames {
			all[a] = true
		}
		return simulate(in, all), nil
	}
	rep := verifyWith(t, memberRole(), f)
	if len(rep.Findings) != maxSimulatedFindings+1 {
		t.Fatalf("%d findings, want %d", len(rep.Findings), maxSimulatedFindings+1)
	}
	if last := rep.Findings[len(rep.Findings)-1]; last.Action != "" || !strings.Contains(last.Detail, "more write actions") {
		t.Errorf("last finding %+v", last)
	}
}

func TestSimulationAsksAboutEveryWriteActionInBatches(t *testing.T) {
	f := newFake(mgmtRole())
	var asked []string
	batches := 0
	f.SimulateFunc = func(in *iam.SimulatePrincipalPolicyInput) (*iam.SimulatePrincipalPolicyOutput, error) {
		batches++
		if len(in.ActionNames) > simulateBatch {
			t.Errorf("batch of %d actions", len(in.ActionNames))
		}
		if aws.ToString(in.PolicySourceArn) != mgmtRole().RoleARN {
			t.Errorf("simulated %s, want the role itself", aws.ToString(in.PolicySourceArn))
		}
		asked = append(asked, in.ActionNames...)
		// Answer in two pages.
		if in.Marker == nil {
			out := simulate(&iam.SimulatePrincipalPolicyInput{ActionNames: in.ActionNames[:1]}, nil)
			out.IsTruncated, out.Marker = true, aws.String("page2")
			return out, nil
		}
		return simulate(&iam.SimulatePrincipalPolicyInput{ActionNames: in.ActionNames[1:]}, nil), nil
	}
	rep := verifyWith(t, mgmtRole(), f)
	if rep.Status != StatusVerified {
		t.Fatalf("status %s: %+v", rep.Status, rep.Probes)
	}
	want := testEngine(f, newClock(), Options{}).simulatedActions(permissions.GrantedServices(mgmtRole().Target()))
	got := slices.Compact(slices.Sorted(slices.Values(asked)))
	if !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Errorf("asked about %d actions, want the %d simulated write actions", len(got), len(want))
	}
	if len(want) != simulatedWrites {
		t.Errorf("%d actions simulated, want %d", len(want), simulatedWrites)
	}
	// Escalation first: the actions that let a role grant itself more.
	for _, a := range []string{"iam:AttachRolePolicy", "iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:CreatePolicyVersion"} {
		if !slices.Contains(want, a) {
			t.Errorf("simulated actions lack %s", a)
		}
	}
}

func TestCURDiagnoses(t *testing.T) {
	tests := []struct {
		name      string
		set       func(*fakeAWS)
		outcome   Outcome
		diagnosis string
		status    Status
	}{
		{
			name:    "missing bucket",
			set:     func(f *fakeAWS) { f.ListObjectsFunc = listErr(apiError(404, "NoSuchBucket", "gone")) },
			outcome: OutcomeNotFound, diagnosis: DiagnosisCURBucketMissing, status: StatusVerified,
		},
		{
			name: "nothing under the prefix",
			set: func(f *fakeAWS) {
				f.ListObjectsFunc = func(string, *s3.ListObjectsV2Input) (*s3.ListObjectsV2Output, error) {
					return &s3.ListObjectsV2Output{KeyCount: aws.Int32(0)}, nil
				}
			},
			outcome: OutcomeOK, diagnosis: DiagnosisCURPrefixEmpty, status: StatusVerified,
		},
		{
			// ExpectedBucketOwner makes S3 refuse another account's
			// bucket with the same 403 as a missing permission; the
			// role's own policy tells them apart, as far as it can.
			name:    "bucket refused although the role's policy allows it",
			set:     func(f *fakeAWS) { f.ListObjectsFunc = listErr(apiError(403, "AccessDenied", "Access Denied")) },
			outcome: OutcomeDenied, diagnosis: DiagnosisCURBucketRefused, status: StatusGaps,
		},
		{
			name: "bucket refused and the role's CUR policy is gone",
			set: func(f *fakeAWS) {
				f.ListObjectsFunc = listErr(apiError(403, "AccessDenied", "Access Denied"))
				in := f.inline()
				delete(in, "rolecall-cost-cur-bucket")
				f.InlinePolicies = in
			},
			outcome: OutcomeDenied, diagnosis: DiagnosisPermissionGap, status: StatusGaps,
		},
		{
			name: "reports delivered elsewhere",
			set: func(f *fakeAWS) {
				f.CURFunc = func() (*costandusagereportservice.DescribeReportDefinitionsOutput, error) {
					return &costandusagereportservice.DescribeReportDefinitionsOutput{ReportDefinitions: []curtypes.ReportDefinition{
						{ReportName: aws.String("acme"), S3Bucket: aws.String("acme-billing"), S3Prefix: aws.String("reports")},
					}}, nil
				}
			},
			outcome: OutcomeOK, diagnosis: DiagnosisCURReportElsewhere, status: StatusVerified,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(mgmtRole())
			tt.set(f)
			rep := verifyWith(t, mgmtRole(), f)
			if p := probeNamed(t, rep, "s3:ListObjectsV2", ""); p.Outcome != tt.outcome {
				t.Errorf("s3 probe %s, want %s", p.Outcome, tt.outcome)
			}
			if !rep.HasDiagnosis(tt.diagnosis) {
				t.Errorf("no %s diagnosis: %+v", tt.diagnosis, rep.Diagnoses)
			}
			if rep.Status != tt.status {
				t.Errorf("status %s, want %s", rep.Status, tt.status)
			}
		})
	}
}

func TestReportDefinitionUnderThePrefixIsNoDiagnosis(t *testing.T) {
	f := newFake(mgmtRole())
	f.CURFunc = func() (*costandusagereportservice.DescribeReportDefinitionsOutput, error) {
		return &costandusagereportservice.DescribeReportDefinitionsOutput{ReportDefinitions: []curtypes.ReportDefinition{
			{ReportName: aws.String("other"), S3Bucket: aws.String("elsewhere"), S3Prefix: aws.String("x")},
			{ReportName: aws.String("acme"), S3Bucket: aws.String("acme-cur"), S3Prefix: aws.String("cur")},
		}}, nil
	}
	if rep := verifyWith(t, mgmtRole(), f); rep.HasDiagnosis(DiagnosisCURReportElsewhere) {
		t.Errorf("diagnoses %+v", rep.Diagnoses)
	}
}

func TestCURBucketInAnotherRegionIsFollowed(t *testing.T) {
	f := newFake(mgmtRole())
	f.ListObjectsFunc = func(region string, in *s3.ListObjectsV2Input) (*s3.ListObjectsV2Output, error) {
		if aws.ToString(in.ExpectedBucketOwner) != mgmtAccount {
			t.Errorf("ExpectedBucketOwner %q, want the role's account", aws.ToString(in.ExpectedBucketOwner))
		}
		if region != "eu-west-1" {
			return nil, httpError(http.StatusMovedPermanently, http.Header{"X-Amz-Bucket-Region": {"eu-west-1"}})
		}
		return &s3.ListObjectsV2Output{KeyCount: aws.Int32(1)}, nil
	}
	rep := verifyWith(t, mgmtRole(), f)
	p := probeNamed(t, rep, "s3:ListObjectsV2", "")
	if p.Outcome != OutcomeOK || p.Region != "eu-west-1" {
		t.Errorf("s3 probe %+v, want ok in eu-west-1", p)
	}
}

func TestBedrock(t *testing.T) {
	t.Run("logging off in one region", func(t *testing.T) {
		f := newFake(memberRole())
		f.BedrockFunc = func(region string) (*bedrock.GetModelInvocationLoggingConfigurationOutput, error) {
			if region == "eu-west-1" {
				return &bedrock.GetModelInvocationLoggingConfigurationOutput{}, nil
			}
			return (&fakeClient{f: &fakeAWS{}}).GetModelInvocationLoggingConfiguration(t.Context(), nil)
		}
		rep := verifyWith(t, memberRole(), f)
		if rep.Status != StatusVerified || !rep.HasDiagnosis(DiagnosisBedrockLoggingOff) {
			t.Fatalf("status %s diagnoses %+v", rep.Status, rep.Diagnoses)
		}
		for _, d := range rep.Diagnoses {
			if d.Code == DiagnosisBedrockLoggingOff && (!strings.Contains(d.Message, "eu-west-1") || strings.Contains(d.Message, "us-east-1")) {
				t.Errorf("message %q should name eu-west-1 only", d.Message)
			}
		}
	})
	t.Run("module off is a note, not a gap", func(t *testing.T) {
		r := memberRole()
		r.Bedrock = false
		f := newFake(r)
		rep := verifyWith(t, r, f)
		if rep.Status != StatusVerified {
			t.Fatalf("status %s", rep.Status)
		}
		if len(rep.Notes) != 1 || rep.Notes[0].Code != NoteBedrockDisabled || len(rep.Diagnoses) != 0 {
			t.Errorf("notes %+v diagnoses %+v", rep.Notes, rep.Diagnoses)
		}
		if f.called("bedrock:GetModelInvocationLoggingConfiguration@us-east-1") != 0 {
			t.Error("Bedrock probed although the module is off")
		}
	})
}

func TestCostExplorerDeniedInAMemberAccount(t *testing.T) {
	f := newFake(memberRole())
	f.CostFunc = func(*costexplorer.GetCostAndUsageInput) error {
		return apiError(400, "AccessDeniedException", "linked account")
	}
	rep := verifyWith(t, memberRole(), f)
	if !rep.HasDiagnosis(DiagnosisCostExplorerMember) || rep.HasDiagnosis(DiagnosisPermissionGap) {
		t.Errorf("diagnoses %+v", rep.Diagnoses)
	}
}

func TestStatusRules(t *testing.T) {
	p := func(o Outcome) Probe { return Probe{Outcome: o} }
	tests := []struct {
		name    string
		rep     Report
		assumed bool
		want    Status
	}{
		{"all ok", Report{Probes: []Probe{p(OutcomeOK), p(OutcomeNotFound)}}, true, StatusVerified},
		{"a denied probe", Report{Probes: []Probe{p(OutcomeOK), p(OutcomeDenied)}}, true, StatusGaps},
		{"an error", Report{Probes: []Probe{p(OutcomeError)}}, true, StatusGaps},
		{"write allowed wins", Report{Probes: []Probe{p(OutcomeDenied), p(OutcomeWriteAllowed)}}, true, StatusFinding},
		{"a finding wins", Report{Findings: []Finding{{Action: "*"}}}, true, StatusFinding},
		{"not assumed", Report{Probes: []Probe{p(OutcomeDenied)}}, false, StatusUnreachable},
		{"unproven write safety", Report{Probes: []Probe{p(OutcomeOK)}, Unproven: []Unproven{{Check: "iam:GetRolePolicy"}}}, true, StatusUnverifiable},
		{"unproven wins over a gap", Report{Probes: []Probe{p(OutcomeDenied)}, Unproven: []Unproven{{Check: "iam:GetRolePolicy"}}}, true, StatusUnverifiable},
		{"a finding wins over unproven", Report{Findings: []Finding{{Action: "*"}}, Unproven: []Unproven{{Check: "iam:GetRolePolicy"}}}, true, StatusFinding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := status(tt.rep, tt.assumed); got != tt.want {
				t.Errorf("status = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestSummaryExitCode(t *testing.T) {
	tests := []struct {
		name     string
		statuses []Status
		want     int
		worst    Status
	}{
		{"nothing verified", nil, ExitGaps, ""},
		{"all verified", []Status{StatusVerified, StatusVerified}, ExitVerified, StatusVerified},
		{"a gap", []Status{StatusVerified, StatusGaps}, ExitGaps, StatusGaps},
		{"unreachable", []Status{StatusUnreachable, StatusGaps}, ExitGaps, StatusUnreachable},
		{"a finding", []Status{StatusGaps, StatusFinding, StatusUnreachable}, ExitFinding, StatusFinding},
		{"unverifiable", []Status{StatusVerified, StatusUnverifiable, StatusGaps, StatusUnreachable}, ExitUnverifiable, StatusUnverifiable},
		{"a finding wins over unverifiable", []Status{StatusUnverifiable, StatusFinding}, ExitFinding, StatusFinding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Summary
			for _, st := range tt.statuses {
				s.Add(Report{Status: st})
			}
			if s.ExitCode() != tt.want || s.Worst != tt.worst || s.Accounts != len(tt.statuses) {
				t.Errorf("summary %+v exit %d, want exit %d worst %s", s, s.ExitCode(), tt.want, tt.worst)
			}
		})
	}
}

func TestReportJSONIsStableSnakeCase(t *testing.T) {
	rep := Report{
		AccountID: mgmtAccount, RoleARN: mgmtRole().RoleARN, Status: StatusGaps,
		Probes:    []Probe{{Service: "iam", Action: "ListRoles", Region: "us-east-1", Outcome: OutcomeDenied, Code: "AccessDenied", Message: "no"}},
		Findings:  []Finding{{Kind: "write_action", Source: "inline policy upload", PolicyType: "inline", Policy: "upload", Statement: "#1", Index: 1, Effect: "Allow", Action: "s3:PutObject", Resources: []string{"*"}, Detail: "d"}},
		Unproven:  []Unproven{{Check: "iam:GetPolicyVersion", Target: "attached policy arn:aws:iam::123456789012:policy/x", Code: "AccessDenied", Message: "no"}},
		Diagnoses: []Diagnosis{{Code: DiagnosisPermissionGap, Message: "m"}},
		Notes:     []Diagnosis{{Code: NoteBedrockDisabled, Message: "n"}},
		Duration:  1500 * time.Millisecond,
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"account_id":"123456789012","role_arn":"arn:aws:iam::123456789012:role/VendorReadOnly","status":"gaps","probes":[{"service":"iam","action":"ListRoles","region":"us-east-1","outcome":"denied","code":"AccessDenied","message":"no"}],"findings":[{"kind":"write_action","source":"inline policy upload","policy_type":"inline","policy":"upload","statement":"#1","statement_index":1,"effect":"Allow","action":"s3:PutObject","resources":["*"],"detail":"d"}],"unproven":[{"check":"iam:GetPolicyVersion","target":"attached policy arn:aws:iam::123456789012:policy/x","code":"AccessDenied","message":"no"}],"diagnoses":[{"code":"permission_gap","message":"m"}],"notes":[{"code":"bedrock_disabled","message":"n"}],"duration_ms":1500}`
	if string(b) != want {
		t.Errorf("JSON\n%s\nwant\n%s", b, want)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Duration != rep.Duration || back.Status != rep.Status || len(back.Probes) != 1 {
		t.Errorf("round trip %+v", back)
	}
	r := mgmtRole()
	rb, _ := json.Marshal(r)
	if strings.Contains(string(rb), testExtID) {
		t.Errorf("a Role's JSON shows the external ID: %s", rb)
	}
}

func TestVerifyAllBoundsConcurrencyAndReportsEveryRole(t *testing.T) {
	const roles, concurrency = 12, 3
	f := newFake(memberRole())
	f.assumeBlock = make(chan struct{})
	f.assumeArrived = make(chan struct{})
	e := testEngine(f, newClock(), Options{Concurrency: concurrency})
	var list []Role
	for i := range roles {
		r := memberRole()
		r.RoleARN = fmt.Sprintf("arn:aws:iam::%012d:role/VendorReadOnly", 300000000000+i)
		list = append(list, r)
	}
	done := make(chan Summary)
	seen := map[string]int{}
	go func() {
		done <- e.VerifyAll(t.Context(), slices.Values(list), func(r Report) { seen[r.AccountID]++ })
	}()
	// Let the workers in one by one: each release lets exactly one
	// AssumeRole finish, after `concurrency` have arrived.
	for range concurrency {
		<-f.assumeArrived
	}
	for i := range roles {
		f.assumeBlock <- struct{}{}
		if i+concurrency < roles {
			<-f.assumeArrived
		}
	}
	s := <-done
	if s.Accounts != roles || s.Verified != roles || s.ExitCode() != ExitVerified {
		t.Errorf("summary %+v", s)
	}
	if got := f.assumeMaxConcurrent.Load(); got != concurrency {
		t.Errorf("at most %d AssumeRole calls at once, want %d", got, concurrency)
	}
	for _, r := range list {
		if seen[r.arn().AccountID] != 1 {
			t.Errorf("account %s reported %d times", r.arn().AccountID, seen[r.arn().AccountID])
		}
	}
}

func TestVerifyAllReportsEveryRoleAfterCancellation(t *testing.T) {
	f := newFake(memberRole())
	f.AssumeRoleFunc = func(*sts.AssumeRoleInput) (*sts.AssumeRoleOutput, error) { return nil, context.Canceled }
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	s := testEngine(f, newClock(), Options{Concurrency: 2}).VerifyAll(ctx, slices.Values([]Role{memberRole(), mgmtRole(), memberRole()}), nil)
	if s.Accounts != 3 || s.Unreachable != 3 {
		t.Errorf("summary %+v, want 3 unreachable", s)
	}
}

func TestLookupEventsIsPacedPerAccountAndRegion(t *testing.T) {
	c := newClock()
	var slept []time.Duration
	l := newKeyedLimiter(500*time.Millisecond, c.Now, func(ctx context.Context, d time.Duration) error {
		slept = append(slept, d)
		return nil // the clock does not move: the calls are back to back
	})
	for _, key := range []string{"a/us-east-1", "a/us-east-1", "b/us-east-1", "a/us-east-1", "a/eu-west-1"} {
		if err := l.wait(t.Context(), key); err != nil {
			t.Fatal(err)
		}
	}
	if want := []time.Duration{500 * time.Millisecond, time.Second}; !slices.Equal(slept, want) {
		t.Errorf("slept %v, want %v (only repeats of one account and region wait)", slept, want)
	}
	// Keys whose turn has passed are forgotten once the map is large.
	for i := range pruneAt {
		_ = l.wait(t.Context(), fmt.Sprint(i))
	}
	_ = c.sleep(t.Context(), time.Minute)
	_ = l.wait(t.Context(), "fresh")
	if n := len(l.next); n > 2 {
		t.Errorf("%d keys kept after pruning", n)
	}
}

func TestClientInterfacesHaveNoWriteAction(t *testing.T) {
	// Every method of the interfaces the engine calls as the role is an
	// IAM List or Read action: the engine cannot write even if it tried.
	methods := map[string][]string{
		"ce":               {"GetCostAndUsage"},
		"s3":               {"ListBucket", "GetObject"}, // ListObjectsV2 is authorised by s3:ListBucket
		"bcm-data-exports": {"ListExports", "GetExport"},
		"cur":              {"DescribeReportDefinitions"},
		"pricing":          {"DescribeServices"},
		"bedrock":          {"GetModelInvocationLoggingConfiguration"},
		"cloudwatch":       {"ListMetrics"},
		"logs":             {"DescribeLogGroups"},
		"cloudtrail":       {"LookupEvents"},
		"organizations":    {"DescribeOrganization"},
		"iam":              {"GetRole", "ListRoles", "ListRolePolicies", "GetRolePolicy", "ListAttachedRolePolicies", "GetPolicy", "GetPolicyVersion", "SimulatePrincipalPolicy"},
	}
	e := testEngine(newFake(memberRole()), newClock(), Options{})
	for svc, ms := range methods {
		for _, m := range ms {
			a, ok := e.dataset().Lookup(svc + ":" + m)
			if !ok || !a.ReadOnly() || permissions.IsForbiddenRead(a.String()) {
				t.Errorf("%s:%s is not a plain read (%+v)", svc, m, a)
			}
		}
	}
	for iface, want := range map[reflect.Type][]string{
		reflect.TypeFor[iamAPI]():           methods["iam"],
		reflect.TypeFor[costAPI]():          methods["ce"],
		reflect.TypeFor[s3API]():            {"ListObjectsV2", "GetObject"},
		reflect.TypeFor[exportsAPI]():       methods["bcm-data-exports"],
		reflect.TypeFor[curAPI]():           methods["cur"],
		reflect.TypeFor[pricingAPI]():       methods["pricing"],
		reflect.TypeFor[bedrockAPI]():       methods["bedrock"],
		reflect.TypeFor[cloudwatchAPI]():    methods["cloudwatch"],
		reflect.TypeFor[logsAPI]():          methods["logs"],
		reflect.TypeFor[cloudtrailAPI]():    methods["cloudtrail"],
		reflect.TypeFor[organizationsAPI](): methods["organizations"],
		reflect.TypeFor[stsAPI]():           {"AssumeRole"}, // as the caller, never as the role
	} {
		var got []string
		for i := range iface.NumMethod() {
			got = append(got, iface.Method(i).Name)
		}
		if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))) {
			t.Errorf("%s has methods %v, want only %v", iface, got, want)
		}
	}
}

// A request body larger than net/http's write buffer, answered at once by
// a local server, must not lose the response (see internal/sdkbody). Without
// PlainRequestBody a few percent of these calls fail with "use of closed
// network connection".
func TestLargeRequestBodyAnsweredAtOnce(t *testing.T) {
	f := newAWSFake(t, 0)
	cfg := f.config(4)
	cfg.RetryMaxAttempts = 1 // a retry would hide the failure
	e := New(cfg, Options{})
	client := iam.NewFromConfig(e.base)
	var actions []string
	for _, a := range iamdata.Embedded().Actions("iam", iamdata.IsWrite)[:simulateBatch] {
		actions = append(actions, a.String())
	}
	for i := range 500 {
		if _, err := client.SimulatePrincipalPolicy(t.Context(), &iam.SimulatePrincipalPolicyInput{
			PolicySourceArn: aws.String(memberRole().RoleARN), ActionNames: actions,
		}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
}

// Wire level: a probe that AWS keeps throttling is retried by the SDK's
// adaptive retry mode, then ends as an error (not denied, not ok), and the
// account has gaps.
func TestThrottledProbeIsRetriedThenAnError(t *testing.T) {
	f := newAWSFake(t, 0)
	f.throttle = "LookupEvents"
	cfg := f.config(2)
	cfg.RetryMaxAttempts = 2
	rep := New(cfg, Options{S3PathStyle: true, AssumeRoleWait: -1}).Verify(t.Context(), Role{
		RoleARN: "arn:aws:iam::" + memberAccount + ":role/VendorReadOnly", ExternalID: testExtID, Bedrock: true, Regions: []string{"us-east-1"},
	})
	p := probeNamed(t, rep, "cloudtrail:LookupEvents", "")
	if p.Outcome != OutcomeError || p.Code != "Throttling" {
		t.Errorf("cloudtrail:LookupEvents %s %q, want error Throttling", p.Outcome, p.Code)
	}
	if n := f.count("LookupEvents"); n != 2 {
		t.Errorf("LookupEvents sent %d times, want 2 (one retry)", n)
	}
	if rep.Status != StatusGaps || !rep.HasDiagnosis(DiagnosisProbeErrors) {
		t.Errorf("status %s diagnoses %+v", rep.Status, rep.Diagnoses)
	}
	for _, q := range rep.Probes {
		if q.Name() != "cloudtrail:LookupEvents" && q.Outcome != OutcomeOK {
			t.Errorf("%s: %s %s", q.Name(), q.Outcome, q.Message)
		}
	}
}
