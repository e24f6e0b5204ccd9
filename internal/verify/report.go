package verify

import (
	"encoding/json"
	"time"
)

// Status is the verdict on one account's role.
type Status string

// Statuses, from best to worst.
const (
	// StatusVerified: the role was assumed, every probe was ok or not_found, and
	// nothing suggests it can write.
	StatusVerified Status = "verified"
	// StatusGaps: the role works, but at least one probe was denied (a permission
	// the vendor needs is missing) or failed for another reason.
	StatusGaps Status = "gaps"
	// StatusUnreachable: the role could not be assumed.
	StatusUnreachable Status = "unreachable"
	// StatusUnverifiable: the role was assumed, but its write safety could
	// not be established: a policy of it could not be read or evaluated,
	// or IAM's policy simulator was refused. Absence of proof is not
	// proof: it fails a stack like a finding.
	StatusUnverifiable Status = "unverifiable"
	// StatusFinding: the role can change something. It wins over every
	// other status.
	StatusFinding Status = "finding"
)

// AllStatuses returns every status, from best to worst.
func AllStatuses() []Status {
	return []Status{StatusVerified, StatusGaps, StatusUnreachable, StatusUnverifiable, StatusFinding}
}

// rank orders statuses from best to worst.
func (s Status) rank() int {
	switch s {
	case StatusVerified:
		return 0
	case StatusGaps:
		return 1
	case StatusUnreachable:
		return 2
	case StatusUnverifiable:
		return 3
	case StatusFinding:
		return 4
	}
	return -1
}

// Outcome is how one probe ended.
type Outcome string

// Outcomes.
const (
	// OutcomeOK: the call succeeded.
	OutcomeOK Outcome = "ok"
	// OutcomeNotFound: AWS answered that the thing asked about does not exist
	// (NoSuchBucket, ResourceNotFoundException, ...): the role was allowed
	// to ask.
	OutcomeNotFound Outcome = "not_found"
	// OutcomeDenied: AWS refused the call (AccessDenied, HTTP 403): a permission
	// the vendor needs is missing.
	OutcomeDenied Outcome = "denied"
	// OutcomeWriteAllowed: the role's policies or IAM's policy simulation show
	// that the role may change something.
	OutcomeWriteAllowed Outcome = "write_allowed"
	// OutcomeError: anything else: throttling after retries, a server error, a
	// network failure, a request AWS rejected as invalid. It proves nothing
	// either way.
	OutcomeError Outcome = "error"
)

// Probe is one call made as the role.
type Probe struct {
	// Service is the IAM service prefix, such as "iam" or "s3".
	Service string `json:"service"`
	// Action is the API operation called, such as "ListRoles".
	Action string `json:"action"`
	// Region is where the call went; global services use their partition's
	// home region.
	Region  string  `json:"region"`
	Outcome Outcome `json:"outcome"`
	// Code is the AWS error code, if any.
	Code string `json:"code,omitempty"`
	// Message says what happened, briefly.
	Message string `json:"message,omitempty"`
}

// Name returns "service:Action".
func (p Probe) Name() string { return p.Service + ":" + p.Action }

// Finding is evidence that the role may do what a read-only role never
// may, exactly as the policy writes it.
type Finding struct {
	// Kind is a stable code: a kind of the read-only gate
	// (permissions.Kinds) or KindSimulatorAllows.
	Kind string `json:"kind"`
	// Source says where the evidence comes from: "inline policy NAME",
	// "attached policy ARN" or "iam:SimulatePrincipalPolicy".
	Source string `json:"source"`
	// PolicyType is "inline", "managed" or "simulation".
	PolicyType string `json:"policy_type"`
	// Policy is the inline policy's name or the managed policy's ARN.
	Policy string `json:"policy,omitempty"`
	// Statement is the statement's Sid, or "#N" without one; Index its
	// 1-based position.
	Statement string `json:"statement,omitempty"`
	Index     int    `json:"statement_index,omitempty"`
	// Effect is the statement's Effect as written.
	Effect string `json:"effect,omitempty"`
	// Action is the action or pattern exactly as written, such as "*",
	// "s3:Put*" or "ec2:TerminateInstances"; empty for a NotAction
	// statement.
	Action string `json:"action,omitempty"`
	// NotAction is true when the statement grants through NotAction;
	// Patterns are what it excludes.
	NotAction bool     `json:"not_action,omitempty"`
	Patterns  []string `json:"patterns,omitempty"`
	// Resources are the statement's resources as written.
	Resources []string `json:"resources,omitempty"`
	// WriteActions counts the write actions of the pinned dataset the
	// grant covers, and Examples names a few.
	WriteActions int      `json:"write_actions,omitempty"`
	Examples     []string `json:"examples,omitempty"`
	// Detail explains the problem.
	Detail string `json:"detail"`
}

