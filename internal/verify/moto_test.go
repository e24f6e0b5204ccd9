package verify_test

// Integration tests against moto with IAM authorisation on, with the real
// generated role template deployed through a service-managed StackSet (and
// as a stack in the management account). Tests that need the APIs moto
// lacks (pricing, CloudTrail LookupEvents, IAM policy simulation,
// CloudWatch over RPC v2 CBOR, CUR report definitions) go through the
// recorded-response front, and their names say RecordedFake.

import (
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/rolecall/rolecall/internal/emulator"
	"github.com/rolecall/rolecall/internal/emulator/emulatortest"
	"github.com/rolecall/rolecall/internal/verify"
	"github.com/rolecall/rolecall/internal/verify/verifytest"
)

// newEngine returns an engine for a config the emulator issued, with one
// attempt per call as the emulator sets it: a failure of a local server
// is never transient.
func newEngine(cfg aws.Config) *verify.Engine {
	return verify.New(cfg, verify.Options{
		S3PathStyle:    true,
		AssumeRoleWait: -1, // moto's roles exist at once; the retry is unit-tested
		Regions:        []string{emulator.DefaultRegion},
	})
}

func probe(t *testing.T, r verify.Report, name string) verify.Probe {
	t.Helper()
	for _, p := range r.Probes {
		if p.Name() == name {
			return p
		}
	}
	t.Fatalf("no probe %s in %+v", name, r.Probes)
	return verify.Probe{}
}

func dump(r verify.Report) string {
	var b strings.Builder
	b.WriteString(string(r.Status) + "\n")
	for _, p := range r.Probes {
		b.WriteString("  " + string(p.Outcome) + " " + p.Name() + " " + p.Code + " " + p.Message + "\n")
	}
	for _, f := range r.Findings {
		b.WriteString("  finding " + f.Action + " " + f.Source + ": " + f.Detail + "\n")
	}
	for _, d := range append(slices.Clone(r.Diagnoses), r.Notes...) {
		b.WriteString("  " + d.Code + ": " + d.Message + "\n")
	}
	return b.String()
}

func TestRecordedFakeCorrectRolesVerify(t *testing.T) {
	t.Parallel()
	srv, fakes := emulatortest.StartWithRecordedFakes(t)
	ob := verifytest.Deploy(t, srv, verifytest.Spec{LogGroups: []string{"/aws/bedrock/invocations"}})
	engine := newEngine(fakes.Through(ob.Verifier))
	// A CUR 2.0 export delivers the reports under the bucket's prefix.
	fakes.PlayCUR(nil, []emulator.RecordedExport{{Name: "acme", Bucket: ob.Management.CURBucket, Prefix: "cur", Region: emulator.DefaultRegion, Owner: emulator.DefaultAccountID}})

	for _, role := range ob.Roles() {
		t.Run(role.AccountID, func(t *testing.T) {
			rep := engine.Verify(t.Context(), role)
			if rep.Status != verify.StatusVerified {
				t.Fatalf("status %s, want verified:\n%s", rep.Status, dump(rep))
			}
			for _, p := range rep.Probes {
				if p.Outcome != verify.OutcomeOK {
					t.Errorf("probe %s: %s, want ok", p.Name(), p.Outcome)
				}
			}
			want := []string{"sts:AssumeRole", "organizations:DescribeOrganization", "iam:GetRole", "iam:ListRoles", "ce:GetCostAndUsage",
				"cur:DescribeReportDefinitions", "pricing:DescribeServices", "bcm-data-exports:ListExports",
				"bedrock:GetModelInvocationLoggingConfiguration", "cloudwatch:ListMetrics", "logs:DescribeLogGroups", "cloudtrail:LookupEvents",
				"iam:ListRolePolicies", "iam:GetRolePolicy", "iam:ListAttachedRolePolicies", "iam:SimulatePrincipalPolicy"}
			if role.Management {
				want = slices.Insert(want, 8, "s3:ListObjectsV2", "s3:GetObject")
				if !rep.HasDiagnosis(verify.NoteCURExport) {
					t.Errorf("no %s note:\n%s", verify.NoteCURExport, dump(rep))
				}
			}
			var got []string
			for _, p := range rep.Probes {
				got = append(got, p.Name())
			}
			if !slices.Equal(got, want) {
				t.Errorf("probes\n%q\nwant\n%q", got, want)
			}
			if len(rep.Findings) != 0 {
				t.Errorf("findings %+v", rep.Findings)
			}
			// The organization the role's account reports: what a vendor
			// checks a customer's claim against.
			if o := rep.Organization; o == nil || o.ID != ob.Org.ID || o.ManagementAccountID != ob.Org.ManagementAccountID {
				t.Errorf("organization %+v, want %s under %s", o, ob.Org.ID, ob.Org.ManagementAccountID)
			}
			// Moto's Bedrock has no logging configuration until one is put.
			if !rep.HasDiagnosis(verify.DiagnosisBedrockLoggingOff) {
				t.Errorf("no %s diagnosis:\n%s", verify.DiagnosisBedrockLoggingOff, dump(rep))
			}
		})
	}
	for _, api := range emulator.RecordedAPIs() {
		if fakes.Answered(api) == 0 {
			t.Errorf("the front never answered %s", api)
		}
	}
}

