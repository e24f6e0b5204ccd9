package ledger_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rolecall/rolecall/callback"
	"github.com/rolecall/rolecall/internal/ledger"
)

const (
	mgmt  = "123456789012"
	orgID = "o-a1b2c3d4e5"
)

var base = time.Date(2026, 11, 2, 10, 15, 0, 0, time.UTC)

func member(i int) string { return fmt.Sprintf("%012d", 200000000000+i) }

func acct(id string, status callback.Status) callback.Account {
	return callback.Account{AccountID: id, RoleARN: "arn:aws:iam::" + id + ":role/rolecall/VendorReadOnly", Status: status}
}

// payload builds a payload of event from the stack in account management,
// occurring at base+at.
func payload(event callback.Event, management, request string, at time.Duration, accounts ...callback.Account) callback.Payload {
	stack := "arn:aws:cloudformation:us-east-1:" + management + ":stack/rolecall-onboarding/1f2e3d4c-5b6a-4789-9abc-def012345678"
	p := callback.Payload{
		Event: event, OccurredAt: base.Add(at), OrganizationID: orgID, ManagementAccountID: management,
		StackID: stack, Region: "us-east-1", Accounts: accounts,
		CUR:              callback.CUR{Bucket: "acme-cur-reports", Prefix: "cur/"},
		InventoryRegions: []string{"us-east-1"},
		PermissionSet:    callback.PermissionSet{Version: "2026-11.1", Digest: "sha256:" + strings.Repeat("ab", 32)},
	}
	return withID(p, request)
}

// withID sets p's id as the function does, after p was edited.
func withID(p callback.Payload, request string) callback.Payload {
	p.ID = callback.EventID(p.Event, p.StackID, request, p.RoleARNs())
	return p
}

// callerARN is the identity the proof of a callback from account proved.
func callerARN(account string) string {
	return "arn:aws:sts::" + account + ":assumed-role/rolecall-onboarding/fn"
}

// receivedAt is when the vendor received p: a second after it occurred.
func receivedAt(p callback.Payload) time.Time { return p.OccurredAt.Add(time.Second) }

// apply does what a store does with a verified, new callback: merge it
// into o (a new onboarding if o is nil) and keep its timeline entry.
// Duplicates and claims are the store's to refuse (vendordb.Record).
func apply(t *testing.T, o *ledger.Onboarding, p callback.Payload) (*ledger.Onboarding, ledger.Outcome) {
	t.Helper()
	m := &callback.Message{ID: p.ID, Timestamp: p.OccurredAt, Payload: p,
		Caller: callback.Identity{Account: p.ManagementAccountID, ARN: callerARN(p.ManagementAccountID)}}
	if o == nil {
		o = ledger.New(&m.Payload)
	}
	if key, management := ledger.KeyOf(&p), ledger.ManagementAccountOf(&p); key != o.Key || management != o.ManagementAccountID {
		t.Fatalf("%s from %s applied to %s under %s: a store refuses it", p.Event, management, o.Key, o.ManagementAccountID)
	}
	outcome, entry := ledger.Apply(o, m, receivedAt(p))
	o.Timeline = append(o.Timeline, entry)
	return o, outcome
}

func accountIDs(o *ledger.Onboarding) []string {
	var ids []string
	for _, a := range o.Accounts {
		ids = append(ids, a.AccountID)
	}
	return ids
}

func findAccount(o *ledger.Onboarding, id string) callback.Account {
	for _, a := range o.Accounts {
		if a.AccountID == id {
			return a
		}
	}
	return callback.Account{}
}

