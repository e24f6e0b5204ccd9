package callback

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Version is the payload version this package sends. Receivers accept any
// 1.x: a minor version only adds properties, events and statuses.
//
// 1.1 adds the unverifiable status, each account's structured findings
// and unproven checks, and the verification.failed event. 1.2 adds call_as
// and organization_management_account_id (a delegated administrator's
// stack runs outside the management account), the CUR bucket's account,
// region and KMS key, and unprocessed_events. 1.3 adds the scheduled
// re-verification's events (verification.drifted, verification.restored,
// heartbeat), each account's previous_status, the counts of a run, and
// the events waiting in the stack's outbox.
const Version = "1.3"

// Event says what happened to an onboarding.
type Event string

// The events a callback reports.
const (
	// EventOnboardingCreated means the stack was created; Accounts is the whole set.
	EventOnboardingCreated Event = "onboarding.created"
	// EventOnboardingUpdated means the stack was updated; Accounts is the whole set.
	EventOnboardingUpdated Event = "onboarding.updated"
	// EventOnboardingDeleted means the stack is being deleted; the roles go next.
	EventOnboardingDeleted Event = "onboarding.deleted"
	// EventAccountAdded means StackSet instances appeared; Accounts lists them.
	EventAccountAdded Event = "account.added"
	// EventAccountRemoved means StackSet instances went away; Accounts lists them.
	EventAccountRemoved Event = "account.removed"
	// EventVerificationFailed means a stack operation failed because of
	// what the verification found (a finding, an unverifiable account):
	// Accounts is the whole set with their statuses, and the onboarding is
	// not (or no longer) what the stack's new settings say. It is also the
	// minimal report sent when a full report could not be validated.
	EventVerificationFailed Event = "verification.failed"
	// EventVerificationDrifted means a scheduled re-verification found
	// accounts whose status changed away from what was last reported
	// (1.3): Accounts lists them with the evidence and PreviousStatus.
	EventVerificationDrifted Event = "verification.drifted"
	// EventVerificationRestored means accounts reported drifted are
	// verified again (1.3): Accounts lists them.
	EventVerificationRestored Event = "verification.restored"
	// EventHeartbeat is the daily digest of the scheduled re-verification
	// (1.3): Counts says how many accounts are in each status; Accounts is
	// empty. It tells the vendor the stack is alive.
	EventHeartbeat Event = "heartbeat"
)

// Events returns every event, in a stable order.
func Events() []Event {
	return []Event{EventOnboardingCreated, EventOnboardingUpdated, EventOnboardingDeleted, EventAccountAdded, EventAccountRemoved, EventVerificationFailed,
		EventVerificationDrifted, EventVerificationRestored, EventHeartbeat}
}

// Counts is how many accounts a verification found in each status.
type Counts struct {
	Accounts     int `json:"accounts"`
	Verified     int `json:"verified"`
	Gaps         int `json:"gaps"`
	Finding      int `json:"finding"`
	Unverifiable int `json:"unverifiable"`
	Unreachable  int `json:"unreachable"`
}

// CountsOf tallies accounts by status.
func CountsOf(accounts []Account) Counts {
	var c Counts
	for _, a := range accounts {
		c.Add(a.Status)
	}
	return c
}

// Merge adds the counts of o, another set of accounts.
func (c *Counts) Merge(o Counts) {
	c.Accounts += o.Accounts
	c.Verified += o.Verified
	c.Gaps += o.Gaps
	c.Finding += o.Finding
	c.Unverifiable += o.Unverifiable
	c.Unreachable += o.Unreachable
}

// Add counts one account of status st.
func (c *Counts) Add(st Status) {
	c.Accounts++
	switch st {
	case StatusVerified:
		c.Verified++
	case StatusGaps:
		c.Gaps++
	case StatusFinding:
		c.Finding++
	case StatusUnverifiable:
		c.Unverifiable++
	case StatusUnreachable:
		c.Unreachable++
	}
}

// Status is the verification result of one account.
type Status string

// Account statuses.
const (
	// StatusVerified means the role was assumed, every probe passed, no write is possible.
	StatusVerified Status = "verified"
	// StatusGaps means the role works but some probes were denied.
	StatusGaps Status = "gaps"
	// StatusFinding means a write was found possible: a security finding.
	StatusFinding Status = "finding"
	// StatusUnreachable means the role could not be assumed.
	StatusUnreachable Status = "unreachable"
	// StatusUnverifiable means the role was assumed but its write safety
	// could not be established; Unproven says why.
	StatusUnverifiable Status = "unverifiable"
)

