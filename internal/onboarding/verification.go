package onboarding

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/rolecall/rolecall/callback"
	"github.com/rolecall/rolecall/internal/customresource"
	"github.com/rolecall/rolecall/internal/discovery"
	"github.com/rolecall/rolecall/internal/params"
	"github.com/rolecall/rolecall/internal/state"
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
	DescribeStackResource(context.Context, *cloudformation.DescribeStackResourceInput, ...func(*cloudformation.Options)) (*cloudformation.DescribeStackResourceOutput, error)
}

// secretsAPI is the part of *secretsmanager.Client the onboarding uses.
type secretsAPI interface {
	GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// stateAPI is the part of *state.Store the onboarding uses.
type stateAPI interface {
	Save(ctx context.Context, records []state.Record) (int, error)
	All(ctx context.Context) (map[string]state.Record, error)
	Forget(ctx context.Context, accountIDs ...string) error
}

// deliverer delivers one callback; callback.Sender is one.
type deliverer interface {
	Deliver(ctx context.Context, rawURL string, p callback.Payload) (callback.Result, error)
}

// SenderFactory builds a deliverer for the signing secret an onboarding's
// vendor issued and the vendor's audience.
type SenderFactory func(secret, audience string) (deliverer, error)

// DefaultCallbackBudget is the time kept back from verification for
// saving the state, delivering the callback and answering CloudFormation.
const DefaultCallbackBudget = 45 * time.Second

// verification serves the RoleVerification resource.
func (s *Service) verification(ctx context.Context, req customresource.Request) (customresource.Result, error) {
	if req.RequestType == cfn.RequestDelete {
		return s.deleted(ctx, req)
	}
	cfg, err := ParseConfig(req.Properties, s.Settings, ParseOptions{DefaultRegion: s.Region})
	if err != nil {
		return customresource.Result{}, customresource.Fail(err)
	}
	event := callback.EventOnboardingCreated
	rotated := false
	if req.RequestType == cfn.RequestUpdate {
		event = callback.EventOnboardingUpdated
		if old, err := ParseConfig(req.OldProperties, s.Settings, ParseOptions{DefaultRegion: s.Region}); err == nil {
			rotated = old.ExternalID != cfg.ExternalID && cfg.PreviousExternalID == old.ExternalID
		}
	}
	secret, err := s.readSecret(ctx, cfg.SecretARN)
	if err != nil {
		return customresource.Result{}, err
	}
	account := accountOfARN(req.StackID)
	org := s.organizationOf(ctx)

	out, err := s.verifyAll(ctx, cfg, account, verifyOpts{})
	if err != nil {
		return customresource.Result{}, err
	}
	stateStatus := s.saveState(ctx, out)

	rollingBack := out.failed() && req.RequestType == cfn.RequestUpdate && s.rollingBack(ctx, req.StackID)
	if out.failed() && !rollingBack {
		// The stack fails: the onboarding is not (or no longer) what
		// these settings say. The vendor hears every finding all the same.
		event = callback.EventVerificationFailed
	}
	payload := s.payload(event, req.StackID, req.RequestID, org, account, cfg, out.accounts)
	payload.UnprocessedEvents = s.unprocessedEvents(ctx)
	if n := payload.UnprocessedEvents; n != nil && *n > 0 {
		payload.Notes = append(payload.Notes, fmt.Sprintf("%d StackSet instance events wait in the stack's dead-letter queue (output %s): the function could not process them; this verification covered every account all the same.", *n, "UnprocessedEventsQueue"))
	}
	payload.ExternalIDRotated = rotated && !out.failed()
	if payload.ExternalIDRotated {
		payload.Notes = append(payload.Notes, "The external ID was rotated: every role was verified with the new value; the previous one is still accepted until PreviousExternalId is cleared.")
	}
	if len(out.findings) > 0 {
		payload.Notes = append(payload.Notes, "Security finding: a role can change something; the stack operation failed and the customer was told why.")
	}
	if len(out.unverifiable) > 0 {
		payload.Notes = append(payload.Notes, "Unverifiable: the write safety of some roles could not be established; the stack operation failed and the customer was told why.")
	}
	customresource.SetPhase(ctx, "delivering the callback")
	vendor := s.deliver(ctx, cfg, secret, req.RequestID, payload)
	s.emit(ctx, callback.CountsOf(out.accounts), vendor.Pending)

	if out.failed() {
		if rollingBack {
			s.Logger.WarnContext(ctx, "a finding or an unverifiable account during a rollback; answering SUCCESS so the rollback completes",
				"findings", len(out.findings), "unverifiable", len(out.unverifiable))
		} else {
			// The Reason is cut at about 256 characters: what the vendor
			// was told comes first, in a few words.
			return customresource.Result{}, customresource.Failf("%s; %s", vendor.short(), out.reason())
		}
	}
	data := map[string]any{
		params.DataRoleARN:            cmp.Or(cfg.ManagementRoleARN, "none"),
		params.DataAccountCount:       fmt.Sprint(out.summary.Accounts),
		params.DataVerifiedCount:      fmt.Sprint(out.summary.Verified),
		params.DataVerificationStatus: verificationStatus(out),
		params.DataCallbackStatus:     vendor.Status,
	}
	if stateStatus != "" {
		data[params.DataStateStatus] = stateStatus
	}
	if n := payload.UnprocessedEvents; n != nil {
		data[params.DataUnprocessedEvents] = fmt.Sprint(*n)
	}
	return customresource.Result{Data: data}, nil
}

// saveState records each account's verification; a failure is logged and
// returned for the response, never fatal: the roles are verified either
// way, only a later deletion would report older statuses.
func (s *Service) saveState(ctx context.Context, out *outcome) string {
	if s.State == nil {
		return "no state table"
	}
	customresource.SetPhase(ctx, "recording the verification in the state table")
	n, err := s.State.Save(ctx, out.records())
	if err != nil {
		s.Logger.ErrorContext(ctx, "verification not fully recorded", "error", err)
		return clip("not recorded: "+err.Error(), 250)
	}
	s.Logger.InfoContext(ctx, "verification recorded", "records", n)
	return ""
}

// verifyOpts adjust verifyAll for the scheduled re-verification.
type verifyOpts struct {
	// freeMembers proves the member roles' paid probes from their
	// policies instead of calling them.
	freeMembers bool
	// lastVerified, when set, orders the member roles by when each was
	// last verified, oldest (and never) first: a run the deadline cuts
	// short leaves the most recently verified accounts for the next.
	lastVerified map[string]time.Time
	// secondLook, when set, says which accounts to verify once more
	// before their result stands (a change from the record): the second
	// result replaces the first, so a throttled or failed call does not
	// become news.
	secondLook func(callback.Account) bool
}

// verifyAll discovers the onboarding's roles (the management role and one
// per StackSet instance) and verifies them, keeping back time for the
// callback. Accounts the deadline kept from being verified are reported
// (unreachable) and listed in the outcome's notReached.
func (s *Service) verifyAll(ctx context.Context, cfg Config, account string, vo verifyOpts) (*outcome, error) {
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
	partition := partitionOf(s.Settings.StackID)
	management := account
	if cfg.CallAs == "DELEGATED_ADMIN" {
		// This stack runs in a delegated administrator account; the
		// management account's role, if its own stack created it, is
		// verified too (it must list this function's role among its
		// verifiers).
		org, err := s.organization(ctx)
		if err != nil {
			return nil, err
		}
		management = org.management
	}
	holder := cfg.CURHolder(management)
	out := &outcome{verifiedAt: s.Now()}
	var roles []verify.Role
	roles = append(roles, s.role(cfg, management, cfg.RoleARN(partition, management), true, holder))
	for _, in := range instances {
		arn := cfg.RoleARN(partition, in.AccountID)
		if in.AccountID == management {
			continue // a service-managed StackSet never deploys there
		}
		if p := in.Problem(); p != "" {
			r := verify.Unverified(in.AccountID, arn, verify.Diagnosis{Code: verify.DiagnosisStackInstanceFailed, Message: p})
			out.add(r)
			out.summary.Add(r)
			continue
		}
		r := s.role(cfg, in.AccountID, arn, false, holder)
		r.NoPaidProbes = vo.freeMembers
		roles = append(roles, r)
	}
	if vo.lastVerified != nil {
		slices.SortStableFunc(roles[1:], func(a, b verify.Role) int {
			return vo.lastVerified[a.AccountID].Compare(vo.lastVerified[b.AccountID])
		})
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
		if cfg.CallAs == "DELEGATED_ADMIN" && r.AccountID == management {
			r = notCovered(r)
		}
		if vctx.Err() != nil && r.Status != verify.StatusVerified {
			out.notReached = append(out.notReached, r.AccountID)
		}
		out.add(r)
		done++
		customresource.SetPhase(ctx, fmt.Sprintf("verifying: %d of %d accounts done", done, total))
	})
	out.summary.Accounts += sum.Accounts
	out.summary.Verified += sum.Verified
	out.summary.Gaps += sum.Gaps
	out.summary.Unreachable += sum.Unreachable
	out.summary.Unverifiable += sum.Unverifiable
	out.summary.Findings += sum.Findings
	out.summary.Duration = sum.Duration
	out.summary.Calls, out.summary.PaidCalls = sum.Calls, sum.PaidCalls
	if vo.secondLook != nil && vctx.Err() == nil {
		s.lookAgain(vctx, out, roles, vo.secondLook, func(r verify.Report) verify.Report {
			if cfg.CallAs == "DELEGATED_ADMIN" && r.AccountID == management {
				return notCovered(r)
			}
			return r
		})
	}
	slices.SortFunc(out.accounts, func(a, b callback.Account) int { return strings.Compare(a.AccountID, b.AccountID) })
	return out, nil
}

