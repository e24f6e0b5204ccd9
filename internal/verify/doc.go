// Package verify proves that a rolecall role works and is read-only.
//
// For one role (Engine.Verify) it assumes the role with the external ID,
// retrying for a bounded time while a new role propagates through IAM; makes
// one cheap read call per service the permission catalog grants the role (per
// inventory region where the service is regional); then checks write safety:
// it reads the role's inline and attached policies back, as the role, and puts
// each through the read-only gate of package permissions, and it asks
// iam:SimulatePrincipalPolicy about every write action of the granted
// services. No call it makes can change anything, even if the role were
// allowed to: a denied or failed write would prove nothing, so it never tries
// one.
//
// Each call ends as a Probe with an Outcome (ok, not_found, denied,
// write_allowed, error), classified from the AWS error code and HTTP status,
// never from message text. The account's Status follows from them: verified,
// gaps, finding or unreachable. Known misconfigurations (the troubleshooting
// table of the onboarding guide: external ID mismatch, CUR bucket or prefix
// wrong, Bedrock invocation logging off, ...) come out as Diagnoses with a
// stable code and a message that says what to do.
//
// Engine.VerifyAll verifies many roles with a bounded pool of workers,
// streaming each Report to a callback as it finishes and keeping only counts
// (Summary). Every client uses the SDK's adaptive retry mode, each account
// has a time limit, and CloudTrail LookupEvents is paced to its quota of two
// calls a second per account and region.
package verify
