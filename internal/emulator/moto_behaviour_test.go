package emulator_test

// These tests pin how moto 5.2.5 behaves where it matters to this project,
// especially where it differs from AWS. Each asserts what moto does today
// and says what AWS does; one that fails after a moto upgrade means the
// emulator's users (and MOTO-NOTES.md) need another look.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/rolecall/rolecall/internal/emulator"
	"github.com/rolecall/rolecall/internal/emulator/emulatortest"
)

const otherAccount = "210987654321"

func arnOfUser(name string) string {
	return "arn:aws:iam::" + emulator.DefaultAccountID + ":user/" + name
}

func arnOfRole(account, name string) string {
	return "arn:aws:iam::" + account + ":role/" + name
}

// (a) Which principal forms moto matches in a trust policy, raw and with
// rolecall's fixes (tools/moto/server.py), which every other test runs.
// Raw moto (moto/iam/access_control.py: IAMRequestBase.
// _check_role_trust_relationship, IAMPolicyStatement._check_principal)
// compares the caller's ARN with Principal.AWS by equality, by membership
// if it is a list, and by substring if it is a string; and it evaluates a
// trust policy only if the role is in the caller's own account. The fixed
// server must answer as AWS does in every row.
func TestMotoTrustPolicyPrincipalForms(t *testing.T) {
	t.Parallel()
	raw, err := emulator.RawMotoServer()
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []struct {
		name string
		opts emulator.Options
		raw  bool
	}{
		{"raw moto", emulator.Options{MotoServer: raw}, true},
		{"moto with rolecall's fixes", emulator.Options{}, false},
	} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			srv := emulatortest.StartWith(t, mode.opts)
			checkPrincipalForms(t, srv, mode.raw)
		})
	}
}

func checkPrincipalForms(t *testing.T, srv *emulator.Server, raw bool) {
	ctx := t.Context()
	admin := srv.Config()

	mayAssume := emulator.AllowPolicy("sts:AssumeRole")
	alice, err := emulator.CreateUser(ctx, admin, "alice", mayAssume)
	if err != nil {
		t.Fatal(err)
	}
	callerRoleARN, err := emulator.CreateRole(ctx, admin, "caller-role", emulator.TrustPolicy(arnOfUser("alice")), mayAssume)
	if err != nil {
		t.Fatal(err)
	}
	callerSession, err := emulator.AssumeRole(ctx, alice, callerRoleARN, "", "sess")
	if err != nil {
		t.Fatal(err)
	}
	sessionARN := "arn:aws:sts::" + emulator.DefaultAccountID + ":assumed-role/caller-role/sess"
	other, err := srv.AccountConfig(ctx, otherAccount)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name        string
		roleAccount aws.Config // where the target role lives
		roleAccID   string
		principal   any // Principal.AWS
		caller      aws.Config
		wantAWS     bool // what AWS answers, and the fixed server
		wantRaw     bool // what raw moto answers
	}{
		{name: "user ARN, caller is that user", principal: arnOfUser("alice"), caller: alice, wantAWS: true, wantRaw: true},
		// A role principal matches every session of the role; raw moto
		// compares with the session's assumed-role ARN and denies.
		{name: "role ARN, caller is a session of that role", principal: callerRoleARN, caller: callerSession, wantAWS: true, wantRaw: false},
		{name: "assumed-role session ARN, caller is that session", principal: sessionARN, caller: callerSession, wantAWS: true, wantRaw: true},
		// The account root delegates to the caller's identity policy,
		// which allows sts:AssumeRole; raw moto denies.
		{name: "account root, caller is a user of that account", principal: "arn:aws:iam::" + emulator.DefaultAccountID + ":root", caller: alice, wantAWS: true, wantRaw: false},
		{name: "another account's root", principal: "arn:aws:iam::111122223333:root", caller: alice, wantAWS: false, wantRaw: false},
		{name: "wildcard", principal: "*", caller: alice, wantAWS: true, wantRaw: true},
		{name: "list holding the caller", principal: []string{arnOfUser("bob"), arnOfUser("alice")}, caller: alice, wantAWS: true, wantRaw: true},
		// Raw moto tests `caller in principal`, a substring test when the
		// principal is a string.
		{name: "string that merely contains the caller's ARN", principal: arnOfUser("alice-admin"), caller: alice, wantAWS: false, wantRaw: true},
		// Raw moto evaluates no trust policy across accounts.
		{name: "other account's role trusting someone else", roleAccount: other, roleAccID: otherAccount, principal: "arn:aws:iam::111122223333:user/nobody", caller: alice, wantAWS: false, wantRaw: true},
		{name: "other account's role trusting the caller", roleAccount: other, roleAccID: otherAccount, principal: arnOfUser("alice"), caller: alice, wantAWS: true, wantRaw: true},
		{name: "other account's role trusting the caller's role", roleAccount: other, roleAccID: otherAccount, principal: callerRoleARN, caller: callerSession, wantAWS: true, wantRaw: true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			owner, ownerID := admin, emulator.DefaultAccountID
			if tt.roleAccID != "" {
				owner, ownerID = tt.roleAccount, tt.roleAccID
			}
			name := fmt.Sprintf("target-%d", i)
			trust := mustJSON(t, map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
				"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": map[string]any{"AWS": tt.principal},
			}}})
			if _, err := emulator.CreateRole(ctx, owner, name, trust, ""); err != nil {
				t.Fatal(err)
			}
			_, err := emulator.AssumeRole(ctx, tt.caller, arnOfRole(ownerID, name), "", "probe")
			want := tt.wantAWS
			if raw {
				want = tt.wantRaw
			}
			wantAllowed(t, err, want)
		})
	}
}

