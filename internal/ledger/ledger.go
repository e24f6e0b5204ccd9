// Package ledger is what a vendor knows about an onboarding: the merge of
// every callback accepted from an organization (Onboarding), and its
// timeline. Apply is pure: the stores that keep onboardings (the vendor
// control plane's database) read one, apply a verified message and write it
// back under their own locking.
package ledger

import (
	"cmp"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/rolecall/rolecall/callback"
)

// Onboarding states.
const (
	// StatusActive: created (or updated) and verified; ingest.
	StatusActive = "active"
	// StatusPaused: the stack is being deleted; stop ingesting.
	StatusPaused = "paused"
	// StatusFailed: the stack's creation failed on what the verification
	// found; the onboarding was never opened. A later onboarding.created
	// opens it.
	StatusFailed = "failed"
)

var (
	// ErrManagementAccountChanged: the organization is stored under another
	// management account. An organization's management account never
	// changes, so this is someone else's claim.
	ErrManagementAccountChanged = errors.New("organization is registered to another management account")
)

// Onboarding is what the vendor knows about one organization (or one
// account, for a single-account stack): the merge of every event accepted.
//
// An organization may report through more than one stack: with a
// delegated administrator, one stack runs in the administrator's account
// (the StackSet, every member) and one in the management account (its own
// role). Stacks keeps each stack's own view; the fields above it are the
// merge (see mergeStacks).
type Onboarding struct {
	// Key names the file: the organization id, or the management account
	// id when there is no organization.
	Key            string `json:"key"`
	OrganizationID string `json:"organization_id,omitempty"`
	// ManagementAccountID is the organization's management account; an
	// organization is bound to it by its first event.
	ManagementAccountID string                 `json:"management_account_id"`
	Status              string                 `json:"status"`
	StackID             string                 `json:"stack_id"`
	Region              string                 `json:"region"`
	Accounts            []callback.Account     `json:"accounts"` // by account id
	CUR                 callback.CUR           `json:"cur"`
	InventoryRegions    []string               `json:"inventory_regions"`
	PermissionSet       callback.PermissionSet `json:"permission_set"`
	Notes               []string               `json:"notes"`
	ExternalIDRotatedAt *time.Time             `json:"external_id_rotated_at,omitempty"`
	PausedAt            *time.Time             `json:"paused_at,omitempty"`
	// LastEvent is the newest event applied; an older one arriving later
	// is recorded but not applied.
	LastEvent EventRef `json:"last_event"`
	// CallerARN is who signed the last accepted event's identity proof.
	CallerARN string    `json:"caller_arn"`
	UpdatedAt time.Time `json:"updated_at"`
	// EventIDs are the ids accepted, oldest first, at most 512: a
	// re-delivery of one of them is answered without processing it.
	EventIDs []string `json:"event_ids,omitempty"`
	// Stacks are the reporting stacks' own views, by stack id. Each holds
	// that stack's accounts, status, settings and last event; its Key,
	// EventIDs and Stacks are unused.
	Stacks map[string]*Onboarding `json:"stacks,omitempty"`
	// StackAccountID is, in a stack's view, the account the stack runs in.
	StackAccountID string `json:"stack_account_id,omitempty"`
	// CallAs is, in a stack's view, how it runs the StackSet.
	CallAs string `json:"call_as,omitempty"`
	// Heartbeat is the last daily digest of the scheduled
	// re-verification (payload 1.3).
	Heartbeat *Heartbeat `json:"heartbeat,omitempty"`
	// Timeline is every event accepted, in the order received, at most
	// the last 10,000: what happened to the organization and when.
	Timeline []TimelineEntry `json:"timeline,omitempty"`
}

// Heartbeat is a heartbeat's news: the stack was alive at At, with these
// counts, and this many callbacks waiting in its outbox.
type Heartbeat struct {
	At      time.Time       `json:"at"`
	StackID string          `json:"stack_id"`
	Counts  callback.Counts `json:"counts"`
	Pending *int            `json:"pending_events,omitempty"`
}

// TimelineEntry is one accepted event in short: what happened, when, and
// to which accounts. An event about the whole set (created, updated,
// deleted, a heartbeat) is kept as counts; one about some accounts (added,
// removed, drifted, restored, failed) lists them.
type TimelineEntry struct {
	ID         string           `json:"id"`
	Event      callback.Event   `json:"event"`
	OccurredAt time.Time        `json:"occurred_at"`
	ReceivedAt time.Time        `json:"received_at"`
	StackID    string           `json:"stack_id"`
	Stale      bool             `json:"stale,omitempty"`
	Counts     *callback.Counts `json:"counts,omitempty"`
	Accounts   []TimelineChange `json:"accounts,omitempty"`
}

// TimelineChange is one account in a timeline entry.
type TimelineChange struct {
	AccountID      string          `json:"account_id"`
	Status         callback.Status `json:"status"`
	PreviousStatus callback.Status `json:"previous_status,omitempty"`
}