// lookAgain verifies once more the roles of the accounts which says to,
// and replaces their entries with the second result, unless the deadline
// came first (then the first stands).
func (s *Service) lookAgain(ctx context.Context, out *outcome, roles []verify.Role, which func(callback.Account) bool, adjust func(verify.Report) verify.Report) {
	first := make(map[string]callback.Account, len(out.accounts))
	for _, a := range out.accounts {
		first[a.AccountID] = a
	}
	var again []verify.Role
	for _, r := range roles {
		if a, ok := first[r.AccountID]; ok && !slices.Contains(out.notReached, r.AccountID) && which(a) {
			again = append(again, r)
		}
	}
	if len(again) == 0 {
		return
	}
	customresource.SetPhase(ctx, fmt.Sprintf("verifying %d changed accounts once more", len(again)))
	second := map[string]callback.Account{}
	sum := s.Verifier.VerifyAll(ctx, slices.Values(again), func(r verify.Report) {
		if ctx.Err() == nil || r.Status == verify.StatusVerified {
			second[r.AccountID] = account(adjust(r))
		}
	})
	for i, a := range out.accounts {
		if b, ok := second[a.AccountID]; ok {
			out.accounts[i] = b
		}
	}
	out.secondLooks = len(again)
	out.summary.Calls += sum.Calls
	out.summary.PaidCalls += sum.PaidCalls
}