// Drift after onboarding: someone deletes the identity module's policy from
// a member role. Its probes are denied (moto evaluates the role's remaining
// policies), nothing else changes.
func TestRecordedFakeRoleMissingAModuleHasGaps(t *testing.T) {
	t.Parallel()
	srv, fakes := emulatortest.StartWithRecordedFakes(t)
	ob := verifytest.Deploy(t, srv, verifytest.Spec{})
	member := ob.Members[0]
	verifytest.DeleteInlinePolicy(t, srv, member, "rolecall-identity")

	rep := newEngine(fakes.Through(ob.Verifier)).Verify(t.Context(), member)
	if rep.Status != verify.StatusGaps {
		t.Fatalf("status %s, want gaps:\n%s", rep.Status, dump(rep))
	}
	denied := map[string]bool{"iam:ListRoles": true, "organizations:DescribeOrganization": true}
	for _, p := range rep.Probes {
		want := verify.OutcomeOK
		if denied[p.Name()] {
			want = verify.OutcomeDenied
		}
		if p.Outcome != want {
			t.Errorf("probe %s: %s (%s), want %s", p.Name(), p.Outcome, p.Code, want)
		}
	}
	if p := probe(t, rep, "iam:ListRoles"); p.Code != "AccessDenied" {
		t.Errorf("iam:ListRoles code %q, want AccessDenied", p.Code)
	}
	if !rep.HasDiagnosis(verify.DiagnosisPermissionGap) {
		t.Fatalf("no permission_gap diagnosis:\n%s", dump(rep))
	}
	for _, d := range rep.Diagnoses {
		if d.Code == verify.DiagnosisPermissionGap && !strings.Contains(d.Message, "rolecall-identity") {
			t.Errorf("permission_gap %q does not name the missing policy rolecall-identity", d.Message)
		}
	}
}

