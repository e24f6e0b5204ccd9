package rehearsal

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/cfn"

	"github.com/rolecall/rolecall/callback"
	"github.com/rolecall/rolecall/internal/params"
	"github.com/rolecall/rolecall/internal/profile"
)

// testRuntime is the real function under AWS's runtime interface
// emulator, built once for the package's tests.
var testRuntime *Runtime

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rolecall-runtime-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	rt, err := BuildRuntime(context.Background(), "../..", dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testRuntime = &rt
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func vendorProfile(t *testing.T) *profile.Profile {
	t.Helper()
	matches, _ := filepath.Glob("../../vendors/*.yaml")
	if len(matches) == 0 {
		t.Fatal("no vendor profiles")
	}
	p, err := profile.Load(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The whole onboarding, as make demo runs it, with a tampered role: every
// answer CloudFormation reads, what the vendor stores after each
// step, and that nothing is left running.
func TestRehearsalEndToEnd(t *testing.T) {
	t.Parallel()
	const members = 12
	p := vendorProfile(t)
	var out strings.Builder
	logs, err := os.Create(filepath.Join(t.TempDir(), "rehearsal.log"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(t.Context(), Options{Runtime: testRuntime, Profile: p, Accounts: members, Tamper: Tamperings(), Out: &out, Log: logs, Inspect: inspectInChromium})
	if err != nil {
		logs.Close()
		tail, _ := os.ReadFile(logs.Name())
		t.Fatalf("rehearsal: %v\n%s\nlog tail:\n%s", err, out.String(), lastBytes(tail, 4000))
	}
	t.Logf("report:\n%s", out.String())

	// Time passes: the vendor's timeline holds what the scheduled runs
	// reported, once each and in order, and the metrics showed the drift.
	if sc := res.Scheduled; sc == nil || len(sc.Timeline) != 4 || sc.Attention < 1 {
		t.Errorf("scheduled runs: %+v", res.Scheduled)
	} else {
		for i, want := range []callback.Event{callback.EventVerificationDrifted, callback.EventHeartbeat, callback.EventAccountAdded, callback.EventVerificationRestored} {
			if e := sc.Timeline[i]; e.Event != want || e.Stale {
				t.Errorf("timeline[%d] = %+v, want %s", i, e, want)
			}
		}
		if ch := sc.Timeline[2].Accounts; len(ch) != 1 || ch[0].AccountID != sc.Quiet {
			t.Errorf("account.added names %+v, want the unannounced account %s", ch, sc.Quiet)
		}
		if c := sc.Timeline[1].Counts; c == nil || c.Finding != 1 {
			t.Errorf("the heartbeat of the drifted run counts %+v, want one finding", c)
		}
	}

	if res.Preflight.Status != cfn.StatusSuccess || res.Preflight.Data[params.DataDeploymentTargets] != res.Org.RootID {
		t.Errorf("Preflight answered %s with targets %v, want SUCCESS and the root %s", res.Preflight.Status, res.Preflight.Data[params.DataDeploymentTargets], res.Org.RootID)
	}

	// Create: every role verified, the response small, the vendor told.
	all := members + 1
	c := res.Create
	if c.Status != cfn.StatusSuccess {
		t.Fatalf("Create answered %s: %s", c.Status, c.Reason)
	}
	for k, want := range map[string]string{
		params.DataAccountCount:       itoa(all),
		params.DataVerifiedCount:      itoa(all),
		params.DataRoleARN:            "arn:aws:iam::" + res.Org.ManagementAccountID + ":role/vendors/" + p.RoleName,
		params.DataVerificationStatus: "verified: all " + itoa(all) + " accounts",
	} {
		if got := c.Data[k]; got != want {
			t.Errorf("Create %s = %v, want %s", k, got, want)
		}
	}
	if cs, _ := c.Data[params.DataCallbackStatus].(string); !strings.HasPrefix(cs, "told onboarding.created at ") {
		t.Errorf("Create CallbackStatus = %q", cs)
	}
	if c.Bytes > 4096 || !strings.HasPrefix(c.PhysicalResourceID, "rolecall-") {
		t.Errorf("Create response: %d bytes, physical id %q", c.Bytes, c.PhysicalResourceID)
	}
	stored := res.CreateStored
	if stored == nil || stored.OrganizationID != res.Org.ID || stored.ManagementAccountID != res.Org.ManagementAccountID || len(stored.Accounts) != all {
		t.Fatalf("the vendor stored %+v; want %d roles of organization %s", stored, all, res.Org.ID)
	}
	want := map[string]bool{res.Org.ManagementAccountID: true}
	for _, a := range res.Org.Accounts {
		want[a.ID] = true
	}
	for _, a := range stored.Accounts {
		if !want[a.AccountID] || a.Status != callback.StatusVerified || a.RoleARN != "arn:aws:iam::"+a.AccountID+":role/vendors/"+p.RoleName {
			t.Errorf("stored account %+v", a)
		}
		delete(want, a.AccountID)
	}
	if len(want) != 0 {
		t.Errorf("the vendor has no role for %v", want)
	}
	// The vendor assumed every role itself, as its ingestion principal.
	if res.VendorConfirmed != all {
		t.Errorf("the vendor confirmed %d roles after the Create, want %d", res.VendorConfirmed, all)
	}
	if res.OrganizationProof != "proven" {
		t.Errorf("the vendor's proof of the organization: %q, want proven", res.OrganizationProof)
	}

	// Rotation: verified with the new external ID, recorded as a rotation.
	if res.Rotate.Status != cfn.StatusSuccess || res.Rotate.PhysicalResourceID != c.PhysicalResourceID {
		t.Errorf("rotation answered %s (%s) with id %s; want SUCCESS keeping %s", res.Rotate.Status, res.Rotate.Reason, res.Rotate.PhysicalResourceID, c.PhysicalResourceID)
	}
	if res.RotateStored == nil || res.RotateStored.ExternalIDRotatedAt == nil {
		t.Error("the vendor did not record the external-ID rotation")
	}
	if !res.RotationClosed {
		t.Error("the vendor did not close the rotation it started")
	}

	// A new account: its role verified and added.
	found := false
	for _, a := range res.JoinStored.Accounts {
		found = found || a.AccountID == res.JoinedAccount && a.Status == callback.StatusVerified
	}
	if !found || len(res.JoinStored.Accounts) != all+1 {
		t.Errorf("after the join the vendor has %d roles, new account %s verified: %v", len(res.JoinStored.Accounts), res.JoinedAccount, found)
	}
	// An account leaves: removed from the vendor's record.
	if res.LeaveStored == nil || len(res.LeaveStored.Accounts) != all || slices.ContainsFunc(res.LeaveStored.Accounts, func(a callback.Account) bool { return a.AccountID == res.LeftAccount }) {
		t.Errorf("after account %s left the vendor holds %+v", res.LeftAccount, res.LeaveStored)
	}

	// Tampering: each variant fails the update, naming the account, the
	// vendor stores each finding and each unverifiable account with its
	// evidence, and CloudFormation's rollback succeeds.
	if len(res.Tampered) != len(Tamperings()) {
		t.Fatalf("%d tampered variants, want %d", len(res.Tampered), len(Tamperings()))
	}
	for _, tm := range res.Tampered {
		t.Run("tamper "+tm.Variant, func(t *testing.T) {
			u := tm.Update
			if u.Status != cfn.StatusFailed || !strings.Contains(u.Reason, "account "+tm.Account) || !strings.HasPrefix(u.Reason, "vendor told verification.failed; ") {
				t.Errorf("update answered %s: %q; want FAILED naming account %s and saying the vendor was told", u.Status, u.Reason, tm.Account)
			}
			if u.PhysicalResourceID != c.PhysicalResourceID {
				t.Errorf("the failed update changed the physical id to %s", u.PhysicalResourceID)
			}
			if tm.Rollback.Status != cfn.StatusSuccess {
				t.Errorf("the rollback answered %s: %s", tm.Rollback.Status, tm.Rollback.Reason)
			}
			a := tm.Stored
			switch tm.Variant {
			case "admin":
				if a.Status != callback.StatusFinding || !slices.ContainsFunc(a.Findings, func(f callback.Finding) bool {
					return f.Kind == "all_actions" && f.Action == "*" && f.PolicyType == "managed" && strings.HasSuffix(f.Policy, ":policy/BreakGlassAdmin")
				}) {
					t.Errorf("stored %+v; want the \"*\" of BreakGlassAdmin", a)
				}
			case "wildcard":
				if a.Status != callback.StatusFinding || !slices.ContainsFunc(a.Findings, func(f callback.Finding) bool {
					return f.Kind == "wildcard_action" && f.Action == "s3:Put*" && f.Policy == "uploads" && f.Statement == "Uploads" && f.WriteActions > 0
				}) {
					t.Errorf("stored %+v; want s3:Put* of the inline policy uploads", a)
				}
			case "denyself":
				if a.Status != callback.StatusUnverifiable || !slices.ContainsFunc(a.Unproven, func(u callback.Unproven) bool {
					return u.Check == "iam:GetPolicy" && strings.HasSuffix(u.Target, ":policy/Operations") && u.Code == "AccessDenied"
				}) {
					t.Errorf("stored %+v; want unverifiable, naming the refused read of Operations", a)
				}
			}
		})
	}

	if res.VerifyExitCode != 0 {
		t.Errorf("the verify tool exited %d after the policy was removed", res.VerifyExitCode)
	}

	// A Delete CloudFormation did not send tells no one.
	if res.StrayDelete.Status != cfn.StatusSuccess || !strings.HasPrefix(fmt.Sprint(res.StrayDelete.Data[params.DataCallbackStatus]), "not told: stack ") {
		t.Errorf("a stray Delete answered %s: %v", res.StrayDelete.Status, res.StrayDelete.Data)
	}

	// Delete: the vendor told, the onboarding paused.
	if res.Delete.Status != cfn.StatusSuccess || res.DeleteStored == nil || res.DeleteStored.Status != "paused" {
		t.Errorf("delete answered %s; vendor status %v", res.Delete.Status, res.DeleteStored)
	}

	t.Run("the execution role grants exactly what the function uses", func(t *testing.T) {
		checkExecutionRole(t, res)
	})

	// Nothing left running: every endpoint refuses connections.
	for _, ep := range res.Endpoints {
		host := strings.TrimPrefix(ep, "http://")
		if conn, err := net.DialTimeout("tcp", host, time.Second); err == nil {
			conn.Close()
			t.Errorf("%s still accepts connections after the rehearsal", ep)
		}
	}
}

func TestRunRejectsTooFewAccounts(t *testing.T) {
	if _, err := Run(t.Context(), Options{Runtime: testRuntime, Profile: vendorProfile(t), Accounts: 3, Out: io.Discard}); err == nil {
		t.Fatal("Run accepted 3 accounts")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func lastBytes(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// Deleting the stack never waits on the vendor: with the vendor's endpoint down,
// Delete still answers SUCCESS and says the callback was not delivered.
func TestRehearsalDeleteSucceedsWhenTheVendorIsDown(t *testing.T) {
	t.Parallel()
	res, err := Run(t.Context(), Options{Runtime: testRuntime, Profile: vendorProfile(t), Accounts: 4, VendorDownAtDelete: true, Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if res.Delete.Status != cfn.StatusSuccess {
		t.Fatalf("Delete answered %s: %s", res.Delete.Status, res.Delete.Reason)
	}
	if cs, _ := res.Delete.Data[params.DataCallbackStatus].(string); !strings.HasPrefix(cs, "not told: onboarding.deleted not delivered") {
		t.Errorf("CallbackStatus %q, want it to say the callback was not delivered", cs)
	}
	if res.DeleteStored.Status == "paused" {
		t.Error("the vendor was down, yet it recorded the deletion")
	}
}

// checkExecutionRole: the execution role in template.yaml grants exactly
// what the function uses. Every call the function made with its own
// identity during the rehearsal is granted (moto enforced that too), and
// every grant was used, except the ones only some configurations need.
func checkExecutionRole(t *testing.T, res *Result) {
	// Calls are "signing name:Operation"; most are their IAM action.
	iamAction := map[string]string{
		"s3:HeadBucket": "s3:ListBucket",
	}
	// Granted for configurations the rehearsal does not use, or used by
	// Lambda rather than the code.
	conditional := map[string]string{
		"organizations:DescribeOrganizationalUnit":  "checks OrganizationalUnitIds when OUs are given",
		"organizations:ListDelegatedAdministrators": "checks StackSetCallAs=DELEGATED_ADMIN",
		"cloudformation:DescribeStackResource":      "tells a resource removed by an update from one replaced, during UPDATE_COMPLETE_CLEANUP_IN_PROGRESS, which the rehearsal does not play (unit-tested in internal/onboarding)",
		"logs:CreateLogStream":                      "Lambda writes the function's log",
		"logs:PutLogEvents":                         "Lambda writes the function's log",
	}
	granted := map[string]bool{}
	for _, a := range res.FunctionActions {
		granted[a] = true
	}
	used := map[string]bool{}
	for call := range res.FunctionCalls {
		if call == "sts:GetCallerIdentity" {
			// No permission: the callback's identity proof, which the
			// vendor sends to STS.
			continue
		}
		action, known := iamAction[call]
		if !known {
			action = call
		}
		if !granted[action] {
			t.Errorf("the function called %s (%s), which its execution role does not grant", call, action)
		}
		used[action] = true
	}
	for a := range granted {
		if !used[a] && conditional[a] == "" {
			t.Errorf("the execution role grants %s, which the function never used", a)
		}
	}
	if len(res.FunctionCalls) == 0 {
		t.Fatal("no calls recorded")
	}
	t.Logf("calls: %v", res.FunctionCalls)
}

// A delegated administrator's onboarding: the StackSet runs from the
// administrator's account and never reaches the management account, whose
// role comes from a second stack; the report shows the management account
// as not covered until then, and covered once the administrator's stack
// verifies again. The vendor merges both stacks.
func TestRehearsalDelegatedAdministrator(t *testing.T) {
	t.Parallel()
	p := vendorProfile(t)
	var out bytes.Buffer
	res, err := Run(t.Context(), Options{Runtime: testRuntime, Profile: p, Accounts: 6, CallAs: "DELEGATED_ADMIN", Out: &out, Log: io.Discard})
	if err != nil {
		t.Fatalf("rehearsal: %v\n%s", err, out.String())
	}
	mgmt, da := res.Org.ManagementAccountID, res.DelegatedAdmin
	if da == "" || da == mgmt {
		t.Fatalf("delegated administrator %q", da)
	}
	if !strings.Contains(res.StackID, ":"+da+":stack/") {
		t.Errorf("the administrator's stack %s is not in its account %s", res.StackID, da)
	}
	a, ok := accountOf(res.CreateStored, mgmt)
	if !ok || a.Status != callback.StatusUnreachable || !hasDiagnosis(a, "management_account_not_covered") {
		t.Errorf("after the administrator's stack the management account is %+v, want unreachable management_account_not_covered", a)
	}
	if got, _ := accountOf(res.CreateStored, da); got.Status != callback.StatusVerified {
		t.Errorf("the administrator's own account (a StackSet member) is %s, want verified", got.Status)
	}
	if res.Payer == nil || !strings.Contains(res.Payer.StackID, ":"+mgmt+":stack/") || res.Payer.StackSetName != "" {
		t.Fatalf("the management account's stack: %+v", res.Payer)
	}
	if got, _ := accountOf(res.CoveredStored, mgmt); got.Status != callback.StatusVerified {
		t.Errorf("after the administrator's update the management account is %s, want verified", got.Status)
	}
	if n := len(res.CoveredStored.Stacks); n != 2 || res.CoveredStored.ManagementAccountID != mgmt || len(res.CoveredStored.Accounts) != len(res.Org.Accounts)+1 {
		t.Errorf("the vendor holds %d stacks, bound to %s, %d accounts; want 2, %s, %d", n, res.CoveredStored.ManagementAccountID, len(res.CoveredStored.Accounts), mgmt, len(res.Org.Accounts)+1)
	}
	if !strings.Contains(out.String(), "delegated administrator "+da) {
		t.Errorf("Preflight does not name the delegated administrator:\n%s", out.String())
	}
}