func TestAFirstCreationOpensTheOnboarding(t *testing.T) {
	p := payload(callback.EventOnboardingCreated, mgmt, "req-1", 0,
		acct(mgmt, callback.StatusVerified), acct(member(1), callback.StatusGaps), acct(member(0), callback.StatusUnreachable))
	o, outcome := apply(t, nil, p)
	if outcome != ledger.OutcomeStored {
		t.Errorf("outcome %s, want stored", outcome)
	}
	if want := []string{mgmt, member(0), member(1)}; !slices.Equal(accountIDs(o), want) {
		t.Errorf("accounts %v, want %v (sorted)", accountIDs(o), want)
	}
	if o.Key != orgID || o.OrganizationID != orgID || o.Status != ledger.StatusActive || o.ManagementAccountID != mgmt || o.StackID != p.StackID {
		t.Errorf("onboarding %s (org %s) %s under %s, stack %s", o.Key, o.OrganizationID, o.Status, o.ManagementAccountID, o.StackID)
	}
	if o.LastEvent.ID != p.ID || o.LastEvent.Event != p.Event || !o.LastEvent.OccurredAt.Equal(p.OccurredAt) {
		t.Errorf("last event %+v, want %s %s", o.LastEvent, p.Event, p.ID)
	}
	if o.CallerARN != callerARN(mgmt) {
		t.Errorf("caller ARN %q", o.CallerARN)
	}
	if o.CUR != p.CUR || !slices.Equal(o.InventoryRegions, p.InventoryRegions) || o.PermissionSet != p.PermissionSet {
		t.Errorf("settings CUR %+v, regions %v, permission set %+v; want the payload's", o.CUR, o.InventoryRegions, o.PermissionSet)
	}
	if !o.UpdatedAt.Equal(receivedAt(p)) {
		t.Errorf("updated at %s, want when it was received", o.UpdatedAt)
	}
	e := o.Timeline[0]
	if e.ID != p.ID || !e.ReceivedAt.Equal(receivedAt(p)) || e.StackID != p.StackID || e.Stale {
		t.Errorf("timeline entry %+v", e)
	}
	if c := e.Counts; c == nil || *c != (callback.Counts{Accounts: 3, Verified: 1, Gaps: 1, Unreachable: 1}) {
		t.Errorf("the creation's timeline counts: %+v", c)
	}
}

func TestEventsMergeInOrderAndAStaleOneIsRecordedNotApplied(t *testing.T) {
	steps := []struct {
		p           callback.Payload
		wantOutcome ledger.Outcome
		wantStatus  string
		wantIDs     []string
	}{
		{payload(callback.EventOnboardingCreated, mgmt, "c", 0, acct(mgmt, callback.StatusVerified), acct(member(0), callback.StatusVerified), acct(member(1), callback.StatusVerified)),
			ledger.OutcomeStored, ledger.StatusActive, []string{mgmt, member(0), member(1)}},
		{payload(callback.EventAccountAdded, mgmt, "e1", time.Minute, acct(member(2), callback.StatusVerified), acct(member(1), callback.StatusGaps)),
			ledger.OutcomeStored, ledger.StatusActive, []string{mgmt, member(0), member(1), member(2)}},
		{payload(callback.EventAccountRemoved, mgmt, "e2", 2*time.Minute, acct(member(0), callback.StatusVerified)),
			ledger.OutcomeStored, ledger.StatusActive, []string{mgmt, member(1), member(2)}},
		// An update replaces the set.
		{payload(callback.EventOnboardingUpdated, mgmt, "u", 3*time.Minute, acct(mgmt, callback.StatusVerified), acct(member(3), callback.StatusVerified)),
			ledger.OutcomeStored, ledger.StatusActive, []string{mgmt, member(3)}},
		// An event older than the last applied one is recorded, not applied.
		{payload(callback.EventAccountAdded, mgmt, "late", 90*time.Second, acct(member(9), callback.StatusVerified)),
			ledger.OutcomeStale, ledger.StatusActive, []string{mgmt, member(3)}},
		{payload(callback.EventOnboardingDeleted, mgmt, "d", 4*time.Minute),
			ledger.OutcomeStored, ledger.StatusPaused, []string{mgmt, member(3)}},
		{payload(callback.EventOnboardingCreated, mgmt, "again", 5*time.Minute, acct(mgmt, callback.StatusVerified)),
			ledger.OutcomeStored, ledger.StatusActive, []string{mgmt}},
	}
	var o *ledger.Onboarding
	for i, s := range steps {
		var outcome ledger.Outcome
		o, outcome = apply(t, o, s.p)
		if outcome != s.wantOutcome || o.Status != s.wantStatus || !slices.Equal(accountIDs(o), s.wantIDs) {
			t.Errorf("after step %d (%s): %s, %s %v; want %s, %s %v", i, s.p.Event, outcome, o.Status, accountIDs(o), s.wantOutcome, s.wantStatus, s.wantIDs)
		}
		if i == 4 && (o.LastEvent.ID != steps[3].p.ID || !o.UpdatedAt.Equal(receivedAt(steps[3].p))) {
			t.Errorf("the stale event moved the last event to %+v (updated %s)", o.LastEvent, o.UpdatedAt)
		}
		if i == 5 && (o.PausedAt == nil || !o.PausedAt.Equal(s.p.OccurredAt)) {
			t.Errorf("after the deletion, paused at %v, want %s", o.PausedAt, s.p.OccurredAt)
		}
	}
	if o.Accounts[0].Status != callback.StatusVerified || o.PausedAt != nil || o.LastEvent.ID != steps[6].p.ID {
		t.Errorf("final onboarding %+v", o)
	}
	if len(o.Timeline) != len(steps) {
		t.Fatalf("timeline has %d entries, want %d: a stale event is recorded too", len(o.Timeline), len(steps))
	}
	for i, e := range o.Timeline {
		if e.ID != steps[i].p.ID || e.Stale != (i == 4) {
			t.Errorf("timeline[%d] = %s stale=%t, want %s stale=%t", i, e.ID, e.Stale, steps[i].p.ID, i == 4)
		}
	}
}

