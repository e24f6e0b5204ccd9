// Package discovery finds every role of an onboarding in CloudFormation:
// the management account's role and settings from the onboarding stack
// (FromStack), and the member accounts from the StackSet's instances
// (Instances), each with its status, so that an account whose instance
// failed is reported with CloudFormation's reason instead of silently
// dropped.
package discovery