// (b) How moto evaluates conditions on sts:ExternalId.
// moto/iam/policy_conditions.py: only StringEquals is evaluated (a list
// means any of its values); every other operator is ignored; a key that is
// absent from the request is skipped.
func TestMotoExternalIDConditions(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	ctx := t.Context()
	admin := srv.Config()
	vendor, err := emulator.CreateUser(ctx, admin, "vendor", emulator.AllowPolicy("sts:AssumeRole"))
	if err != nil {
		t.Fatal(err)
	}
	trust := func(condition map[string]any) string {
		return mustJSON(t, map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
			"Effect": "Allow", "Action": "sts:AssumeRole",
			"Principal": map[string]any{"AWS": arnOfUser("vendor")},
			"Condition": condition,
		}}})
	}
	rotating, err := emulator.CreateRole(ctx, admin, "rotating", emulator.TrustPolicy(arnOfUser("vendor"), "current", "previous"), "")
	if err != nil {
		t.Fatal(err)
	}
	like, err := emulator.CreateRole(ctx, admin, "like", trust(map[string]any{"StringLike": map[string]any{"sts:ExternalId": "ext-*"}}), "")
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name        string
		role        string
		externalID  string
		wantAllowed bool
	}{
		{name: "StringEquals list accepts its first value", role: rotating, externalID: "current", wantAllowed: true},
		{name: "StringEquals list accepts its second value", role: rotating, externalID: "previous", wantAllowed: true},
		{name: "StringEquals list rejects another value", role: rotating, externalID: "stale"},
		// AWS: denied.
		{name: "StringEquals list lets a missing external ID through", role: rotating, wantAllowed: true},
		// AWS: denied. Moto ignores operators other than StringEquals.
		{name: "StringLike is not evaluated", role: like, externalID: "nope", wantAllowed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := emulator.AssumeRole(ctx, vendor, tt.role, tt.externalID, "probe")
			wantAllowed(t, err, tt.wantAllowed)
		})
	}
}

// (c) What moto evaluates in a service-managed StackSet instance's template
// (moto/cloudformation/parsing.py, clean_json and parse_condition; the
// instance's stack gets the member account as AWS::AccountId), and what it
// does with a role's inline Policies (moto/iam/models.py,
// Role.create_from_cloudformation_json).
func TestMotoStackSetTemplateEvaluation(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	ctx := t.Context()
	admin := srv.Config()
	org, err := emulator.SeedOrganization(ctx, admin, emulator.OrgSpec{OUs: []emulator.OUSpec{{Name: "Target", Accounts: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	ou := mustOU(t, org, "Root/Target")
	member := org.Accounts[0].ID
	memberAdmin, err := srv.AccountConfig(ctx, member)
	if err != nil {
		t.Fatal(err)
	}
	memberIAM := iam.NewFromConfig(memberAdmin)

	_, err = emulator.DeployStackSet(ctx, admin, emulator.StackSetSpec{
		Name:                  "intrinsics-on",
		TemplateBody:          readTemplate(t, "intrinsics.yaml"),
		Parameters:            map[string]string{"Prefix": "on", "BucketName": "cur-bucket", "Extra": "yes"},
		OrganizationalUnitIDs: []string{ou.ID},
	})
	if err != nil {
		t.Fatalf("DeployStackSet with Extra=yes: %v", err)
	}

	t.Run("Fn::Sub with a parameter and AWS::AccountId names the role after the member account", func(t *testing.T) {
		out, err := memberIAM.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("on-" + member)})
		if err != nil {
			t.Fatalf("GetRole on-%s: %v", member, err)
		}
		if got, want := aws.ToString(out.Role.Arn), "arn:aws:iam::"+member+":role/rolecall/on-"+member; got != want {
			t.Errorf("ARN = %q, want %q", got, want)
		}
		if got, want := aws.ToString(out.Role.Description), "aws/b"; got != want {
			t.Errorf("Description (Fn::Join of AWS::Partition and Fn::Select of Fn::Split) = %q, want %q", got, want)
		}
		if got, want := trustStatement(t, aws.ToString(out.Role.AssumeRolePolicyDocument)).Principal.AWS, "arn:aws:iam::"+member+":root"; got != want {
			t.Errorf("trusted principal = %q, want %q", got, want)
		}
	})
	t.Run("a resource with a true Condition is created", func(t *testing.T) {
		if ok, err := emulator.IAMRoleExists(ctx, memberAdmin, "on-extra"); err != nil || !ok {
			t.Errorf("IAMRoleExists(on-extra) = %v, %v; want true", ok, err)
		}
	})
	t.Run("inline Policies are created, Fn::If true branch included", func(t *testing.T) {
		out, err := memberIAM.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String("on-" + member)})
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"extra", "read"}; !slices.Equal(sorted(out.PolicyNames), want) {
			t.Errorf("policies = %q, want %q", out.PolicyNames, want)
		}
	})
	t.Run("GetRolePolicy returns the document as a Python dict, not JSON", func(t *testing.T) {
		// AWS returns URL-encoded JSON. Moto stores the template's object
		// as it is and serialises Python's repr of it.
		out, err := memberIAM.GetRolePolicy(ctx, &iam.GetRolePolicyInput{
			RoleName: aws.String("on-" + member), PolicyName: aws.String("read"),
		})
		if err != nil {
			t.Fatal(err)
		}
		doc, err := url.QueryUnescape(aws.ToString(out.PolicyDocument))
		if err != nil {
			t.Fatal(err)
		}
		if json.Valid([]byte(doc)) {
			t.Errorf("policy document %s is JSON: moto now returns what AWS does; drop this pin", doc)
		}
		if want := "arn:aws:s3:::cur-bucket/*"; !strings.Contains(doc, want) {
			t.Errorf("policy document %s does not mention %s (Fn::Sub of AWS::Partition and a parameter)", doc, want)
		}
	})
	t.Run("a session of a role with template-made inline policies crashes moto", func(t *testing.T) {
		// Moto's authorisation expects policy documents as strings and
		// fails on the template's object (KeyError 'policy_document' in
		// IAMPolicy.__init__): HTTP 500 for every call but
		// GetCallerIdentity, which moto allows before reading policies.
		session, err := emulator.AssumeRole(ctx, admin, "arn:aws:iam::"+member+":role/rolecall/on-"+member, "", "probe")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sts.NewFromConfig(session).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
			t.Errorf("GetCallerIdentity: %v", err)
		}
		_, err = iam.NewFromConfig(session).ListRoles(ctx, &iam.ListRolesInput{})
		if got := httpStatus(err); got != http.StatusInternalServerError {
			t.Errorf("ListRoles with the session: %v (HTTP %d), want HTTP 500", err, got)
		}
	})
	t.Run("Fn::If false branch AWS::NoValue in a list", func(t *testing.T) {
		// AWS drops the element. Moto leaves a null in the Policies list
		// and crashes on it (TypeError in create_from_cloudformation_json):
		// HTTP 500 from CreateStackInstances.
		_, err := emulator.DeployStackSet(ctx, admin, emulator.StackSetSpec{
			Name:                  "intrinsics-off",
			TemplateBody:          readTemplate(t, "intrinsics.yaml"),
			Parameters:            map[string]string{"Prefix": "off", "BucketName": "cur-bucket", "Extra": "no"},
			OrganizationalUnitIDs: []string{ou.ID},
		})
		if got := httpStatus(err); got != http.StatusInternalServerError {
			t.Errorf("DeployStackSet with Extra=no: %v (HTTP %d), want HTTP 500", err, got)
		}
	})
}