// role is one role to verify: the CUR settings go to the management
// account's role (which checks what delivers the reports) and to the role
// of the account that owns the bucket (which reads them).
func (s *Service) role(cfg Config, account, arn string, management bool, curHolder string) verify.Role {
	r := verify.Role{
		AccountID:  account,
		RoleARN:    arn,
		ExternalID: cfg.ExternalID,
		Management: management,
		Bedrock:    cfg.Bedrock,
		LogGroups:  cfg.LogGroups,
		Regions:    cfg.Regions,
		Expect:     &verify.Settings{Boundary: cfg.Boundary, Tags: cfg.Tags},
	}
	if management || account == curHolder {
		r.CURBucket, r.CURPrefix, r.CURAccountID = cfg.CURBucket, cfg.CURPrefix, curHolder
		r.CURRegion, r.CURKMSKey = cfg.CURRegion, cfg.CURKMSKey
	}
	return r
}

// notCovered explains, in a delegated administrator's stack, a
// management account whose role could not be assumed: its own stack has
// not been deployed yet, or does not list this function's role.
func notCovered(r verify.Report) verify.Report {
	if r.Status != verify.StatusUnreachable || r.HasDiagnosis(verify.DiagnosisInvalidRole) {
		return r
	}
	r.Diagnoses = []verify.Diagnosis{{Code: verify.DiagnosisManagementNotCovered, Message: fmt.Sprintf(
		"The management account %s is not covered yet: this stack runs in a delegated administrator account, and a service-managed StackSet never deploys to the management account. Deploy this template there too, with StackSetCallAs SELF, DeployToOrganization false and the same ExternalId, and list this stack's VerifierRoleArn output in its AdditionalVerifierPrincipalArns; then update this stack to verify again.",
		r.AccountID)}}
	return r
}

