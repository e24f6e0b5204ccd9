package vendordb

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/rolecall/rolecall/callback"
	"github.com/rolecall/rolecall/internal/pgtest"
)

// benchDB opens a fresh database of the engine for a benchmark.
func benchDB(b *testing.B, engine Dialect) *DB {
	b.Helper()
	var dsn string
	if engine == Postgres {
		dsn = pgtest.Database(b)
	} else {
		dsn = b.TempDir() + "/vendor.db"
	}
	db, err := Open(b.Context(), dsn, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	return db
}

func accounts(n int, status callback.Status) []callback.Account {
	out := make([]callback.Account, n)
	for i := range out {
		id := fmt.Sprintf("%012d", 400000000000+i)
		out[i] = callback.Account{AccountID: id, RoleARN: "arn:aws:iam::" + id + ":role/vendors/VendorReadOnly", Status: status,
			Diagnoses: []callback.Diagnosis{{Code: "bedrock_logging_off", Message: "Bedrock model invocation logging is off in us-east-1, so the vendor sees no per-invocation data there."}}}
	}
	return out
}

// BenchmarkIngest records callbacks as the endpoint does once a callback
// is verified (the STS call that verification makes is not in it): the
// customer's row locked, its organization's onboarding read, merged and
// written back, the event appended. callbacks/s is the figure.
//
//   - full-5000: an onboarding.updated with 5,000 accounts (about 2 MB);
//   - small-into-20: an account.added into an organization of 20 accounts;
//   - small-into-5000: the same into an organization of 5,000 accounts,
//     whose whole onboarding is read and written again;
//   - small-parallel: small events of 8 customers at once.
func BenchmarkIngest(b *testing.B) {
	for _, engine := range []Dialect{SQLite, Postgres} {
		b.Run(string(engine), func(b *testing.B) {
			for _, c := range []struct {
				name     string
				existing int
				event    callback.Event
				each     int
			}{
				{"full-5000", 0, callback.EventOnboardingUpdated, 5000},
				{"small-into-20", 20, callback.EventAccountAdded, 1},
				{"small-into-5000", 5000, callback.EventAccountAdded, 1},
			} {
				b.Run(c.name, func(b *testing.B) {
					db := benchDB(b, engine)
					ctx := b.Context()
					if err := db.AddCustomer(ctx, customer("cus_bench0000000000", "Bench", "rk_bench"), "op_bench"); err != nil {
						b.Fatal(err)
					}
					if c.existing > 0 {
						if _, err := db.Record(ctx, "cus_bench0000000000", message("seed", callback.EventOnboardingCreated, "o-bench00001", "111111111111", t0, accounts(c.existing, callback.StatusVerified)...), t0); err != nil {
							b.Fatal(err)
						}
					}
					payload := accounts(c.each, callback.StatusVerified)
					b.ResetTimer()
					for i := range b.N {
						at := t0.Add(time.Duration(i+1) * time.Second)
						m := message(fmt.Sprintf("ev-%d", i), c.event, "o-bench00001", "111111111111", at, payload...)
						if _, err := db.Record(ctx, "cus_bench0000000000", m, at); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "callbacks/s")
				})
			}
			b.Run("small-parallel", func(b *testing.B) {
				db := benchDB(b, engine)
				ctx := b.Context()
				const customers = 8
				for i := range customers {
					id := fmt.Sprintf("cus_par%013d", i)
					if err := db.AddCustomer(ctx, customer(id, "P", fmt.Sprintf("rk_p%d", i)), "op_"+id); err != nil {
						b.Fatal(err)
					}
					if _, err := db.Record(ctx, id, message("seed"+id, callback.EventOnboardingCreated, fmt.Sprintf("o-par%07d", i), fmt.Sprintf("%012d", 500+i), t0, accounts(20, callback.StatusVerified)...), t0); err != nil {
						b.Fatal(err)
					}
				}
				next := make(chan int, customers)
				for i := range customers {
					next <- i
				}
				b.SetParallelism(1) // one goroutine per CPU, each its own customer
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					i := <-next % customers
					id, org, mgmt := fmt.Sprintf("cus_par%013d", i), fmt.Sprintf("o-par%07d", i), fmt.Sprintf("%012d", 500+i)
					n := 0
					for pb.Next() {
						n++
						at := t0.Add(time.Duration(n) * time.Second)
						if _, err := db.Record(ctx, id, message(fmt.Sprintf("p%d-%d", i, n), callback.EventAccountAdded, org, mgmt, at, accounts(1, callback.StatusVerified)...), at); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "callbacks/s")
			})
		})
	}
}

// BenchmarkCustomerList lists 10,000 customers, each with an organization:
// the page's queries (a page of 100, the totals and the counts by status)
// and the whole list (what customers list --limit 10000 reads).
func BenchmarkCustomerList(b *testing.B) {
	for _, engine := range []Dialect{SQLite, Postgres} {
		b.Run(string(engine), func(b *testing.B) {
			db := benchDB(b, engine)
			SeedCustomers(b, db, 10000)
			ctx := b.Context()
			b.Run("page", func(b *testing.B) {
				for range b.N {
					page, err := db.ListCustomers(ctx, ListOptions{Limit: 100})
					if err != nil || len(page) != 100 {
						b.Fatal(len(page), err)
					}
					if _, err := db.Totals(ctx); err != nil {
						b.Fatal(err)
					}
					if _, err := db.CustomerStatusCounts(ctx); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("all-10000", func(b *testing.B) {
				for range b.N {
					all, err := db.ListCustomers(ctx, ListOptions{Limit: 10000})
					if err != nil || len(all) != 10000 {
						b.Fatal(len(all), err)
					}
				}
				b.ReportMetric(float64(10000*b.N)/b.Elapsed().Seconds(), "customers/s")
			})
		})
	}
}

// SeedCustomers inserts n customers, each holding an organization of 20
// accounts in one of the statuses, in one transaction (setup, not timed).
func SeedCustomers(b testing.TB, db *DB, n int) {
	b.Helper()
	ctx := context.Background()
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		for i := range n {
			id := fmt.Sprintf("cus_%016d", i)
			if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO customers (`+customerColumns+`) VALUES (?, ?, ?, NULL, 'us-east-1', 'latest', ?, ?, NULL, NULL, NULL, ?, ?, ?, ?)`),
				id, fmt.Sprintf("Customer %05d", i), micros(t0), "rcv1:k1:x"+id, "h"+id, "rcv1:k1:s"+id, "rk_"+id, fmt.Sprintf("%012d", i), micros(t0)); err != nil {
				return err
			}
			verified, gaps, finding := 20, 0, 0
			switch i % 10 {
			case 7:
				verified, gaps = 18, 2
			case 9:
				verified, finding = 19, 1
			}
			if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO organizations (org_key, customer_id, management_account_id, status, accounts, verified, gaps, finding, unverifiable, unreachable, state, updated_at)
				VALUES (?, ?, ?, 'active', 20, ?, ?, ?, 0, 0, '{}', ?)`), fmt.Sprintf("o-%010d", i), id, fmt.Sprintf("%012d", i), verified, gaps, finding, micros(t0)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
