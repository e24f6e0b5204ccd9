package emulator_test

import (
	"encoding/json"
	"net/url"
	"os"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/rolecall/rolecall/internal/emulator"
	"github.com/rolecall/rolecall/internal/emulator/emulatortest"
)

// testOrg is the organization most tests seed: accounts under the root, a
// nested OU, and OUs that StackSet tests do and do not target.
var testOrg = emulator.OrgSpec{
	Accounts: 1,
	OUs: []emulator.OUSpec{
		{Name: "Workloads", Accounts: 2, OUs: []emulator.OUSpec{
			{Name: "Prod", Accounts: 2},
		}},
		{Name: "Sandbox", Accounts: 2},
		{Name: "Security", Accounts: 1},
	},
	ServicePrincipals: []string{emulator.StackSetsServicePrincipal},
}

func mustOU(t *testing.T, org *emulator.Org, path string) emulator.OU {
	t.Helper()
	ou, ok := org.OUByPath(path)
	if !ok {
		t.Fatalf("no OU %s in the seeded organization", path)
	}
	return ou
}

func readTemplate(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSeedOrganizationCreatesTheTreeItDescribes(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	ctx := t.Context()
	org, err := emulator.SeedOrganization(ctx, srv.Config(), testOrg)
	if err != nil {
		t.Fatalf("SeedOrganization: %v", err)
	}
	if org.ManagementAccountID != emulator.DefaultAccountID {
		t.Errorf("ManagementAccountID = %q, want %q", org.ManagementAccountID, emulator.DefaultAccountID)
	}
	if got := len(org.Accounts); got != 8 {
		t.Errorf("len(Accounts) = %d, want 8", got)
	}
	var paths []string
	for _, ou := range org.OUs {
		paths = append(paths, ou.Path)
	}
	if want := []string{"Root/Workloads", "Root/Workloads/Prod", "Root/Sandbox", "Root/Security"}; !slices.Equal(paths, want) {
		t.Errorf("OU paths = %q, want %q", paths, want)
	}
	prod := mustOU(t, org, "Root/Workloads/Prod")
	if workloads := mustOU(t, org, "Root/Workloads"); prod.ParentID != workloads.ID {
		t.Errorf("Prod's parent = %s, want Workloads (%s)", prod.ParentID, workloads.ID)
	}
	if got := len(org.AccountsUnder(mustOU(t, org, "Root/Workloads").ID)); got != 4 {
		t.Errorf("accounts under Workloads = %d, want 4 (2 direct, 2 in Prod)", got)
	}
	if got := len(org.AccountsUnder(org.RootID)); got != 8 {
		t.Errorf("accounts under the root = %d, want 8", got)
	}

	// What Organizations reports matches what SeedOrganization returned.
	client := organizations.NewFromConfig(srv.Config())
	for _, ou := range append([]emulator.OU{{ID: org.RootID, Path: "Root"}}, org.OUs...) {
		t.Run(ou.Path, func(t *testing.T) {
			out, err := client.ListAccountsForParent(ctx, &organizations.ListAccountsForParentInput{ParentId: aws.String(ou.ID)})
			if err != nil {
				t.Fatalf("ListAccountsForParent: %v", err)
			}
			var got, want []string
			for _, a := range out.Accounts {
				got = append(got, aws.ToString(a.Name))
			}
			for _, a := range org.Accounts {
				if a.ParentID == ou.ID {
					want = append(want, a.Name)
				}
			}
			if ou.Path == "Root" {
				want = append(want, "master") // moto's name for the management account
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("accounts = %q, want %q", got, want)
			}
		})
	}
	if a := org.Accounts[len(org.Accounts)-1]; a.Name != "security-001" || a.Email != "security-001@example.com" {
		t.Errorf("last account = %+v, want name security-001 and email security-001@example.com", a)
	}
}

func TestStackSetServiceManagedCreatesRoleInEveryMemberAccount(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	ctx := t.Context()
	admin := srv.Config()
	org, err := emulator.SeedOrganization(ctx, admin, testOrg)
	if err != nil {
		t.Fatalf("SeedOrganization: %v", err)
	}
	workloads := mustOU(t, org, "Root/Workloads") // has the nested OU Prod
	sandbox := mustOU(t, org, "Root/Sandbox")

	const (
		roleName   = "RolecallReadOnly"
		principal  = "arn:aws:iam::111122223333:role/rolecall-verifier"
		externalID = "ext-6d1f0c"
	)
	dep, err := emulator.DeployStackSet(ctx, admin, emulator.StackSetSpec{
		Name:         "rolecall-member-role",
		TemplateBody: readTemplate(t, "member-role.yaml"),
		Parameters: map[string]string{
			"RoleName":            roleName,
			"TrustedPrincipalARN": principal,
			"ExternalID":          externalID,
		},
		OrganizationalUnitIDs: []string{workloads.ID, sandbox.ID},
	})
	if err != nil {
		t.Fatalf("DeployStackSet: %v", err)
	}

	targeted := map[string]bool{}
	for _, a := range append(org.AccountsUnder(workloads.ID), org.AccountsUnder(sandbox.ID)...) {
		targeted[a.ID] = true
	}
	if len(targeted) != 6 {
		t.Fatalf("test setup: %d targeted accounts, want 6", len(targeted))
	}

	var instanceAccounts []string
	for _, in := range dep.Instances {
		instanceAccounts = append(instanceAccounts, aws.ToString(in.Account))
		if in.Status != cftypes.StackInstanceStatusCurrent || aws.ToString(in.Region) != emulator.DefaultRegion {
			t.Errorf("instance in %s: status %s, region %s; want CURRENT in %s",
				aws.ToString(in.Account), in.Status, aws.ToString(in.Region), emulator.DefaultRegion)
		}
	}
	var wantAccounts []string
	for id := range targeted {
		wantAccounts = append(wantAccounts, id)
	}
	slices.Sort(instanceAccounts)
	slices.Sort(wantAccounts)
	if !slices.Equal(instanceAccounts, wantAccounts) {
		t.Errorf("instances in %q, want one in each of %q", instanceAccounts, wantAccounts)
	}

	accounts := append([]emulator.Account{{ID: org.ManagementAccountID, Name: "management"}}, org.Accounts...)
	for _, a := range accounts {
		t.Run(a.Name, func(t *testing.T) {
			cfg, err := srv.AccountConfig(ctx, a.ID)
			if err != nil {
				t.Fatalf("AccountConfig: %v", err)
			}
			out, err := iam.NewFromConfig(cfg).GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(roleName)})
			if !targeted[a.ID] {
				// Outside the target OUs, and in the management account,
				// which a service-managed StackSet never reaches.
				wantErrorCode(t, err, "NoSuchEntity")
				return
			}
			if err != nil {
				t.Fatalf("GetRole in targeted account: %v", err)
			}
			if got, want := aws.ToString(out.Role.Arn), "arn:aws:iam::"+a.ID+":role/"+roleName; got != want {
				t.Errorf("role ARN = %q, want %q", got, want)
			}
			stmt := trustStatement(t, aws.ToString(out.Role.AssumeRolePolicyDocument))
			if stmt.Principal.AWS != principal {
				t.Errorf("trusted principal = %q, want %q", stmt.Principal.AWS, principal)
			}
			if got := stmt.Condition["StringEquals"]["sts:ExternalId"]; got != externalID {
				t.Errorf("StringEquals sts:ExternalId = %v, want %q", got, externalID)
			}
		})
	}
}

type trustPolicyStatement struct {
	Effect    string
	Action    any
	Principal struct{ AWS string }
	Condition map[string]map[string]any
}

// trustStatement decodes the only statement of a trust policy as IAM
// returns it (URL-encoded JSON).
func trustStatement(t *testing.T, doc string) trustPolicyStatement {
	t.Helper()
	decoded, err := url.QueryUnescape(doc)
	if err != nil {
		t.Fatalf("trust policy %q: %v", doc, err)
	}
	var policy struct{ Statement []trustPolicyStatement }
	if err := json.Unmarshal([]byte(decoded), &policy); err != nil {
		t.Fatalf("trust policy %s: %v", decoded, err)
	}
	if len(policy.Statement) == 0 {
		t.Fatalf("trust policy %s: no statement", decoded)
	}
	return policy.Statement[0]
}
