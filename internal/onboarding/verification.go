package onboarding

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rolecall/rolecall/callback"
	"github.com/rolecall/rolecall/internal/customresource"
	"github.com/rolecall/rolecall/internal/discovery"
	"github.com/rolecall/rolecall/internal/params"
	"github.com/rolecall/rolecall/internal/verify"
)

// verifier is the part of *verify.Engine the onboarding uses.
type verifier interface {
	VerifyAll(ctx context.Context, roles iter.Seq[verify.Role], each func(verify.Report)) verify.Summary
}

// stacksAPI is the part of *cloudformation.Client the onboarding uses.
type stacksAPI interface {
	cloudformation.ListStackInstancesAPIClient
	DescribeStacks(context.Context, *cloudformation.DescribeStacksInput, ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error)
}

// secretsAPI is the part of *secretsmanager.Client the onboarding uses.
type secretsAPI interface {
	GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// deliverer delivers one callback; callback.Sender is one.
type deliverer interface {
	Deliver(ctx context.Context, rawURL string, p callback.Payload) (callback.Result, error)
}

// SenderFactory builds a deliverer for the signing secret an onboarding's
// vendor issued and the vendor's audience.
type SenderFactory func(secret, audience string) (deliverer, error)

// DefaultCallbackBudget is the time kept back from verification for
// delivering the callback and answering CloudFormation.
const DefaultCallbackBudget = 45 * time.Second

// outcome is what one onboarding run found, in the form every consumer
// (the callback, the response, the reason) reads.
type outcome struct {
	accounts []callback.Account
	summary  verify.Summary
	// findings are "account: action via source" lines, one per finding.
	findings []string
	// gaps are "account: what" lines for accounts that are not verified.
	gaps []string
}

func (o *outcome) add(r verify.Report) {
	a := callback.Account{AccountID: r.AccountID, RoleARN: r.RoleARN, Status: callback.Status(r.Status)}
	for _, d := range r.Diagnoses {
		a.Diagnoses = append(a.Diagnoses, callback.Diagnosis{Code: d.Code, Message: d.Message})
	}
	for _, p := range r.Probes {
		switch p.Outcome {
		case verify.OutcomeDenied, verify.OutcomeWriteAllowed, verify.OutcomeError:
			a.FailedProbes = append(a.FailedProbes, callback.Probe{Action: p.Name(), Region: p.Region, Outcome: callback.Outcome(p.Outcome)})
		}
	}
	for _, f := range r.Findings {
		action := f.Action
		switch action {
		case "":
			action = "a NotAction statement"
		case "*":
			action = `"*" (every action)`
		}
		a.FailedProbes = append(a.FailedProbes, callback.Probe{Action: clip(action, 128), Outcome: callback.OutcomeWriteAllowed})
		o.findings = append(o.findings, fmt.Sprintf("account %s: %s allowed by %s", r.AccountID, action, f.Source))
	}
	switch r.Status {
	case verify.StatusVerified:
	case verify.StatusFinding:
	default:
		what := string(r.Status)
		if len(r.Diagnoses) > 0 {
			what += " (" + r.Diagnoses[0].Code + ")"
		} else if len(a.FailedProbes) > 0 {
			what += " (" + string(a.FailedProbes[0].Outcome) + " " + a.FailedProbes[0].Action + ")"
		}
		o.gaps = append(o.gaps, fmt.Sprintf("%s %s", r.AccountID, what))
	}
	o.accounts = append(o.accounts, a)
}

// verification serves the RoleVerification resource.
func (s *Service) verification(ctx context.Context, req customresource.Request) (customresource.Result, error) {
	if req.RequestType == cfn.RequestDelete {
		return s.deleted(ctx, req)
	}
	cfg, err := ParseConfig(req.Properties, ParseOptions{DefaultRegion: s.Region, AllowLoopbackHTTP: s.AllowLoopbackHTTP})
	if err != nil {
		return customresource.Result{}, customresource.Fail(err)
	}
	event := callback.EventOnboardingCreated
	rotated := false
	if req.RequestType == cfn.RequestUpdate {
		event = callback.EventOnboardingUpdated
		if old, err := ParseConfig(req.OldProperties, ParseOptions{DefaultRegion: s.Region, AllowLoopbackHTTP: s.AllowLoopbackHTTP}); err == nil {
			rotated = old.ExternalID != cfg.ExternalID && cfg.PreviousExternalID == old.ExternalID
		}
	}
	secret, err := s.readSecret(ctx, cfg.SecretARN)
	if err != nil {
		return customresource.Result{}, err
	}
	account := accountOfARN(req.StackID)
	orgID := s.organizationID(ctx, cfg.DeployToOrg)

	out, err := s.verifyAll(ctx, cfg, account)
	if err != nil {
		return customresource.Result{}, err
	}
	payload := s.payload(event, req.StackID, req.RequestID, orgID, account, cfg, out.accounts)
	payload.ExternalIDRotated = rotated
	if rotated {
		payload.Notes = append(payload.Notes, "The external ID was rotated: every role was verified with the new value; the previous one is still accepted until PreviousExternalId is cleared.")
	}
	if len(out.findings) > 0 {
		payload.Notes = append(payload.Notes, "Security finding: a role can change something; the stack operation failed and the customer was told why.")
	}
	customresource.SetPhase(ctx, "delivering the callback")
	callbackStatus := s.deliver(ctx, cfg, secret, payload)

	if len(out.findings) > 0 {
		if req.RequestType == cfn.RequestUpdate && s.rollingBack(ctx, req.StackID) {
			s.Logger.WarnContext(ctx, "security finding during a rollback; answering SUCCESS so the rollback completes", "findings", len(out.findings))
		} else {
			return customresource.Result{}, customresource.Failf("security finding: %s; remove the write access (see the GrantedPermissions output for what the role should have), then retry", joinLimited(out.findings, 3))
		}
	}
	return customresource.Result{Data: map[string]any{
		params.DataRoleARN:            cfg.ManagementRoleARN,
		params.DataAccountCount:       fmt.Sprint(out.summary.Accounts),
		params.DataVerifiedCount:      fmt.Sprint(out.summary.Verified),
		params.DataVerificationStatus: verificationStatus(out),
		params.DataCallbackStatus:     callbackStatus,
	}}, nil
}

// verifyAll discovers the onboarding's roles (the management role and one
// per StackSet instance) and verifies them, keeping back time for the
// callback.
func (s *Service) verifyAll(ctx context.Context, cfg Config, account string) (*outcome, error) {
	customresource.SetPhase(ctx, "listing the StackSet's instances")
	var instances []discovery.Instance
	if cfg.DeployToOrg && cfg.StackSet != "" {
		var err error
		instances, err = discovery.Instances(ctx, s.Stacks, stackSetName(cfg.StackSet), cftypes.CallAs(cfg.CallAs))
		if err != nil {
			return nil, customresource.Failf("list the StackSet's instances to find every role: %v", err)
		}
		instances = discovery.ByAccount(instances)
	}
	partition := partitionOf(cfg.ManagementRoleARN)
	out := &outcome{}
	var roles []verify.Role
	roles = append(roles, s.role(cfg, account, cfg.ManagementRoleARN, true))
	for _, in := range instances {
		arn := discovery.MemberRoleARN(partition, in.AccountID, cfg.RoleName)
		if in.AccountID == account {
			continue // the management role is verified above
		}
		if p := in.Problem(); p != "" {
			r := verify.Unverified(in.AccountID, arn, verify.Diagnosis{Code: "stack_instance_failed", Message: p})
			out.add(r)
			out.summary.Accounts++
			out.summary.Unreachable++
			continue
		}
		roles = append(roles, s.role(cfg, in.AccountID, arn, false))
	}

	budget := s.CallbackBudget
	if budget == 0 {
		budget = DefaultCallbackBudget
	}
	vctx := ctx
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) > 2*budget {
		var cancel context.CancelFunc
		vctx, cancel = context.WithDeadline(ctx, dl.Add(-budget))
		defer cancel()
	}
	total := len(roles) + out.summary.Accounts
	done := out.summary.Accounts
	customresource.SetPhase(ctx, fmt.Sprintf("verifying %d accounts", total))
	sum := s.Verifier.VerifyAll(vctx, slices.Values(roles), func(r verify.Report) {
		out.add(r)
		done++
		customresource.SetPhase(ctx, fmt.Sprintf("verifying: %d of %d accounts done", done, total))
	})
	out.summary.Accounts += sum.Accounts
	out.summary.Verified += sum.Verified
	out.summary.Gaps += sum.Gaps
	out.summary.Unreachable += sum.Unreachable
	out.summary.Findings += sum.Findings
	out.summary.Duration = sum.Duration
	slices.SortFunc(out.accounts, func(a, b callback.Account) int { return strings.Compare(a.AccountID, b.AccountID) })
	return out, nil
}