// (c, continued) The ways a template can give a role permissions, as moto
// honours them. moto/iam/models.py: Role.create_from_cloudformation_json
// ignores ManagedPolicyArns and stores Policies documents as objects (which
// sessions crash on, see TestMotoStackSetTemplateEvaluation); an
// AWS::IAM::Policy (InlinePolicy) or AWS::IAM::ManagedPolicy resource naming
// the role in Roles stores JSON and works. AWS honours all four.
func TestMotoStackSetRolePolicyForms(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	ctx := t.Context()
	admin := srv.Config()
	org, err := emulator.SeedOrganization(ctx, admin, emulator.OrgSpec{OUs: []emulator.OUSpec{{Name: "Target", Accounts: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	member := org.Accounts[0].ID
	if _, err := emulator.DeployStackSet(ctx, admin, emulator.StackSetSpec{
		Name:                  "policy-forms",
		TemplateBody:          readTemplate(t, "policy-forms.yaml"),
		Parameters:            map[string]string{"WithOptional": "no"},
		OrganizationalUnitIDs: []string{mustOU(t, org, "Root/Target").ID},
	}); err != nil {
		t.Fatal(err)
	}
	memberAdmin, err := srv.AccountConfig(ctx, member)
	if err != nil {
		t.Fatal(err)
	}
	memberIAM := iam.NewFromConfig(memberAdmin)

	attached, err := memberIAM.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String("forms")})
	if err != nil {
		t.Fatal(err)
	}
	var attachedNames []string
	for _, p := range attached.AttachedPolicies {
		attachedNames = append(attachedNames, aws.ToString(p.PolicyName))
	}
	if want := []string{"via-resource"}; !slices.Equal(attachedNames, want) {
		t.Errorf("attached policies = %q, want %q (ManagedPolicyArns ignored)", attachedNames, want)
	}
	inline, err := memberIAM.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String("forms")})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"inline-resource"}; !slices.Equal(inline.PolicyNames, want) {
		t.Errorf("inline policies = %q, want %q (the conditional one left out)", inline.PolicyNames, want)
	}

	session, err := emulator.AssumeRole(ctx, admin, arnOfRole(member, "forms"), "", "probe")
	if err != nil {
		t.Fatal(err)
	}
	client := iam.NewFromConfig(session)
	tests := []struct {
		name     string
		call     func() error
		wantCode string
	}{
		{name: "AWS::IAM::ManagedPolicy with Roles is enforced", call: func() error {
			_, err := client.ListUsers(ctx, &iam.ListUsersInput{})
			return err
		}},
		{name: "AWS::IAM::Policy with Roles is enforced", call: func() error {
			_, err := client.ListGroups(ctx, &iam.ListGroupsInput{})
			return err
		}},
		{name: "ManagedPolicyArns grants nothing", wantCode: "AccessDenied", call: func() error {
			_, err := client.ListRoles(ctx, &iam.ListRolesInput{})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			wantOutcome(t, err, tt.wantCode)
		})
	}
}

