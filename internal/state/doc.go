// Package state keeps what the onboarding function knows between
// invocations, in the DynamoDB table the onboarding stack creates in the
// customer's account (encrypted at rest, on demand, deleted with the
// stack): each account's last verification, so that a deletion can tell
// the vendor the last known status of every account and later runs can
// tell what changed.
//
// Items are keyed by a partition ("ACCOUNT") and a sort key (the account
// id). Each item carries the format version it was written in; a reader
// refuses a format it does not know rather than guess (see Format).
// Writes are conditional on time: a record is replaced only by a newer
// verification, so two runs that overlap (a stack update and a StackSet
// instance event) never put an older result over a newer one.
package state
