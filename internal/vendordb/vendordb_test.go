package vendordb

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rolecall/rolecall/callback"
	"github.com/rolecall/rolecall/internal/ledger"
	"github.com/rolecall/rolecall/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var t0 = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)

// engines runs fn once on a fresh SQLite file and once on a fresh
// PostgreSQL database, each opened at the latest schema version.
func engines(t *testing.T, fn func(t *testing.T, dsn string, db *DB)) {
	t.Helper()
	for _, engine := range []Dialect{SQLite, Postgres} {
		t.Run(string(engine), func(t *testing.T) {
			dsn := newDSN(t, engine)
			db, err := Open(t.Context(), dsn, Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			if db.Dialect() != engine {
				t.Fatalf("dialect %s, want %s", db.Dialect(), engine)
			}
			fn(t, dsn, db)
		})
	}
}

func newDSN(t *testing.T, engine Dialect) string {
	t.Helper()
	if engine == Postgres {
		return pgtest.Database(t)
	}
	return filepath.Join(t.TempDir(), "vendor.db")
}

func customer(id, name, keyID string) *Customer {
	return &Customer{ID: id, Name: name, CreatedAt: t0, Region: "us-east-1", Release: "latest",
		ExternalIDSealed: "rcv1:k1:sealed-ext-" + id, ExternalIDHash: "hash-" + id, SecretSealed: "rcv1:k1:sealed-secret-" + id, KeyID: keyID}
}

func message(id string, event callback.Event, org, management string, at time.Time, accounts ...callback.Account) *callback.Message {
	p := callback.Payload{Version: callback.Version, Event: event, ID: id, OccurredAt: at, SentAt: at, OrganizationID: org, ManagementAccountID: management,
		StackID: "arn:aws:cloudformation:us-east-1:" + management + ":stack/vendor-onboarding/1", Region: "us-east-1", Accounts: accounts,
		CUR: callback.CUR{Bucket: "cur-" + management, Prefix: "cur/"}, InventoryRegions: []string{"us-east-1"}}
	return &callback.Message{ID: id, Timestamp: at, Payload: p, Caller: callback.Identity{Account: management, ARN: "arn:aws:sts::" + management + ":assumed-role/fn/x"}}
}

func account(id string, status callback.Status) callback.Account {
	return callback.Account{AccountID: id, RoleARN: "arn:aws:iam::" + id + ":role/VendorReadOnly", Status: status}
}

func TestMigrationsFromEmpty(t *testing.T) {
	engines(t, func(t *testing.T, dsn string, db *DB) {
		v, err := db.Version(t.Context())
		if err != nil || v != Latest() || v < 2 {
			t.Fatalf("version %d, %v; want the latest, %d", v, err, Latest())
		}
		// Opening again applies nothing and keeps the data.
		if err := db.AddCustomer(t.Context(), customer("cus_aaaaaaaaaaaaaaaa", "Acme", "rk_a"), "op_1"); err != nil {
			t.Fatal(err)
		}
		again, err := Open(t.Context(), dsn, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer again.Close()
		if _, err := again.Customer(t.Context(), "cus_aaaaaaaaaaaaaaaa"); err != nil {
			t.Fatalf("after reopening: %v", err)
		}
		var n int
		if err := again.SQL().QueryRowContext(t.Context(), "SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil || n != Latest() {
			t.Fatalf("schema_migrations holds %d rows (%v), want %d", n, err, Latest())
		}
	})
}

// A database of every earlier version, with a customer and a callback in
// it, migrates to the latest and keeps them; the newest version's columns
// are not there before.
func TestMigrationFromThePreviousVersion(t *testing.T) {
	for _, engine := range []Dialect{SQLite, Postgres} {
		for from := 1; from < Latest(); from++ {
			t.Run(fmt.Sprintf("%s/from-%d", engine, from), func(t *testing.T) {
				ctx := t.Context()
				dsn := newDSN(t, engine)
				old, err := Open(ctx, dsn, Options{UpTo: from})
				if err != nil {
					t.Fatal(err)
				}
				if v, _ := old.Version(ctx); v != from {
					t.Fatalf("built version %d, want %d", v, from)
				}
				if err := old.AddCustomer(ctx, customer("cus_bbbbbbbbbbbbbbbb", "Bee", "rk_b"), "op_b"); err != nil {
					t.Fatal(err)
				}
				// The callback, as version 1's columns hold it (this build's
				// Record needs the latest schema).
				m := message("ev1", callback.EventOnboardingCreated, "o-bbbbbbbbbb", "111111111111", t0,
					account("111111111111", callback.StatusVerified), account("222222222222", callback.StatusGaps))
				o := ledger.New(&m.Payload)
				_, entry := ledger.Apply(o, m, t0)
				state, _ := json.Marshal(o)
				entryJSON, _ := json.Marshal(entry)
				for _, q := range []struct {
					sql  string
					args []any
				}{
					{`INSERT INTO organizations (org_key, customer_id, management_account_id, status, accounts, verified, gaps, finding, unverifiable, unreachable, state, updated_at)
						VALUES (?, ?, ?, 'active', 2, 1, 1, 0, 0, 0, ?, ?)`, []any{"o-bbbbbbbbbb", "cus_bbbbbbbbbbbbbbbb", "111111111111", string(state), micros(t0)}},
					{`INSERT INTO events (customer_id, org_key, event_id, event, outcome, occurred_at, received_at, entry) VALUES (?, ?, 'ev1', 'onboarding.created', 'stored', ?, ?, ?)`,
						[]any{"cus_bbbbbbbbbbbbbbbb", "o-bbbbbbbbbb", micros(t0), micros(t0), string(entryJSON)}},
				} {
					if _, err := old.SQL().ExecContext(ctx, old.q(q.sql), q.args...); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := old.SQL().ExecContext(ctx, "SELECT org_proof FROM organizations"); err == nil {
					t.Fatal("the previous version already has the latest columns: the test builds the wrong version")
				}
				_ = old.Close()

				db, err := Open(ctx, dsn, Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				org, got, err := db.Onboarding(ctx, "o-bbbbbbbbbb")
				if err != nil {
					t.Fatal(err)
				}
				if org.Counts.Accounts != 2 || org.Counts.Gaps != 1 || org.Confirmed != 0 || org.ConfirmedAt != nil || org.Proof != ProofNone || len(got.Accounts) != 2 {
					t.Fatalf("after migrating: %+v, %d accounts", org, len(got.Accounts))
				}
				if tl, err := db.Timeline(ctx, "o-bbbbbbbbbb", 10); err != nil || len(tl.Timeline) != 1 {
					t.Fatalf("the timeline after migrating: %v", err)
				}
				// And the latest code goes on from there.
				if _, err := db.Record(ctx, "cus_bbbbbbbbbbbbbbbb", message("ev2", callback.EventAccountAdded, "o-bbbbbbbbbb", "111111111111", t0.Add(time.Second),
					account("333333333333", callback.StatusVerified)), t0); err != nil {
					t.Fatal(err)
				}
				err = db.SaveConfirmations(ctx, "o-bbbbbbbbbb", "cus_bbbbbbbbbbbbbbbb", t0, []Confirmation{
					{AccountID: "111111111111", RoleARN: "r1", Status: "verified", ExternalID: "current", CheckedAt: t0, Report: []byte(`{}`)},
					{AccountID: "222222222222", RoleARN: "r2", Status: "unreachable", ExternalID: "current", CheckedAt: t0, Report: []byte(`{}`)},
				}, true, "verified", ProofProven, "", "op_c")
				if err != nil {
					t.Fatal(err)
				}
				org, _, _ = db.Onboarding(ctx, "o-bbbbbbbbbb")
				if org.Confirmed != 1 || org.ConfirmFailed != 1 || org.ConfirmedAt == nil || org.Proof != ProofProven {
					t.Fatalf("confirmations after migrating: %+v", org)
				}
			})
		}
	}
}

func TestOpenRefusesANewerOrAlteredSchema(t *testing.T) {
	engines(t, func(t *testing.T, dsn string, db *DB) {
		ctx := t.Context()
		if _, err := db.SQL().ExecContext(ctx, db.q("INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, 'future', 'x', 0)"), Latest()+1); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(ctx, dsn, Options{}); err == nil || !strings.Contains(err.Error(), "newer than this rolecall-vendor knows") {
			t.Fatalf("a newer schema: %v", err)
		}
		if _, err := db.SQL().ExecContext(ctx, db.q("DELETE FROM schema_migrations WHERE version = ?"), Latest()+1); err != nil {
			t.Fatal(err)
		}
		if _, err := db.SQL().ExecContext(ctx, "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1"); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(ctx, dsn, Options{}); err == nil || !strings.Contains(err.Error(), "must never change") {
			t.Fatalf("an altered migration: %v", err)
		}
	})
}

func TestOpenSaysWhatIsWrongWithTheDatabase(t *testing.T) {
	for dsn, want := range map[string]string{
		"":                         "pass --database",
		"mysql://u@h/db":           "only postgres:// URLs and SQLite file paths",
		"sqlite:/tmp/x.db?mode=ro": "without query options",
		"postgres://u:hunter2@127.0.0.1:1/db?connect_timeout=2": "127.0.0.1:1",
	} {
		_, err := Open(t.Context(), dsn, Options{})
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%q) = %v; want an error naming %q, never the password", dsn, err, want)
		}
	}
	path := filepath.Join(t.TempDir(), "sub", "vendor.db")
	db, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the SQLite file: %v, %v; want mode 0600", fi.Mode(), err)
	}
}

func TestBindingAndClaims(t *testing.T) {
	engines(t, func(t *testing.T, _ string, db *DB) {
		ctx := t.Context()
		a, b := "cus_aaaaaaaaaaaaaaaa", "cus_bbbbbbbbbbbbbbbb"
		for _, c := range []*Customer{customer(a, "Acme", "rk_a"), customer(b, "Bee", "rk_b")} {
			if err := db.AddCustomer(ctx, c, "op_"+c.ID); err != nil {
				t.Fatal(err)
			}
		}
		rec, err := db.Record(ctx, a, message("a1", callback.EventOnboardingCreated, "o-aaaaaaaaaa", "111111111111", t0, account("111111111111", callback.StatusVerified)), t0)
		if err != nil || !rec.Bound || rec.Outcome != ledger.OutcomeStored {
			t.Fatalf("first callback: %+v, %v; want stored and bound", rec, err)
		}
		c, _ := db.Customer(ctx, a)
		if c.ManagementAccountID != "111111111111" || c.BoundAt == nil {
			t.Fatalf("customer after its first callback: %+v", c)
		}
		// The same customer from another management account: refused.
		_, err = db.Record(ctx, a, message("a2", callback.EventOnboardingCreated, "o-cccccccccc", "333333333333", t0, account("333333333333", callback.StatusVerified)), t0)
		if !errors.Is(err, ErrForeignAccount) {
			t.Fatalf("a callback from another account: %v, want ErrForeignAccount", err)
		}
		// Another customer claiming the organization A holds: refused, and
		// it binds nothing.
		_, err = db.Record(ctx, b, message("b1", callback.EventOnboardingUpdated, "o-aaaaaaaaaa", "111111111111", t0, account("111111111111", callback.StatusFinding)), t0)
		if !errors.Is(err, ErrOrganizationHeld) {
			t.Fatalf("squatting: %v, want ErrOrganizationHeld", err)
		}
		if c, _ := db.Customer(ctx, b); c.ManagementAccountID != "" {
			t.Fatalf("the refused squatter was bound to %s", c.ManagementAccountID)
		}
		org, o, _ := db.Onboarding(ctx, "o-aaaaaaaaaa")
		if org.CustomerID != a || o.Accounts[0].Status != callback.StatusVerified {
			t.Fatalf("the organization after the squat: held by %s, status %s", org.CustomerID, o.Accounts[0].Status)
		}
		// A re-delivery changes nothing; the log holds each event once.
		rec, err = db.Record(ctx, a, message("a1", callback.EventOnboardingCreated, "o-aaaaaaaaaa", "111111111111", t0, account("111111111111", callback.StatusGaps)), t0)
		if err != nil || rec.Outcome != ledger.OutcomeDuplicate {
			t.Fatalf("re-delivery: %+v, %v", rec, err)
		}
		events, _ := db.CustomerEvents(ctx, a, 100)
		var names []string
		for _, e := range events {
			names = append(names, e.Event)
		}
		if got := strings.Join(names, ","); got != "onboarding.created,customer.bound,customer.added" {
			t.Fatalf("A's log, newest first: %s", got)
		}
		// A squatter revoked: its claim lapses, and the organization goes
		// to the next customer that proves itself, starting afresh.
		if _, err := db.Record(ctx, b, message("b2", callback.EventOnboardingCreated, "o-ssssssssss", "222222222222", t0, account("222222222222", callback.StatusVerified)), t0); err != nil {
			t.Fatal(err)
		}
		c3 := "cus_cccccccccccccccc"
		if err := db.AddCustomer(ctx, customer(c3, "Cee", "rk_c"), "op_c3"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Record(ctx, c3, message("c1", callback.EventOnboardingCreated, "o-ssssssssss", "555555555555", t0, account("555555555555", callback.StatusVerified)), t0); !errors.Is(err, ErrOrganizationHeld) {
			t.Fatalf("claiming the squatted organization: %v, want ErrOrganizationHeld", err)
		}
		if _, err := db.UpdateCustomer(ctx, b, func(c *Customer) (*Event, error) { now := t0; c.RevokedAt = &now; return nil, nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Record(ctx, c3, message("c2", callback.EventOnboardingCreated, "o-ssssssssss", "555555555555", t0, account("555555555555", callback.StatusVerified)), t0); err != nil {
			t.Fatalf("claiming a revoked squatter's organization: %v", err)
		}
		lapsed, err := db.Timeline(ctx, "o-ssssssssss", 100)
		if err != nil || lapsed.ManagementAccountID != "555555555555" || len(lapsed.Accounts) != 1 || len(lapsed.Timeline) != 1 {
			t.Fatalf("the organization after the lapse: %+v, %v; want the new holder's only", lapsed, err)
		}

		// A claim the vendor found false lapses too.
		c4, c5 := "cus_dddddddddddddddd", "cus_eeeeeeeeeeeeeeee"
		for _, c := range []*Customer{customer(c4, "Dee", "rk_d"), customer(c5, "Eee", "rk_e")} {
			if err := db.AddCustomer(ctx, c, "op_"+c.ID); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.Record(ctx, c4, message("d1", callback.EventOnboardingCreated, "o-dddddddddd", "666666666666", t0, account("666666666666", callback.StatusVerified)), t0); err != nil {
			t.Fatal(err)
		}
		if err := db.SaveConfirmations(ctx, "o-dddddddddd", c4, t0, []Confirmation{{AccountID: "666666666666", RoleARN: "r", Status: "verified", ExternalID: "current", CheckedAt: t0, Report: []byte("{}")}},
			true, "verified", ProofDisproven, "the role in 666666666666 reports organization o-zzzzzzzzzz", "op_dis"); err != nil {
			t.Fatal(err)
		}
		if got, _, _ := db.Onboarding(ctx, "o-dddddddddd"); got.Proof != ProofDisproven || CustomerStatus(false, []*Organization{got}) != StatusAttention {
			t.Fatalf("a disproven claim: %+v", got)
		}
		if _, err := db.Record(ctx, c5, message("e1", callback.EventOnboardingCreated, "o-dddddddddd", "777777777777", t0, account("777777777777", callback.StatusVerified)), t0); err != nil {
			t.Fatalf("claiming an organization whose claim was disproven: %v", err)
		}
		if got, _, _ := db.Onboarding(ctx, "o-dddddddddd"); got.CustomerID != c5 || got.Proof != ProofNone {
			t.Fatalf("after the takeover: %+v", got)
		}

		// Revoked: refused.
		if _, err := db.UpdateCustomer(ctx, a, func(c *Customer) (*Event, error) { now := t0; c.RevokedAt = &now; return nil, nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Record(ctx, a, message("a3", callback.EventAccountAdded, "o-aaaaaaaaaa", "111111111111", t0, account("444444444444", callback.StatusVerified)), t0); !errors.Is(err, ErrRevoked) {
			t.Fatalf("after revoking: %v", err)
		}
	})
}

// Two customers claim one new organization at the same time, over and over:
// exactly one holds it each time.
func TestConcurrentClaimsHaveOneWinner(t *testing.T) {
	engines(t, func(t *testing.T, _ string, db *DB) {
		ctx := t.Context()
		const customers = 4
		ids := make([]string, customers)
		for i := range ids {
			ids[i] = fmt.Sprintf("cus_%016d", i)
			if err := db.AddCustomer(ctx, customer(ids[i], "C", fmt.Sprintf("rk_%d", i)), "op_"+ids[i]); err != nil {
				t.Fatal(err)
			}
		}
		for round := range 5 {
			org := fmt.Sprintf("o-race%06d", round)
			var wg sync.WaitGroup
			results := make([]error, customers)
			for i := range ids {
				wg.Go(func() {
					_, results[i] = db.Record(ctx, ids[i], message(fmt.Sprintf("r%d-%d", round, i), callback.EventOnboardingCreated, org, "555555555555", t0,
						account("555555555555", callback.StatusVerified)), t0)
				})
			}
			wg.Wait()
			won := 0
			for _, err := range results {
				switch {
				case err == nil:
					won++
				case errors.Is(err, ErrOrganizationHeld), errors.Is(err, ErrForeignAccount):
				default:
					t.Fatalf("round %d: %v", round, err)
				}
			}
			if won != 1 {
				t.Fatalf("round %d: %d customers hold %s, want 1 (%v)", round, won, org, results)
			}
			// Each round's winner is bound to the account; the next round
			// is a fresh set of customers.
			for i := range ids {
				if _, err := db.UpdateCustomer(ctx, ids[i], func(c *Customer) (*Event, error) { return nil, nil }); err != nil {
					t.Fatal(err)
				}
				if _, err := db.SQL().ExecContext(ctx, db.q("UPDATE customers SET management_account_id = NULL WHERE id = ?"), ids[i]); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}

func TestReplayCacheIsSharedByEveryInstance(t *testing.T) {
	engines(t, func(t *testing.T, dsn string, db *DB) {
		ctx := t.Context()
		other, err := Open(ctx, dsn, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		exp := t0.Add(10 * time.Minute)
		if ok, err := db.ReplayAdd(ctx, "cus_a", "msg_1", exp, t0); !ok || err != nil {
			t.Fatalf("first add: %v, %v", ok, err)
		}
		if ok, err := other.ReplayAdd(ctx, "cus_a", "msg_1", exp, t0); ok || err != nil {
			t.Fatalf("the other instance added a seen id: %v, %v", ok, err)
		}
		if ok, _ := other.ReplayAdd(ctx, "cus_b", "msg_1", exp, t0); !ok {
			t.Fatal("another customer's id of the same name was refused")
		}
		// Expired: may be added again; removed: too.
		if ok, _ := other.ReplayAdd(ctx, "cus_a", "msg_1", exp.Add(time.Hour), exp.Add(time.Second)); !ok {
			t.Fatal("an expired id was refused")
		}
		if err := db.ReplayRemove(ctx, "cus_b", "msg_1"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := db.ReplayAdd(ctx, "cus_b", "msg_1", exp, t0); !ok {
			t.Fatal("a removed id was refused")
		}
		// Many adds of one id at once, from both instances: one wins.
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for i := range 16 {
			h := db
			if i%2 == 1 {
				h = other
			}
			wg.Go(func() {
				ok, err := h.ReplayAdd(ctx, "cus_a", "msg_race", exp, t0)
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
			t.Fatalf("%d concurrent adds of one id won, want 1", wins)
		}
		if n, err := db.ReplayPrune(ctx, exp.Add(2*time.Hour)); err != nil || n < 3 {
			t.Fatalf("prune: %d, %v", n, err)
		}
	})
}

// The changes feed is gap-free and ordered: a reader polling with its
// cursor while writers append sees every event exactly once.
func TestChangesFeedMissesNothingUnderConcurrentWrites(t *testing.T) {
	engines(t, func(t *testing.T, _ string, db *DB) {
		ctx := t.Context()
		const writers, each = 4, 25
		for i := range writers {
			id := fmt.Sprintf("cus_%016d", i)
			if err := db.AddCustomer(ctx, customer(id, "W", fmt.Sprintf("rk_%d", i)), "op_"+id); err != nil {
				t.Fatal(err)
			}
		}
		done := make(chan struct{})
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() {
				id := fmt.Sprintf("cus_%016d", i)
				mgmt := fmt.Sprintf("%012d", 100+i)
				for j := range each {
					m := message(fmt.Sprintf("w%d-%d", i, j), callback.EventAccountAdded, fmt.Sprintf("o-writer%04d", i), mgmt, t0.Add(time.Duration(j)*time.Second),
						account(fmt.Sprintf("%012d", 1000+j), callback.StatusVerified))
					if _, err := db.Record(ctx, id, m, t0); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		go func() { wg.Wait(); close(done) }()
		seen := map[string]bool{}
		var cursor int64
		poll := func() {
			events, err := db.Changes(ctx, cursor, 7, "")
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range events {
				if e.Seq <= cursor || seen[e.CustomerID+e.EventID] {
					t.Fatalf("event %d (%s) out of order or twice after cursor %d", e.Seq, e.EventID, cursor)
				}
				seen[e.CustomerID+e.EventID] = true
				cursor = e.Seq
			}
		}
	loop:
		for {
			select {
			case <-done:
				break loop
			default:
				poll()
			}
		}
		for range 100 {
			poll()
		}
		// writers×(each + one bound) callbacks' events, and the adds.
		if want := writers*(each+1) + writers; len(seen) != want {
			t.Fatalf("the feed gave %d events, want %d", len(seen), want)
		}
	})
}

func TestStatusInSQLIsCustomerStatus(t *testing.T) {
	engines(t, func(t *testing.T, _ string, db *DB) {
		ctx := t.Context()
		cases := []struct {
			status   callback.Status
			event    callback.Event
			revoke   bool
			noOrg    bool
			confFail bool
		}{
			{status: callback.StatusVerified, event: callback.EventOnboardingCreated},
			{status: callback.StatusGaps, event: callback.EventOnboardingCreated},
			{status: callback.StatusFinding, event: callback.EventOnboardingCreated},
			{status: callback.StatusFinding, event: callback.EventVerificationFailed},
			{status: callback.StatusVerified, event: callback.EventOnboardingDeleted},
			{status: callback.StatusVerified, event: callback.EventOnboardingCreated, revoke: true},
			{noOrg: true},
			{status: callback.StatusVerified, event: callback.EventOnboardingCreated, confFail: true},
		}
		want := map[string]int{}
		for i, c := range cases {
			id := fmt.Sprintf("cus_%016d", i)
			mgmt := fmt.Sprintf("%012d", 700+i)
			if err := db.AddCustomer(ctx, customer(id, "S", fmt.Sprintf("rk_%d", i)), "op_"+id); err != nil {
				t.Fatal(err)
			}
			if !c.noOrg {
				if _, err := db.Record(ctx, id, message("e"+id, c.event, "", mgmt, t0, account(mgmt, c.status)), t0); err != nil {
					t.Fatal(err)
				}
			}
			if c.confFail {
				if err := db.SaveConfirmations(ctx, mgmt, id, t0, []Confirmation{{AccountID: mgmt, RoleARN: "r", Status: "unreachable", ExternalID: "current", CheckedAt: t0, Report: []byte("{}")}},
					true, "verified", ProofNone, "", "op_conf"+id); err != nil {
					t.Fatal(err)
				}
			}
			if c.revoke {
				if _, err := db.UpdateCustomer(ctx, id, func(c *Customer) (*Event, error) { now := t0; c.RevokedAt = &now; return nil, nil }); err != nil {
					t.Fatal(err)
				}
			}
			orgs, err := db.OrganizationsOf(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			want[CustomerStatus(c.revoke, orgs)]++
		}
		got, err := db.CustomerStatusCounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("in SQL %v, in Go %v", got, want)
		}
		for _, s := range Statuses() {
			if s != StatusAttention && want[s] == 0 && s != StatusVerified {
				t.Errorf("no case gives %s", s)
			}
		}
	})
}
