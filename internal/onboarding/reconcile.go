package onboarding

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/rolecall/rolecall/callback"
	"github.com/rolecall/rolecall/internal/permissions"
	"github.com/rolecall/rolecall/internal/state"
)

// ScheduleSource is the source of the event the stack's schedule sends.
const ScheduleSource = "rolecall.schedule"

// HeartbeatEvery is how often a scheduled run sends the heartbeat digest.
const HeartbeatEvery = 24 * time.Hour

// reconcileLease names the lease scheduled runs and instance events share.
const reconcileLease = "reconcile"

// ledgerAPI is the part of *state.Store the scheduled re-verification and
// the outbox use, besides stateAPI.
type ledgerAPI interface {
	Transition(ctx context.Context, from callback.Status, r state.Record) (bool, error)
	ForgetIf(ctx context.Context, accountID string, status callback.Status) (bool, error)
	Enqueue(ctx context.Context, entries ...state.Pending) error
	Pending(ctx context.Context) ([]state.Pending, error)
	Remove(ctx context.Context, ids ...string) error
	Dropped(ctx context.Context) (int, int64, error)
	AddDropped(ctx context.Context, n int) error
	ResetDropped(ctx context.Context, n int, revision int64) error
	AcquireLease(ctx context.Context, name, owner string, now, expires time.Time) (bool, error)
	ReleaseLease(ctx context.Context, name, owner string) error
	ClaimHeartbeat(ctx context.Context, now time.Time, every time.Duration) (bool, error)
}

// ScheduledEvent is what the stack's schedule (EventBridge Scheduler) sends
// the function, filled from the scheduler's context attributes. The
// scheduled time names one firing: it is the time the schedule specified,
// so a retry of that firing carries it again, and the callbacks a firing
// produces take their ids from it. AWS documents the execution id as
// unique per attempted invocation, so whether a retry keeps it is not
// certain: it only names the run in logs and in the lease.
type ScheduledEvent struct {
	Source        string `json:"source"`
	ExecutionID   string `json:"execution_id"`
	ScheduledTime string `json:"scheduled_time"`
	// Heartbeat is "daily" or "off" (the stack's Heartbeat parameter).
	Heartbeat string `json:"heartbeat"`
}

// IsScheduledEvent reports whether raw comes from the stack's schedule.
func IsScheduledEvent(raw json.RawMessage) bool {
	var probe struct {
		Source string `json:"source"`
	}
	return json.Unmarshal(raw, &probe) == nil && probe.Source == ScheduleSource
}

var executionIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`)

// ParseScheduledEvent reads and checks a scheduled event.
func ParseScheduledEvent(raw json.RawMessage) (ScheduledEvent, error) {
	var ev ScheduledEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return ev, fmt.Errorf("scheduled event: %w", err)
	}
	var errs []string
	if ev.Source != ScheduleSource {
		errs = append(errs, fmt.Sprintf("source %q is not %s", clip(ev.Source, 40), ScheduleSource))
	}
	if len(ev.ExecutionID) > 200 || !executionIDPattern.MatchString(ev.ExecutionID) {
		errs = append(errs, fmt.Sprintf("execution_id %q is not an execution id", clip(ev.ExecutionID, 80)))
	}
	if _, err := time.Parse(time.RFC3339, ev.ScheduledTime); err != nil {
		errs = append(errs, fmt.Sprintf("scheduled_time %q is not an RFC 3339 time", clip(ev.ScheduledTime, 80)))
	}
	switch ev.Heartbeat {
	case "daily", "off":
	default:
		errs = append(errs, fmt.Sprintf("heartbeat %q is not daily or off", clip(ev.Heartbeat, 40)))
	}
	if len(errs) > 0 {
		return ev, fmt.Errorf("scheduled event: %s: the schedule's input is the template's; deploy the template your vendor published", strings.Join(errs, "; "))
	}
	return ev, nil
}

// Run is what one scheduled re-verification did, for its log line.
type Run struct {
	Accounts                          int
	Drifted, Restored, Added, Removed int
	Heartbeat                         bool
	// Calls are the AWS calls the verification made, PaidCalls those AWS
	// charges for (Cost Explorer, the management account's only).
	Calls, PaidCalls            int64
	Delivered, Pending, Dropped int
	// Skipped says why the run did nothing: another run held the lease.
	Skipped string
	// NotReached counts the accounts the deadline kept from being
	// verified; the next run starts with them.
	NotReached int
}

// Reconcile is the scheduled re-verification: it verifies every role the
// onboarding has now (the management account's and one per StackSet
// instance, also instances no event announced), compares each with the
// status last reported, and tells the vendor only what changed
// (verification.drifted, verification.restored, account.added,
// account.removed) plus a daily heartbeat. Every callback goes through the
// outbox: kept first, then sent oldest first, so nothing is lost while the
// vendor is down. It returns an error, so the schedule's retry policy
// tries again, only when it could not verify or record at all.
func (s *Service) Reconcile(ctx context.Context, raw json.RawMessage) (Run, error) {
	var run Run
	ev, err := ParseScheduledEvent(raw)
	if err != nil {
		s.Logger.WarnContext(ctx, "ignored a malformed scheduled event", "error", err)
		return run, nil
	}
	log := s.Logger.With("executionId", ev.ExecutionID, "scheduledTime", ev.ScheduledTime)
	if s.SettingsErr != nil {
		return run, s.SettingsErr
	}
	if s.State == nil || s.Ledger == nil {
		return run, errors.New("scheduled re-verification needs the state table, and the function has none: deploy the template your vendor published")
	}
	cfg, secret, err := s.configFromStack(ctx)
	if err != nil {
		return run, err
	}
	now := s.Now()
	owner := "schedule:" + ev.ExecutionID
	ok, err := s.Ledger.AcquireLease(ctx, reconcileLease, owner, now, now.Add(leaseTime(ctx)))
	if err != nil {
		return run, err
	}
	if !ok {
		run.Skipped = "another run holds the lease"
		log.InfoContext(ctx, "scheduled re-verification skipped: another run is verifying", "lease", reconcileLease)
		return run, nil
	}
	defer func() {
		if err := s.Ledger.ReleaseLease(context.WithoutCancel(ctx), reconcileLease, owner); err != nil {
			log.WarnContext(ctx, "lease not released; it expires on its own", "error", err)
		}
	}()

	previous, err := s.State.All(ctx)
	if err != nil {
		// Without the last statuses there is nothing to compare with:
		// fail, rather than report every account as new.
		return run, fmt.Errorf("scheduled re-verification: %w", err)
	}
	stackID := s.Settings.StackID
	account := accountOfARN(stackID)
	last := make(map[string]time.Time, len(previous))
	for id, r := range previous {
		last[id] = r.VerifiedAt
	}
	out, err := s.verifyAll(ctx, cfg, account, verifyOpts{freeMembers: true, lastVerified: last,
		// A change is news only if a second verification sees it too.
		secondLook: func(a callback.Account) bool {
			prev, ok := previous[a.AccountID]
			return ok && prev.Status != a.Status
		}})
	if err != nil {
		return run, fmt.Errorf("scheduled re-verification: %w", err)
	}
	run.Accounts = len(out.accounts)
	run.Calls, run.PaidCalls = out.summary.Calls, out.summary.PaidCalls
	// An account the deadline kept from being verified is not compared:
	// its record stays as it is, and the next run, which starts with the
	// accounts verified longest ago, verifies it first.
	reached := out.accounts
	if len(out.notReached) > 0 {
		reached = slices.DeleteFunc(slices.Clone(out.accounts), func(a callback.Account) bool { return slices.Contains(out.notReached, a.AccountID) })
		log.WarnContext(ctx, "the deadline came before every account was verified; the next run starts with them", "notReached", len(out.notReached), "of", len(out.accounts))
	}
	run.NotReached = len(out.notReached)
	changes := diff(previous, reached, out.notReached)
	// The counts take an account not reached at its last known status.
	known := slices.Clone(reached)
	for _, id := range out.notReached {
		if r, ok := previous[id]; ok {
			known = append(known, callback.Account{AccountID: id, RoleARN: r.RoleARN, Status: r.Status})
		}
	}
	tally := callback.CountsOf(known)
	counts := &tally
	org := s.organizationOf(ctx)
	requestID := "schedule:" + ev.ScheduledTime
	build := func(event callback.Event, accounts []callback.Account) callback.Payload {
		p := s.payload(event, stackID, requestID, org, account, cfg, accounts)
		p.Counts = counts
		return p
	}
	var payloads []callback.Payload
	for _, c := range []struct {
		event    callback.Event
		accounts []callback.Account
	}{
		{callback.EventVerificationDrifted, changes.drifted},
		{callback.EventVerificationRestored, changes.restored},
		{callback.EventAccountAdded, changes.added},
		{callback.EventAccountRemoved, changes.removed},
	} {
		if len(c.accounts) > 0 {
			payloads = append(payloads, build(c.event, c.accounts))
		}
	}
	// Kept before the records change: if the run dies after recording,
	// the outbox still has the news (a retry finds nothing new to say).
	if err := s.keep(ctx, now, payloads...); err != nil {
		return run, err
	}
	lost, err := s.record(ctx, out.verifiedAt, changes)
	if err != nil {
		// The news stays in the outbox: some changes may be recorded and
		// would not be found again. A change that is not recorded is
		// found again by the next run and reported under that run's id
		// too: told twice rather than never.
		return run, err
	}
	if len(out.notReached) > 0 {
		// Cut short: stamp the accounts verified unchanged, so the next
		// run, which starts with the accounts verified longest ago, starts
		// with the ones this run did not reach. Only a run cut short pays
		// these writes.
		for _, a := range reached {
			prev, ok := previous[a.AccountID]
			if _, changed := changes.from[a.AccountID]; changed || !ok {
				continue
			}
			if _, err := s.Ledger.Transition(ctx, prev.Status, state.Record{AccountID: a.AccountID, RoleARN: a.RoleARN, Status: a.Status, PermissionSet: permissions.Version, VerifiedAt: out.verifiedAt, Account: a}); err != nil {
				log.WarnContext(ctx, "a verification is not stamped; the next run may verify it early", "account", a.AccountID, "error", err)
			}
		}
	}
	if len(lost) > 0 {
		// Another writer (a stack update) recorded these accounts since
		// they were read, and told the vendor: rebuild what this run keeps
		// without them.
		if err := s.rebuild(ctx, now, payloads, lost, build); err != nil {
			return run, err
		}
	}
	run.Drifted, run.Restored, run.Added, run.Removed = len(changes.drifted), len(changes.restored), len(changes.added), len(changes.removed)
	if ev.Heartbeat == "daily" {
		claimed, err := s.Ledger.ClaimHeartbeat(ctx, now, HeartbeatEvery-time.Hour)
		if err != nil {
			log.WarnContext(ctx, "heartbeat not claimed", "error", err)
		}
		if claimed {
			hb := build(callback.EventHeartbeat, nil)
			if err := s.keep(ctx, now, hb); err != nil {
				return run, err
			}
			run.Heartbeat = true
		}
	}
	flushed := s.flush(ctx, cfg, secret)
	run.Delivered, run.Pending, run.Dropped = flushed.delivered, flushed.pending, flushed.dropped
	s.emit(ctx, tally, flushed.pending)
	log.InfoContext(ctx, "scheduled re-verification",
		"accounts", run.Accounts, "verified", counts.Verified, "gaps", counts.Gaps, "finding", counts.Finding,
		"unverifiable", counts.Unverifiable, "unreachable", counts.Unreachable,
		"drifted", run.Drifted, "restored", run.Restored, "added", run.Added, "removed", run.Removed,
		"heartbeat", run.Heartbeat, "delivered", run.Delivered, "pending", run.Pending, "dropped", run.Dropped, "callbackStatus", flushed.status,
		"secondLooks", out.secondLooks, "awsCalls", out.summary.Calls, "paidRequests", out.summary.PaidCalls, "durationMs", out.summary.Duration.Milliseconds())
	return run, nil
}

// emit writes the verification's metrics; a failure is logged.
func (s *Service) emit(ctx context.Context, counts callback.Counts, pending int) {
	if err := emitMetrics(s.Metrics, s.Now(), s.Settings.StackID, counts, pending); err != nil {
		s.Logger.WarnContext(ctx, "metrics not written", "error", err)
	}
}

// leaseTime is how long a run may hold the lease: until its own deadline,
// and a minute more, so a run that dies leaves it to expire.
func leaseTime(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return time.Until(dl) + time.Minute
	}
	return 16 * time.Minute
}

// changes are what a scheduled run found different from the records.
type changes struct {
	drifted, restored, added, removed []callback.Account
	// from is each changed account's status on record ("" for a new one).
	from map[string]callback.Status
	// now are the changed accounts' new entries (not the removed ones).
	now map[string]callback.Account
}

// diff compares the accounts verified now with the records; the accounts
// not reached are neither compared nor taken for gone.
func diff(previous map[string]state.Record, accounts []callback.Account, notReached []string) changes {
	c := changes{from: map[string]callback.Status{}, now: map[string]callback.Account{}}
	seen := map[string]bool{}
	for _, id := range notReached {
		seen[id] = true
	}
	for _, a := range accounts {
		seen[a.AccountID] = true
		prev, known := previous[a.AccountID]
		switch {
		case !known:
			c.added = append(c.added, a)
		case prev.Status == a.Status:
			continue
		case a.Status == callback.StatusVerified:
			a.PreviousStatus = prev.Status
			c.restored = append(c.restored, a)
		default:
			a.PreviousStatus = prev.Status
			c.drifted = append(c.drifted, a)
		}
		c.from[a.AccountID] = prev.Status
		c.now[a.AccountID] = a
	}
	for _, id := range slices.Sorted(maps.Keys(previous)) {
		if seen[id] {
			continue
		}
		prev := previous[id]
		c.removed = append(c.removed, callback.Account{AccountID: id, RoleARN: prev.RoleARN, Status: callback.StatusUnreachable,
			Diagnoses: []callback.Diagnosis{{Code: "account_removed", Message: "the account is no longer among the StackSet's instances: it left the onboarding's organizational units or the organization; its role was deleted"}}})
		c.from[id] = prev.Status
	}
	return c
}

// record writes each change, if the record is still what the run read,
// and returns the accounts another writer changed first.
func (s *Service) record(ctx context.Context, at time.Time, c changes) (map[string]bool, error) {
	lost := map[string]bool{}
	var errs []error
	for id, a := range c.now {
		a.PreviousStatus = ""
		ok, err := s.Ledger.Transition(ctx, c.from[id], state.Record{AccountID: id, RoleARN: a.RoleARN, Status: a.Status, PermissionSet: permissions.Version, VerifiedAt: at, Account: a})
		if err != nil {
			errs = append(errs, err)
		} else if !ok {
			lost[id] = true
		}
	}
	for _, a := range c.removed {
		ok, err := s.Ledger.ForgetIf(ctx, a.AccountID, c.from[a.AccountID])
		if err != nil {
			errs = append(errs, err)
		} else if !ok {
			lost[a.AccountID] = true
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("scheduled re-verification: %d changes not recorded: %w", len(errs), errors.Join(errs[:min(len(errs), 3)]...))
	}
	return lost, nil
}

// rebuild replaces the kept payloads that name lost accounts by ones
// without them (or by nothing).
func (s *Service) rebuild(ctx context.Context, now time.Time, payloads []callback.Payload, lost map[string]bool, build func(callback.Event, []callback.Account) callback.Payload) error {
	for _, p := range payloads {
		kept := slices.DeleteFunc(slices.Clone(p.Accounts), func(a callback.Account) bool { return lost[a.AccountID] })
		if len(kept) == len(p.Accounts) {
			continue
		}
		if err := s.Ledger.Remove(ctx, p.ID); err != nil {
			return err
		}
		if len(kept) > 0 {
			if err := s.keep(ctx, now, build(p.Event, kept)); err != nil {
				return err
			}
		}
	}
	return nil
}

// keep puts callbacks in the outbox. One too large for it is counted as
// dropped (and reported with the next delivered callback), not an error.
func (s *Service) keep(ctx context.Context, now time.Time, payloads ...callback.Payload) error {
	for _, p := range payloads {
		body, err := json.Marshal(p)
		if err != nil {
			return err
		}
		err = s.Ledger.Enqueue(ctx, state.Pending{ID: p.ID, Event: string(p.Event), Body: body, CreatedAt: s.stamp(now)})
		if errors.Is(err, state.ErrTooLarge) {
			s.Logger.ErrorContext(ctx, "a callback too large for the outbox is dropped", "event", string(p.Event), "id", p.ID, "error", err)
			if err := s.Ledger.AddDropped(ctx, 1); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// stamp returns now, or just after the last stamp it gave: callbacks kept
// in one run keep the order they were kept in.
func (s *Service) stamp(now time.Time) time.Time {
	s.stampMu.Lock()
	defer s.stampMu.Unlock()
	if !now.After(s.lastStamp) {
		now = s.lastStamp.Add(time.Nanosecond)
	}
	s.lastStamp = now
	return now
}

// flushed is what a flush of the outbox did.
type flushed struct {
	delivered, pending, dropped int
	// sent are the vendor's answers to the callbacks delivered, by id.
	sent map[string]callback.Result
	// status is one line for the log and the outputs.
	status string
}

// flush sends the outbox's callbacks, oldest first, each with its
// original id, and stops at the first the vendor does not take: the
// order is kept for the next run. Entries beyond the outbox's bounds are
// dropped first, and the count of drops goes with the next callback
// delivered.
func (s *Service) flush(ctx context.Context, cfg Config, secret string) flushed {
	f := flushed{sent: map[string]callback.Result{}}
	pending, err := s.Ledger.Pending(ctx)
	if err != nil {
		f.status = clip("outbox not read: "+err.Error(), 250)
		return f
	}
	if expired := state.Expired(pending, s.Now()); len(expired) > 0 {
		ids := make([]string, len(expired))
		for i, p := range expired {
			ids[i] = p.ID
		}
		s.Logger.WarnContext(ctx, "callbacks dropped from the outbox: beyond its bounds", "count", len(ids), "maxEntries", state.MaxPending, "maxAge", state.MaxPendingAge.String())
		if err := s.Ledger.Remove(ctx, ids...); err == nil {
			if err := s.Ledger.AddDropped(ctx, len(ids)); err != nil {
				s.Logger.ErrorContext(ctx, "dropped callbacks not counted", "error", err)
			}
		}
		pending = slices.DeleteFunc(pending, func(p state.Pending) bool { return slices.Contains(ids, p.ID) })
	}
	f.pending = len(pending)
	if len(pending) == 0 {
		f.status = "nothing to tell"
		return f
	}
	sender, err := s.NewSender(secret, cfg.CallbackAudience)
	if err != nil {
		f.status = clip("not told: "+err.Error(), 250)
		return f
	}
	for i, entry := range pending {
		var p callback.Payload
		if err := json.Unmarshal(entry.Body, &p); err != nil {
			s.dropUndeliverable(ctx, entry, err)
			f.pending--
			f.dropped++
			continue
		}
		waiting := len(pending) - i - 1
		p.PendingEvents = &waiting
		dropped, revision, err := s.Ledger.Dropped(ctx)
		if err == nil && dropped > 0 {
			p.DroppedEvents = &dropped
		}
		res, err := sender.Deliver(ctx, cfg.CallbackURL, p)
		if errors.Is(err, callback.ErrInvalidPayload) {
			s.dropUndeliverable(ctx, entry, err)
			f.pending--
			f.dropped++
			continue
		}
		if err != nil {
			f.status = clip(fmt.Sprintf("not told: %s not delivered after %d attempts: %v; %d callbacks wait in the outbox", p.Event, res.Attempts, err, f.pending), 250)
			return f
		}
		f.delivered++
		f.pending--
		f.sent[entry.ID] = res
		if err := s.Ledger.Remove(ctx, entry.ID); err != nil {
			// Delivered but still kept: the next run sends it again with
			// the same id, which the vendor recognises.
			s.Logger.WarnContext(ctx, "a delivered callback is still in the outbox", "id", entry.ID, "error", err)
		}
		if p.DroppedEvents != nil {
			if err := s.Ledger.ResetDropped(ctx, dropped, revision); err != nil {
				s.Logger.WarnContext(ctx, "the dropped count was not reset; the next callback reports it again", "error", err)
			}
		}
	}
	f.status = fmt.Sprintf("told %d callback%s", f.delivered, plural(f.delivered))
	return f
}

// dropUndeliverable drops an entry no retry can deliver (it does not
// validate), counting it.
func (s *Service) dropUndeliverable(ctx context.Context, entry state.Pending, why error) {
	s.Logger.ErrorContext(ctx, "a kept callback can never be delivered; dropped", "id", entry.ID, "event", entry.Event, "error", why)
	if err := s.Ledger.Remove(ctx, entry.ID); err == nil {
		if err := s.Ledger.AddDropped(ctx, 1); err != nil {
			s.Logger.ErrorContext(ctx, "dropped callback not counted", "error", err)
		}
	}
}
