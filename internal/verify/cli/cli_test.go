package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/rolecall/rolecall/internal/emulator/emulatortest"
	"github.com/rolecall/rolecall/internal/verify"
	"github.com/rolecall/rolecall/internal/verify/cli"
	"github.com/rolecall/rolecall/internal/verify/verifytest"
)

type result struct {
	code           int
	stdout, stderr string
}

// run runs the command with cfg as the loaded AWS configuration and env as
// the environment.
func run(t *testing.T, cfg aws.Config, env map[string]string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Run(t.Context(), cli.Env{
		Args:   args,
		Getenv: func(k string) string { return env[k] },
		Stdout: &stdout,
		Stderr: &stderr,
		LoadConfig: func(_ context.Context, profile, region string) (aws.Config, error) {
			c := cfg.Copy()
			if region != "" {
				c.Region = region
			}
			return c, nil
		},
	})
	return result{code, stdout.String(), stderr.String()}
}

var extID = map[string]string{cli.EnvExternalID: verifytest.ExternalID}

func TestRecordedFakeCLIVerifiesEveryRoleOfAnOnboardingStack(t *testing.T) {
	t.Parallel()
	srv, fakes := emulatortest.StartWithRecordedFakes(t)
	ob := verifytest.Deploy(t, srv, verifytest.Spec{})
	if err := ob.CreateStandInStack(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	r := run(t, fakes.Through(ob.Verifier), extID, "--stack", verifytest.StackName, "--assume-wait", "0s")
	if r.code != verify.ExitVerified {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, role := range ob.Roles() {
		if !strings.Contains(r.stdout, role.AccountID) {
			t.Errorf("output does not list account %s:\n%s", role.AccountID, r.stdout)
		}
	}
	if !strings.Contains(r.stdout, "3 accounts: verified 3, gaps 0, finding 0, unverifiable 0, unreachable 0. Exit status 0.") {
		t.Errorf("no summary line:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "rolecall-verify: 3 of 3 accounts done (verified 3, gaps 0, finding 0, unverifiable 0, unreachable 0)") {
		t.Errorf("no progress on stderr:\n%s", r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, verifytest.ExternalID) {
		t.Error("the output shows the external ID")
	}
}

func TestRecordedFakeCLIExitsOneForAMissingModule(t *testing.T) {
	t.Parallel()
	srv, fakes := emulatortest.StartWithRecordedFakes(t)
	ob := verifytest.Deploy(t, srv, verifytest.Spec{Members: 1})
	member := ob.Members[0]
	verifytest.DeleteInlinePolicy(t, srv, member, "rolecall-identity")
	r := run(t, fakes.Through(ob.Verifier), extID, "--role-arn", member.RoleARN, "--regions", "us-east-1", "--assume-wait", "0s")
	if r.code != verify.ExitGaps {
		t.Fatalf("exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"gaps", "denied: organizations:DescribeOrganization, iam:ListRoles", "permission_gap", "rolecall-identity"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestCLIExitsTwoForAWriteAddedAfterOnboarding(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	ob := verifytest.Deploy(t, srv, verifytest.Spec{})
	verifytest.PutInlinePolicy(t, srv, ob.Members[0], "upload", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:PutObject","Resource":"*"}]}`)
	verifytest.AttachNewManagedPolicy(t, srv, ob.Members[1], "Admin", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)
	cfg := ob.Verifier

	t.Run("one role", func(t *testing.T) {
		r := run(t, cfg, extID, "--role-arn", ob.Members[0].RoleARN, "--assume-wait", "0s")
		if r.code != verify.ExitFinding {
			t.Fatalf("exit %d, want 2\n%s%s", r.code, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stdout, "write allowed: s3:PutObject") || !strings.Contains(r.stdout, "write_access") {
			t.Errorf("output:\n%s", r.stdout)
		}
	})
	t.Run("every member of the StackSet", func(t *testing.T) {
		r := run(t, cfg, extID, "--stack-set", verifytest.StackSetName, "--role-name", ob.RoleName, "--json", "--assume-wait", "0s")
		if r.code != verify.ExitFinding {
			t.Fatalf("exit %d, want 2\n%s%s", r.code, r.stdout, r.stderr)
		}
		var doc struct {
			Accounts []verify.Report `json:"accounts"`
			Summary  struct {
				Accounts int `json:"accounts"`
				Findings int `json:"findings"`
				ExitCode int `json:"exit_code"`
			} `json:"summary"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
			t.Fatalf("--json output is not one JSON document: %v\n%s", err, r.stdout)
		}
		if doc.Summary.Accounts != 2 || doc.Summary.Findings != 2 || doc.Summary.ExitCode != 2 || len(doc.Accounts) != 2 {
			t.Errorf("summary %+v with %d reports", doc.Summary, len(doc.Accounts))
		}
		for _, rep := range doc.Accounts {
			if rep.Status != verify.StatusFinding {
				t.Errorf("account %s: %s, want finding", rep.AccountID, rep.Status)
			}
		}
	})
}

// A role whose self-check reads are denied exits 3, unverifiable, and says
// which read was refused.
func TestRecordedFakeCLIExitsThreeWhenWriteSafetyIsUnproven(t *testing.T) {
	t.Parallel()
	srv, fakes := emulatortest.StartWithRecordedFakes(t)
	ob := verifytest.Deploy(t, srv, verifytest.Spec{Members: 1})
	verifytest.PutInlinePolicy(t, srv, ob.Members[0], "no-self-check", `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iam:ListAttachedRolePolicies","Resource":"*"}]}`)
	r := run(t, fakes.Through(ob.Verifier), extID, "--role-arn", ob.Members[0].RoleARN, "--assume-wait", "0s")
	if r.code != verify.ExitUnverifiable {
		t.Fatalf("exit %d, want %d\n%s%s", r.code, verify.ExitUnverifiable, r.stdout, r.stderr)
	}
	for _, want := range []string{"unverifiable", "unproven: iam:ListAttachedRolePolicies", "write_safety_unproven", "AccessDenied", "Exit status 3."} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestCLIWrongExternalIDIsUnreachable(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	ob := verifytest.Deploy(t, srv, verifytest.Spec{Members: 1})
	r := run(t, ob.Verifier, map[string]string{cli.EnvExternalID: "ext-wrong-wrong-000000000000000000000000"}, "--role-arn", ob.Members[0].RoleARN, "--assume-wait", "0s")
	if r.code != verify.ExitGaps {
		t.Fatalf("exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"unreachable", "external_id_mismatch", "Confirm the external ID your vendor gave you"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "ext-wrong-wrong-000000000000000000000000") {
		t.Error("the output shows the external ID")
	}
}

func TestUsageErrors(t *testing.T) {
	const arn = "arn:aws:iam::123456789012:role/VendorReadOnly"
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"nothing to verify", extID, nil, "say what to verify"},
		{"two modes", extID, []string{"--role-arn", arn, "--stack", "acme"}, "exactly one"},
		{"no external ID", nil, []string{"--role-arn", arn}, cli.EnvExternalID},
		{"short external ID", map[string]string{cli.EnvExternalID: "short"}, []string{"--role-arn", arn}, "(5 characters, not shown)"},
		{"a user ARN", extID, []string{"--role-arn", "arn:aws:iam::123456789012:user/bob"}, "it is not a role"},
		{"a bad account", extID, []string{"--role-arn", "arn:aws:iam::1234:role/x"}, "12 digits"},
		{"a bad region list", extID, []string{"--role-arn", arn, "--regions", "us-east-1,moon"}, "--regions"},
		{"a repeated region", extID, []string{"--role-arn", arn, "--regions", "us-east-1,us-east-1"}, "twice"},
		{"prefix without bucket", extID, []string{"--role-arn", arn, "--cur-prefix", "cur/"}, "--cur-prefix needs --cur-bucket"},
		{"bad bucket", extID, []string{"--role-arn", arn, "--cur-bucket", "Bad_Bucket"}, "--cur-bucket"},
		{"too many log groups", extID, []string{"--role-arn", arn, "--log-groups", "a,b,c,d,e,f"}, "at most 5"},
		{"CUR with a stack", extID, []string{"--stack", "acme", "--cur-bucket", "b"}, "come from the stack"},
		{"a StackSet without a role name", extID, []string{"--stack-set", "acme-roles"}, "--role-name"},
		{"a bad call-as", extID, []string{"--stack-set", "acme-roles", "--role-name", "R", "--call-as", "ME"}, "--call-as"},
		{"a bad stack name", extID, []string{"--stack", "1acme"}, "not a CloudFormation name"},
		{"zero concurrency", extID, []string{"--role-arn", arn, "--concurrency", "0"}, "1 to 256"},
		{"a stray argument", extID, []string{"--role-arn", arn, "extra"}, "unexpected argument"},
		{"an unknown flag", extID, []string{"--rol-arn", arn}, "flag provided but not defined"},
		{"a plan of no accounts", nil, []string{"--plan", "0"}, "--plan 0 is out of range"},
		{"a plan with a stack", nil, []string{"--plan", "10", "--stack", "acme"}, "--stack cannot be used with --plan"},
		{"a plan with an external ID", nil, []string{"--plan", "10", "--external-id", verifytest.ExternalID}, "--external-id cannot be used with --plan"},
		{"a plan every 5 minutes", nil, []string{"--plan", "10", "--schedule", "rate(5 minutes)"}, "--schedule"},
		{"a schedule without a plan", extID, []string{"--role-arn", arn, "--schedule", "off"}, "--schedule goes with --plan"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, aws.Config{Region: "us-east-1"}, tt.env, tt.args...)
			if r.code != cli.ExitUsage {
				t.Errorf("exit %d, want %d", r.code, cli.ExitUsage)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr %q lacks %q", r.stderr, tt.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q", r.stdout)
			}
		})
	}
}

// --plan prices an organization without AWS: no configuration is loaded,
// no external ID is needed, and its figures are verify.Plan's.
func TestPlanPricesAnOrganization(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := cli.Run(t.Context(), cli.Env{
		Args: []string{"--plan", "1000", "--json"}, Getenv: func(string) string { return "" }, Stdout: &stdout, Stderr: &stderr,
		LoadConfig: func(context.Context, string, string) (aws.Config, error) {
			t.Error("--plan loaded an AWS configuration")
			return aws.Config{}, errors.New("no")
		},
	})
	if code != verify.ExitVerified || stderr.Len() > 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	var p struct {
		Member, MemberScheduled, CreateOrUpdate, ScheduledRun, Month verify.Cost
		RunsPerMonth                                                 float64 `json:"scheduled_runs_per_month"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &struct {
		Member          *verify.Cost `json:"member_account"`
		MemberScheduled *verify.Cost `json:"member_account_scheduled"`
		CreateOrUpdate  *verify.Cost `json:"create_or_update"`
		ScheduledRun    *verify.Cost `json:"scheduled_run"`
		Month           *verify.Cost `json:"scheduled_runs_per_month_total"`
		RunsPerMonth    *float64     `json:"scheduled_runs_per_month"`
	}{&p.Member, &p.MemberScheduled, &p.CreateOrUpdate, &p.ScheduledRun, &p.Month, &p.RunsPerMonth}); err != nil {
		t.Fatal(err)
	}
	member := verify.Role{RoleARN: "arn:aws:iam::222222222222:role/VendorReadOnly", ExternalID: "x", Bedrock: true}
	if want := verify.Plan(member); p.Member != want {
		t.Errorf("member %+v, want verify.Plan's %+v", p.Member, want)
	}
	if p.CreateOrUpdate.PaidCalls != 1000 || p.ScheduledRun.PaidCalls != 1 || p.MemberScheduled.PaidCalls != 0 {
		t.Errorf("paid calls: create %d, scheduled run %d, scheduled member %d; want 1,000, 1 and 0", p.CreateOrUpdate.PaidCalls, p.ScheduledRun.PaidCalls, p.MemberScheduled.PaidCalls)
	}
	if p.RunsPerMonth != 60 || p.Month.PaidCalls != 60 || p.Month.Calls != 60*p.ScheduledRun.Calls {
		t.Errorf("a month at rate(12 hours): %v runs, %+v", p.RunsPerMonth, p.Month)
	}
	if p.ScheduledRun.Calls != p.CreateOrUpdate.Calls-999 {
		t.Errorf("a scheduled run makes %d calls, a creation %d: want 999 fewer (no member's paid call)", p.ScheduledRun.Calls, p.CreateOrUpdate.Calls)
	}
	r := run(t, aws.Config{}, nil, "--plan", "1000", "--schedule", "rate(1 day)", "--no-bedrock", "--regions", "us-east-1,eu-west-1")
	if r.code != verify.ExitVerified || !strings.Contains(r.stdout, "organization of 1,000 accounts") || !strings.Contains(r.stdout, "rate(1 day) for 30 days (30 runs)") || !strings.Contains(r.stdout, "Bedrock off") {
		t.Errorf("exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestNoRegionIsAUsageError(t *testing.T) {
	r := run(t, aws.Config{}, extID, "--role-arn", "arn:aws:iam::123456789012:role/R")
	if r.code != cli.ExitUsage || !strings.Contains(r.stderr, "--region") {
		t.Errorf("exit %d stderr %q", r.code, r.stderr)
	}
}

func TestHelpExplainsEveryStatusOutcomeAndDiagnosis(t *testing.T) {
	r := run(t, aws.Config{}, nil, "--help")
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	var want []string
	for _, e := range append(verify.Statuses(), verify.Outcomes()...) {
		want = append(want, "\n  "+e.Name+"\n")
	}
	for _, d := range verify.DiagnosisCodes() {
		want = append(want, "\n  "+d.Code)
	}
	for _, st := range verify.AllStatuses() {
		want = append(want, "\n  "+string(st)+"\n")
	}
	codes := map[int]bool{}
	for _, e := range cli.ExitCodes() {
		codes[e.Code] = true
		want = append(want, "\n  "+fmt.Sprint(e.Code)+"\n")
	}
	// Every status the command can return is explained.
	for _, c := range []int{verify.ExitVerified, verify.ExitGaps, verify.ExitFinding, verify.ExitUnverifiable, cli.ExitUsage, cli.ExitUnavailable} {
		if !codes[c] {
			t.Errorf("ExitCodes lacks %d", c)
		}
	}
	want = append(want, "unverifiable", cli.EnvExternalID, "AWS_ENDPOINT_URL", "--profile")
	for _, w := range want {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("--help lacks %q", strings.TrimSpace(w))
		}
	}
}
