package synth_test

import (
	"encoding/json"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/rolecall/rolecall/internal/emulator"
	"github.com/rolecall/rolecall/internal/emulator/emulatortest"
	"github.com/rolecall/rolecall/internal/iamdata"
	"github.com/rolecall/rolecall/internal/permissions"
	"github.com/rolecall/rolecall/internal/profile"
	"github.com/rolecall/rolecall/internal/synth"
)

const externalID = "ext-7f3c9e1d-2b4a-4c8e-9a1f-0b2c3d4e5f60"

// The generated role template, deployed as CloudFormation would (a
// service-managed StackSet into two OUs, and a plain stack with the CUR
// bucket in the management account), creates in every account exactly the
// policies the catalog renders for it, trusted only with the external ID.
func TestRoleTemplateDeploysThroughServiceManagedStackSet(t *testing.T) {
	ctx := t.Context()
	p, body := roleTemplate(t)

	srv := emulatortest.Start(t)
	admin := srv.Config()
	org, err := emulator.SeedOrganization(ctx, admin, emulator.OrgSpec{
		Accounts: 1,
		OUs: []emulator.OUSpec{
			{Name: "Workloads", OUs: []emulator.OUSpec{{Name: "Prod", Accounts: 2}, {Name: "Dev", Accounts: 1}}},
			{Name: "Sandbox", Accounts: 2},
			{Name: "Suspended", Accounts: 1},
		},
		ServicePrincipals: []string{emulator.StackSetsServicePrincipal},
	})
	if err != nil {
		t.Fatal(err)
	}
	verifierARN, verifier := onboardingFunction(t, admin)

	workloads, _ := org.OUByPath("Root/Workloads")
	sandbox, _ := org.OUByPath("Root/Sandbox")
	logGroups := []string{"/aws/bedrock/invocations", "app"}
	if _, err := emulator.DeployStackSet(ctx, admin, emulator.StackSetSpec{
		Name:         "onboarding-roles",
		TemplateBody: body,
		Parameters: map[string]string{
			"ExternalId":          externalID,
			"VerifierRoleArn":     verifierARN,
			"EnableBedrockAccess": "false",
			"LogGroupNames":       strings.Join(logGroups, ","),
		},
		OrganizationalUnitIDs: []string{workloads.ID, sandbox.ID},
	}); err != nil {
		t.Fatal(err)
	}

	// The management account's role, as the onboarding stack nests it.
	cfn := cloudformation.NewFromConfig(admin)
	if _, err := cfn.CreateStack(ctx, &cloudformation.CreateStackInput{
		StackName:    aws.String("onboarding-management-role"),
		TemplateBody: aws.String(body),
		Capabilities: []cftypes.Capability{cftypes.CapabilityCapabilityNamedIam},
		Parameters: []cftypes.Parameter{
			{ParameterKey: aws.String("ExternalId"), ParameterValue: aws.String(externalID)},
			{ParameterKey: aws.String("VerifierRoleArn"), ParameterValue: aws.String(verifierARN)},
			{ParameterKey: aws.String("CurBucketName"), ParameterValue: aws.String("acme-cur")},
			{ParameterKey: aws.String("CurReportPrefix"), ParameterValue: aws.String("cur/")},
		},
	}); err != nil {
		t.Fatal(err)
	}

	targets := map[string]permissions.Target{
		emulator.DefaultAccountID: {Partition: "aws", AccountID: emulator.DefaultAccountID, RoleName: p.RoleName,
			CURHolder: true, CURBucket: "acme-cur", CURPrefix: "cur/", Bedrock: true},
	}
	for _, a := range append(org.AccountsUnder(workloads.ID), org.AccountsUnder(sandbox.ID)...) {
		targets[a.ID] = permissions.Target{Partition: "aws", AccountID: a.ID, RoleName: p.RoleName, LogGroups: logGroups}
	}
	gate := permissions.Gate{Data: iamdata.Embedded(), CUR: permissions.CURScope{Bucket: "acme-cur", Prefix: "cur/"}}

	for _, a := range org.Accounts {
		target, inScope := targets[a.ID]
		t.Run(a.Name, func(t *testing.T) {
			acct, err := srv.AccountConfig(ctx, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			exists, err := emulator.IAMRoleExists(ctx, acct, p.RoleName)
			if err != nil {
				t.Fatal(err)
			}
			if exists != inScope {
				t.Fatalf("role exists %v, want %v (account's OU targeted: %v)", exists, inScope, inScope)
			}
			if inScope {
				checkRole(t, acct, verifier, target, gate)
			}
		})
	}
	t.Run("management account", func(t *testing.T) {
		checkRole(t, admin, verifier, targets[emulator.DefaultAccountID], gate)
	})
}

func checkRole(t *testing.T, acct, verifier aws.Config, target permissions.Target, gate permissions.Gate) {
	t.Helper()
	ctx := t.Context()
	roleARN := "arn:aws:iam::" + target.AccountID + ":role/" + target.RoleName
	client := iam.NewFromConfig(acct)

	want := map[string]permissions.Document{}
	for _, p := range permissions.Policies(target) {
		want[p.Name] = p.Document
	}
	names, err := client.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String(target.RoleName)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, name := range names.PolicyNames {
		got = append(got, name)
		out, err := client.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(target.RoleName), PolicyName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		raw, err := url.QueryUnescape(aws.ToString(out.PolicyDocument))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := permissions.ParseDocument([]byte(raw))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if fs := gate.Check(name, doc); permissions.Failed(fs) {
			t.Errorf("deployed policy %s fails the gate: %v", name, fs)
		}
		if !sameDocument(doc, want[name]) {
			t.Errorf("deployed policy %s =\n%s\nthe catalog renders\n%s", name, canonical(doc), canonical(want[name]))
		}
	}
	slices.Sort(got)
	var wantNames []string
	for n := range want {
		wantNames = append(wantNames, n)
	}
	slices.Sort(wantNames)
	if !slices.Equal(got, wantNames) {
		t.Errorf("inline policies %v, the catalog renders %v", got, wantNames)
	}

	session, err := emulator.AssumeRole(ctx, verifier, roleARN, externalID, "verify")
	if err != nil {
		t.Fatalf("the verifier cannot assume the role with the external ID: %v", err)
	}
	if _, err := iam.NewFromConfig(session).ListRoles(ctx, &iam.ListRolesInput{MaxItems: aws.Int32(1)}); err != nil {
		t.Errorf("the role may not list roles: %v", err)
	}
	_, err = iam.NewFromConfig(session).CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("intruder")})
	if code := emulator.ErrorCode(err); code != "AccessDenied" {
		t.Errorf("CreateUser as the role: %v (code %q), want AccessDenied", err, code)
	}
	_, err = emulator.AssumeRole(ctx, verifier, roleARN, "ext-wrong-value-000000000000000000000000", "verify")
	if code := emulator.ErrorCode(err); code != "AccessDenied" {
		t.Errorf("AssumeRole with a wrong external ID: %v (code %q), want AccessDenied", err, code)
	}
}

