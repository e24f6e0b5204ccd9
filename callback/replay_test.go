package callback

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestMemoryReplayCache(t *testing.T) {
	clock := &fakeClock{t: testTime}
	c := NewMemoryReplayCache(3, clock.Now)
	ctx := t.Context()
	add := func(id string, ttl time.Duration) bool {
		t.Helper()
		ok, err := c.Add(ctx, id, clock.t.Add(ttl))
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}

	if !add("a", time.Minute) {
		t.Fatal("first Add of a reported a replay")
	}
	if add("a", time.Minute) {
		t.Error("second Add of a within its lifetime was accepted")
	}
	clock.t = clock.t.Add(time.Minute)
	if !add("a", time.Minute) {
		t.Error("Add of a after it expired reported a replay")
	}
	if err := c.Remove(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if !add("a", time.Minute) {
		t.Error("Add of a after Remove reported a replay")
	}

	// Bounded: the oldest entry makes room.
	add("b", time.Hour)
	add("c", time.Hour)
	add("d", time.Hour)
	if n := c.Len(); n != 3 {
		t.Errorf("Len = %d, want the bound 3", n)
	}
	if !add("a", time.Hour) {
		t.Error("a, the oldest, should have been dropped to make room")
	}
	if add("d", time.Hour) {
		t.Error("d, the newest, was dropped")
	}
}

func TestMemoryReplayCacheStaysBoundedUnderChurn(t *testing.T) {
	clock := &fakeClock{t: testTime}
	c := NewMemoryReplayCache(100, clock.Now)
	for i := range 10_000 {
		id := fmt.Sprint("evt_", i)
		if ok, _ := c.Add(t.Context(), id, clock.t.Add(time.Second)); !ok {
			t.Fatalf("new id %s reported as a replay", id)
		}
		if i%3 == 0 {
			_ = c.Remove(t.Context(), id)
		}
		clock.t = clock.t.Add(10 * time.Millisecond)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.expires) > 100 || len(c.order) > 2*100+64 {
		t.Errorf("%d ids and %d queue entries, want at most 100 and %d", len(c.expires), len(c.order), 2*100+64)
	}
}

func TestMemoryReplayCacheAddIsAtomic(t *testing.T) {
	c := NewMemoryReplayCache(1000, nil)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			if ok, _ := c.Add(t.Context(), "evt_same", time.Now().Add(time.Hour)); ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Errorf("%d concurrent Adds of one id succeeded, want 1", n)
	}
}