// (c, continued) Where moto deploys a service-managed StackSet, and what it
// does later. moto/cloudformation/models.py: StackInstances.create_instances
// targets the accounts directly in the requested OUs and in their direct
// child OUs only; CloudFormationBackend.create_stack_set documents that
// AutoDeployment is not implemented.
func TestMotoStackSetDeploymentTargets(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	ctx := t.Context()
	admin := srv.Config()
	org, err := emulator.SeedOrganization(ctx, admin, emulator.OrgSpec{OUs: []emulator.OUSpec{
		{Name: "Workloads", Accounts: 1, OUs: []emulator.OUSpec{
			{Name: "Prod", Accounts: 1, OUs: []emulator.OUSpec{{Name: "EU", Accounts: 1}}},
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	workloads := mustOU(t, org, "Root/Workloads")
	prod := mustOU(t, org, "Root/Workloads/Prod")
	eu := mustOU(t, org, "Root/Workloads/Prod/EU")
	dep, err := emulator.DeployStackSet(ctx, admin, emulator.StackSetSpec{
		Name:         "nested",
		TemplateBody: readTemplate(t, "member-role.yaml"),
		Parameters: map[string]string{
			"RoleName": "Nested", "TrustedPrincipalARN": arnOfUser("vendor"), "ExternalID": "x",
		},
		OrganizationalUnitIDs: []string{workloads.ID},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfn := cloudformation.NewFromConfig(admin)

	t.Run("instances reach the target OU and every OU below it, as in AWS", func(t *testing.T) {
		// Raw moto stops at the children (not the grandchild OU EU); rolecall's moto
		// fix (tools/moto/server.py) goes all the way down, as AWS does.
		var got []string
		for _, in := range dep.Instances {
			got = append(got, aws.ToString(in.Account))
		}
		want := []string{workloads.AccountIDs[0], prod.AccountIDs[0], eu.AccountIDs[0]}
		if !slices.Equal(sorted(got), sorted(want)) {
			t.Errorf("instances in %q, want %q", got, want)
		}
	})
	t.Run("the root as target skips the management account, as in AWS", func(t *testing.T) {
		// Raw moto deploys into the management account too.
		rootDep, err := emulator.DeployStackSet(ctx, admin, emulator.StackSetSpec{
			Name:         "everywhere",
			TemplateBody: readTemplate(t, "member-role.yaml"),
			Parameters: map[string]string{
				"RoleName": "Everywhere", "TrustedPrincipalARN": arnOfUser("vendor"), "ExternalID": "x",
			},
			OrganizationalUnitIDs: []string{org.RootID},
		})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, in := range rootDep.Instances {
			got = append(got, aws.ToString(in.Account))
		}
		var want []string
		for _, a := range org.Accounts {
			want = append(want, a.ID)
		}
		if !slices.Equal(sorted(got), sorted(want)) || slices.Contains(got, org.ManagementAccountID) {
			t.Errorf("instances in %q, want every member account %q and not the management account %s", got, want, org.ManagementAccountID)
		}
	})
	t.Run("instance summaries carry no OU ID, and detailed status SUCCEEDED", func(t *testing.T) {
		// AWS sets OrganizationalUnitId on service-managed instances.
		for _, in := range dep.Instances {
			if in.OrganizationalUnitId != nil {
				t.Errorf("instance in %s has OrganizationalUnitId %s", aws.ToString(in.Account), aws.ToString(in.OrganizationalUnitId))
			}
			if in.StackInstanceStatus == nil || in.StackInstanceStatus.DetailedStatus != "SUCCEEDED" {
				t.Errorf("instance in %s: StackInstanceStatus %+v, want DetailedStatus SUCCEEDED", aws.ToString(in.Account), in.StackInstanceStatus)
			}
		}
	})
	t.Run("AutoDeployment is not stored", func(t *testing.T) {
		out, err := cfn.DescribeStackSet(ctx, &cloudformation.DescribeStackSetInput{StackSetName: aws.String("nested")})
		if err != nil {
			t.Fatal(err)
		}
		if out.StackSet.AutoDeployment != nil {
			t.Errorf("AutoDeployment = %+v; moto now stores it", out.StackSet.AutoDeployment)
		}
	})
	t.Run("an account added to a target OU later gets no instance and no event", func(t *testing.T) {
		// AWS deploys to it (automatic deployment) and records an
		// operation. Moto does nothing: re-run CreateStackInstances (it
		// skips accounts that have an instance) to play that part.
		orgs := organizations.NewFromConfig(admin)
		created, err := orgs.CreateAccount(ctx, &organizations.CreateAccountInput{
			AccountName: aws.String("late"), Email: aws.String("late@example.com"),
		})
		if err != nil {
			t.Fatal(err)
		}
		late := aws.ToString(created.CreateAccountStatus.AccountId)
		if _, err := orgs.MoveAccount(ctx, &organizations.MoveAccountInput{
			AccountId: aws.String(late), SourceParentId: aws.String(org.RootID), DestinationParentId: aws.String(workloads.ID),
		}); err != nil {
			t.Fatal(err)
		}
		instances, err := emulator.ListStackInstances(ctx, admin, "nested")
		if err != nil {
			t.Fatal(err)
		}
		if len(instances) != len(dep.Instances) {
			t.Errorf("%d instances after adding an account, want %d", len(instances), len(dep.Instances))
		}
		ops, err := cfn.ListStackSetOperations(ctx, &cloudformation.ListStackSetOperationsInput{StackSetName: aws.String("nested")})
		if err != nil {
			t.Fatal(err)
		}
		if len(ops.Summaries) != 1 {
			t.Errorf("%d operations, want only the create", len(ops.Summaries))
		}
		lateAdmin, err := srv.AccountConfig(ctx, late)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := emulator.IAMRoleExists(ctx, lateAdmin, "Nested"); err != nil || ok {
			t.Errorf("IAMRoleExists in the late account = %v, %v; want false", ok, err)
		}

		// Creating instances again reaches it, leaving the others alone.
		op, err := emulator.CreateStackInstances(ctx, admin, "nested", []string{workloads.ID}, emulator.DefaultRegion)
		if err != nil {
			t.Fatal(err)
		}
		if err := emulator.WaitStackSetOperation(ctx, admin, "nested", op); err != nil {
			t.Fatal(err)
		}
		if ok, err := emulator.IAMRoleExists(ctx, lateAdmin, "Nested"); err != nil || !ok {
			t.Errorf("after CreateStackInstances again, IAMRoleExists in the late account = %v, %v; want true", ok, err)
		}
	})
}

// (d) Moto enforces an assumed role's identity policies on its sessions
// (moto/iam/access_control.py, AssumedRoleAccessKey.collect_policies: the
// role's inline and attached policies; a session policy passed to
// AssumeRole is ignored).
func TestMotoEnforcesAnAssumedRolesPolicies(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	ctx := t.Context()
	admin := srv.Config()
	roleARN, err := emulator.CreateRole(ctx, admin, "lister", emulator.TrustPolicy(arnOfUser(emulator.AdminUserName)), emulator.AllowPolicy("iam:ListRoles"))
	if err != nil {
		t.Fatal(err)
	}
	session, err := emulator.AssumeRole(ctx, admin, roleARN, "", "probe")
	if err != nil {
		t.Fatal(err)
	}
	org, err := emulator.SeedOrganization(ctx, admin, emulator.OrgSpec{Accounts: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Moto creates OrganizationAccountAccessRole with a trust policy and
	// nothing else; AWS attaches AdministratorAccess.
	bareOrgRole, err := emulator.AssumeRole(ctx, admin, arnOfRole(org.Accounts[0].ID, emulator.OrganizationAccountAccessRole), "", "probe")
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		cfg      aws.Config
		call     func(context.Context, aws.Config) error
		wantCode string
	}{
		{name: "allowed action", cfg: session, call: listRoles},
		{name: "action outside the role's policy", cfg: session, call: createUser("nope"), wantCode: "AccessDenied"},
		{name: "GetCallerIdentity needs no permission", cfg: bareOrgRole, call: getCallerIdentity},
		{name: "moto's OrganizationAccountAccessRole may do nothing", cfg: bareOrgRole, call: listRoles, wantCode: "AccessDenied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(ctx, tt.cfg)
			wantOutcome(t, err, tt.wantCode)
		})
	}
}

// (e) A pre-signed S3 PUT URL, sent without credentials while authorisation
// is on. moto/s3/responses.py, _key_response_put, calls the authorisation
// layer, which reads the Authorization header that a pre-signed request does
// not have (KeyError in IAMRequestBase.__init__): HTTP 500. AWS accepts the
// upload. Test code that uploads to a pre-signed URL (such as a custom
// resource's ResponseURL) against an httptest server.
func TestMotoPresignedPutWithAuthorisationOn(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	ctx := t.Context()
	admin := srv.Config()
	const bucket = "presign-test"
	if err := emulator.CreateBucket(ctx, admin, bucket); err != nil {
		t.Fatal(err)
	}
	req, err := s3.NewPresignClient(emulator.S3Client(admin)).PresignPutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String("upload.json"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(req.URL, srv.Endpoint()+"/"+bucket+"/upload.json?") {
		t.Fatalf("pre-signed URL %s is not path-style on the server", req.URL)
	}
	put, err := http.NewRequestWithContext(ctx, req.Method, req.URL, bytes.NewReader([]byte(`{"ok":true}`)))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range req.SignedHeader {
		for _, v := range vs {
			put.Header.Add(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(put)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("PUT to the pre-signed URL: %s %s, want 500", resp.Status, body)
	}
	_, err = emulator.S3Client(admin).HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("upload.json")})
	if got := httpStatus(err); got != http.StatusNotFound {
		t.Errorf("HeadObject after the failed upload: %v (HTTP %d), want 404", err, got)
	}
}

// A pre-signed sts:GetCallerIdentity request (the token of an
// aws-iam-authenticator-style identity check), replayed without an
// Authorization header while authorisation is on, fails as the pre-signed S3
// PUT does: HTTP 500 (KeyError in IAMRequestBase.__init__). AWS answers with
// the signer's identity. Replay such tokens against an httptest server.
func TestMotoPresignedGetCallerIdentityWithAuthorisationOn(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	ctx := t.Context()
	req, err := sts.NewPresignClient(sts.NewFromConfig(srv.Config())).PresignGetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	signed, err := url.Parse(req.URL)
	if err != nil {
		t.Fatal(err)
	}
	// The emulator's configs add no header to pre-signed requests.
	if got := signed.Query().Get("X-Amz-SignedHeaders"); got != "host" {
		t.Errorf("X-Amz-SignedHeaders = %q, want host", got)
	}
	get, err := http.NewRequestWithContext(ctx, req.Method, req.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(get)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("GET of the pre-signed URL: %s %s, want 500", resp.Status, body)
	}
}

// (f) A session in a member account: GetCallerIdentity answers with the
// member account and the assumed-role ARN (moto/sts/models.py,
// STSBackend.get_caller_identity), as AWS does.
func TestMotoCallerIdentityOfAMemberAccountSession(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	ctx := t.Context()
	admin := srv.Config()
	org, err := emulator.SeedOrganization(ctx, admin, emulator.OrgSpec{Accounts: 1})
	if err != nil {
		t.Fatal(err)
	}
	member := org.Accounts[0].ID
	session, err := emulator.AssumeRole(ctx, admin, arnOfRole(member, emulator.OrganizationAccountAccessRole), "", "audit")
	if err != nil {
		t.Fatal(err)
	}
	out, err := sts.NewFromConfig(session).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.Account); got != member {
		t.Errorf("Account = %q, want %q", got, member)
	}
	if got, want := aws.ToString(out.Arn), "arn:aws:sts::"+member+":assumed-role/"+emulator.OrganizationAccountAccessRole+"/audit"; got != want {
		t.Errorf("Arn = %q, want %q", got, want)
	}
}

// Moto counts every request that reaches a service towards
// INITIAL_NO_AUTH_ACTION_COUNT, failed ones included, and none of its own
// /moto-api calls (moto/core/authorization.py,
// _authenticate_and_authorize_action; moto/moto_api/_internal/responses.py,
// reset_auth_response, which sets the limit and zeroes the count). The
// emulator opens its bootstrap windows with reset-auth for that reason.
func TestMotoCountsEveryRequestTowardsTheNoAuthLimit(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	ctx := t.Context()
	motoAPI := func(method, path, body string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, srv.Endpoint()+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			t.Fatalf("%s %s: %s", method, path, resp.Status)
		}
	}
	// The server is this test's own; the limit is spent by the end.
	motoAPI(http.MethodPost, "/moto-api/reset-auth", "2")

	stranger := srv.Config()
	stranger.Credentials = aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: "AKIASTRANGERSTRANGER", SecretAccessKey: "x"}, nil
	}))
	client := iam.NewFromConfig(stranger)

	_, err := client.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("nobody")})
	wantErrorCode(t, err, "NoSuchEntity")           // unauthenticated, failed, counted
	motoAPI(http.MethodGet, "/moto-api/config", "") // not counted
	if _, err := client.ListUsers(ctx, &iam.ListUsersInput{}); err != nil {
		t.Fatalf("second request: %v, want it unauthenticated", err)
	}
	_, err = client.ListUsers(ctx, &iam.ListUsersInput{})
	wantErrorCode(t, err, "InvalidClientTokenId")
}

