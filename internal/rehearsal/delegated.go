package rehearsal

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/rolecall/rolecall/callback"
	"github.com/rolecall/rolecall/internal/emulator"
	"github.com/rolecall/rolecall/internal/params"
	"github.com/rolecall/rolecall/internal/synth"
)

// The delegated-administrator rehearsal: the customer runs the StackSet
// from a delegated administrator account, and the management account gets
// its role from a second stack of the same template.

// delegated reports whether the rehearsal runs the StackSet as a delegated
// administrator.
func (r *rehearsal) delegated() bool { return r.opts.CallAs == "DELEGATED_ADMIN" }

// registerDelegatedAdmin makes the last account of Root/Security the
// organization's delegated administrator for StackSets, as the customer
// would from the management account.
func (r *rehearsal) registerDelegatedAdmin(ctx context.Context) error {
	security, ok := r.org.OUByPath("Root/Security")
	if !ok || len(security.AccountIDs) == 0 {
		return errors.New("no account in Root/Security to be the delegated administrator")
	}
	da := security.AccountIDs[len(security.AccountIDs)-1]
	if _, err := organizations.NewFromConfig(r.admin).RegisterDelegatedAdministrator(ctx, &organizations.RegisterDelegatedAdministratorInput{
		AccountId: aws.String(da), ServicePrincipal: aws.String(emulator.StackSetsServicePrincipal),
	}); err != nil {
		return fmt.Errorf("register %s as the delegated administrator for StackSets: %w", da, err)
	}
	r.res.DelegatedAdmin = da
	r.values[params.StackSetCallAs.Name] = "DELEGATED_ADMIN"
	r.printf("   account %s is the organization's delegated administrator for CloudFormation StackSets\n", da)
	return nil
}

// createPayerStack creates the management account's own stack: the same
// template, StackSetCallAs SELF, DeployToOrganization false, the same
// external ID, trusting the administrator's verifier.
func (r *rehearsal) createPayerStack(ctx context.Context) error {
	verifier, err := r.d.stack.Output(synth.OutputVerifierRoleARN)
	if err != nil {
		return err
	}
	values := map[string]string{
		params.ExternalID.Name:                      r.values[params.ExternalID.Name],
		params.CallbackSecret.Name:                  r.values[params.CallbackSecret.Name],
		params.CURBucketName.Name:                   r.values[params.CURBucketName.Name],
		params.CURReportPrefix.Name:                 r.values[params.CURReportPrefix.Name],
		params.RolePath.Name:                        r.values[params.RolePath.Name],
		params.ResourceTags.Name:                    r.values[params.ResourceTags.Name],
		params.LogGroupNames.Name:                   r.values[params.LogGroupNames.Name],
		params.DeployToOrganization.Name:            "false",
		params.StackSetCallAs.Name:                  "SELF",
		params.AdditionalVerifierPrincipalARNs.Name: r.values[params.AdditionalVerifierPrincipalARNs.Name] + "," + fmt.Sprint(verifier),
	}
	r.printf("   parameters: StackSetCallAs=SELF DeployToOrganization=false AdditionalVerifierPrincipalArns=...,%v (the administrator's VerifierRoleArn)\n", verifier)
	main := r.stackRun
	r.payer = &stackRun{values: values}
	r.stackRun = r.payer
	defer func() { r.stackRun = main }()
	res, err := r.createStack(ctx, r.admin, r.org.ManagementAccountID, payerStackName)
	r.res.Payer = &res
	if err != nil {
		return err
	}
	if a, ok := accountOf(res.Stored, r.org.ManagementAccountID); !ok || a.Status != callback.StatusVerified {
		return fmt.Errorf("after the management account's stack its role is %+v, want verified", a)
	}
	return nil
}

// coverManagement updates the administrator's stack (a new inventory
// region): its verification now assumes the management account's role too.
func (r *rehearsal) coverManagement(ctx context.Context) error {
	resp, err := r.update(ctx, map[string]string{params.InventoryRegions.Name: "us-east-1,eu-west-1"}, cfn.StatusSuccess)
	r.res.Covered = resp
	if err != nil {
		return err
	}
	stored, err := r.stored(ctx)
	if err != nil {
		return err
	}
	r.res.CoveredStored = stored
	a, _ := accountOf(stored, r.org.ManagementAccountID)
	r.printf("   vendor: the management account %s is %s, reported by both stacks; the organization has %d roles from %d stacks\n", a.AccountID, a.Status, len(stored.Accounts), len(stored.Stacks))
	if a.Status != callback.StatusVerified || hasDiagnosis(a, "management_account_not_covered") {
		return fmt.Errorf("the management account is %s after the administrator's update, want verified", a.Status)
	}
	return nil
}

// deletePayer deletes the management account's stack: its function tells
// the vendor, then its role goes.
func (r *rehearsal) deletePayer(ctx context.Context) error {
	if r.payer == nil {
		return nil
	}
	main := r.stackRun
	r.stackRun = r.payer
	defer func() { r.stackRun = main }()
	r.stack.SetStatus("DELETE_IN_PROGRESS")
	resp, err := r.invoke(ctx, r.event(cfn.RequestDelete, synth.VerificationLogicalID, params.VerificationType, nil, r.res.Payer.Create.PhysicalResourceID), cfn.StatusSuccess, params.DataCallbackStatus)
	if err != nil {
		return err
	}
	r.res.Payer.Create.Data = resp.Data
	if err := r.d.removeRoles(ctx, r.d.Admin); err != nil {
		return err
	}
	r.printf("   the management account's stack is deleted; its role goes with it\n")
	return nil
}