// An inline policy allowing s3:PutObject, added after onboarding, is read
// back and fails the read-only gate. This needs no recorded answer: a
// finding wins whatever else the probes say.
func TestInlineWriteAddedAfterOnboardingIsAFinding(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	ob := verifytest.Deploy(t, srv, verifytest.Spec{})
	for _, role := range []verify.Role{ob.Management, ob.Members[0]} {
		verifytest.PutInlinePolicy(t, srv, role, "upload", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::acme-cur/cur/*"}]}`)
	}
	engine := newEngine(ob.Verifier)
	for _, role := range []verify.Role{ob.Management, ob.Members[0]} {
		t.Run(role.AccountID, func(t *testing.T) {
			rep := engine.Verify(t.Context(), role)
			if rep.Status != verify.StatusFinding {
				t.Fatalf("status %s, want finding:\n%s", rep.Status, dump(rep))
			}
			if !slices.ContainsFunc(rep.Findings, func(f verify.Finding) bool {
				return f.Action == "s3:PutObject" && f.Source == "inline policy upload"
			}) {
				t.Errorf("no finding for s3:PutObject in inline policy upload: %+v", rep.Findings)
			}
			if p := probe(t, rep, "iam:GetRolePolicy"); p.Outcome != verify.OutcomeWriteAllowed {
				t.Errorf("iam:GetRolePolicy %s, want write_allowed", p.Outcome)
			}
			if !rep.HasDiagnosis(verify.DiagnosisWriteAccess) {
				t.Errorf("no write_access diagnosis:\n%s", dump(rep))
			}
		})
	}
}

// A customer-managed policy allowing every action, attached after
// onboarding, is read back through GetPolicy and GetPolicyVersion and fails
// the gate. (With it attached the role may call GetPolicy; moto would deny
// a narrower role, see TestMotoDeniesResourceScopedIAMCallsWithoutARoleName
// in internal/emulator.)
func TestAttachedAdministratorPolicyIsAFinding(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	ob := verifytest.Deploy(t, srv, verifytest.Spec{})
	member := ob.Members[1]
	arn := verifytest.AttachNewManagedPolicy(t, srv, member, "Admin", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)

	rep := newEngine(ob.Verifier).Verify(t.Context(), member)
	if rep.Status != verify.StatusFinding {
		t.Fatalf("status %s, want finding:\n%s", rep.Status, dump(rep))
	}
	if !slices.ContainsFunc(rep.Findings, func(f verify.Finding) bool {
		return f.Action == "*" && f.Source == "attached policy "+arn
	}) {
		t.Errorf("no finding for \"*\" in attached policy %s: %+v", arn, rep.Findings)
	}
	if p := probe(t, rep, "iam:GetPolicyVersion"); p.Outcome != verify.OutcomeWriteAllowed {
		t.Errorf("iam:GetPolicyVersion %s, want write_allowed", p.Outcome)
	}
}

func TestWrongExternalIDIsUnreachable(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	ob := verifytest.Deploy(t, srv, verifytest.Spec{Members: 1})
	role := ob.Members[0]
	role.ExternalID = "ext-not-the-right-one-00000000000000000000"

	rep := newEngine(ob.Verifier).Verify(t.Context(), role)
	if rep.Status != verify.StatusUnreachable {
		t.Fatalf("status %s, want unreachable:\n%s", rep.Status, dump(rep))
	}
	if p := probe(t, rep, "sts:AssumeRole"); p.Outcome != verify.OutcomeDenied || p.Code != "AccessDenied" {
		t.Errorf("sts:AssumeRole %s %s, want denied AccessDenied", p.Outcome, p.Code)
	}
	if len(rep.Probes) != 1 {
		t.Errorf("%d probes, want only AssumeRole", len(rep.Probes))
	}
	if !rep.HasDiagnosis(verify.DiagnosisExternalIDMismatch) {
		t.Errorf("no external_id_mismatch diagnosis:\n%s", dump(rep))
	}
}

// The CUR diagnoses, against moto's S3 as the management role: a bucket
// that does not exist, and a bucket with nothing under the prefix.
func TestCURDiagnosesAgainstMotoS3(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		spec        verifytest.Spec
		wantOutcome verify.Outcome
		wantCode    string
		wantDiag    string
	}{
		{
			name:        "missing bucket",
			spec:        verifytest.Spec{Members: 1, CURBucket: "acme-cur-typo", SkipBucket: true},
			wantOutcome: verify.OutcomeNotFound, wantCode: "NoSuchBucket", wantDiag: verify.DiagnosisCURBucketMissing,
		},
		{
			name:        "nothing under the prefix",
			spec:        verifytest.Spec{Members: 1, CURObjectKey: "reports/acme/20260101-20260201/acme-00001.csv.gz"},
			wantOutcome: verify.OutcomeOK, wantDiag: verify.DiagnosisCURPrefixEmpty,
		},
		{
			name:        "a report under the prefix",
			spec:        verifytest.Spec{Members: 1},
			wantOutcome: verify.OutcomeOK,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := emulatortest.Start(t)
			ob := verifytest.Deploy(t, srv, tt.spec)
			rep := newEngine(ob.Verifier).Verify(t.Context(), ob.Management)
			p := probe(t, rep, "s3:ListObjectsV2")
			if p.Outcome != tt.wantOutcome || p.Code != tt.wantCode {
				t.Errorf("s3:ListObjectsV2 %s %q, want %s %q", p.Outcome, p.Code, tt.wantOutcome, tt.wantCode)
			}
			for _, code := range []string{verify.DiagnosisCURBucketMissing, verify.DiagnosisCURPrefixEmpty} {
				if got := rep.HasDiagnosis(code); got != (code == tt.wantDiag) {
					t.Errorf("diagnosis %s present %v, want %v:\n%s", code, got, code == tt.wantDiag, dump(rep))
				}
			}
		})
	}
}

// The customer denies the role's own self-check reads and attaches a write
// policy: the verifier cannot read the policy, so it cannot prove the role
// read-only. That is unverifiable, never gaps, and the diagnosis names the
// refused read and the policy that refused it.
func TestRecordedFakeDeniedSelfCheckWithAWriteIsUnverifiable(t *testing.T) {
	t.Parallel()
	srv, fakes := emulatortest.StartWithRecordedFakes(t)
	ob := verifytest.Deploy(t, srv, verifytest.Spec{Members: 1})
	member := ob.Members[0]
	arn := verifytest.AttachNewManagedPolicy(t, srv, member, "Writes", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:TerminateInstances","Resource":"*"}]}`)
	verifytest.PutInlinePolicy(t, srv, member, "no-self-check", `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["iam:GetPolicy","iam:GetPolicyVersion"],"Resource":"*"}]}`)

	rep := newEngine(fakes.Through(ob.Verifier)).Verify(t.Context(), member)
	if rep.Status != verify.StatusUnverifiable {
		t.Fatalf("status %s, want unverifiable:\n%s", rep.Status, dump(rep))
	}
	if !slices.ContainsFunc(rep.Unproven, func(u verify.Unproven) bool {
		return u.Check == "iam:GetPolicy" && u.Target == "attached policy "+arn && u.Code == "AccessDenied"
	}) {
		t.Errorf("unproven %+v does not name the refused read of %s", rep.Unproven, arn)
	}
	if !rep.HasDiagnosis(verify.DiagnosisWriteSafetyUnproven) {
		t.Errorf("no %s diagnosis:\n%s", verify.DiagnosisWriteSafetyUnproven, dump(rep))
	}
	var s verify.Summary
	s.Add(rep)
	if s.ExitCode() != verify.ExitUnverifiable {
		t.Errorf("exit code %d, want %d", s.ExitCode(), verify.ExitUnverifiable)
	}
}

// A write in a service rolecall never grants, in an attached policy, is
// found from the document alone: the gate knows every service.
func TestWriteInAnUngrantedServiceIsAFinding(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	ob := verifytest.Deploy(t, srv, verifytest.Spec{Members: 1})
	member := ob.Members[0]
	verifytest.AttachNewManagedPolicy(t, srv, member, "Dynamo", `{"Version":"2012-10-17","Statement":[{"Sid":"Tables","Effect":"Allow","Action":"dynamodb:DeleteTable","Resource":"*"}]}`)
	rep := newEngine(ob.Verifier).Verify(t.Context(), member)
	if rep.Status != verify.StatusFinding {
		t.Fatalf("status %s, want finding:\n%s", rep.Status, dump(rep))
	}
	if !slices.ContainsFunc(rep.Findings, func(f verify.Finding) bool {
		return f.Kind == "write_action" && f.Action == "dynamodb:DeleteTable" && f.Statement == "Tables" && f.PolicyType == "managed"
	}) {
		t.Errorf("findings %+v lack dynamodb:DeleteTable with its evidence", rep.Findings)
	}
}

// The options a customer sets on the roles are verified: a role under a
// path, with a permissions boundary and tags, as the stack set them, is
// verified; a boundary that blocks a read the role's policies allow shows
// as blocked outside the role; a tag removed after onboarding is a gap.
func TestRecordedFakeRoleSettingsAreVerified(t *testing.T) {
	t.Parallel()
	srv, fakes := emulatortest.StartWithRecordedFakes(t)
	tags := map[string]string{"cost-center": "1234", "owner": "platform"}
	ob := verifytest.Deploy(t, srv, verifytest.Spec{Members: 1, RolePath: "/vendors/", Boundary: "boundaries/VendorBoundary", Tags: tags})
	engine := newEngine(fakes.Through(ob.Verifier))
	for _, role := range ob.Roles() {
		if !strings.Contains(role.RoleARN, ":role/vendors/") {
			t.Fatalf("role %s is not under /vendors/", role.RoleARN)
		}
		rep := engine.Verify(t.Context(), role)
		if rep.Status != verify.StatusVerified {
			t.Fatalf("%s: status %s, want verified:\n%s", role.AccountID, rep.Status, dump(rep))
		}
		if p := probe(t, rep, "iam:GetRole"); !strings.Contains(p.Message, "as the stack set them") {
			t.Errorf("GetRole probe: %q", p.Message)
		}
	}

	member := ob.Members[0]
	admin := verifytest.RoleAdmin(t, srv, member)
	if _, err := iam.NewFromConfig(admin).UntagRole(t.Context(), &iam.UntagRoleInput{RoleName: aws.String(verifytest.RoleNameOf(member)), TagKeys: []string{"owner"}}); err != nil {
		t.Fatal(err)
	}
	rep := engine.Verify(t.Context(), member)
	if rep.Status != verify.StatusGaps || !rep.HasDiagnosis(verify.DiagnosisRoleSettings) {
		t.Errorf("after a tag was removed: status %s, want gaps with %s:\n%s", rep.Status, verify.DiagnosisRoleSettings, dump(rep))
	}
}

// A boundary that allows less than the role's policies blocks those reads:
// the verifier reports them as blocked outside the role, not as a gap in
// the role's own policies.
func TestRecordedFakeABoundaryThatBlocksIsReported(t *testing.T) {
	t.Parallel()
	srv, fakes := emulatortest.StartWithRecordedFakes(t)
	// Everything but Cost Explorer.
	allows := []string{"sts:*", "iam:*", "organizations:*", "cur:*", "bcm-data-exports:*", "pricing:*", "s3:*", "bedrock:*", "cloudwatch:*", "logs:*", "cloudtrail:*"}
	ob := verifytest.Deploy(t, srv, verifytest.Spec{Members: 1, Boundary: "VendorBoundary", BoundaryAllows: allows})
	engine := newEngine(fakes.Through(ob.Verifier))
	rep := engine.Verify(t.Context(), ob.Members[0])
	if p := probe(t, rep, "ce:GetCostAndUsage"); p.Outcome != verify.OutcomeDenied {
		t.Errorf("ce:GetCostAndUsage %s, want denied by the boundary", p.Outcome)
	}
	if rep.Status != verify.StatusGaps || !rep.HasDiagnosis(verify.DiagnosisBlockedOutside) {
		t.Errorf("status %s, want gaps with %s:\n%s", rep.Status, verify.DiagnosisBlockedOutside, dump(rep))
	}
}

// A scheduled re-verification proves a member's Cost Explorer grant from
// the policies it reads back anyway, without the call AWS charges $0.01
// for: the probe passes with no paid call, and a role that lost the grant
// still shows the gap.
func TestRecordedFakeNoPaidProbesProvesCostExplorerFromThePolicies(t *testing.T) {
	t.Parallel()
	srv, fakes := emulatortest.StartWithRecordedFakes(t)
	ob := verifytest.Deploy(t, srv, verifytest.Spec{})
	engine := newEngine(fakes.Through(ob.Verifier))
	member := ob.Members[0]

	verifyOne := func(r verify.Role) (verify.Report, verify.Summary) {
		var rep verify.Report
		sum := engine.VerifyAll(t.Context(), slices.Values([]verify.Role{r}), func(x verify.Report) { rep = x })
		return rep, sum
	}
	rep, paid := verifyOne(member)
	if paid.PaidCalls != 1 || probe(t, rep, "ce:GetCostAndUsage").Outcome != verify.OutcomeOK {
		t.Fatalf("as created: %d paid calls, want 1:\n%s", paid.PaidCalls, dump(rep))
	}
	free := member
	free.NoPaidProbes = true
	rep, sum := verifyOne(free)
	p := probe(t, rep, "ce:GetCostAndUsage")
	if sum.PaidCalls != 0 || p.Outcome != verify.OutcomeOK || !strings.Contains(p.Message, "not called") || rep.Status != verify.StatusVerified {
		t.Fatalf("without paid probes: %d paid calls, probe %+v, status %s:\n%s", sum.PaidCalls, p, rep.Status, dump(rep))
	}
	if sum.Calls != paid.Calls-1 {
		t.Errorf("without paid probes: %d calls, want one fewer than %d", sum.Calls, paid.Calls)
	}
	// Someone denies the role Cost Explorer: the gap shows without a call.
	verifytest.PutInlinePolicy(t, srv, member, "no-costs", `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"ce:*","Resource":"*"}]}`)
	rep, sum = verifyOne(free)
	if p := probe(t, rep, "ce:GetCostAndUsage"); sum.PaidCalls != 0 || p.Outcome != verify.OutcomeDenied || p.Code != "ExplicitDeny" || rep.Status != verify.StatusGaps {
		t.Errorf("denied: %d paid calls, probe %+v, status %s:\n%s", sum.PaidCalls, p, rep.Status, dump(rep))
	}
}