// Moto's authorisation errors come in an envelope the Go SDK cannot read,
// and moto hashes a bodiless request's headers as its payload; configs from
// Server.Config make up for both (compat.go). Without that, IAM's
// AccessDenied reads as "UnknownError" and a Bedrock GET is refused as
// badly signed.
func TestMotoQuirksThatConfigsMakeUpFor(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	ctx := t.Context()
	nobody, err := emulator.CreateUser(ctx, srv.Config(), "nobody", emulator.AllowPolicy("sts:GetCallerIdentity"))
	if err != nil {
		t.Fatal(err)
	}
	plain := nobody.Copy()
	plain.APIOptions = nil
	plainAdmin := srv.Config()
	plainAdmin.APIOptions = nil

	_, err = iam.NewFromConfig(plain).ListRoles(ctx, &iam.ListRolesInput{})
	wantErrorCode(t, err, "UnknownError")
	_, err = iam.NewFromConfig(nobody).ListRoles(ctx, &iam.ListRolesInput{})
	wantErrorCode(t, err, "AccessDenied")

	_, err = organizations.NewFromConfig(plain).ListAccounts(ctx, &organizations.ListAccountsInput{})
	if code := emulator.ErrorCode(err); err == nil || code != "" {
		t.Errorf("Organizations without the fix: %v (code %q), want an unreadable error", err, code)
	}
	_, err = organizations.NewFromConfig(nobody).ListAccounts(ctx, &organizations.ListAccountsInput{})
	wantErrorCode(t, err, "AccessDenied")

	_, err = bedrock.NewFromConfig(plainAdmin).GetModelInvocationLoggingConfiguration(ctx, &bedrock.GetModelInvocationLoggingConfigurationInput{})
	if got := httpStatus(err); got != http.StatusForbidden {
		t.Errorf("Bedrock GET without the fix: %v (HTTP %d), want 403 SignatureDoesNotMatch", err, got)
	}
	if _, err := bedrock.NewFromConfig(srv.Config()).GetModelInvocationLoggingConfiguration(ctx, &bedrock.GetModelInvocationLoggingConfigurationInput{}); err != nil {
		t.Errorf("Bedrock GET: %v", err)
	}
}

