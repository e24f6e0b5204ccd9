package verify

// Explanation is a plain-words meaning of a status or an outcome, for help
// texts.
type Explanation struct {
	Name    string
	Explain string
}

// Statuses explains every account status, from best to worst.
func Statuses() []Explanation {
	return []Explanation{
		{string(StatusVerified), "The role was assumed with the external ID, every probe was ok or not_found, every one of its policies was read back and passes the read-only gate (which knows every action of every AWS service), and IAM's policy simulator denies every write action of the granted services."},
		{string(StatusGaps), "The role works and is proven read-only, but some probe was denied (the vendor lacks a permission it needs) or failed for another reason."},
		{string(StatusUnreachable), "The role could not be assumed, so nothing about it is known."},
		{string(StatusUnverifiable), "The role was assumed, but its write safety could not be established: a policy of it could not be read or evaluated, or IAM's policy simulator was refused. Absence of proof is not proof: this fails the onboarding stack like a finding."},
		{string(StatusFinding), "The role can change something in the account: a policy that fails the read-only gate, or a write action the policy simulator allows. This wins over every other status."},
	}
}

// Outcomes explains every probe outcome.
func Outcomes() []Explanation {
	return []Explanation{
		{string(OutcomeOK), "The read call succeeded."},
		{string(OutcomeNotFound), "AWS answered that the thing asked about does not exist (such as NoSuchBucket): the role was allowed to ask, so the permission works."},
		{string(OutcomeDenied), "AWS refused the call (AccessDenied, HTTP 403): a permission the vendor needs is missing."},
		{string(OutcomeWriteAllowed), "The role's policies, read back, fail the read-only gate, or IAM's policy simulator allows a write action: a security finding."},
		{string(OutcomeError), "Anything else (throttling after retries, an AWS server error, a network failure, a request AWS rejected as malformed). It proves nothing either way."},
	}
}