// Outcome is the result of a probe that did not pass.
type Outcome string

// Probe outcomes reported in a payload. Passing probes (ok, not_found) are
// not reported.
const (
	OutcomeDenied       Outcome = "denied"
	OutcomeWriteAllowed Outcome = "write_allowed"
	OutcomeError        Outcome = "error"
)

// Payload is the JSON body of a callback. The verification engine's report
// is mapped into Accounts by the caller; this package does not know it.
type Payload struct {
	Version        string    `json:"version"`
	Event          Event     `json:"event"`
	ID             string    `json:"id"`
	OccurredAt     time.Time `json:"occurred_at"`
	SentAt         time.Time `json:"sent_at"`
	OrganizationID string    `json:"organization_id,omitempty"`
	// ManagementAccountID is the account the stack runs in: the
	// management account, or with CallAs DELEGATED_ADMIN a delegated
	// administrator account (the name predates 1.2).
	ManagementAccountID string `json:"management_account_id"`
	// OrganizationManagementAccountID is the organization's management
	// account (1.2); empty for a stack of one account outside an
	// organization.
	OrganizationManagementAccountID string `json:"organization_management_account_id,omitempty"`
	// CallAs is how the stack runs the StackSet: SELF or DELEGATED_ADMIN
	// (1.2).
	CallAs            string        `json:"call_as,omitempty"`
	StackID           string        `json:"stack_id"`
	Region            string        `json:"region"`
	Accounts          []Account     `json:"accounts"`
	CUR               CUR           `json:"cur"`
	InventoryRegions  []string      `json:"inventory_regions"`
	PermissionSet     PermissionSet `json:"permission_set"`
	ExternalIDRotated bool          `json:"external_id_rotated"`
	Notes             []string      `json:"notes"`
	// UnprocessedEvents counts the instance events in the stack's
	// dead-letter queue (1.2); nil when there is no queue or it could not
	// be counted.
	UnprocessedEvents *int `json:"unprocessed_events,omitempty"`
	// Counts is the whole verification's tally (1.3): set on the
	// scheduled re-verification's events.
	Counts *Counts `json:"counts,omitempty"`
	// PendingEvents counts the callbacks kept in the stack's outbox, not
	// yet delivered, when this one was sent (1.3); DroppedEvents those the
	// outbox gave up on since the last delivered callback (its bounds of
	// number and age). Absent when not known.
	PendingEvents *int `json:"pending_events,omitempty"`
	DroppedEvents *int `json:"dropped_events,omitempty"`
}

// Account is one account's role and verification result.
type Account struct {
	AccountID string      `json:"account_id"`
	RoleARN   string      `json:"role_arn"`
	Status    Status      `json:"status"`
	Diagnoses []Diagnosis `json:"diagnoses"`
	// FailedProbes lists the probes that were denied, found a write
	// possible or failed; passing probes are left out.
	FailedProbes []Probe `json:"failed_probes"`
	// Findings are the evidence that the role may do what a read-only role
	// never may, at most MaxFindings; FindingsTotal counts them all.
	Findings      []Finding `json:"findings"`
	FindingsTotal int       `json:"findings_total"`
	// Unproven lists what kept write safety from being established.
	Unproven []Unproven `json:"unproven"`
	// PreviousStatus is the status last reported for the account, on
	// verification.drifted and verification.restored (1.3).
	PreviousStatus Status `json:"previous_status,omitempty"`
}

// Limits of an account's lists and of the strings in a finding, as the
// schema states them. Package onboarding clips to them.
const (
	MaxFindings       = 100
	MaxUnproven       = 100
	MaxFindingList    = 50   // patterns, resources, examples
	MaxFindingString  = 1024 // action, pattern, resource, policy, source
	MaxFindingDetail  = 2000
	MaxUnprovenString = 1000
)