// The Go SDK speaks Smithy RPC v2 CBOR to CloudWatch; moto 5.2.5 does not
// serve that protocol and answers 404. Test CloudWatch metrics code with a
// recorded-response fake.
func TestMotoDoesNotServeCloudWatchToTheGoSDK(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	_, err := cloudwatch.NewFromConfig(srv.Config()).ListMetrics(t.Context(), &cloudwatch.ListMetricsInput{})
	if got := httpStatus(err); got != http.StatusNotFound {
		t.Errorf("ListMetrics: %v (HTTP %d), want 404", err, got)
	}
}

func createUser(name string) func(context.Context, aws.Config) error {
	return func(ctx context.Context, cfg aws.Config) error {
		_, err := iam.NewFromConfig(cfg).CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name)})
		return err
	}
}

func getCallerIdentity(ctx context.Context, cfg aws.Config) error {
	_, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	return err
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// With rolecall's fixes, trust statements are evaluated as AWS does: one
// that names someone else is skipped rather than denying, a Deny that
// applies wins, and the external ID condition holds across accounts.
func TestFixedMotoEvaluatesTrustStatementsAsAWSDoes(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	ctx := t.Context()
	admin := srv.Config()
	caller, err := emulator.CreateUser(ctx, admin, "verifier", emulator.AllowPolicy("sts:AssumeRole"))
	if err != nil {
		t.Fatal(err)
	}
	member, err := srv.AccountConfig(ctx, otherAccount)
	if err != nil {
		t.Fatal(err)
	}
	stmt := func(effect string, principal string, externalID string) map[string]any {
		s := map[string]any{"Effect": effect, "Action": "sts:AssumeRole", "Principal": map[string]any{"AWS": principal}}
		if externalID != "" {
			s["Condition"] = map[string]any{"StringEquals": map[string]any{"sts:ExternalId": externalID}}
		}
		return s
	}
	tests := []struct {
		name       string
		statements []any
		externalID string
		wantAllow  bool
	}{
		{"a statement for someone else does not deny", []any{stmt("Allow", arnOfUser("vendor"), ""), stmt("Allow", arnOfUser("verifier"), "right-id")}, "right-id", true},
		{"wrong external ID across accounts", []any{stmt("Allow", arnOfUser("verifier"), "right-id")}, "wrong-id", false},
		{"right external ID across accounts", []any{stmt("Allow", arnOfUser("verifier"), "right-id")}, "right-id", true},
		{"an applying deny wins", []any{stmt("Allow", arnOfUser("verifier"), ""), stmt("Deny", arnOfUser("verifier"), "")}, "x", false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := fmt.Sprintf("trust-%d", i)
			trust := mustJSON(t, map[string]any{"Version": "2012-10-17", "Statement": tt.statements})
			if _, err := emulator.CreateRole(ctx, member, name, trust, ""); err != nil {
				t.Fatal(err)
			}
			_, err := emulator.AssumeRole(ctx, caller, arnOfRole(otherAccount, name), tt.externalID, "probe")
			wantAllowed(t, err, tt.wantAllow)
		})
	}
}