// KindSimulatorAllows is the kind of a finding from IAM's policy
// simulator: it answered that the role may call a write action.
const KindSimulatorAllows = "simulator_allows"

// Unproven is one part of the write-safety proof that could not be made:
// a policy the role could not read or that cannot be evaluated, or a
// simulation that was refused.
type Unproven struct {
	// Check is what could not be done, such as "iam:GetRolePolicy",
	// "iam:SimulatePrincipalPolicy" or "evaluate".
	Check string `json:"check"`
	// Target is what it was about: "inline policy NAME", "attached policy
	// ARN", "the role's inline policies", ...
	Target string `json:"target"`
	// Code is AWS's error code, if any.
	Code string `json:"code,omitempty"`
	// Message says what happened, with AWS's own words where it gave any
	// (they often name the policy that denied the read).
	Message string `json:"message"`
}

// Diagnosis is a known cause of a problem, or a note, in plain words.
type Diagnosis struct {
	// Code is stable; see DiagnosisCodes.
	Code string `json:"code"`
	// Message says what is wrong and what to do.
	Message string `json:"message"`
}

// Report is the result of verifying one role.
type Report struct {
	AccountID string `json:"account_id"`
	RoleARN   string `json:"role_arn"`
	Status    Status `json:"status"`
	// Probes are the calls made, in order.
	Probes []Probe `json:"probes"`
	// Findings are the evidence of write access; any makes Status finding.
	Findings []Finding `json:"findings,omitempty"`
	// Unproven lists what kept write safety from being established; any
	// makes Status unverifiable (unless there is a finding).
	Unproven []Unproven `json:"unproven,omitempty"`
	// Diagnoses explain problems found.
	Diagnoses []Diagnosis `json:"diagnoses,omitempty"`
	// Notes are facts worth knowing that are not problems, such as the
	// Bedrock module being switched off.
	Notes []Diagnosis `json:"notes,omitempty"`
	// Organization is the organization the role's account reports
	// (organizations:DescribeOrganization, one of the probes), when it
	// answered: what a vendor checks a customer's claimed organization
	// against.
	Organization *Organization `json:"organization,omitempty"`
	// Duration is how long the verification took.
	Duration time.Duration `json:"-"`
}

// Organization is what organizations:DescribeOrganization said.
type Organization struct {
	ID                  string `json:"id"`
	ManagementAccountID string `json:"management_account_id"`
}

type reportJSON struct {
	AccountID string      `json:"account_id"`
	RoleARN   string      `json:"role_arn"`
	Status    Status      `json:"status"`
	Probes    []Probe     `json:"probes"`
	Findings  []Finding   `json:"findings,omitempty"`
	Unproven  []Unproven  `json:"unproven,omitempty"`
	Diagnoses []Diagnosis `json:"diagnoses,omitempty"`
	Notes     []Diagnosis `json:"notes,omitempty"`
	// Organization is omitted when it is unknown.
	Organization *Organization `json:"organization,omitempty"`
	DurationMS   int64         `json:"duration_ms"`
}

// MarshalJSON writes Duration as whole milliseconds, duration_ms.
func (r Report) MarshalJSON() ([]byte, error) {
	probes := r.Probes
	if probes == nil {
		probes = []Probe{}
	}
	return json.Marshal(reportJSON{
		AccountID: r.AccountID, RoleARN: r.RoleARN, Status: r.Status, Probes: probes,
		Findings: r.Findings, Unproven: r.Unproven, Diagnoses: r.Diagnoses, Notes: r.Notes,
		Organization: r.Organization, DurationMS: r.Duration.Milliseconds(),
	})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *Report) UnmarshalJSON(b []byte) error {
	var j reportJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*r = Report{
		AccountID: j.AccountID, RoleARN: j.RoleARN, Status: j.Status, Probes: j.Probes,
		Findings: j.Findings, Unproven: j.Unproven, Diagnoses: j.Diagnoses, Notes: j.Notes,
		Organization: j.Organization, Duration: time.Duration(j.DurationMS) * time.Millisecond,
	}
	return nil
}