// The scheduled re-verification's events (payload 1.3): a drift and a
// restoration change the accounts they name, a heartbeat only its digest,
// and the timeline lists every event accepted, in order, with what changed.
func TestScheduledEventsKeepATimeline(t *testing.T) {
	drifted := acct(member(1), callback.StatusFinding)
	drifted.PreviousStatus = callback.StatusVerified
	restored := acct(member(1), callback.StatusVerified)
	restored.PreviousStatus = callback.StatusFinding
	heartbeat := payload(callback.EventHeartbeat, mgmt, "hb", 3*time.Minute)
	pending := 0
	heartbeat.Counts = &callback.Counts{Accounts: 3, Verified: 3}
	heartbeat.PendingEvents = &pending
	steps := []callback.Payload{
		payload(callback.EventOnboardingCreated, mgmt, "c", 0, acct(mgmt, callback.StatusVerified), acct(member(0), callback.StatusVerified), acct(member(1), callback.StatusVerified)),
		payload(callback.EventVerificationDrifted, mgmt, "s1", time.Minute, drifted),
		payload(callback.EventVerificationRestored, mgmt, "s2", 2*time.Minute, restored),
		heartbeat,
		payload(callback.EventAccountAdded, mgmt, "s3", 4*time.Minute, acct(member(2), callback.StatusGaps)),
	}
	var o *ledger.Onboarding
	for i, p := range steps {
		o, _ = apply(t, o, p)
		if i == 1 && (o.Accounts[2].AccountID != member(1) || o.Accounts[2].Status != callback.StatusFinding || o.Accounts[2].PreviousStatus != "") {
			t.Errorf("after the drift, member 1 is %+v; want finding (the change is in the timeline)", o.Accounts[2])
		}
		if i == 3 && len(o.Accounts) != 3 {
			t.Errorf("the heartbeat changed the accounts: %v", accountIDs(o))
		}
	}
	if o.Accounts[2].Status != callback.StatusVerified || len(o.Accounts) != 4 {
		t.Errorf("accounts %+v, want member 1 verified again and member 2 added", o.Accounts)
	}
	if o.Heartbeat == nil || o.Heartbeat.Counts.Verified != 3 || !o.Heartbeat.At.Equal(base.Add(3*time.Minute)) || o.Heartbeat.Pending == nil || o.Heartbeat.StackID != heartbeat.StackID {
		t.Errorf("heartbeat %+v", o.Heartbeat)
	}
	if len(o.Timeline) != len(steps) {
		t.Fatalf("timeline has %d entries, want %d", len(o.Timeline), len(steps))
	}
	for i, p := range steps {
		if got := o.Timeline[i]; got.ID != p.ID || got.Event != p.Event || !got.OccurredAt.Equal(p.OccurredAt) || got.Stale {
			t.Errorf("timeline[%d] = %+v, want %s %s", i, got, p.Event, p.ID)
		}
	}
	if c := o.Timeline[0].Counts; c == nil || c.Accounts != 3 || c.Verified != 3 {
		t.Errorf("the creation is kept as counts: %+v", c)
	}
	if ch := o.Timeline[1].Accounts; len(ch) != 1 || ch[0].AccountID != member(1) || ch[0].Status != callback.StatusFinding || ch[0].PreviousStatus != callback.StatusVerified {
		t.Errorf("the drift is kept as the account's change: %+v", ch)
	}
	if c := o.Timeline[3].Counts; c == nil || *c != *heartbeat.Counts || o.Timeline[3].Accounts != nil {
		t.Errorf("the heartbeat is kept as the run's counts: %+v", o.Timeline[3])
	}
}