func (s *Service) role(cfg Config, account, arn string, management bool) verify.Role {
	r := verify.Role{
		AccountID:  account,
		RoleARN:    arn,
		ExternalID: cfg.ExternalID,
		Management: management,
		Bedrock:    cfg.Bedrock,
		LogGroups:  cfg.LogGroups,
		Regions:    cfg.Regions,
	}
	if management {
		r.CURBucket, r.CURPrefix = cfg.CURBucket, cfg.CURPrefix
	}
	return r
}

// deleted tells the vendor the onboarding is going away, so it pauses
// ingestion before the roles disappear, and never blocks the deletion.
func (s *Service) deleted(ctx context.Context, req customresource.Request) (customresource.Result, error) {
	cfg, err := ParseConfig(req.Properties, ParseOptions{DefaultRegion: s.Region, AllowLoopbackHTTP: s.AllowLoopbackHTTP})
	if err != nil {
		s.Logger.WarnContext(ctx, "deleting without telling the vendor: the properties are not usable", "error", err)
		return customresource.Result{}, nil
	}
	secret, err := s.readSecret(ctx, cfg.SecretARN)
	if err != nil {
		s.Logger.WarnContext(ctx, "deleting without telling the vendor: the callback secret is not readable", "error", err)
		return customresource.Result{}, nil
	}
	account := accountOfARN(req.StackID)
	accounts := []callback.Account{{AccountID: account, RoleARN: cfg.ManagementRoleARN, Status: callback.StatusVerified}}
	if cfg.DeployToOrg && cfg.StackSet != "" {
		instances, err := discovery.Instances(ctx, s.Stacks, stackSetName(cfg.StackSet), cftypes.CallAs(cfg.CallAs))
		if err != nil {
			s.Logger.WarnContext(ctx, "the deletion callback lists the management role only: the StackSet's instances are not listable", "error", err)
		}
		partition := partitionOf(cfg.ManagementRoleARN)
		for _, in := range discovery.ByAccount(instances) {
			if in.AccountID != account {
				accounts = append(accounts, callback.Account{AccountID: in.AccountID, RoleARN: discovery.MemberRoleARN(partition, in.AccountID, cfg.RoleName), Status: callback.StatusVerified})
			}
		}
	}
	// The accounts' statuses are those of the last verification; on
	// deletion the vendor needs the ARNs, which stop working next.
	payload := s.payload(callback.EventOnboardingDeleted, req.StackID, req.RequestID, s.organizationID(ctx, cfg.DeployToOrg), account, cfg, accounts)
	payload.Notes = append(payload.Notes, "The onboarding stack is being deleted: the roles are removed next. Pause ingestion for this organization.")
	customresource.SetPhase(ctx, "telling the vendor the onboarding is deleted")
	status := s.deliver(ctx, cfg, secret, payload)
	s.Logger.InfoContext(ctx, "deletion callback", "callbackStatus", status)
	return customresource.Result{Data: map[string]any{params.DataCallbackStatus: status}}, nil
}