// Count returns how many probes ended with outcome o.
func (r Report) Count(o Outcome) int {
	n := 0
	for _, p := range r.Probes {
		if p.Outcome == o {
			n++
		}
	}
	return n
}

// HasDiagnosis reports whether the report carries a diagnosis or note with
// the code.
func (r Report) HasDiagnosis(code string) bool {
	for _, d := range r.Diagnoses {
		if d.Code == code {
			return true
		}
	}
	for _, d := range r.Notes {
		if d.Code == code {
			return true
		}
	}
	return false
}

// status derives the account's status from probes and findings: any finding
// wins; then a failed AssumeRole; then write safety left unproven; then
// any denied or failed probe.
func status(r Report, assumed bool) Status {
	if len(r.Findings) > 0 || r.Count(OutcomeWriteAllowed) > 0 {
		return StatusFinding
	}
	if !assumed {
		return StatusUnreachable
	}
	if len(r.Unproven) > 0 {
		return StatusUnverifiable
	}
	if r.Count(OutcomeDenied) > 0 || r.Count(OutcomeError) > 0 || r.HasDiagnosis(DiagnosisRoleSettings) {
		return StatusGaps
	}
	return StatusVerified
}

// Summary counts the reports of a run. It keeps no report.
type Summary struct {
	// Accounts is the number of reports.
	Accounts    int `json:"accounts"`
	Verified    int `json:"verified"`
	Gaps        int `json:"gaps"`
	Unreachable int `json:"unreachable"`
	// Unverifiable is the number of accounts whose write safety could not
	// be established.
	Unverifiable int `json:"unverifiable"`
	// Findings is the number of accounts whose status is finding.
	Findings int `json:"findings"`
	// Worst is the worst status seen; empty before the first report.
	Worst Status `json:"worst"`
	// Duration is the wall time of the run (VerifyAll sets it).
	Duration time.Duration `json:"-"`
	// Throttles counts the calls AWS throttled during the run, and
	// LowestConcurrency is how low that drove the accounts verified at
	// once (VerifyAll sets them).
	Throttles         int64 `json:"-"`
	LowestConcurrency int   `json:"-"`
	// Calls is how many AWS calls the run made for its roles (AssumeRole
	// and retries included), PaidCalls how many of them AWS charges for
	// (VerifyAll sets them; runs of one Engine that overlap count each
	// other's calls too).
	Calls     int64 `json:"-"`
	PaidCalls int64 `json:"-"`
}

// Add counts one report.
func (s *Summary) Add(r Report) {
	s.Accounts++
	switch r.Status {
	case StatusVerified:
		s.Verified++
	case StatusGaps:
		s.Gaps++
	case StatusUnreachable:
		s.Unreachable++
	case StatusUnverifiable:
		s.Unverifiable++
	case StatusFinding:
		s.Findings++
	}
	if s.Worst == "" || r.Status.rank() > s.Worst.rank() {
		s.Worst = r.Status
	}
}

// Exit codes of the verify tool, and of anything else that turns a Summary
// into a process status.
const (
	ExitVerified = 0
	// ExitGaps: some account has gaps or is unreachable, or there was
	// nothing to verify.
	ExitGaps = 1
	// ExitFinding: some role can change something.
	ExitFinding = 2
	// ExitUnverifiable: no role can be shown to write, but some role's
	// write safety could not be established.
	ExitUnverifiable = 3
)

// ExitCode returns ExitFinding if any account has a finding,
// ExitUnverifiable if any is unverifiable, ExitGaps if any has gaps or is
// unreachable or if no account was verified at all, and ExitVerified
// otherwise.
func (s Summary) ExitCode() int {
	switch {
	case s.Findings > 0:
		return ExitFinding
	case s.Unverifiable > 0:
		return ExitUnverifiable
	case s.Gaps > 0 || s.Unreachable > 0 || s.Accounts == 0:
		return ExitGaps
	}
	return ExitVerified
}