// timelineEntry summarises an accepted message.
func timelineEntry(m *callback.Message, receivedAt time.Time, stale bool) TimelineEntry {
	p := &m.Payload
	e := TimelineEntry{ID: m.ID, Event: p.Event, OccurredAt: p.OccurredAt.UTC(), ReceivedAt: receivedAt.UTC(), StackID: p.StackID, Stale: stale}
	switch p.Event {
	case callback.EventOnboardingCreated, callback.EventOnboardingUpdated, callback.EventOnboardingDeleted:
		c := callback.CountsOf(p.Accounts)
		e.Counts = &c
	case callback.EventHeartbeat:
		if p.Counts != nil {
			c := *p.Counts
			e.Counts = &c
		}
	default:
		for _, a := range p.Accounts {
			e.Accounts = append(e.Accounts, TimelineChange{AccountID: a.AccountID, Status: a.Status, PreviousStatus: a.PreviousStatus})
		}
	}
	return e
}

// EventRef names one event.
type EventRef struct {
	ID         string         `json:"id"`
	Event      callback.Event `json:"event"`
	OccurredAt time.Time      `json:"occurred_at"`
}

// Outcome is what Store.Apply did with a message.
type Outcome string

// Outcomes of Apply.
const (
	OutcomeStored    Outcome = "stored"
	OutcomeDuplicate Outcome = "duplicate"
	OutcomeStale     Outcome = "stale"
)

// KeyOf returns the key an onboarding is kept under: its organization id,
// or its management account id when it has none.
func KeyOf(p *callback.Payload) string {
	return cmp.Or(p.OrganizationID, p.ManagementAccountID)
}

// ManagementAccountOf returns the organization's management account as p
// states it: the stack's own account, unless the stack runs in a delegated
// administrator's account and names the management account.
func ManagementAccountOf(p *callback.Payload) string {
	return cmp.Or(p.OrganizationManagementAccountID, p.ManagementAccountID)
}

// New returns the empty onboarding a first message from p's organization
// starts from.
func New(p *callback.Payload) *Onboarding {
	return &Onboarding{Key: KeyOf(p), OrganizationID: p.OrganizationID, ManagementAccountID: ManagementAccountOf(p), Stacks: map[string]*Onboarding{}}
}

// Apply merges a verified message into o, the onboarding of its
// organization, and returns the timeline entry to keep for it.
// onboarding.created and .updated replace the account set, account.added
// and .removed adjust it, onboarding.deleted pauses the onboarding. An
// event older than the last one applied from its stack is recorded but not
// applied (OutcomeStale). The caller checks duplicates and that o is m's
// organization under the same management account (ErrManagementAccountChanged).
func Apply(o *Onboarding, m *callback.Message, receivedAt time.Time) (Outcome, TimelineEntry) {
	p := &m.Payload
	if o.Stacks == nil {
		o.Stacks = map[string]*Onboarding{}
		if o.StackID != "" {
			// Stored before stacks were kept apart: all of it is one
			// stack's.
			v := *o
			v.Stacks, v.EventIDs = nil, nil
			o.Stacks[o.StackID] = &v
		}
	}
	st := o.Stacks[p.StackID]
	if st == nil {
		st = &Onboarding{StackID: p.StackID}
		o.Stacks[p.StackID] = st
	}
	outcome := OutcomeStored
	// Compare whole seconds: EventBridge stamps events to the second, so an
	// account event in the same second as an update is not older than it.
	// Each stack's events are ordered among themselves.
	if st.LastEvent.ID != "" && p.OccurredAt.Truncate(time.Second).Before(st.LastEvent.OccurredAt.Truncate(time.Second)) {
		outcome = OutcomeStale
	} else {
		merge(st, m)
		st.StackAccountID, st.CallAs = p.ManagementAccountID, p.CallAs
		mergeStacks(o)
		o.UpdatedAt = receivedAt.UTC()
	}
	return outcome, timelineEntry(m, receivedAt, outcome == OutcomeStale)
}