// Finding is one piece of evidence of write access, exactly as the role's
// policy writes it (or as IAM's simulator answered).
type Finding struct {
	// Kind is a stable code, such as "all_actions", "wildcard_action",
	// "not_action", "write_action" or "simulator_allows".
	Kind string `json:"kind"`
	// Source says where: "inline policy NAME", "attached policy ARN" or
	// "iam:SimulatePrincipalPolicy".
	Source string `json:"source"`
	// PolicyType is "inline", "managed" or "simulation"; Policy the inline
	// policy's name or the managed policy's ARN.
	PolicyType string `json:"policy_type"`
	Policy     string `json:"policy,omitempty"`
	// Statement is the Sid or "#N"; StatementIndex its 1-based position.
	Statement      string `json:"statement,omitempty"`
	StatementIndex int    `json:"statement_index,omitempty"`
	Effect         string `json:"effect,omitempty"`
	// Action is the action or pattern as written ("*", "s3:Put*");
	// empty for a NotAction statement, whose Patterns are listed.
	Action    string   `json:"action,omitempty"`
	NotAction bool     `json:"not_action"`
	Patterns  []string `json:"patterns,omitempty"`
	Resources []string `json:"resources,omitempty"`
	// WriteActions counts the write actions of the pinned dataset the
	// grant covers; Examples names a few.
	WriteActions int      `json:"write_actions,omitempty"`
	Examples     []string `json:"examples,omitempty"`
	Detail       string   `json:"detail"`
}

// Unproven is one part of the write-safety proof that could not be made.
type Unproven struct {
	Check   string `json:"check"`
	Target  string `json:"target"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message"`
}

// Diagnosis is a known misconfiguration in plain language.
type Diagnosis struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Probe is a failed probe in short form.
type Probe struct {
	Action  string  `json:"action"`
	Region  string  `json:"region,omitempty"`
	Outcome Outcome `json:"outcome"`
}

// CUR says where the Cost and Usage Reports are.
type CUR struct {
	Bucket string `json:"bucket"`
	Prefix string `json:"prefix"`
	// AccountID owns the bucket; empty means the management account (1.2).
	AccountID string `json:"account_id,omitempty"`
	// Region is the bucket's region, when known (1.2).
	Region string `json:"region,omitempty"`
	// KMSKeyARN is the key of SSE-KMS report files (1.2).
	KMSKeyARN string `json:"kms_key_arn,omitempty"`
}

// PermissionSet names what the roles grant (permissions.Version and
// permissions.Digest).
type PermissionSet struct {
	Version string `json:"version"`
	Digest  string `json:"digest"`
}

// EventID returns the ID of one logical event: the same for every delivery
// and every retry of it, different for another event, request or set of
// roles. requestID is the CloudFormation RequestId or the EventBridge event
// id. The order and repetition of roleARNs do not matter.
func EventID(event Event, stackID, requestID string, roleARNs []string) string {
	roles := slices.Compact(slices.Sorted(slices.Values(roleARNs)))
	h := sha256.New()
	// Length-prefixed fields, so no two inputs hash alike.
	field := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	field("rolecall callback event id v1")
	field(string(event))
	field(stackID)
	field(requestID)
	for _, r := range roles {
		field(r)
	}
	return "evt_" + hex.EncodeToString(h.Sum(nil)[:16])
}

// RoleARNs returns the role ARNs of p's accounts, in payload order.
func (p *Payload) RoleARNs() []string {
	arns := make([]string, len(p.Accounts))
	for i, a := range p.Accounts {
		arns[i] = a.RoleARN
	}
	return arns
}

// Marshal returns p as sent: with Version set if it was empty, every list
// present (never null), and checked by Validate.
func (p Payload) Marshal() ([]byte, error) {
	p.normalize()
	body, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("marshal payload: %w", err)
	}
	if err := validateBody(body, &p); err != nil {
		return nil, err
	}
	return body, nil
}

// Validate checks p against the JSON Schema and the rules a schema cannot
// express: unique account IDs, each role ARN in its entry's account, and the
// stack in the management account and region. Errors wrap ErrInvalidPayload.
func (p Payload) Validate() error {
	p.normalize()
	body, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidPayload, err)
	}
	return validateBody(body, &p)
}

func (p *Payload) normalize() {
	if p.Version == "" {
		p.Version = Version
	}
	p.OccurredAt = p.OccurredAt.UTC()
	p.SentAt = p.SentAt.UTC()
	p.Accounts = orEmpty(p.Accounts)
	p.InventoryRegions = orEmpty(p.InventoryRegions)
	p.Notes = orEmpty(p.Notes)
	// Copy before touching accounts: p is a copy, its slices are not.
	accounts := make([]Account, len(p.Accounts))
	for i, a := range p.Accounts {
		a.Diagnoses = orEmpty(a.Diagnoses)
		a.FailedProbes = orEmpty(a.FailedProbes)
		a.Findings = orEmpty(a.Findings)
		a.Unproven = orEmpty(a.Unproven)
		if a.FindingsTotal < len(a.Findings) {
			a.FindingsTotal = len(a.Findings)
		}
		accounts[i] = a
	}
	p.Accounts = accounts
}

