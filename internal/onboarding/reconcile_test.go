package onboarding

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/rolecall/rolecall/callback"
	"github.com/rolecall/rolecall/internal/emulator"
	"github.com/rolecall/rolecall/internal/emulator/emulatortest"
	"github.com/rolecall/rolecall/internal/params"
	"github.com/rolecall/rolecall/internal/permissions"
	"github.com/rolecall/rolecall/internal/state"
	"github.com/rolecall/rolecall/internal/synth"
	"github.com/rolecall/rolecall/internal/verify"
)

func TestMain(m *testing.M) { emulatortest.Main(m) }

// stateTable creates a state table on the package's moto, as the template
// does, and returns a store used with the function's policy: PutItem,
// DeleteItem and Query on that table only.
func stateTable(t *testing.T) *state.Store {
	t.Helper()
	srv := emulatortest.Shared(t)
	// The package's moto outlives a test (and -count reruns): each table
	// and user gets a name of its own.
	name := fmt.Sprintf("state-%s-%x", strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())), rand.Uint32())
	admin := dynamodb.NewFromConfig(srv.Config())
	if _, err := admin.CreateTable(t.Context(), &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          dbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []dbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: dbtypes.ScalarAttributeTypeS}, {AttributeName: aws.String("sk"), AttributeType: dbtypes.ScalarAttributeTypeS}},
		KeySchema:            []dbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: dbtypes.KeyTypeHash}, {AttributeName: aws.String("sk"), KeyType: dbtypes.KeyTypeRange}},
	}); err != nil {
		t.Fatal(err)
	}
	arn := fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", emulator.DefaultRegion, emulator.DefaultAccountID, name)
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["dynamodb:PutItem","dynamodb:DeleteItem","dynamodb:Query"],"Resource":"` + arn + `"}]}`
	fn, err := emulator.CreateUser(t.Context(), srv.Config(), "fn-"+name, policy)
	if err != nil {
		t.Fatal(err)
	}
	return state.New(dynamodb.NewFromConfig(fn), name)
}

// seedVerified records the accounts as verified, as a stack's creation
// does: the first at the time given, each next one a minute later (the
// order a scheduled run, oldest first, verifies them in).
func seedVerified(t *testing.T, store *state.Store, at time.Time, ids ...string) {
	t.Helper()
	var seed []state.Record
	for i, id := range ids {
		arn := "arn:aws:iam::" + id + ":role/VendorReadOnly"
		seed = append(seed, state.Record{AccountID: id, RoleARN: arn, Status: callback.StatusVerified, PermissionSet: permissions.Version,
			VerifiedAt: at.Add(time.Duration(i) * time.Minute), Account: callback.Account{AccountID: id, RoleARN: arn, Status: callback.StatusVerified}})
	}
	if _, err := store.Save(t.Context(), seed); err != nil {
		t.Fatal(err)
	}
}

// vendor is the vendor's endpoint as the function's sender meets it: up
// or down, validating as the real sender does, keeping what it took.
type vendor struct {
	mu       sync.Mutex
	down     bool
	attempts int
	received []callback.Payload
}

func (v *vendor) Deliver(_ context.Context, _ string, p callback.Payload) (callback.Result, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.attempts++
	if _, err := p.Marshal(); err != nil {
		return callback.Result{}, err
	}
	if v.down {
		return callback.Result{Attempts: 5, StatusCode: 503}, errors.New("HTTP 503 after 5 attempts")
	}
	v.received = append(v.received, p)
	return callback.Result{Delivered: true, Attempts: 1, StatusCode: 200}, nil
}

func (v *vendor) events() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []string
	for _, p := range v.received {
		ids := make([]string, len(p.Accounts))
		for i, a := range p.Accounts {
			ids[i] = a.AccountID
			if a.PreviousStatus != "" {
				ids[i] += ":" + string(a.PreviousStatus) + ">" + string(a.Status)
			}
		}
		out = append(out, string(p.Event)+"["+strings.Join(ids, ",")+"]")
	}
	return out
}

// org is a scripted organization: the StackSet's instances and each
// account's status, changed between runs.
type org struct {
	mu       sync.Mutex
	members  []string
	statuses map[string]verify.Status
}

func (o *org) instances() []cftypes.StackInstanceSummary {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []cftypes.StackInstanceSummary
	for _, m := range o.members {
		out = append(out, instance(m, cftypes.StackInstanceStatusCurrent, cftypes.StackInstanceDetailedStatusSucceeded, ""))
	}
	return out
}

func (o *org) report(r verify.Role) verify.Report {
	o.mu.Lock()
	defer o.mu.Unlock()
	st := o.statuses[r.AccountID]
	if st == "" {
		st = verify.StatusVerified
	}
	rep := verify.Report{AccountID: r.AccountID, RoleARN: r.RoleARN, Status: st}
	if st == verify.StatusFinding {
		rep.Findings = []verify.Finding{{Kind: "all_actions", Source: "attached policy arn:aws:iam::aws:policy/AdministratorAccess", PolicyType: "managed", Action: "*", Detail: "AdministratorAccess was attached"}}
	}
	return rep
}

// scheduled is the schedule's event for the firing at the given time.
func scheduled(id string, at time.Time, heartbeat string) json.RawMessage {
	b, _ := json.Marshal(ScheduledEvent{Source: ScheduleSource, ExecutionID: id, ScheduledTime: at.Format(time.RFC3339), Heartbeat: heartbeat})
	return b
}

// reconcileService is a function whose state is a real table on moto.
func reconcileService(t *testing.T, o *org, v *vendor, clock *time.Time) (*Service, *state.Store) {
	t.Helper()
	store := stateTable(t)
	s := newService(&fakeVerifier{report: o.report}, fakeStacks{params: stackParams(), instances: o.instances()}, nil)
	s.NewSender = func(string, string) (deliverer, error) { return v, nil }
	s.State, s.Ledger = store, store
	s.Now = func() time.Time { return *clock }
	return s, store
}

func (s *Service) withInstances(o *org) {
	f := s.Stacks.(fakeStacks)
	f.instances = o.instances()
	s.Stacks = f
}

// The acceptance scenario of continuous assurance, with the schedule
// played by the test (moto has no EventBridge Scheduler that fires): the
// vendor is down for two runs while a role drifts and is restored, then up
// while an account joins without an event and another leaves. Every event
// arrives once, in order, with the id it was first given; the heartbeat
// comes once a day.
func TestReconcileTellsOnlyChangesAndLosesNothingWhileTheVendorIsDown(t *testing.T) {
	t.Parallel()
	m1, m2, m3, m4 := "222222222222", "333333333333", "444444444444", "555555555555"
	o := &org{members: []string{m1, m2, m3}, statuses: map[string]verify.Status{}}
	v := &vendor{}
	clock := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	s, store := reconcileService(t, o, v, &clock)
	ctx := t.Context()
	metrics := &strings.Builder{}
	s.Metrics = metrics

	// What the stack's creation recorded: every role verified.
	seedVerified(t, store, clock.Add(-time.Hour), mgmtAccount, m1, m2, m3)

	// Run 1: nothing changed; the day's heartbeat goes out.
	run, err := s.Reconcile(ctx, scheduled("exec-1", clock, "daily"))
	if err != nil || run.Accounts != 4 || run.Drifted+run.Restored+run.Added+run.Removed != 0 || !run.Heartbeat || run.Delivered != 1 {
		t.Fatalf("run 1: %+v, %v", run, err)
	}
	// Member roles are verified without paid probes; the management
	// account's keeps its own.
	verifier := s.Verifier.(*fakeVerifier)
	for _, r := range verifier.seen {
		if r.NoPaidProbes == r.Management {
			t.Errorf("role %s (management %v): NoPaidProbes %v", r.AccountID, r.Management, r.NoPaidProbes)
		}
	}
	// Run 2, 12 hours later: m1's role was given AdministratorAccess; the
	// vendor is down.
	clock = clock.Add(12 * time.Hour)
	o.statuses[m1] = verify.StatusFinding
	v.down = true
	run, err = s.Reconcile(ctx, scheduled("exec-2", clock, "daily"))
	if err != nil || run.Drifted != 1 || run.Heartbeat || run.Delivered != 0 || run.Pending != 1 {
		t.Fatalf("run 2: %+v, %v", run, err)
	}
	// The customer's own monitoring sees it: the run's metrics, in
	// CloudWatch's embedded metric format, say one account needs attention
	// and one callback waits.
	m := lastMetrics(t, metrics)
	if m["AccountsNeedingAttention"] != 1.0 || m["AccountsFinding"] != 1.0 || m["AccountsVerified"] != 3.0 || m["CallbacksWaiting"] != 1.0 || m["Stack"] != "onboarding" {
		t.Errorf("metrics after the drift: %v", m)
	}
	// Run 3: still down; the role was fixed; a day since the heartbeat.
	clock = clock.Add(12 * time.Hour)
	o.statuses[m1] = verify.StatusVerified
	run, err = s.Reconcile(ctx, scheduled("exec-3", clock, "daily"))
	if err != nil || run.Restored != 1 || !run.Heartbeat || run.Delivered != 0 || run.Pending != 3 {
		t.Fatalf("run 3: %+v, %v", run, err)
	}
	// Run 4: the vendor is back; m4 joined with no instance event, m3 left.
	clock = clock.Add(12 * time.Hour)
	v.down = false
	o.members = []string{m1, m2, m4}
	s.withInstances(o)
	run, err = s.Reconcile(ctx, scheduled("exec-4", clock, "daily"))
	if err != nil || run.Added != 1 || run.Removed != 1 || run.Delivered != 5 || run.Pending != 0 {
		t.Fatalf("run 4: %+v, %v", run, err)
	}
	want := []string{
		"heartbeat[]",
		"verification.drifted[" + m1 + ":verified>finding]",
		"verification.restored[" + m1 + ":finding>verified]",
		"heartbeat[]",
		"account.added[" + m4 + "]",
		"account.removed[" + m3 + "]",
	}
	if got := v.events(); !slices.Equal(got, want) {
		t.Fatalf("the vendor received\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	ids := map[string]bool{}
	for i, p := range v.received {
		if ids[p.ID] {
			t.Errorf("event %s delivered twice", p.ID)
		}
		ids[p.ID] = true
		if p.Counts == nil || p.Counts.Accounts != 4 {
			t.Errorf("%s carries counts %+v, want the run's 4 accounts", p.Event, p.Counts)
		}
		if i > 0 && p.OccurredAt.Before(v.received[i-1].OccurredAt) {
			t.Errorf("%s occurred before the event delivered ahead of it", p.Event)
		}
	}
	// The drift, kept by run 2, went out in run 4 with its own time and
	// the backlog behind it.
	drift := v.received[1]
	if !drift.OccurredAt.Equal(time.Date(2026, 12, 2, 22, 0, 0, 0, time.UTC)) || drift.PendingEvents == nil || *drift.PendingEvents != 4 {
		t.Errorf("drift occurred %v with %v pending; want run 2's time and 4 behind it", drift.OccurredAt, *drift.PendingEvents)
	}
	if a := drift.Accounts[0]; a.FindingsTotal != 1 || a.Findings[0].Action != "*" {
		t.Errorf("the drift carries no evidence: %+v", a)
	}
	// The records follow: m4 known, m3 forgotten, m1 verified.
	all, err := store.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := all[m3]; ok || all[m4].Status != callback.StatusVerified || all[m1].Status != callback.StatusVerified || len(all) != 4 {
		t.Errorf("records after run 4: %v", all)
	}
	// A retry of run 4's firing (another attempt, same scheduled time) has
	// nothing new to say.
	attempts := v.attempts
	if run, err := s.Reconcile(ctx, scheduled("exec-4-retry", clock, "daily")); err != nil || run.Delivered != 0 || v.attempts != attempts {
		t.Errorf("retry of run 4: %+v, %v, %d new attempts", run, err, v.attempts-attempts)
	}
}

// Two runs at once (a late firing overlapping the next): one verifies and
// reports, the other steps aside, so a change is reported once.
func TestReconcileRunsOneAtATime(t *testing.T) {
	t.Parallel()
	o := &org{members: []string{"222222222222"}, statuses: map[string]verify.Status{"222222222222": verify.StatusGaps}}
	v := &vendor{}
	clock := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	s, store := reconcileService(t, o, v, &clock)
	seedVerified(t, store, clock.Add(-time.Hour), mgmtAccount, "222222222222")
	gate := make(chan struct{})
	s.Verifier = &blockingVerifier{inner: &fakeVerifier{report: o.report}, gate: gate}
	done := make(chan Run, 2)
	for i := range 2 {
		go func() {
			run, err := s.Reconcile(t.Context(), scheduled(fmt.Sprintf("exec-%d", i), clock.Add(time.Duration(i)*time.Hour), "off"))
			if err != nil {
				t.Error(err)
			}
			done <- run
		}()
	}
	// The holder waits at the gate; the other finishes first, having
	// stepped aside. Then the holder goes through.
	var runs []Run
	select {
	case r := <-done:
		runs = append(runs, r)
	case <-time.After(30 * time.Second):
		close(gate)
		t.Fatal("neither run stepped aside")
	}
	close(gate)
	runs = append(runs, <-done)
	skipped := 0
	for _, r := range runs {
		if r.Skipped != "" {
			skipped++
		}
	}
	if skipped != 1 {
		t.Fatalf("runs %+v: want exactly one skipped", runs)
	}
	if got := v.events(); !slices.Equal(got, []string{"verification.drifted[222222222222:verified>gaps]"}) {
		t.Errorf("the vendor received %v, want one drift", got)
	}
}

// lastMetrics parses the last line written in the embedded metric format
// and checks its declaration: every metric named is a Count in the rolecall
// namespace, under the Stack dimension, and present in the line.
func lastMetrics(t *testing.T, w *strings.Builder) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(w.String()), "\n")
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &m); err != nil {
		t.Fatalf("metrics line %q: %v", lines[len(lines)-1], err)
	}
	var decl struct {
		Timestamp         int64
		CloudWatchMetrics []struct {
			Namespace  string
			Dimensions [][]string
			Metrics    []struct{ Name, Unit string }
		}
	}
	raw, _ := json.Marshal(m["_aws"])
	if err := json.Unmarshal(raw, &decl); err != nil || len(decl.CloudWatchMetrics) != 1 || decl.Timestamp == 0 {
		t.Fatalf("metrics declaration %s: %v", raw, err)
	}
	d := decl.CloudWatchMetrics[0]
	if d.Namespace != params.MetricNamespace || len(d.Dimensions) != 1 || len(d.Dimensions[0]) != 1 || d.Dimensions[0][0] != params.MetricDimension {
		t.Errorf("declaration %+v", d)
	}
	for _, metric := range d.Metrics {
		if _, ok := m[metric.Name]; !ok || metric.Unit != "Count" {
			t.Errorf("metric %+v declared but not in the line, or not a Count", metric)
		}
	}
	return m
}

// blockingVerifier holds every verification until gate is closed.
type blockingVerifier struct {
	inner verifier
	gate  chan struct{}
}

func (b *blockingVerifier) VerifyAll(ctx context.Context, roles iter.Seq[verify.Role], each func(verify.Report)) verify.Summary {
	<-b.gate
	return b.inner.VerifyAll(ctx, roles, each)
}

// Without the last statuses there is nothing to compare with: the run
// fails (the schedule retries), and tells the vendor nothing.
func TestReconcileFailsClosedWithoutItsRecords(t *testing.T) {
	t.Parallel()
	v := &vendor{}
	clock := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	s := newService(&fakeVerifier{}, fakeStacks{params: stackParams()}, nil)
	s.NewSender = func(string, string) (deliverer, error) { return v, nil }
	s.Now = func() time.Time { return clock }
	store := stateTable(t)
	s.Ledger = store
	s.State = &fakeState{err: errors.New("AccessDeniedException: not authorized to perform dynamodb:Query")}
	if _, err := s.Reconcile(t.Context(), scheduled("exec-1", clock, "daily")); err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Fatalf("Reconcile = %v, want the state table's error", err)
	}
	if len(v.received) != 0 || v.attempts != 0 {
		t.Errorf("the vendor was told %v", v.events())
	}
	s.State, s.Ledger = nil, nil
	if _, err := s.Reconcile(t.Context(), scheduled("exec-2", clock, "daily")); err == nil || !strings.Contains(err.Error(), "state table") {
		t.Errorf("without a state table: %v", err)
	}
}

// What the template's schedule sends, once EventBridge Scheduler fills its
// context attributes (AWS's documented examples) and CloudFormation the
// Heartbeat parameter, is an event the function accepts.
func TestTheTemplatesScheduleInputIsAScheduledEvent(t *testing.T) {
	for _, hb := range params.Heartbeat.AllowedValues {
		raw := strings.NewReplacer(
			"<aws.scheduler.execution-id>", "d32c5kddcf5bb8c3",
			"<aws.scheduler.scheduled-time>", "2022-03-22T18:59:43Z",
			"${Heartbeat}", hb,
		).Replace(synth.ScheduleInput)
		if !IsScheduledEvent(json.RawMessage(raw)) {
			t.Fatalf("%s is not recognised as the schedule's", raw)
		}
		ev, err := ParseScheduledEvent(json.RawMessage(raw))
		if err != nil || ev.Heartbeat != hb || ev.ExecutionID != "d32c5kddcf5bb8c3" {
			t.Errorf("%s: %+v, %v", raw, ev, err)
		}
	}
}

func TestParseScheduledEventRefusesWhatTheTemplateNeverSends(t *testing.T) {
	for _, tt := range []struct {
		raw, want string
	}{
		{`{"source":"rolecall.schedule","execution_id":"","scheduled_time":"2026-12-02T10:00:00Z","heartbeat":"daily"}`, "execution_id"},
		{`{"source":"rolecall.schedule","execution_id":"a b","scheduled_time":"2026-12-02T10:00:00Z","heartbeat":"daily"}`, "execution_id"},
		{`{"source":"rolecall.schedule","execution_id":"e-1","scheduled_time":"2026-12-02T10:00:00Z","heartbeat":"hourly"}`, "heartbeat"},
		{`{"source":"rolecall.schedule","execution_id":"e-1","scheduled_time":"2026-12-02T10:00:00Z"}`, "heartbeat"},
		{`{"source":"rolecall.schedule","execution_id":"e-1","scheduled_time":"<aws.scheduler.scheduled-time>","heartbeat":"off"}`, "scheduled_time"},
		{`{"source":"elsewhere","execution_id":"e-1","scheduled_time":"2026-12-02T10:00:00Z","heartbeat":"off"}`, "source"},
		{`[1]`, "scheduled event"},
	} {
		_, err := ParseScheduledEvent(json.RawMessage(tt.raw))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error about %s", tt.raw, err, tt.want)
		}
	}
	if !IsScheduledEvent(scheduled("e", time.Now(), "off")) || IsScheduledEvent(stackInstanceEvent("CREATE", "SUCCEEDED", "x", "")) {
		t.Error("IsScheduledEvent misreads")
	}
}

// With the state table's outbox, an instance event reports only what it is
// first to record, and a callback the vendor does not take is kept (the
// event is done, not retried) and goes out, in order, with the next run.
func TestInstanceEventsReportOnceAndKeepWhatTheVendorMissed(t *testing.T) {
	t.Parallel()
	v := &vendor{down: true}
	clock := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	o := &org{members: []string{"555555555555"}, statuses: map[string]verify.Status{}}
	s, store := reconcileService(t, o, v, &clock)
	ctx := fnCtx(t)
	joined := stackInstanceEvent("CREATE", "SUCCEEDED", "onboarding-roles", "")

	// The vendor is down: kept, not an error (nothing for Lambda to retry).
	if err := s.HandleStackInstanceEvent(ctx, joined); err != nil {
		t.Fatalf("an event kept in the outbox: %v", err)
	}
	if pending, err := store.Pending(ctx); err != nil || len(pending) != 1 || pending[0].Event != string(callback.EventAccountAdded) {
		t.Fatalf("outbox %v, %v; want the account.added", pending, err)
	}
	// The same event again (EventBridge delivers at least once): the
	// account is on record, nothing new to say.
	if err := s.HandleStackInstanceEvent(ctx, joined); err != nil {
		t.Fatal(err)
	}
	if pending, _ := store.Pending(ctx); len(pending) != 1 {
		t.Fatalf("outbox holds %d callbacks after a repeated event, want 1", len(pending))
	}
	// The vendor is back: the next callback takes the backlog with it,
	// oldest first.
	v.down = false
	clock = clock.Add(time.Minute)
	left := stackInstanceEvent("DELETE", "SUCCEEDED", "onboarding-roles", "")
	if err := s.HandleStackInstanceEvent(ctx, left); err != nil {
		t.Fatal(err)
	}
	if got, want := v.events(), []string{"account.added[555555555555]", "account.removed[555555555555]"}; !slices.Equal(got, want) {
		t.Fatalf("the vendor received %v, want %v", got, want)
	}
	// The account is gone from the record: a second removal says nothing.
	if err := s.HandleStackInstanceEvent(ctx, left); err != nil {
		t.Fatal(err)
	}
	if n := len(v.received); n != 2 {
		t.Errorf("a repeated removal was reported: %v", v.events())
	}
	if pending, _ := store.Pending(ctx); len(pending) != 0 {
		t.Errorf("outbox still holds %v", pending)
	}
}

// deadlineVerifier verifies the first n roles it is given and holds the
// others until the verification's deadline, as a slow AWS would: those
// are reported unreachable after it.
type deadlineVerifier struct {
	mu   sync.Mutex
	n    int
	seen []string
}

func (d *deadlineVerifier) VerifyAll(ctx context.Context, roles iter.Seq[verify.Role], each func(verify.Report)) verify.Summary {
	var s verify.Summary
	for r := range roles {
		d.mu.Lock()
		d.seen = append(d.seen, r.AccountID)
		reached := len(d.seen) <= d.n
		d.mu.Unlock()
		rep := verify.Report{AccountID: r.AccountID, RoleARN: r.RoleARN, Status: verify.StatusVerified}
		if !reached {
			<-ctx.Done()
			rep = verify.Unverified(r.AccountID, r.RoleARN, verify.Diagnosis{Code: "timeout", Message: ctx.Err().Error()})
		}
		s.Add(rep)
		each(rep)
	}
	return s
}

// A run the deadline cuts short reports nothing about the accounts it did
// not reach (no false drift, no account taken for gone), keeps their
// records, and the next run starts with them.
func TestReconcileCutShortResumesWithTheAccountsNotReached(t *testing.T) {
	t.Parallel()
	members := []string{"222222222222", "333333333333", "444444444444", "555555555555"}
	o := &org{members: members, statuses: map[string]verify.Status{}}
	v := &vendor{}
	clock := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	s, store := reconcileService(t, o, v, &clock)
	seedVerified(t, store, clock.Add(-time.Hour), append([]string{mgmtAccount}, members...)...)
	cut := &deadlineVerifier{n: 3} // the management account and two members
	s.Verifier = cut
	s.CallbackBudget = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	run, err := s.Reconcile(ctx, scheduled("exec-1", clock, "off"))
	if err != nil || run.NotReached != 2 || run.Drifted+run.Removed+run.Added != 0 {
		t.Fatalf("cut-short run: %+v, %v; want 2 not reached and nothing reported", run, err)
	}
	if got := v.events(); len(got) != 0 {
		t.Errorf("the vendor was told %v about a run cut short", got)
	}
	all, err := store.All(t.Context())
	if err != nil || len(all) != 5 {
		t.Fatalf("records %v, %v", all, err)
	}
	for _, id := range cut.seen[3:] {
		if all[id].Status != callback.StatusVerified {
			t.Errorf("the record of %s, not reached, became %s", id, all[id].Status)
		}
	}
	// The next run starts with the accounts verified longest ago: the
	// two not reached come first among the members.
	clock = clock.Add(12 * time.Hour)
	next := &fakeVerifier{}
	s.Verifier = next
	s.CallbackBudget = 0
	if run, err := s.Reconcile(t.Context(), scheduled("exec-2", clock, "off")); err != nil || run.NotReached != 0 {
		t.Fatalf("next run: %+v, %v", run, err)
	}
	var order []string
	for _, r := range next.seen {
		order = append(order, r.AccountID)
	}
	if want := append([]string{mgmtAccount}, cut.seen[3:]...); !slices.Equal(order[:3], want) {
		t.Errorf("the next run verified %v first, want %v", order, want)
	}
}

// racingLedger plays a stack update that records an account between the
// scheduled run's read of the records and its own write.
type racingLedger struct {
	ledgerAPI
	once  sync.Once
	store *state.Store
	race  state.Record
}

func (r *racingLedger) Transition(ctx context.Context, from callback.Status, rec state.Record) (bool, error) {
	if rec.AccountID == r.race.AccountID {
		r.once.Do(func() {
			if _, err := r.store.Save(ctx, []state.Record{r.race}); err != nil {
				panic(err)
			}
		})
	}
	return r.ledgerAPI.Transition(ctx, from, rec)
}

// A stack update that records (and tells the vendor about) an account
// while a scheduled run is comparing it wins: the scheduled run reports
// the other changes and leaves that account out.
func TestReconcileLeavesOutWhatAnUpdateRecordedMeanwhile(t *testing.T) {
	t.Parallel()
	m1, m2 := "222222222222", "333333333333"
	o := &org{members: []string{m1, m2}, statuses: map[string]verify.Status{m1: verify.StatusGaps, m2: verify.StatusGaps}}
	v := &vendor{}
	clock := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	s, store := reconcileService(t, o, v, &clock)
	seedVerified(t, store, clock.Add(-time.Hour), mgmtAccount, m1, m2)
	s.Ledger = &racingLedger{ledgerAPI: store, store: store,
		race: state.Record{AccountID: m1, RoleARN: "arn:aws:iam::" + m1 + ":role/VendorReadOnly", Status: callback.StatusGaps, VerifiedAt: clock.Add(-time.Minute)}}
	run, err := s.Reconcile(t.Context(), scheduled("exec-1", clock, "off"))
	if err != nil || run.Drifted != 2 {
		t.Fatalf("run: %+v, %v", run, err)
	}
	if got, want := v.events(), []string{"verification.drifted[" + m2 + ":verified>gaps]"}; !slices.Equal(got, want) {
		t.Errorf("the vendor received %v, want %v (the update told it about %s)", got, want, m1)
	}
	if pending, _ := store.Pending(t.Context()); len(pending) != 0 {
		t.Errorf("outbox left with %v", pending)
	}
}

// flakyVerifier answers unreachable the first time it verifies each
// account in flaky (a throttled or failed call), then as inner does.
type flakyVerifier struct {
	inner verifier
	mu    sync.Mutex
	flaky map[string]int
}

func (f *flakyVerifier) VerifyAll(ctx context.Context, roles iter.Seq[verify.Role], each func(verify.Report)) verify.Summary {
	return f.inner.VerifyAll(ctx, roles, func(r verify.Report) {
		f.mu.Lock()
		n, ok := f.flaky[r.AccountID]
		f.flaky[r.AccountID] = n + 1
		f.mu.Unlock()
		if ok && n == 0 {
			r = verify.Unverified(r.AccountID, r.RoleARN, verify.Diagnosis{Code: "assume_role_failed", Message: "Throttling: Rate exceeded"})
		}
		each(r)
	})
}

// A change seen once is verified once more before it is news: a
// transient failure is not reported as drift, a real change still is.
func TestReconcileReportsAChangeOnlyIfASecondLookSeesIt(t *testing.T) {
	t.Parallel()
	m1, m2 := "222222222222", "333333333333"
	o := &org{members: []string{m1, m2}, statuses: map[string]verify.Status{m2: verify.StatusFinding}}
	v := &vendor{}
	clock := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	s, store := reconcileService(t, o, v, &clock)
	seedVerified(t, store, clock.Add(-time.Hour), mgmtAccount, m1, m2)
	inner := &fakeVerifier{report: o.report}
	s.Verifier = &flakyVerifier{inner: inner, flaky: map[string]int{m1: 0}}
	run, err := s.Reconcile(t.Context(), scheduled("exec-1", clock, "off"))
	if err != nil || run.Drifted != 1 {
		t.Fatalf("run: %+v, %v; want one drift", run, err)
	}
	if got, want := v.events(), []string{"verification.drifted[" + m2 + ":verified>finding]"}; !slices.Equal(got, want) {
		t.Errorf("the vendor received %v, want %v (the throttled look at %s is not news)", got, want, m1)
	}
	if n := len(inner.seen); n != 5 {
		t.Errorf("%d verifications, want 5: three, then a second look at the two that changed", n)
	}
}