// A failed creation never opens the onboarding; a failed update records
// what was found but keeps the settings the stack rolled back to; a
// deletion carries each account's last known status.
func TestFailuresAndDeletionsKeepHonestRecords(t *testing.T) {
	finding := acct(member(1), callback.StatusFinding)
	finding.Findings = []callback.Finding{{Kind: "all_actions", Source: "attached policy arn:aws:iam::" + member(1) + ":policy/Admin", PolicyType: "managed", Action: "*", Detail: "d"}}
	o, _ := apply(t, nil, payload(callback.EventVerificationFailed, mgmt, "create-failed", 0, acct(mgmt, callback.StatusVerified), finding))
	if o.Status != ledger.StatusFailed || len(o.Accounts) != 2 || len(o.Accounts[1].Findings) != 1 || o.Accounts[1].Findings[0].Action != "*" {
		t.Fatalf("after a failed creation: %+v", o)
	}

	created := payload(callback.EventOnboardingCreated, mgmt, "create", time.Minute, acct(mgmt, callback.StatusVerified), acct(member(1), callback.StatusVerified))
	o, _ = apply(t, o, created)
	if o.Status != ledger.StatusActive {
		t.Fatalf("a creation after a failed one: %s, want active", o.Status)
	}
	updateFailed := payload(callback.EventVerificationFailed, mgmt, "update-failed", 2*time.Minute, acct(member(1), callback.StatusUnverifiable))
	updateFailed.CUR.Bucket = "new-bucket-rolled-back"
	updateFailed = withID(updateFailed, "update-failed")
	o, _ = apply(t, o, updateFailed)
	if o.Status != ledger.StatusActive || o.CUR.Bucket != created.CUR.Bucket || o.Accounts[1].Status != callback.StatusUnverifiable || o.Accounts[0].Status != callback.StatusVerified {
		t.Fatalf("after a failed update: status %s, CUR %s, accounts %+v", o.Status, o.CUR.Bucket, o.Accounts)
	}
	if ch := o.Timeline[2].Accounts; len(ch) != 1 || ch[0].AccountID != member(1) || ch[0].Status != callback.StatusUnverifiable {
		t.Errorf("the failed update is kept as the account it names: %+v", o.Timeline[2])
	}

	deleted := payload(callback.EventOnboardingDeleted, mgmt, "delete", 3*time.Minute, acct(mgmt, callback.StatusVerified), acct(member(1), callback.StatusUnverifiable))
	o, _ = apply(t, o, deleted)
	if o.Status != ledger.StatusPaused || o.Accounts[1].Status != callback.StatusUnverifiable {
		t.Fatalf("after deletion: %s %+v", o.Status, o.Accounts)
	}
}