func (s *Service) payload(event callback.Event, stackID, requestID string, org orgFacts, account string, cfg Config, accounts []callback.Account) callback.Payload {
	now := s.Now()
	arns := make([]string, len(accounts))
	for i, a := range accounts {
		arns[i] = a.RoleARN
	}
	return callback.Payload{
		Event:                           event,
		ID:                              callback.EventID(event, stackID, requestID, arns),
		OccurredAt:                      now,
		OrganizationID:                  org.id,
		ManagementAccountID:             account,
		OrganizationManagementAccountID: org.management,
		CallAs:                          cfg.CallAs,
		StackID:                         stackID,
		Region:                          regionOfARN(stackID),
		Accounts:                        accounts,
		CUR:                             callback.CUR{Bucket: cfg.CURBucket, Prefix: cfg.CURPrefix, AccountID: cfg.CURAccount, Region: cfg.CURRegion, KMSKeyARN: cfg.CURKMSKey},
		InventoryRegions:                cfg.Regions,
		PermissionSet:                   callback.PermissionSet{Version: cfg.PermissionSetVersion, Digest: cfg.PermissionSetDigest},
	}
}

// told is what deliver did: the line the CallbackStatus output shows, and
// whether (and with which event) the vendor heard.
type told struct {
	Status    string
	Delivered bool
	Event     callback.Event
	// Minimal is true when the full report failed validation and a
	// minimal verification.failed went instead.
	Minimal bool
	// Kept is true when the callback was not delivered but waits in the
	// outbox, which every later run sends first.
	Kept bool
	// Pending counts the callbacks still in the outbox afterwards.
	Pending int
}

// short says in a few words what the vendor was told, for a Reason that
// CloudFormation cuts at about 256 characters.
func (t told) short() string {
	switch {
	case !t.Delivered && t.Kept:
		return "vendor not told yet (" + string(t.Event) + " kept in the outbox)"
	case !t.Delivered:
		return "vendor NOT told (" + clip(t.Status, 60) + ")"
	case t.Minimal:
		return "vendor told " + string(t.Event) + " (minimal report)"
	}
	return "vendor told " + string(t.Event)
}

// deliver sends the callback and says what the vendor was told. A payload
// that fails validation is never dropped: a minimal verification.failed
// naming the accounts and their statuses goes instead. With the state
// table's outbox (s.Ledger), the callback is kept first and sent after any
// older callbacks still waiting there, oldest first, so the vendor hears
// them in order and a callback the vendor does not take now is re-sent by
// the next run. A failed delivery is reported, not fatal: the roles exist
// and work, and the customer can see the status.
func (s *Service) deliver(ctx context.Context, cfg Config, secret, requestID string, p callback.Payload) told {
	return s.send(ctx, cfg, secret, requestID, p, s.Ledger != nil)
}

// deliverLast is deliver for the stack's deletion: what waits in the
// outbox goes first, then the deletion's callback directly, since the
// state table (and its outbox) is deleted with the stack.
func (s *Service) deliverLast(ctx context.Context, cfg Config, secret, requestID string, p callback.Payload) told {
	if s.Ledger != nil {
		if f := s.flush(ctx, cfg, secret); f.pending > 0 {
			s.Logger.WarnContext(ctx, "callbacks still in the outbox are deleted with the stack", "pending", f.pending, "status", f.status)
		}
	}
	return s.send(ctx, cfg, secret, requestID, p, false)
}

