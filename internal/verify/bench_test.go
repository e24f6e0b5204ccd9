package verify

import (
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"slices"
	"sync"
	"testing"
	"time"
)

// benchRoles returns n member roles in distinct accounts.
func benchRoles(n int) []Role {
	roles := make([]Role, n)
	for i := range roles {
		acct := fmt.Sprintf("%012d", 200000000000+i)
		roles[i] = Role{RoleARN: "arn:aws:iam::" + acct + ":role/VendorReadOnly", ExternalID: "ext-7f3c9e1d-2b4a-4c8e-9a1f-0b2c3d4e5f60", Bedrock: true, Regions: []string{"us-east-1"}}
	}
	return roles
}

// BenchmarkVerifyAll verifies accounts against an httptest endpoint that
// answers every call after 50 ms, as a distant AWS would, and reports:
//
//   - accounts/s;
//   - ratio: the measured time over the ideal, calls × latency /
//     concurrency (1.0 would mean no overhead and perfect packing);
//   - calls/account.
//
// The "sequential" case is the baseline: one call at a time (concurrency 1),
// on fewer accounts since it takes calls × 50 ms per account. Run it with
// -benchtime=1x: each iteration takes seconds.
func BenchmarkVerifyAll(b *testing.B) {
	const latency = 50 * time.Millisecond
	for _, bc := range []struct {
		name                  string
		accounts, concurrency int
	}{
		{"accounts=1000/concurrency=100", 1000, 100},
		{"sequential/accounts=10/concurrency=1", 10, 1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f := newAWSFake(b, latency)
			e := New(f.config(bc.concurrency), Options{Concurrency: bc.concurrency, S3PathStyle: true, AssumeRoleWait: -1})
			roles := benchRoles(bc.accounts)
			var calls int64
			for b.Loop() {
				before := f.calls.Load()
				s := e.VerifyAll(context.Background(), slices.Values(roles), nil)
				if s.Verified != bc.accounts {
					b.Fatalf("%d of %d accounts verified: %+v", s.Verified, bc.accounts, s)
				}
				calls += f.calls.Load() - before
			}
			elapsed := b.Elapsed()
			ideal := time.Duration(calls) * latency / time.Duration(bc.concurrency)
			b.ReportMetric(float64(bc.accounts*b.N)/elapsed.Seconds(), "accounts/s")
			b.ReportMetric(float64(elapsed)/float64(ideal), "ratio")
			b.ReportMetric(float64(calls)/float64(bc.accounts*b.N), "calls/account")
			b.ReportMetric(0, "ns/op") // one op is a whole run; the metrics above say more
		})
	}
}

// BenchmarkVerifyAllPeakHeap verifies 5,000 accounts (concurrency 100,
// 5 ms latency: the heap depends on how many accounts are in flight, not on
// latency) and reports two peaks, sampled every millisecond from
// runtime/metrics after a GC, the fake AWS server in the same process
// included:
//
//   - peak-heap-MB: /memory/classes/heap/objects:bytes, every heap object
//     not yet swept, garbage included: what the process must have room for
//     at GOGC=100;
//   - peak-live-heap-MB: /gc/heap/live:bytes, what the last GC found
//     reachable.
//
// Reports go to a callback that drops them, as a caller streaming them out
// would.
func BenchmarkVerifyAllPeakHeap(b *testing.B) {
	const accounts, concurrency = 5000, 100
	f := newAWSFake(b, 5*time.Millisecond)
	e := New(f.config(concurrency), Options{Concurrency: concurrency, S3PathStyle: true, AssumeRoleWait: -1})
	roles := benchRoles(accounts)
	var peak, peakLive uint64
	for b.Loop() {
		runtime.GC()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}}
			t := time.NewTicker(time.Millisecond)
			defer t.Stop()
			for {
				metrics.Read(sample)
				peak = max(peak, sample[0].Value.Uint64())
				peakLive = max(peakLive, sample[1].Value.Uint64())
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		})
		s := e.VerifyAll(context.Background(), slices.Values(roles), func(Report) {})
		close(stop)
		wg.Wait()
		if s.Verified != accounts {
			b.Fatalf("%d of %d accounts verified", s.Verified, accounts)
		}
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(peakLive)/(1<<20), "peak-live-heap-MB")
	b.ReportMetric(float64(accounts*b.N)/b.Elapsed().Seconds(), "accounts/s")
	b.ReportMetric(0, "ns/op")
}