// With rolecall's fixes, HeadBucket needs s3:ListBucket (raw moto asks for
// an action s3:HeadBucket that IAM does not have), and Secrets Manager and
// CloudFormation calls are authorised against the secret or StackSet they
// name (raw moto checks them against "*", so no policy scoped to one
// resource allowed anything).
func TestFixedMotoAuthorisesCallsByTheirResource(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	ctx := t.Context()
	admin := srv.Config()
	for _, b := range []string{"mine", "theirs"} {
		if err := emulator.CreateBucket(ctx, admin, b); err != nil {
			t.Fatal(err)
		}
	}
	sm := secretsmanager.NewFromConfig(admin)
	mine, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("mine"), SecretString: aws.String("a")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("theirs"), SecretString: aws.String("b")}); err != nil {
		t.Fatal(err)
	}
	policy := mustJSON(t, map[string]any{"Version": "2012-10-17", "Statement": []any{
		map[string]any{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::mine"},
		map[string]any{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": aws.ToString(mine.ARN)},
	}})
	user, err := emulator.CreateUser(ctx, admin, "scoped", policy)
	if err != nil {
		t.Fatal(err)
	}
	s3c := emulator.S3Client(user)
	usm := secretsmanager.NewFromConfig(user)
	tests := []struct {
		name    string
		call    func() error
		allowed bool
	}{
		{"HeadBucket on the bucket the policy names", func() error {
			_, err := s3c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("mine")})
			return err
		}, true},
		{"HeadBucket on another bucket", func() error {
			_, err := s3c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("theirs")})
			return err
		}, false},
		{"GetSecretValue of the secret the policy names, by ARN", func() error {
			_, err := usm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: mine.ARN})
			return err
		}, true},
		{"GetSecretValue of the secret the policy names, by name", func() error {
			_, err := usm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("mine")})
			return err
		}, true},
		{"GetSecretValue of another secret", func() error {
			_, err := usm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("theirs")})
			return err
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if tt.allowed {
				if err != nil {
					t.Fatalf("denied: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("allowed")
			}
			var re interface{ HTTPStatusCode() int }
			if !errors.As(err, &re) || re.HTTPStatusCode() != 403 {
				t.Fatalf("error %v, want a 403", err)
			}
		})
	}
}

