package onboarding

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"

	"github.com/rolecall/rolecall/callback"
	"github.com/rolecall/rolecall/internal/customresource"
	"github.com/rolecall/rolecall/internal/discovery"
	"github.com/rolecall/rolecall/internal/params"
)

// deleted tells the vendor the onboarding is going away, so it pauses
// ingestion before the roles disappear, with each account's last known
// status, but only once CloudFormation confirms that the stack (or this
// resource) is really being deleted. It never blocks the deletion: every
// path answers SUCCESS.
func (s *Service) deleted(ctx context.Context, req customresource.Request) (customresource.Result, error) {
	answer := func(status string) (customresource.Result, error) {
		return customresource.Result{Data: map[string]any{params.DataCallbackStatus: status}}, nil
	}
	cfg, err := ParseConfig(req.Properties, s.Settings, ParseOptions{DefaultRegion: s.Region})
	if err != nil {
		s.Logger.WarnContext(ctx, "deleting without telling the vendor: the properties are not usable", "error", err)
		return answer("not told: the properties are not usable")
	}
	customresource.SetPhase(ctx, "asking CloudFormation whether the stack is being deleted")
	if going, why := s.reallyDeleted(ctx, req); !going {
		s.Logger.WarnContext(ctx, "a Delete that CloudFormation does not confirm; the vendor is not told", "why", why)
		return answer(clip("not told: "+why, 250))
	}
	secret, err := s.readSecret(ctx, cfg.SecretARN)
	if err != nil {
		s.Logger.WarnContext(ctx, "deleting without telling the vendor: the callback secret is not readable", "error", err)
		return answer("not told: the callback secret is not readable")
	}
	account := accountOfARN(req.StackID)
	customresource.SetPhase(ctx, "reading each account's last verification")
	accounts := s.lastKnown(ctx, cfg, account)
	payload := s.payload(callback.EventOnboardingDeleted, req.StackID, req.RequestID, s.organizationOf(ctx), account, cfg, accounts)
	payload.Notes = append(payload.Notes, "The onboarding stack is being deleted: the roles are removed next. Pause ingestion for this organization. Each account's status is its last verification's.")
	customresource.SetPhase(ctx, "telling the vendor the onboarding is deleted")
	vendor := s.deliverLast(ctx, cfg, secret, req.RequestID, payload)
	s.Logger.InfoContext(ctx, "deletion callback", "callbackStatus", vendor.Status)
	return answer(vendor.Status)
}

// reallyDeleted asks CloudFormation whether the function's stack, or this
// resource of it, is being deleted: a stack deletion or a failed
// creation's rollback, or an update's clean-up of this very resource. It
// answers false, with the reason, for anything else, and when it cannot
// tell: the vendor hears of a deletion only when CloudFormation confirms
// it.
func (s *Service) reallyDeleted(ctx context.Context, req customresource.Request) (bool, string) {
	out, err := s.Stacks.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(req.StackID)})
	if err != nil || len(out.Stacks) == 0 {
		return false, fmt.Sprintf("CloudFormation could not confirm that stack %s is being deleted: %v", req.StackID, err)
	}
	status := out.Stacks[0].StackStatus
	switch status {
	case cftypes.StackStatusDeleteInProgress, cftypes.StackStatusRollbackInProgress, cftypes.StackStatusImportRollbackInProgress:
		return true, ""
	case cftypes.StackStatusUpdateCompleteCleanupInProgress, cftypes.StackStatusUpdateRollbackCompleteCleanupInProgress:
		// An update removes old resources: this one, if the template no
		// longer has it (or the update that added it is rolled back); not
		// if it was replaced, which rolecall never asks for.
		res, err := s.Stacks.DescribeStackResource(ctx, &cloudformation.DescribeStackResourceInput{
			StackName: aws.String(req.StackID), LogicalResourceId: aws.String(req.LogicalResourceID),
		})
		if code(err) == "ValidationError" {
			return true, "" // the template no longer has the resource
		}
		if err != nil || res.StackResourceDetail == nil {
			return false, fmt.Sprintf("CloudFormation could not say whether %s is being removed: %v", req.LogicalResourceID, err)
		}
		if aws.ToString(res.StackResourceDetail.PhysicalResourceId) == req.PhysicalResourceID {
			return true, ""
		}
		return false, fmt.Sprintf("%s was replaced, not removed: the onboarding goes on", req.LogicalResourceID)
	}
	return false, fmt.Sprintf("stack %s is %s, not being deleted: a Delete sent outside a deletion changes nothing", req.StackID, status)
}

// lastKnown returns every account of the onboarding with its last
// verification as the state table holds it. An account the table does not
// know (a role whose verification was never recorded), or every account
// when the table cannot be read, is unverifiable, with a diagnosis that
// says why: the vendor is never told more than was proven.
func (s *Service) lastKnown(ctx context.Context, cfg Config, account string) []callback.Account {
	var records map[string]callback.Account
	var readErr error
	if s.State == nil {
		readErr = fmt.Errorf("the function has no state table")
	} else if all, err := s.State.All(ctx); err != nil {
		readErr = err
	} else {
		records = map[string]callback.Account{}
		for id, r := range all {
			a := r.Account
			if a.AccountID == "" {
				a = callback.Account{AccountID: id, RoleARN: r.RoleARN, Status: r.Status}
			}
			records[id] = a
		}
	}
	if readErr != nil {
		s.Logger.ErrorContext(ctx, "the last verifications are not readable", "error", readErr)
	}
	partition := partitionOf(s.Settings.StackID)
	ids := []string{account}
	arns := map[string]string{account: cfg.RoleARN(partition, account)}
	if cfg.DeployToOrg && cfg.StackSet != "" {
		instances, err := discovery.Instances(ctx, s.Stacks, stackSetName(cfg.StackSet), cftypes.CallAs(cfg.CallAs))
		if err != nil {
			s.Logger.WarnContext(ctx, "the StackSet's instances are not listable; the deletion lists the accounts on record", "error", err)
		}
		for _, in := range discovery.ByAccount(instances) {
			if _, ok := arns[in.AccountID]; !ok {
				ids = append(ids, in.AccountID)
				arns[in.AccountID] = cfg.RoleARN(partition, in.AccountID)
			}
		}
	}
	for id, a := range records {
		if _, ok := arns[id]; !ok {
			ids = append(ids, id)
			arns[id] = a.RoleARN
		}
	}
	slices.Sort(ids)
	out := make([]callback.Account, 0, len(ids))
	for _, id := range ids {
		if a, ok := records[id]; ok {
			out = append(out, a)
			continue
		}
		why := "rolecall has no verification of this account on record"
		if readErr != nil {
			why = "rolecall could not read its record of this account's last verification: " + clip(readErr.Error(), 300)
		}
		out = append(out, callback.Account{AccountID: id, RoleARN: arns[id], Status: callback.StatusUnverifiable,
			Diagnoses: []callback.Diagnosis{{Code: "no_verification_on_record", Message: why + "; its status is unknown, so it is reported unverifiable."}}})
	}
	return out
}