// With a delegated administrator, an organization reports through two
// stacks: the administrator's (the StackSet, every member) and the
// management account's own (its role). The onboarding keeps both views and
// merges them: the management account's entry comes from its own stack,
// whatever the administrator's says; each stack's events are ordered among
// themselves; a stack naming another management account is not the
// organization's (the store refuses it).
func TestADelegatedAdministratorsStacksMerge(t *testing.T) {
	da := member(7)
	delegated := func(event callback.Event, request string, at time.Duration, accounts ...callback.Account) callback.Payload {
		p := payload(event, da, request, at, accounts...)
		p.OrganizationManagementAccountID, p.CallAs = mgmt, "DELEGATED_ADMIN"
		return withID(p, request)
	}
	self := func(event callback.Event, request string, at time.Duration, accounts ...callback.Account) callback.Payload {
		p := payload(event, mgmt, request, at, accounts...)
		p.OrganizationManagementAccountID, p.CallAs = mgmt, "SELF"
		return withID(p, request)
	}
	notCovered := acct(mgmt, callback.StatusUnreachable)
	notCovered.Diagnoses = []callback.Diagnosis{{Code: "management_account_not_covered", Message: "deploy the management account's stack"}}

	steps := []struct {
		p        callback.Payload
		wantMgmt callback.Status
		wantIDs  []string
	}{
		{delegated(callback.EventOnboardingCreated, "da-1", 0, notCovered, acct(da, callback.StatusVerified), acct(member(1), callback.StatusVerified)),
			callback.StatusUnreachable, []string{mgmt, member(1), da}},
		{self(callback.EventOnboardingCreated, "own", 2*time.Minute, acct(mgmt, callback.StatusVerified)),
			callback.StatusVerified, []string{mgmt, member(1), da}},
		// The administrator's later update still cannot assume the
		// management role: its own stack's entry stands.
		{delegated(callback.EventOnboardingUpdated, "da-2", 3*time.Minute, notCovered, acct(da, callback.StatusVerified), acct(member(1), callback.StatusGaps)),
			callback.StatusVerified, []string{mgmt, member(1), da}},
	}
	var o *ledger.Onboarding
	for i, s := range steps {
		o, _ = apply(t, o, s.p)
		got := findAccount(o, mgmt)
		if got.Status != s.wantMgmt || !slices.Equal(accountIDs(o), s.wantIDs) || o.Status != ledger.StatusActive || o.ManagementAccountID != mgmt {
			t.Errorf("after step %d: management account %s, accounts %v, status %s, bound to %s; want %s %v active %s", i, got.Status, accountIDs(o), o.Status, o.ManagementAccountID, s.wantMgmt, s.wantIDs, mgmt)
		}
		if len(o.Stacks) != min(i+1, 2) {
			t.Errorf("after step %d: %d stacks kept", i, len(o.Stacks))
		}
	}
	if m1 := findAccount(o, member(1)); m1.Status != callback.StatusGaps {
		t.Errorf("member 1 is %s, want the administrator's latest gaps", m1.Status)
	}
	if st := o.Stacks[steps[0].p.StackID]; st == nil || st.StackAccountID != da || st.CallAs != "DELEGATED_ADMIN" {
		t.Errorf("the administrator's stack view: %+v", st)
	}

	// Each stack's events are ordered among themselves: the
	// administrator's event older than its last is stale, though newer
	// than the management stack's.
	late := delegated(callback.EventAccountAdded, "da-late", 150*time.Second, acct(member(5), callback.StatusVerified))
	o, outcome := apply(t, o, late)
	if outcome != ledger.OutcomeStale || slices.Contains(accountIDs(o), member(5)) || !o.Timeline[len(o.Timeline)-1].Stale {
		t.Errorf("an administrator's event older than its last: %s, accounts %v; want stale, not applied", outcome, accountIDs(o))
	}

	// Another "administrator" naming another management account for the
	// same organization is not this organization's: the store compares
	// ManagementAccountOf with the onboarding's and refuses it.
	rogue := payload(callback.EventOnboardingCreated, member(8), "rogue", 4*time.Minute, acct(member(8), callback.StatusVerified))
	rogue.OrganizationManagementAccountID, rogue.CallAs = member(9), "DELEGATED_ADMIN"
	if ledger.KeyOf(&rogue) != o.Key || ledger.ManagementAccountOf(&rogue) == o.ManagementAccountID {
		t.Errorf("a stack naming %s claims %s under %s, want a claim under another management account than %s",
			rogue.OrganizationManagementAccountID, ledger.KeyOf(&rogue), ledger.ManagementAccountOf(&rogue), o.ManagementAccountID)
	}

	// Deleting the management account's stack leaves the organization
	// active through the administrator's.
	o, _ = apply(t, o, self(callback.EventOnboardingDeleted, "own-del", 5*time.Minute, acct(mgmt, callback.StatusVerified)))
	if o.Status != ledger.StatusActive || o.PausedAt != nil {
		t.Errorf("after the management stack's deletion the organization is %s (paused at %v), want active", o.Status, o.PausedAt)
	}
	// Deleting the administrator's too pauses it.
	o, _ = apply(t, o, delegated(callback.EventOnboardingDeleted, "da-del", 6*time.Minute))
	if o.Status != ledger.StatusPaused || o.PausedAt == nil {
		t.Errorf("after both stacks' deletion the organization is %s, want paused", o.Status)
	}
}

func TestAnOrganizationlessStackIsKeptUnderItsAccount(t *testing.T) {
	p := payload(callback.EventOnboardingCreated, mgmt, "solo", 0, acct(mgmt, callback.StatusVerified))
	p.OrganizationID = ""
	p = withID(p, "solo")
	o, _ := apply(t, nil, p)
	if o.Key != mgmt || o.OrganizationID != "" || o.ManagementAccountID != mgmt || o.Status != ledger.StatusActive {
		t.Errorf("onboarding %s (org %q) under %s, %s; want kept under the account", o.Key, o.OrganizationID, o.ManagementAccountID, o.Status)
	}
}