// Identity policies are evaluated as IAM evaluates them, where rolecall's
// policies depend on it: action names case-insensitively, conditions on
// s3:prefix, and what cannot be evaluated never grants.
func TestFixedMotoEvaluatesIdentityPolicyConditions(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	ctx := t.Context()
	admin := srv.Config()
	if err := emulator.CreateBucket(ctx, admin, "reports"); err != nil {
		t.Fatal(err)
	}
	user := func(name string, statements ...map[string]any) *s3.Client {
		st := make([]any, len(statements))
		for i, s := range statements {
			st[i] = s
		}
		cfg, err := emulator.CreateUser(ctx, admin, name, mustJSON(t, map[string]any{"Version": "2012-10-17", "Statement": st}))
		if err != nil {
			t.Fatal(err)
		}
		return emulator.S3Client(cfg)
	}
	list := func(c *s3.Client, prefix *string) error {
		_, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("reports"), Prefix: prefix, MaxKeys: aws.Int32(1)})
		return err
	}
	prefixOnly := user("prefix-only", map[string]any{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::reports",
		"Condition": map[string]any{"StringLike": map[string]any{"s3:prefix": []string{"cur/*"}}}})
	lowerCase := user("lower-case", map[string]any{"Effect": "Allow", "Action": "S3:listbucket", "Resource": "arn:aws:s3:::reports"})
	unknownOp := user("unknown-operator", map[string]any{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::reports",
		"Condition": map[string]any{"DateGreaterThan": map[string]any{"aws:CurrentTime": "2020-01-01T00:00:00Z"}}})
	denyUnknown := user("deny-unknown", map[string]any{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::reports"},
		map[string]any{"Effect": "Deny", "Action": "s3:ListBucket", "Resource": "*", "Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}}})
	notAction := user("not-action", map[string]any{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})

	tests := []struct {
		name    string
		err     error
		allowed bool
	}{
		{"a prefix the condition allows", list(prefixOnly, aws.String("cur/")), true},
		{"a prefix the condition does not allow", list(prefixOnly, aws.String("private/")), false},
		{"no prefix: the key is absent, StringLike does not hold", list(prefixOnly, nil), false},
		{"an action written in another case", list(lowerCase, nil), true},
		{"an Allow whose condition cannot be evaluated does not apply", list(unknownOp, nil), false},
		{"a Deny whose condition cannot be evaluated applies", list(denyUnknown, nil), false},
		{"NotAction grants what it does not name", list(notAction, nil), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.allowed {
				if tt.err != nil {
					t.Fatalf("denied: %v", tt.err)
				}
				return
			}
			var re interface{ HTTPStatusCode() int }
			if !errors.As(tt.err, &re) || re.HTTPStatusCode() != 403 {
				t.Fatalf("error %v, want a 403", tt.err)
			}
		})
	}
}

// The quotas AWS enforces are enforced here too, with AWS's error code.
func TestFixedMotoEnforcesIAMAndStackSetQuotas(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	ctx := t.Context()
	admin := srv.Config()
	client := iam.NewFromConfig(admin)
	trust := func(n int) string {
		// A trust policy of exactly n characters, white space not counted.
		base := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":""}}}]}`
		return strings.Replace(base, `"sts:ExternalId":""`, `"sts:ExternalId":"`+strings.Repeat("e", n-len(base))+`"`, 1)
	}
	if _, err := client.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("at-quota"), AssumeRolePolicyDocument: aws.String(trust(2048))}); err != nil {
		t.Fatalf("a 2,048-character trust policy refused: %v", err)
	}
	_, err := client.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("over-quota"), AssumeRolePolicyDocument: aws.String(trust(2049))})
	wantErrorCode(t, err, "LimitExceeded")
	_, err = client.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("at-quota"), PolicyDocument: aws.String(trust(2049))})
	wantErrorCode(t, err, "LimitExceeded")

	policy := func(n int) string {
		base := `{"Version":"2012-10-17","Statement":[{"Sid":"","Effect":"Allow","Action":"ce:GetCostAndUsage","Resource":"*"}]}`
		return strings.Replace(base, `"Sid":""`, `"Sid":"`+strings.Repeat("S", n-len(base))+`"`, 1)
	}
	put := func(name string, n int) error {
		_, err := client.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("at-quota"), PolicyName: aws.String(name), PolicyDocument: aws.String(policy(n))})
		return err
	}
	if err := put("a", 6000); err != nil {
		t.Fatal(err)
	}
	if err := put("b", 4240); err != nil {
		t.Fatalf("inline policies of 10,240 characters together refused: %v", err)
	}
	wantErrorCode(t, put("c", 200), "LimitExceeded")
	if err := put("b", 4000); err != nil {
		t.Fatalf("replacing a policy with a smaller one refused: %v", err)
	}
	_, err = client.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("big"), PolicyDocument: aws.String(policy(6145))})
	wantErrorCode(t, err, "LimitExceeded")

	body := `{"Resources":{"W":{"Type":"AWS::CloudFormation::WaitConditionHandle"}},"Description":"` + strings.Repeat("d", 51200) + `"}`
	_, err = cloudformation.NewFromConfig(admin).CreateStackSet(ctx, &cloudformation.CreateStackSetInput{StackSetName: aws.String("big"), TemplateBody: aws.String(body)})
	wantErrorCode(t, err, "ValidationError")
}
