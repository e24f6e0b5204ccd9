// Package emulator runs a local AWS for tests and for the local rehearsal
// (make demo): a moto server on a free loopback port with IAM authorisation
// enforced, and small helpers that seed an AWS Organization, play
// CloudFormation's part for a service-managed StackSet, and reach member
// accounts.
//
// Start launches moto_server and bootstraps an administrator in the default
// account (123456789012) while authorisation is briefly off; from then on every
// request is signed with moto-issued keys and moto enforces identity policies,
// so a denied call is really denied. Server.Config returns an aws.Config for
// that administrator, pointed at the server; Server.AccountConfig one for an
// administrator of any other account, such as a seeded member account:
//
//	srv, err := emulator.Start(ctx, emulator.Options{})
//	if err != nil { ... }
//	defer srv.Stop()
//	org, err := emulator.SeedOrganization(ctx, srv.Config(), emulator.OrgSpec{
//		OUs: []emulator.OUSpec{{Name: "Workloads", Accounts: 3}},
//	})
//
// Tests use package emulatortest, which ties a server to a test's lifetime;
// this package does not import testing.
//
// Moto is not AWS. Its authorisation model is partial: it evaluates a trust
// policy only when caller and role share an account, matches principals by
// string, evaluates only the StringEquals condition operator, and lets a
// request without an external ID through an sts:ExternalId condition. Its
// service-managed StackSets reach only the target OUs and their direct
// children, ignore automatic deployment, and store a role's inline Policies
// in a form that crashes moto when the role's sessions make calls. The tests
// in moto_behaviour_test.go pin each difference this project meets, so that a
// moto upgrade that changes one fails loudly. The configs the server issues
// make up for two faults that would otherwise break the Go SDK (compat.go).
package emulator
