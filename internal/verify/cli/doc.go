// Package cli is the verify command a customer runs (cmd/rolecall-verify): it reads
// the command line, discovers the roles of an onboarding if asked to,
// verifies them with package verify, and prints a table or one JSON
// document. Its exit status says what it found: 0 verified, 1 gaps or
// unreachable, 2 a finding, 64 a usage error, 69 AWS unavailable.
package cli
