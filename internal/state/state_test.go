package state_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/rolecall/rolecall/callback"
	"github.com/rolecall/rolecall/internal/emulator"
	"github.com/rolecall/rolecall/internal/emulator/emulatortest"
	"github.com/rolecall/rolecall/internal/state"
)

// newTable creates the state table as the onboarding template does and
// returns a store for it, used with the policy the template gives the
// function: the table's own ARN only.
func newTable(t *testing.T, srv *emulator.Server, name string) (*state.Store, *dynamodb.Client) {
	t.Helper()
	// The package's moto outlives a test (and -count reruns): each table
	// and user gets a name of its own.
	name = fmt.Sprintf("%s-%x", name, mrand.Uint32())
	admin := dynamodb.NewFromConfig(srv.Config())
	if _, err := admin.CreateTable(t.Context(), &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}, {AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}, {AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange}},
	}); err != nil {
		t.Fatal(err)
	}
	arn := fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", emulator.DefaultRegion, emulator.DefaultAccountID, name)
	policy, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
		"Effect": "Allow", "Action": []string{"dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Query"}, "Resource": arn,
	}}})
	fn, err := emulator.CreateUser(t.Context(), srv.Config(), "fn-"+name, string(policy))
	if err != nil {
		t.Fatal(err)
	}
	db := dynamodb.NewFromConfig(fn)
	return state.New(db, name), db
}

func record(id string, status callback.Status, at time.Time) state.Record {
	return state.Record{
		AccountID: id, RoleARN: "arn:aws:iam::" + id + ":role/VendorReadOnly", Status: status, PermissionSet: "2026-12.1", VerifiedAt: at,
		Account: callback.Account{AccountID: id, RoleARN: "arn:aws:iam::" + id + ":role/VendorReadOnly", Status: status,
			Findings: []callback.Finding{{Kind: "all_actions", Source: "s", PolicyType: "managed", Action: "*", Detail: "d"}}},
	}
}

func TestStoreKeepsTheNewestVerificationOfEachAccount(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Shared(t)
	s, _ := newTable(t, srv, "rolecall-state")
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

	n, err := s.Save(t.Context(), []state.Record{record("111111111111", callback.StatusVerified, t0), record("222222222222", callback.StatusFinding, t0)})
	if err != nil || n != 2 {
		t.Fatalf("Save: %d, %v", n, err)
	}
	// A newer verification replaces; an older one, arriving late (an
	// overlapping run), does not.
	if n, err := s.Save(t.Context(), []state.Record{record("111111111111", callback.StatusUnverifiable, t0.Add(time.Minute))}); err != nil || n != 1 {
		t.Fatalf("newer Save: %d, %v", n, err)
	}
	if n, err := s.Save(t.Context(), []state.Record{record("111111111111", callback.StatusVerified, t0.Add(30*time.Second))}); err != nil || n != 0 {
		t.Fatalf("older Save wrote %d, %v; want it dropped", n, err)
	}
	all, err := s.All(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all["111111111111"].Status != callback.StatusUnverifiable || !all["111111111111"].VerifiedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("state %+v", all)
	}
	got := all["222222222222"]
	if got.Status != callback.StatusFinding || got.Account.Findings[0].Action != "*" || got.PermissionSet != "2026-12.1" || got.RoleARN != "arn:aws:iam::222222222222:role/VendorReadOnly" {
		t.Errorf("record %+v", got)
	}
	if err := s.Forget(t.Context(), "222222222222"); err != nil {
		t.Fatal(err)
	}
	if all, _ := s.All(t.Context()); len(all) != 1 {
		t.Errorf("after Forget: %d records, want 1", len(all))
	}
}

func TestStoreRefusesAFormatFromTheFuture(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Shared(t)
	s, _ := newTable(t, srv, "rolecall-state-future")
	admin := dynamodb.NewFromConfig(srv.Config())
	if _, err := admin.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(s.Table()), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "ACCOUNT"}, "sk": &types.AttributeValueMemberS{Value: "111111111111"},
		"format": &types.AttributeValueMemberN{Value: fmt.Sprint(state.Format + 1)}, "verifiedAt": &types.AttributeValueMemberN{Value: "1"},
	}}); err != nil {
		t.Fatal(err)
	}
	_, err := s.All(t.Context())
	if !errors.Is(err, state.ErrNewerFormat) || !strings.Contains(err.Error(), "111111111111") {
		t.Fatalf("All = %v, want ErrNewerFormat naming the account", err)
	}
}

