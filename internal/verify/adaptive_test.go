package verify

import (
	"slices"
	"testing"
	"time"
)

// The concurrency halves on a throttle, once per cooldown, never below
// its floor, and grows back by about one account per window of accounts
// up to its ceiling, never above.
func TestAIMDHalvesOnThrottleAndGrowsBack(t *testing.T) {
	now := time.Unix(0, 0)
	a := newAIMD(4, 64, time.Second, func() time.Time { return now })
	release := func(throttled bool) {
		a.acquire()
		a.release(throttled)
	}
	release(true)
	if l, _ := a.current(); l != 32 {
		t.Fatalf("after a throttle: %d, want 32", l)
	}
	release(true) // within the cooldown: the same burst
	if l, _ := a.current(); l != 32 {
		t.Fatalf("a second throttle within the cooldown: %d, want 32", l)
	}
	for range 10 {
		now = now.Add(2 * time.Second)
		release(true)
	}
	if l, low := a.current(); l != 4 || low != 4 {
		t.Fatalf("after many throttles: %d (lowest %d), want the floor 4", l, low)
	}
	// Additive increase, 1/limit per account: from 4 to 8 takes about
	// (8² - 4²)/2 = 24 accounts.
	for range 26 {
		release(false)
	}
	if l, _ := a.current(); l != 8 {
		t.Fatalf("after 26 unthrottled accounts: %d, want 8", l)
	}
	for range 10000 {
		release(false)
	}
	if l, low := a.current(); l != 64 || low != 4 {
		t.Fatalf("after many unthrottled accounts: %d (lowest %d), want the ceiling 64 (lowest 4)", l, low)
	}
}

// acquire admits no more accounts than the limit at once.
func TestAIMDBoundsAccountsInFlight(t *testing.T) {
	a := newAIMD(1, 3, time.Second, time.Now)
	for range 3 {
		a.acquire()
	}
	admitted := make(chan struct{})
	go func() {
		a.acquire()
		close(admitted)
	}()
	select {
	case <-admitted:
		t.Fatal("a fourth account started with a limit of 3")
	case <-time.After(50 * time.Millisecond):
	}
	a.release(false)
	<-admitted
}

// Wire level: when AWS throttles, VerifyAll counts it and verifies fewer
// accounts at once, down to the floor at worst.
func TestThrottlingLowersTheConcurrency(t *testing.T) {
	f := newAWSFake(t, 0)
	f.throttle = "LookupEvents"
	cfg := f.config(32)
	cfg.RetryMaxAttempts = 1
	e := New(cfg, Options{Concurrency: 32, MinConcurrency: 2, S3PathStyle: true, AssumeRoleWait: -1})
	roles := benchRoles(64)
	s := e.VerifyAll(t.Context(), slices.Values(roles), nil)
	if s.Accounts != 64 || s.Gaps != 64 {
		t.Fatalf("%+v, want 64 accounts with gaps (LookupEvents throttled)", s)
	}
	if s.Throttles != 64 {
		t.Errorf("%d throttles counted, want 64", s.Throttles)
	}
	if s.LowestConcurrency >= 32 || s.LowestConcurrency < 2 {
		t.Errorf("lowest concurrency %d, want below the ceiling 32 and at least the floor 2", s.LowestConcurrency)
	}
}
