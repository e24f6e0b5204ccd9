package params

import "strings"

// The contract between the template and the onboarding function: custom
// resource types, the property names beyond the customer parameters (which
// keep their parameter names), and the environment variables the function
// reads for StackSet instance events, which carry no properties. Both the
// synth package and the function import these names, so they cannot drift.

// Custom resource types the function serves.
const (
	// PreflightType checks the organization before anything is created and
	// resolves the StackSet's deployment targets.
	PreflightType = "Custom::Preflight"
	// VerificationType verifies every role and reports to the vendor.
	VerificationType = "Custom::RoleVerification"
)

// Custom resource properties set by the template, not typed by the
// customer. They wire the resource to what it depends on (so CloudFormation
// creates it after the roles, and updates it when a release changes the
// permission set); the function checks each against its own environment
// and build and never takes a setting from them. The vendor's settings
// (callback URL, audience, secret, role name) come from the environment
// only.
const (
	PropManagementRoleARN   = "ManagementRoleArn"
	PropStackSetID          = "StackSetId"
	PropPermissionSetDigest = "PermissionSetDigest"
	// PropCURRegion is the CUR bucket's region as Preflight found it.
	PropCURRegion = "CurBucketRegionFound"
)

// Data keys the custom resources answer with (Fn::GetAtt attributes).
const (
	DataDeploymentTargets   = "DeploymentTargets"
	DataOrganizationID      = "OrganizationId"
	DataManagementAccountID = "ManagementAccountId"
	// DataCURRegion is the CUR bucket's region as S3 names it; DataCURHolder
	// the account whose role reads the bucket; DataAccounts says in a line
	// which account is which.
	DataCURRegion          = "CurBucketRegion"
	DataCURHolder          = "CurHolderAccountId"
	DataAccounts           = "Accounts"
	DataRoleARN            = "RoleArn"
	DataAccountCount       = "AccountCount"
	DataVerifiedCount      = "VerifiedCount"
	DataVerificationStatus = "VerificationStatus"
	DataCallbackStatus     = "CallbackStatus"
	// DataUnprocessedEvents counts the instance events in the dead-letter
	// queue, when there is one.
	DataUnprocessedEvents = "UnprocessedEvents"
	// DataStateStatus is set only when the verification could not be
	// recorded in the state table.
	DataStateStatus = "StateStatus"
)

// Outputs other tools read: the verify command and the rehearsal find the
// roles of an onboarding through them.
const (
	// OutputRoleARN is the management stack's and the role template's
	// output with the role's ARN.
	OutputRoleARN = "RoleArn"
	// OutputStackSetID is the management stack's output naming the StackSet.
	OutputStackSetID = "StackSetId"
	// OutputMemberRoleARN is the management stack's output with the role's
	// ARN in a member account, <member-account-id> standing for the account.
	OutputMemberRoleARN = "MemberRoleArnPattern"
)

// Environment variables of the onboarding function: the template's wiring
// and the vendor's settings. The customer's choices are not among them:
// Lambda bounds the whole environment at 4 KB, and the choices reach the
// function as properties and, for instance events, as the stack's
// parameters.
const (
	EnvVendorName   = "ROLECALL_VENDOR_NAME"
	EnvRoleName     = "ROLECALL_ROLE_NAME"
	EnvStackSetName = "ROLECALL_STACK_SET_NAME"
	EnvStackID      = "ROLECALL_STACK_ID"
	EnvSecretARN    = "ROLECALL_SECRET_ARN"
	EnvCallbackURL  = "ROLECALL_CALLBACK_URL"
	EnvAudience     = "ROLECALL_CALLBACK_AUDIENCE"
	EnvStateTable   = "ROLECALL_STATE_TABLE"
	// EnvDeadLetters is the URL of the queue of unprocessed instance
	// events; empty when DeployToOrganization is false.
	EnvDeadLetters = "ROLECALL_DEAD_LETTER_QUEUE_URL"
	// EnvGOGC is Go's own: the template sets it to off so that the cold
	// start's package initialisation does not collect; main sets the
	// function's pacing right after.
	EnvGOGC = "GOGC"
)

// Secret is the JSON the template stores in Secrets Manager. The external
// IDs are there for StackSet instance events; the custom resource gets them
// as properties too, so rotating one re-verifies every role.
type Secret struct {
	ExternalID         string `json:"externalId"`
	PreviousExternalID string `json:"previousExternalId"`
	CallbackSecret     string `json:"callbackSecret"`
}

// StackInstanceEventType is the EventBridge detail-type of a StackSet
// instance status change.
const StackInstanceEventType = "CloudFormation StackSet StackInstance Status Change"

// The onboarding function as the template ships it, chosen from the
// verification benchmark (make bench, BenchmarkShipped). Lambda gives a
// function CPU in proportion to its memory, one full vCPU at 1,769 MB. The
// verification is CPU-bound below that (about 7 ms of CPU per account):
// at 1,769 MB 5,000 accounts take about half a minute at 100 ms per call,
// a twentieth of the function's timeout, for about the GB-seconds of a
// smaller function that runs longer. The worker ceiling keeps about as
// many calls in flight as a function has connections
// (verify.MaxCallsInFlight); the engine halves it when AWS throttles.
const (
	FunctionMemoryMB    = 1769
	FunctionConcurrency = 192
	// FunctionTimeoutSeconds bounds one invocation (Lambda's maximum is
	// 900); a scheduled run over 5,000 accounts takes a small part of it.
	FunctionTimeoutSeconds = 600
)

// The verification's metrics: the function writes them into its own log in
// CloudWatch's embedded metric format after every verification (no API
// call, no extra permission), one value per status and the callbacks
// waiting in the outbox, under the stack's name; the template's alarm
// watches MetricNeedsAttention.
const (
	MetricNamespace = "rolecall"
	MetricDimension = "Stack"
	// MetricNeedsAttention counts the accounts in finding, unverifiable or
	// unreachable.
	MetricNeedsAttention = "AccountsNeedingAttention"
	MetricPending        = "CallbacksWaiting"
)

// MetricOfStatus names the metric that counts the accounts in a status.
func MetricOfStatus(status string) string {
	if status == "" {
		return "Accounts"
	}
	return "Accounts" + strings.ToUpper(status[:1]) + status[1:]
}
