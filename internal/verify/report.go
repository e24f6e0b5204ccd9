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
	// StatusFinding: the role can change something. It wins over every
	// other status.
	StatusFinding Status = "finding"
)

// rank orders statuses from best to worst.
func (s Status) rank() int {
	switch s {
	case StatusVerified:
		return 0
	case StatusGaps:
		return 1
	case StatusUnreachable:
		return 2
	case StatusFinding:
		return 3
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

// Finding is evidence that the role may change something.
type Finding struct {
	// Action is the write action allowed, such as "s3:PutObject", or "*".
	// It is empty when the problem is a whole statement (NotAction).
	Action string `json:"action"`
	// Source says where the evidence comes from: "inline policy NAME",
	// "attached policy ARN" or "iam:SimulatePrincipalPolicy".
	Source string `json:"source"`
	// Detail explains the problem.
	Detail string `json:"detail"`
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
	// Diagnoses explain problems found.
	Diagnoses []Diagnosis `json:"diagnoses,omitempty"`
	// Notes are facts worth knowing that are not problems, such as the
	// Bedrock module being switched off.
	Notes []Diagnosis `json:"notes,omitempty"`
	// Duration is how long the verification took.
	Duration time.Duration `json:"-"`
}

type reportJSON struct {
	AccountID  string      `json:"account_id"`
	RoleARN    string      `json:"role_arn"`
	Status     Status      `json:"status"`
	Probes     []Probe     `json:"probes"`
	Findings   []Finding   `json:"findings,omitempty"`
	Diagnoses  []Diagnosis `json:"diagnoses,omitempty"`
	Notes      []Diagnosis `json:"notes,omitempty"`
	DurationMS int64       `json:"duration_ms"`
}

// MarshalJSON writes Duration as whole milliseconds, duration_ms.
func (r Report) MarshalJSON() ([]byte, error) {
	probes := r.Probes
	if probes == nil {
		probes = []Probe{}
	}
	return json.Marshal(reportJSON{
		AccountID: r.AccountID, RoleARN: r.RoleARN, Status: r.Status, Probes: probes,
		Findings: r.Findings, Diagnoses: r.Diagnoses, Notes: r.Notes,
		DurationMS: r.Duration.Milliseconds(),
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
		Findings: j.Findings, Diagnoses: j.Diagnoses, Notes: j.Notes,
		Duration: time.Duration(j.DurationMS) * time.Millisecond,
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
// wins; then a failed AssumeRole; then any denied or failed probe.
func status(r Report, assumed bool) Status {
	if len(r.Findings) > 0 || r.Count(OutcomeWriteAllowed) > 0 {
		return StatusFinding
	}
	if !assumed {
		return StatusUnreachable
	}
	if r.Count(OutcomeDenied) > 0 || r.Count(OutcomeError) > 0 {
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
	// Findings is the number of accounts whose status is finding.
	Findings int `json:"findings"`
	// Worst is the worst status seen; empty before the first report.
	Worst Status `json:"worst"`
	// Duration is the wall time of the run (VerifyAll sets it).
	Duration time.Duration `json:"-"`
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
)

// ExitCode returns ExitFinding if any account has a finding, ExitGaps if
// any has gaps or is unreachable or if no account was verified at all, and
// ExitVerified otherwise.
func (s Summary) ExitCode() int {
	switch {
	case s.Findings > 0:
		return ExitFinding
	case s.Gaps > 0 || s.Unreachable > 0 || s.Accounts == 0:
		return ExitGaps
	}
	return ExitVerified
}