// roleTemplate builds the role template of the first vendor profile.
func roleTemplate(t *testing.T) (*profile.Profile, string) {
	t.Helper()
	p, err := profile.Find("../../vendors", firstProfileID(t))
	if err != nil {
		t.Fatal(err)
	}
	files, err := synth.Build(p)
	if err != nil {
		t.Fatal(err)
	}
	// As the StackSet carries it; the nested stack reads the same
	// template from templates/ (synth_test checks they are one document).
	body, err := synth.StackSetTemplateBody(files)
	if err != nil {
		t.Fatal(err)
	}
	return p, body
}

// onboardingFunction creates a role standing in for the onboarding
// function's, allowed to assume roles, and a session of it.
func onboardingFunction(t *testing.T, admin aws.Config) (string, aws.Config) {
	t.Helper()
	arn, err := emulator.CreateRole(t.Context(), admin, "OnboardingFunctionRole",
		emulator.TrustPolicy("arn:aws:iam::"+emulator.DefaultAccountID+":user/"+emulator.AdminUserName),
		emulator.AllowPolicy("sts:AssumeRole"))
	if err != nil {
		t.Fatal(err)
	}
	session, err := emulator.AssumeRole(t.Context(), admin, arn, "", "onboarding")
	if err != nil {
		t.Fatal(err)
	}
	return arn, session
}