// send delivers p, through the outbox if keep.
func (s *Service) send(ctx context.Context, cfg Config, secret, requestID string, p callback.Payload, keep bool) told {
	host := cfg.CallbackURL
	if u, err := url.Parse(cfg.CallbackURL); err == nil {
		host = u.Host
	}
	prefix, minimalSent := "", false
	if err := p.Validate(); errors.Is(err, callback.ErrInvalidPayload) {
		s.Logger.ErrorContext(ctx, "the full report failed validation; sending the minimal one", "event", string(p.Event), "error", err)
		prefix = fmt.Sprintf("the full %s report failed validation, so ", p.Event)
		p = minimal(p, requestID, err)
		minimalSent = true
	}
	if keep {
		if err := s.keep(ctx, s.Now(), p); err != nil {
			s.Logger.ErrorContext(ctx, "the callback could not be kept in the outbox; sending it directly", "event", string(p.Event), "error", err)
		} else {
			f := s.flush(ctx, cfg, secret)
			if res, ok := f.sent[p.ID]; ok {
				earlier := ""
				if f.delivered > 1 {
					earlier = fmt.Sprintf(", after %d earlier callback%s from the outbox", f.delivered-1, plural(f.delivered-1))
				}
				return told{
					Status:    clip(fmt.Sprintf("%stold %s at %s (%d attempt%s, HTTP %d%s)", prefix, p.Event, host, res.Attempts, plural(res.Attempts), res.StatusCode, earlier), 250),
					Delivered: true, Event: p.Event, Minimal: minimalSent, Pending: f.pending,
				}
			}
			return told{Status: clip(fmt.Sprintf("%snot told yet: %s kept in the outbox, %d callback%s waiting (%s); the next run sends them", prefix, p.Event, f.pending, plural(f.pending), f.status), 250),
				Event: p.Event, Minimal: minimalSent, Kept: true, Pending: f.pending}
		}
	}
	sender, err := s.NewSender(secret, cfg.CallbackAudience)
	if err != nil {
		return told{Status: "not told: " + err.Error(), Event: p.Event}
	}
	res, err := sender.Deliver(ctx, cfg.CallbackURL, p)
	if err != nil {
		return told{Status: clip(fmt.Sprintf("%snot told: %s not delivered to %s after %d attempts: %v; contact your vendor", prefix, p.Event, host, res.Attempts, err), 250), Event: p.Event, Minimal: minimalSent}
	}
	return told{
		Status:    fmt.Sprintf("%stold %s at %s (%d attempt%s, HTTP %d)", prefix, p.Event, host, res.Attempts, plural(res.Attempts), res.StatusCode),
		Delivered: true, Event: p.Event, Minimal: minimalSent,
	}
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

// organizationOf returns the organization the stack's account is in, also
// for a stack of one account (the management account's own stack beside a
// delegated administrator's reports under the same organization), or
// nothing outside an organization.
func (s *Service) organizationOf(ctx context.Context) orgFacts {
	if s.Org == nil {
		return orgFacts{}
	}
	out, err := s.Org.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
	if code(err) == "AWSOrganizationsNotInUseException" {
		return orgFacts{}
	}
	if err != nil || out.Organization == nil {
		s.Logger.WarnContext(ctx, "the callback goes without the organization id", "error", err)
		return orgFacts{}
	}
	return orgFacts{id: aws.ToString(out.Organization.Id), management: aws.ToString(out.Organization.MasterAccountId)}
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
// queueAPI is the part of *sqs.Client the onboarding uses.
type queueAPI interface {
	GetQueueAttributes(context.Context, *sqs.GetQueueAttributesInput, ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// unprocessedEvents counts the instance events in the dead-letter queue,
// or returns nil when there is no queue or it cannot be counted (logged).
func (s *Service) unprocessedEvents(ctx context.Context) *int {
	url := s.Settings.DeadLetterQueueURL
	if url == "" || s.Queue == nil {
		return nil
	}
	out, err := s.Queue.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible},
	})
	if err != nil {
		s.Logger.WarnContext(ctx, "the dead-letter queue could not be counted", "queue", url, "error", err)
		return nil
	}
	n := 0
	for _, k := range []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible} {
		v, err := strconv.Atoi(out.Attributes[string(k)])
		if err != nil {
			s.Logger.WarnContext(ctx, "the dead-letter queue answered no count", "attribute", string(k), "value", out.Attributes[string(k)])
			return nil
		}
		n += v
	}
	return &n
}

func verificationStatus(o *outcome) string {
	s := o.summary
	if s.Accounts == s.Verified {
		return fmt.Sprintf("verified: all %d accounts", s.Accounts)
	}
	head := fmt.Sprintf("gaps: %d of %d accounts verified", s.Verified, s.Accounts)
	switch {
	case s.Findings > 0:
		head = fmt.Sprintf("finding: %d of %d accounts can write", s.Findings, s.Accounts)
	case s.Unverifiable > 0:
		head = fmt.Sprintf("unverifiable: %d of %d accounts could not be proven read-only", s.Unverifiable, s.Accounts)
	}
	details := append(slices.Clone(o.findings), o.unverifiable...)
	details = append(details, o.gaps...)
	return clip(head+"; "+joinLimited(details, 3)+"; run the verify tool for details", 250)
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