func (s *Service) payload(event callback.Event, stackID, requestID, orgID, account string, cfg Config, accounts []callback.Account) callback.Payload {
	now := s.Now()
	arns := make([]string, len(accounts))
	for i, a := range accounts {
		arns[i] = a.RoleARN
	}
	return callback.Payload{
		Event:               event,
		ID:                  callback.EventID(event, stackID, requestID, arns),
		OccurredAt:          now,
		OrganizationID:      orgID,
		ManagementAccountID: account,
		StackID:             stackID,
		Region:              regionOfARN(stackID),
		Accounts:            accounts,
		CUR:                 callback.CUR{Bucket: cfg.CURBucket, Prefix: cfg.CURPrefix},
		InventoryRegions:    cfg.Regions,
		PermissionSet:       callback.PermissionSet{Version: cfg.PermissionSetVersion, Digest: cfg.PermissionSetDigest},
	}
}

// deliver sends the callback and returns what the CallbackStatus output
// says about it. A failed delivery is reported, not fatal: the roles exist
// and work, and the customer can see the status.
func (s *Service) deliver(ctx context.Context, cfg Config, secret string, p callback.Payload) string {
	sender, err := s.NewSender(secret, cfg.CallbackAudience)
	if err != nil {
		return "not sent: " + err.Error()
	}
	host := cfg.CallbackURL
	if u, err := url.Parse(cfg.CallbackURL); err == nil {
		host = u.Host
	}
	res, err := sender.Deliver(ctx, cfg.CallbackURL, p)
	if err != nil {
		return clip(fmt.Sprintf("not delivered to %s after %d attempts: %v; the vendor has not been told, contact them", host, res.Attempts, err), 250)
	}
	return fmt.Sprintf("delivered to %s (%s, %d attempt%s, HTTP %d)", host, p.Event, res.Attempts, plural(res.Attempts), res.StatusCode)
}