// The function's policy names its own table; moto, taught to authorise
// DynamoDB calls by the table they name, denies any other.
func TestStoreIsDeniedAnotherTable(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Shared(t)
	_, db := newTable(t, srv, "rolecall-state-own")
	other, _ := newTable(t, srv, "someone-elses")
	_, err := state.New(db, other.Table()).All(t.Context())
	if code := emulator.ErrorCode(err); code != "AccessDeniedException" && code != "AccessDenied" {
		t.Fatalf("reading another table: %v (code %q), want AccessDenied", err, code)
	}
}

func TestStoreKeepsAHugeReportSlim(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Shared(t)
	s, _ := newTable(t, srv, "rolecall-state-huge")
	r := record("333333333333", callback.StatusFinding, time.Now())
	noise := func() string { b := make([]byte, 64); _, _ = rand.Read(b); return hex.EncodeToString(b) }
	for i := range 5000 {
		r.Account.Findings = append(r.Account.Findings, callback.Finding{Kind: "write_action", Source: "policy " + noise(), PolicyType: "inline", Action: fmt.Sprintf("svc%d:Act%d", i, i*31), Detail: noise()})
	}
	if _, err := s.Save(t.Context(), []state.Record{r}); err != nil {
		t.Fatal(err)
	}
	all, err := s.All(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	got := all["333333333333"]
	if got.Status != callback.StatusFinding || got.Account.FindingsTotal != len(r.Account.Findings) || len(got.Account.Findings) != 0 || got.Account.Diagnoses[0].Code != "state_truncated" {
		t.Errorf("slim record: status %s, %d findings of %d, %d diagnoses", got.Status, len(got.Account.Findings), got.Account.FindingsTotal, len(got.Account.Diagnoses))
	}
}

func TestMain(m *testing.M) { emulatortest.Main(m) }

// Of two runs that saw the same change, one records it (and reports it);
// the other's condition fails. A record changed by another run is not
// refreshed over.
func TestTransitionLetsOneRunReportAChange(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Shared(t)
	s, _ := newTable(t, srv, "rolecall-state-transition")
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	id := "444444444444"

	// A new account: only the first to record it wins.
	if ok, err := s.Transition(t.Context(), "", record(id, callback.StatusVerified, t0)); !ok || err != nil {
		t.Fatalf("first Transition from none: %v, %v", ok, err)
	}
	if ok, err := s.Transition(t.Context(), "", record(id, callback.StatusVerified, t0.Add(time.Second))); ok || err != nil {
		t.Fatalf("second Transition from none: %v, %v; want lost", ok, err)
	}
	// Two runs see verified -> finding at once.
	results := make(chan bool, 2)
	for i := range 2 {
		go func() {
			ok, err := s.Transition(t.Context(), callback.StatusVerified, record(id, callback.StatusFinding, t0.Add(time.Duration(i+2)*time.Second)))
			if err != nil {
				t.Error(err)
			}
			results <- ok
		}()
	}
	if a, b := <-results, <-results; a == b {
		t.Fatalf("two runs reporting the same change: wins %v and %v, want exactly one", a, b)
	}
	// A refresh from verified (stale view) does not overwrite the finding.
	if ok, err := s.Transition(t.Context(), callback.StatusVerified, record(id, callback.StatusVerified, t0.Add(time.Minute))); ok || err != nil {
		t.Fatalf("refresh over a changed record: %v, %v; want refused", ok, err)
	}
	// Nor does an older verification of the same status.
	if ok, err := s.Transition(t.Context(), callback.StatusFinding, record(id, callback.StatusFinding, t0)); ok || err != nil {
		t.Fatalf("older refresh: %v, %v; want refused", ok, err)
	}
	all, err := s.All(t.Context())
	if err != nil || all[id].Status != callback.StatusFinding {
		t.Fatalf("record %+v, %v; want finding", all[id], err)
	}
	if ok, err := s.ForgetIf(t.Context(), id, callback.StatusVerified); ok || err != nil {
		t.Fatalf("ForgetIf with the wrong status: %v, %v", ok, err)
	}
	if ok, err := s.ForgetIf(t.Context(), id, callback.StatusFinding); !ok || err != nil {
		t.Fatalf("ForgetIf: %v, %v", ok, err)
	}
	// Whatever the status: once, while there is a record.
	if ok, err := s.Transition(t.Context(), "", record(id, callback.StatusGaps, t0.Add(time.Hour))); !ok || err != nil {
		t.Fatalf("record again: %v, %v", ok, err)
	}
	if ok, err := s.ForgetIf(t.Context(), id, ""); !ok || err != nil {
		t.Fatalf("ForgetIf any: %v, %v", ok, err)
	}
	if ok, err := s.ForgetIf(t.Context(), id, ""); ok || err != nil {
		t.Fatalf("ForgetIf any, with no record: %v, %v; want nothing done", ok, err)
	}
	if all, _ := s.All(t.Context()); len(all) != 0 {
		t.Errorf("after ForgetIf: %v", all)
	}
}

// The outbox keeps each callback once, gives them back oldest first with
// their bodies intact, and forgets what was removed.
func TestOutboxKeepsCallbacksInOrder(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Shared(t)
	s, _ := newTable(t, srv, "rolecall-state-outbox")
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	body := func(i int) []byte {
		return []byte(fmt.Sprintf(`{"id":"evt_%d","accounts":[%s]}`, i, strings.Repeat(`{"x":1},`, 100)+`{}`))
	}
	entries := []state.Pending{
		{ID: "evt_c", Event: "heartbeat", Body: body(3), CreatedAt: t0.Add(2 * time.Minute)},
		{ID: "evt_a", Event: "verification.drifted", Body: body(1), CreatedAt: t0},
		{ID: "evt_b", Event: "account.added", Body: body(2), CreatedAt: t0.Add(time.Minute)},
	}
	if err := s.Enqueue(t.Context(), entries...); err != nil {
		t.Fatal(err)
	}
	// Kept again by another run: nothing changes.
	again := entries[1]
	again.CreatedAt = t0.Add(time.Hour)
	if err := s.Enqueue(t.Context(), again); err != nil {
		t.Fatal(err)
	}
	got, err := s.Pending(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].ID != "evt_a" || got[1].ID != "evt_b" || got[2].ID != "evt_c" {
		t.Fatalf("pending %v, want evt_a, evt_b, evt_c", got)
	}
	if string(got[0].Body) != string(body(1)) || got[0].Event != "verification.drifted" || !got[0].CreatedAt.Equal(t0) {
		t.Errorf("entry %+v changed", got[0])
	}
	// Not in the accounts partition.
	if all, err := s.All(t.Context()); err != nil || len(all) != 0 {
		t.Errorf("All: %v, %v; the outbox is apart", all, err)
	}
	if err := s.Remove(t.Context(), "evt_a", "evt_c"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Pending(t.Context()); len(got) != 1 || got[0].ID != "evt_b" {
		t.Errorf("after Remove: %v", got)
	}
	// A body that does not fit an item is refused, by name.
	noise := make([]byte, 600<<10)
	_, _ = rand.Read(noise)
	err = s.Enqueue(t.Context(), state.Pending{ID: "evt_huge", Event: "onboarding.created", Body: noise, CreatedAt: t0})
	if !errors.Is(err, state.ErrTooLarge) || !strings.Contains(err.Error(), "evt_huge") {
		t.Errorf("huge Enqueue: %v, want ErrTooLarge naming it", err)
	}
}

func TestExpiredAppliesTheOutboxBounds(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	var pending []state.Pending
	for i := range state.MaxPending + 3 {
		pending = append(pending, state.Pending{ID: fmt.Sprintf("evt_%04d", i), CreatedAt: now.Add(-time.Duration(state.MaxPending+3-i) * time.Minute)})
	}
	pending[5].CreatedAt = now.Add(-state.MaxPendingAge - time.Second) // out of order on purpose: age alone
	got := state.Expired(pending, now)
	var ids []string
	for _, p := range got {
		ids = append(ids, p.ID)
	}
	if want := []string{"evt_0000", "evt_0001", "evt_0002", "evt_0005"}; strings.Join(ids, ",") != strings.Join(want, ",") {
		t.Errorf("expired %v, want %v (the 3 beyond the bound and the one too old)", ids, want)
	}
	if got := state.Expired(pending[:10], now); len(got) != 1 {
		t.Errorf("under the bound, only the old entry expires: %v", got)
	}
}

// The dropped count adds up across runs and is reset only by what was
// reported.
func TestDroppedCountIsReportedOnce(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Shared(t)
	s, _ := newTable(t, srv, "rolecall-state-dropped")
	if n, _, err := s.Dropped(t.Context()); n != 0 || err != nil {
		t.Fatalf("fresh count %d, %v", n, err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if err := s.AddDropped(t.Context(), 2); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	n, rev, err := s.Dropped(t.Context())
	if n != 8 || err != nil {
		t.Fatalf("count after 4 concurrent drops of 2: %d, %v; want 8", n, err)
	}
	// Reported 8; a drop after the report is kept.
	if err := s.AddDropped(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	if err := s.ResetDropped(t.Context(), n, rev); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := s.Dropped(t.Context()); n != 9 {
		t.Errorf("a reset at an old revision changed the count to %d; want 9 kept", n)
	}
	n, rev, _ = s.Dropped(t.Context())
	if err := s.ResetDropped(t.Context(), n, rev); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := s.Dropped(t.Context()); n != 0 {
		t.Errorf("after the reset: %d", n)
	}
}

// One run holds the lease at a time; an expired lease is taken over; only
// the holder releases it. One run at a time wins the daily heartbeat.
func TestLeaseAndHeartbeatGoToOneRun(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Shared(t)
	s, _ := newTable(t, srv, "rolecall-state-lease")
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	if ok, err := s.AcquireLease(t.Context(), "reconcile", "run-a", t0, t0.Add(15*time.Minute)); !ok || err != nil {
		t.Fatalf("run a: %v, %v", ok, err)
	}
	if ok, err := s.AcquireLease(t.Context(), "reconcile", "run-b", t0.Add(time.Minute), t0.Add(16*time.Minute)); ok || err != nil {
		t.Fatalf("run b while a holds it: %v, %v", ok, err)
	}
	if err := s.ReleaseLease(t.Context(), "reconcile", "run-b"); err != nil {
		t.Fatal(err)
	}
	// Still a's: b's release did nothing; after it expires, b takes it.
	if ok, _ := s.AcquireLease(t.Context(), "reconcile", "run-b", t0.Add(10*time.Minute), t0.Add(25*time.Minute)); ok {
		t.Fatal("b took a lease a still holds")
	}
	if ok, err := s.AcquireLease(t.Context(), "reconcile", "run-b", t0.Add(16*time.Minute), t0.Add(31*time.Minute)); !ok || err != nil {
		t.Fatalf("b after expiry: %v, %v", ok, err)
	}
	if err := s.ReleaseLease(t.Context(), "reconcile", "run-b"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.AcquireLease(t.Context(), "reconcile", "run-c", t0.Add(17*time.Minute), t0.Add(32*time.Minute)); !ok {
		t.Fatal("c could not take a released lease")
	}

	if ok, err := s.ClaimHeartbeat(t.Context(), t0, 24*time.Hour); !ok || err != nil {
		t.Fatalf("first heartbeat: %v, %v", ok, err)
	}
	if ok, _ := s.ClaimHeartbeat(t.Context(), t0.Add(12*time.Hour), 24*time.Hour); ok {
		t.Fatal("a second heartbeat 12 hours later")
	}
	wins := 0
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			ok, err := s.ClaimHeartbeat(t.Context(), t0.Add(24*time.Hour), 24*time.Hour)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d runs won the day's heartbeat, want 1", wins)
	}
}