func orEmpty[S ~[]E, E any](s S) S {
	if s == nil {
		return S{}
	}
	return s
}

// validateBody checks body (p marshalled) against the schema, then p
// against the rules the schema cannot express.
func validateBody(body []byte, p *Payload) error {
	if err := validateSchema(body); err != nil {
		return err
	}
	return p.checkConsistency()
}

func (p *Payload) checkConsistency() error {
	seen := make(map[string]bool, len(p.Accounts))
	for i, a := range p.Accounts {
		if seen[a.AccountID] {
			return fmt.Errorf("%w: accounts[%d]: account %s is listed twice", ErrInvalidPayload, i, a.AccountID)
		}
		seen[a.AccountID] = true
		arn, err := parseARN(a.RoleARN)
		if err != nil {
			return fmt.Errorf("%w: accounts[%d].role_arn: %v", ErrInvalidPayload, i, err)
		}
		if arn.account != a.AccountID {
			return fmt.Errorf("%w: accounts[%d]: role %s is not in account %s", ErrInvalidPayload, i, a.RoleARN, a.AccountID)
		}
	}
	stack, err := parseARN(p.StackID)
	if err != nil {
		return fmt.Errorf("%w: stack_id: %v", ErrInvalidPayload, err)
	}
	if stack.account != p.ManagementAccountID {
		return fmt.Errorf("%w: stack %s is not in the management account %s", ErrInvalidPayload, p.StackID, p.ManagementAccountID)
	}
	if stack.region != p.Region {
		return fmt.Errorf("%w: stack %s is not in region %s", ErrInvalidPayload, p.StackID, p.Region)
	}
	switch org := p.OrganizationManagementAccountID; {
	case p.CallAs == "DELEGATED_ADMIN" && (org == "" || org == p.ManagementAccountID):
		return fmt.Errorf("%w: a delegated administrator's stack (call_as DELEGATED_ADMIN) runs outside the management account, so organization_management_account_id must name it, not %q", ErrInvalidPayload, org)
	case p.CallAs != "DELEGATED_ADMIN" && org != "" && org != p.ManagementAccountID:
		return fmt.Errorf("%w: a SELF stack runs in the management account, but management_account_id %s is not organization_management_account_id %s", ErrInvalidPayload, p.ManagementAccountID, org)
	}
	return p.checkScheduled()
}

// checkScheduled checks the rules of the scheduled re-verification's
// events (1.3) a schema cannot say: a heartbeat's counts add up, and a
// drift or a restoration says what changed.
func (p *Payload) checkScheduled() error {
	if c := p.Counts; c != nil && c.Verified+c.Gaps+c.Finding+c.Unverifiable+c.Unreachable != c.Accounts {
		return fmt.Errorf("%w: counts: %d accounts, but the statuses add up to %d", ErrInvalidPayload, c.Accounts, c.Verified+c.Gaps+c.Finding+c.Unverifiable+c.Unreachable)
	}
	for i, a := range p.Accounts {
		switch p.Event {
		case EventVerificationDrifted:
			if a.PreviousStatus == "" || a.PreviousStatus == a.Status || a.Status == StatusVerified {
				return fmt.Errorf("%w: accounts[%d]: a drift is a move from previous_status to another status than verified, not %q to %q", ErrInvalidPayload, i, a.PreviousStatus, a.Status)
			}
		case EventVerificationRestored:
			if a.Status != StatusVerified || a.PreviousStatus == "" || a.PreviousStatus == StatusVerified {
				return fmt.Errorf("%w: accounts[%d]: a restoration is a move to verified from another previous_status, not %q to %q", ErrInvalidPayload, i, a.PreviousStatus, a.Status)
			}
		}
	}
	return nil
}

// arn is the part of an ARN this package reads.
type arn struct {
	partition, service, region, account, resource string
}

func parseARN(s string) (arn, error) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return arn{}, fmt.Errorf("%q is not an ARN", s)
	}
	return arn{partition: parts[1], service: parts[2], region: parts[3], account: parts[4], resource: parts[5]}, nil
}
