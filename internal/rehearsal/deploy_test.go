package rehearsal

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rolecall/rolecall/internal/emulator"
	"github.com/rolecall/rolecall/internal/emulator/emulatortest"
	"github.com/rolecall/rolecall/internal/params"
	"github.com/rolecall/rolecall/internal/profile"
	"github.com/rolecall/rolecall/internal/synth"
)

func TestDeployPlaysCloudFormationWithTheGeneratedTemplates(t *testing.T) {
	ctx := t.Context()
	p, err := profile.Find("../../vendors", firstVendor(t))
	if err != nil {
		t.Fatal(err)
	}
	files, err := synth.Build(p)
	if err != nil {
		t.Fatal(err)
	}
	mgmt, role, err := templateFiles(files)
	if err != nil {
		t.Fatal(err)
	}
	srv := emulatortest.Start(t)
	admin := srv.Config()
	org, err := emulator.SeedOrganization(ctx, admin, emulator.OrgSpec{
		OUs:               []emulator.OUSpec{{Name: "Workloads", Accounts: 2}, {Name: "Sandbox", Accounts: 1}},
		ServicePrincipals: []string{emulator.StackSetsServicePrincipal},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := createCURBucket(ctx, admin, "acme-cur", "cur/"); err != nil {
		t.Fatal(err)
	}
	externalID, secret := NewExternalID(), NewCallbackSecret()
	d, err := deployBase(ctx, admin, emulator.DefaultAccountID, mgmt, "rolecall-onboarding", map[string]string{
		params.ExternalID.Name: externalID, params.CallbackSecret.Name: secret,
		params.CURBucketName.Name: "acme-cur", params.CURReportPrefix.Name: "cur/",
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := secretsmanager.NewFromConfig(admin).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(d.SecretARN)})
	if err != nil {
		t.Fatal(err)
	}
	var stored params.Secret
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &stored); err != nil {
		t.Fatalf("the secret the template writes is not the JSON the function reads: %v", err)
	}
	if stored.ExternalID != externalID || stored.CallbackSecret != secret {
		t.Errorf("secret holds %+v", stored)
	}
	if d.FunctionEnv[params.EnvSecretARN] != d.SecretARN || d.FunctionEnv[params.EnvRoleName] != p.RoleName {
		t.Errorf("function environment %v", d.FunctionEnv)
	}
	preflight := map[string]any{params.DataDeploymentTargets: org.RootID, params.DataManagementAccountID: emulator.DefaultAccountID, params.DataCURRegion: emulator.DefaultRegion}
	if err := d.deployStackSetPolicy(ctx, admin, preflight); err != nil {
		t.Fatal(err)
	}
	if err := d.deployManagementRole(ctx, admin, role); err != nil {
		t.Fatal(err)
	}
	if err := d.deployStackSet(ctx, admin, preflight); err != nil {
		t.Fatal(err)
	}
	function, err := emulator.AssumeRole(ctx, admin, d.FunctionRoleARN, "", "onboarding-function")
	if err != nil {
		t.Fatal(err)
	}
	for _, arn := range append([]string{d.ManagementRoleARN}, memberRoleARNs(org, p.RoleName)...) {
		if _, err := emulator.AssumeRole(ctx, function, arn, externalID, "verify"); err != nil {
			t.Errorf("the function cannot assume %s: %v", arn, err)
		}
	}
}

func memberRoleARNs(org *emulator.Org, roleName string) []string {
	var out []string
	for _, a := range org.Accounts {
		out = append(out, "arn:aws:iam::"+a.ID+":role/"+roleName)
	}
	return out
}

func firstVendor(t *testing.T) string {
	t.Helper()
	matches, _ := filepath.Glob("../../vendors/*.yaml")
	if len(matches) == 0 {
		t.Fatal("no vendor profiles")
	}
	return strings.TrimSuffix(filepath.Base(matches[0]), ".yaml")
}