// readSecret returns the callback signing secret from the onboarding's
// secret.
func (s *Service) readSecret(ctx context.Context, arn string) (string, error) {
	out, err := s.Secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return "", customresource.Failf("read the onboarding secret %s: %v", arn, err)
	}
	var sec params.Secret
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &sec); err != nil || sec.CallbackSecret == "" {
		return "", customresource.Failf("the onboarding secret %s does not hold a callbackSecret: recreate the stack with the CallbackSecret your vendor issued", arn)
	}
	return sec.CallbackSecret, nil
}

func (s *Service) organizationID(ctx context.Context, deployToOrg bool) string {
	if !deployToOrg {
		return ""
	}
	out, err := s.Org.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
	if err != nil || out.Organization == nil {
		s.Logger.WarnContext(ctx, "the callback goes without the organization id", "error", err)
		return ""
	}
	return aws.ToString(out.Organization.Id)
}

// rollingBack reports whether the stack is rolling back an update, when a
// failed answer would leave it in UPDATE_ROLLBACK_FAILED.
func (s *Service) rollingBack(ctx context.Context, stackID string) bool {
	out, err := s.Stacks.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(stackID)})
	if err != nil || len(out.Stacks) == 0 {
		return false
	}
	return strings.HasSuffix(string(out.Stacks[0].StackStatus), "ROLLBACK_IN_PROGRESS")
}

// verificationStatus is the VerificationStatus output: one line a customer
// reads in the console.
func verificationStatus(o *outcome) string {
	s := o.summary
	if s.Accounts == s.Verified {
		return fmt.Sprintf("verified: all %d accounts", s.Accounts)
	}
	head := fmt.Sprintf("gaps: %d of %d accounts verified", s.Verified, s.Accounts)
	if s.Findings > 0 {
		head = fmt.Sprintf("finding: %d of %d accounts can write", s.Findings, s.Accounts)
	}
	return clip(head+"; "+joinLimited(o.gaps, 3)+"; run the verify tool for details", 250)
}

func joinLimited(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, "; ")
	}
	return strings.Join(items[:n], "; ") + fmt.Sprintf("; and %d more", len(items)-n)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// stackSetName turns "name:uuid" (a StackSetId) into the name the APIs take
// (they take either).
func stackSetName(idOrName string) string {
	name, _, _ := strings.Cut(idOrName, ":")
	return name
}

func partitionOf(arn string) string {
	parts := strings.SplitN(arn, ":", 3)
	if len(parts) < 2 || parts[1] == "" {
		return "aws"
	}
	return parts[1]
}

func regionOfARN(arn string) string {
	parts := strings.SplitN(arn, ":", 5)
	if len(parts) < 4 {
		return ""
	}
	return parts[3]
}