// mergeStacks sets the organization's view from its stacks' views: an
// account's entry comes from the stack that runs in that account, if one
// reports it (a management account's own stack knows its role best),
// else from the stack that reported last; the settings and the last event
// come from the stack that reported last; the organization is active while
// any stack is, failed if every stack failed, paused otherwise.
func mergeStacks(o *Onboarding) {
	stacks := slices.SortedFunc(maps.Values(o.Stacks), func(a, b *Onboarding) int {
		return a.LastEvent.OccurredAt.Compare(b.LastEvent.OccurredAt)
	})
	if len(stacks) == 0 {
		return
	}
	latest := stacks[len(stacks)-1]
	accounts := map[string]callback.Account{}
	owned := map[string]bool{}
	for _, st := range stacks { // oldest first: later reports win
		for _, a := range st.Accounts {
			if owned[a.AccountID] && st.StackAccountID != a.AccountID {
				continue
			}
			accounts[a.AccountID] = a
			if st.StackAccountID == a.AccountID {
				owned[a.AccountID] = true
			}
		}
	}
	o.Accounts = slices.SortedFunc(maps.Values(accounts), func(a, b callback.Account) int { return cmp.Compare(a.AccountID, b.AccountID) })
	if o.Accounts == nil {
		o.Accounts = []callback.Account{}
	}
	o.OrganizationID = cmp.Or(latest.OrganizationID, o.OrganizationID)
	o.StackID, o.Region = latest.StackID, latest.Region
	o.CUR, o.InventoryRegions, o.PermissionSet, o.Notes = latest.CUR, latest.InventoryRegions, latest.PermissionSet, latest.Notes
	o.LastEvent, o.CallerARN = latest.LastEvent, latest.CallerARN
	for _, st := range stacks {
		if hb := st.Heartbeat; hb != nil && (o.Heartbeat == nil || !hb.At.Before(o.Heartbeat.At)) {
			o.Heartbeat = hb
		}
	}
	o.ExternalIDRotatedAt, o.PausedAt = nil, nil
	active, failed := 0, 0
	for _, st := range stacks {
		switch st.Status {
		case StatusActive:
			active++
		case StatusFailed:
			failed++
		case StatusPaused:
			o.PausedAt = st.PausedAt
		}
		if st.ExternalIDRotatedAt != nil && (o.ExternalIDRotatedAt == nil || st.ExternalIDRotatedAt.After(*o.ExternalIDRotatedAt)) {
			o.ExternalIDRotatedAt = st.ExternalIDRotatedAt
		}
	}
	switch {
	case active > 0:
		o.Status, o.PausedAt = StatusActive, nil
	case failed == len(stacks):
		o.Status = StatusFailed
	default:
		o.Status = StatusPaused
	}
}

// merge applies m to o.
func merge(o *Onboarding, m *callback.Message) {
	p := &m.Payload
	o.CallerARN = m.Caller.ARN
	o.LastEvent = EventRef{ID: m.ID, Event: p.Event, OccurredAt: p.OccurredAt.UTC()}
	o.Notes = p.Notes
	byID := func(a, b callback.Account) int { return cmp.Compare(a.AccountID, b.AccountID) }
	upsert := func(accounts []callback.Account) {
		for _, a := range accounts {
			a.PreviousStatus = "" // the timeline keeps the change
			if i := slices.IndexFunc(o.Accounts, func(b callback.Account) bool { return b.AccountID == a.AccountID }); i >= 0 {
				o.Accounts[i] = a
			} else {
				o.Accounts = append(o.Accounts, a)
			}
		}
	}
	if p.Event == callback.EventVerificationFailed && o.Status != "" {
		// A failed update rolls the stack's settings back: keep the
		// onboarding's settings, record what the verification found.
		upsert(p.Accounts)
		slices.SortFunc(o.Accounts, byID)
		return
	}
	o.OrganizationID = p.OrganizationID
	o.StackID, o.Region = p.StackID, p.Region
	o.CUR, o.InventoryRegions, o.PermissionSet = p.CUR, p.InventoryRegions, p.PermissionSet
	if p.ExternalIDRotated {
		at := p.OccurredAt.UTC()
		o.ExternalIDRotatedAt = &at
	}
	switch p.Event {
	case callback.EventOnboardingCreated, callback.EventOnboardingUpdated:
		o.Accounts = slices.Clone(p.Accounts)
		o.Status, o.PausedAt = StatusActive, nil
	case callback.EventVerificationFailed:
		// The first word about this organization is a failed creation:
		// keep what was found, but the onboarding was never opened.
		o.Accounts = slices.Clone(p.Accounts)
		o.Status = StatusFailed
	case callback.EventAccountAdded, callback.EventVerificationDrifted, callback.EventVerificationRestored:
		upsert(p.Accounts)
	case callback.EventHeartbeat:
		if p.Counts != nil {
			o.Heartbeat = &Heartbeat{At: p.OccurredAt.UTC(), StackID: p.StackID, Counts: *p.Counts, Pending: p.PendingEvents}
		}
	case callback.EventAccountRemoved:
		gone := map[string]bool{}
		for _, a := range p.Accounts {
			gone[a.AccountID] = true
		}
		o.Accounts = slices.DeleteFunc(o.Accounts, func(a callback.Account) bool { return gone[a.AccountID] })
	case callback.EventOnboardingDeleted:
		// The accounts' last known statuses, as the function recorded them.
		if len(p.Accounts) > 0 {
			o.Accounts = slices.Clone(p.Accounts)
		}
		at := p.OccurredAt.UTC()
		o.Status, o.PausedAt = StatusPaused, &at
	}
	if o.Status == "" {
		o.Status = StatusActive // an account event before the creation's
	}
	slices.SortFunc(o.Accounts, byID)
	if o.Accounts == nil {
		o.Accounts = []callback.Account{}
	}
}