func sameDocument(a, b permissions.Document) bool { return canonical(a) == canonical(b) }

// canonical renders a document with sorted actions and resources so two
// documents compare by meaning, not by list order or single-string forms.
func canonical(d permissions.Document) string {
	var out []string
	for _, s := range d.Statement {
		a := slices.Clone([]string(s.Action))
		r := slices.Clone([]string(s.Resource))
		slices.Sort(a)
		slices.Sort(r)
		b, _ := json.Marshal([]any{s.Sid, s.Effect, a, r})
		out = append(out, string(b))
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

func firstProfileID(t *testing.T) string {
	t.Helper()
	matches, err := filepath.Glob("../../vendors/*.yaml")
	if err != nil || len(matches) == 0 {
		t.Fatalf("no vendor profiles: %v", err)
	}
	return strings.TrimSuffix(filepath.Base(matches[0]), ".yaml")
}

// Rotating the external ID updates the StackSet; every member role must
// then trust the new value and, during the rotation, the previous one.
// (Pins rolecall's moto fixes 5 and 6: StackSet updates reach the
// instances' resources, and trust policies update in place.)
func TestRoleTemplateRotatesTheExternalIDThroughAStackSetUpdate(t *testing.T) {
	ctx := t.Context()
	p, body := roleTemplate(t)
	srv := emulatortest.Start(t)
	admin := srv.Config()
	org, err := emulator.SeedOrganization(ctx, admin, emulator.OrgSpec{OUs: []emulator.OUSpec{{Name: "Prod", Accounts: 2}}, ServicePrincipals: []string{emulator.StackSetsServicePrincipal}})
	if err != nil {
		t.Fatal(err)
	}
	verifierARN, verifier := onboardingFunction(t, admin)
	prod, _ := org.OUByPath("Root/Prod")
	if _, err := emulator.DeployStackSet(ctx, admin, emulator.StackSetSpec{
		Name: "roles", TemplateBody: body, OrganizationalUnitIDs: []string{prod.ID},
		Parameters: map[string]string{"ExternalId": externalID, "VerifierRoleArn": verifierARN},
	}); err != nil {
		t.Fatal(err)
	}
	const newID = "ext-rotated-0a1b2c3d-0000000000000000000000"
	cfn := cloudformation.NewFromConfig(admin)
	if _, err := cfn.UpdateStackSet(ctx, &cloudformation.UpdateStackSetInput{
		StackSetName:        aws.String("roles"),
		UsePreviousTemplate: aws.Bool(true),
		Capabilities:        []cftypes.Capability{cftypes.CapabilityCapabilityNamedIam},
		Parameters: []cftypes.Parameter{
			{ParameterKey: aws.String("ExternalId"), ParameterValue: aws.String(newID)},
			{ParameterKey: aws.String("PreviousExternalId"), ParameterValue: aws.String(externalID)},
			{ParameterKey: aws.String("VerifierRoleArn"), ParameterValue: aws.String(verifierARN)},
		},
	}); err != nil {
		t.Fatal(err)
	}
	for _, a := range org.Accounts {
		arn := "arn:aws:iam::" + a.ID + ":role/" + p.RoleName
		for _, id := range []string{newID, externalID} {
			if _, err := emulator.AssumeRole(ctx, verifier, arn, id, "verify"); err != nil {
				t.Errorf("%s with %s after the update: %v", a.Name, id, err)
			}
		}
		if _, err := emulator.AssumeRole(ctx, verifier, arn, "ext-never-issued-0000000000000000000000000", "verify"); emulator.ErrorCode(err) != "AccessDenied" {
			t.Errorf("%s with an unknown external ID: %v, want AccessDenied", a.Name, err)
		}
	}
}
