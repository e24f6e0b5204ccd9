// Package onboarding is the use case behind the onboarding function: the
// Preflight and RoleVerification custom resources and the StackSet instance
// events.
//
// Preflight checks the organization before anything is created (trusted
// access for StackSets, the right account, the OUs, the CUR bucket) and
// tells the StackSet where to deploy. RoleVerification finds every role of
// the onboarding, verifies each one, reports the result to the vendor
// through the signed callback, and answers CloudFormation: a security
// finding fails the stack, a member-account gap is reported. Deleting the
// stack tells the vendor first, and never blocks. A StackSet instance event
// (an account joining or leaving an OU) verifies that one account and tells
// the vendor.
package onboarding
