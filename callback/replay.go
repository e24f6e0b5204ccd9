package callback

import (
	"context"
	"sync"
	"time"
)

// DefaultReplayCacheSize is the capacity of the verifier's default
// MemoryReplayCache.
const DefaultReplayCacheSize = 100_000

// ReplayCache remembers accepted webhook-ids for a while. Implementations
// must be safe for concurrent use, and Add must be atomic: of two
// concurrent Adds of one id, one reports true.
//
// With Redis, for example, Add is SET key 1 NX PXAT <expires> (true when it
// set the key) and Remove is DEL key.
type ReplayCache interface {
	// Add records id until expires. It reports false, recording nothing,
	// if id is recorded and has not expired.
	Add(ctx context.Context, id string, expires time.Time) (bool, error)
	// Remove forgets id.
	Remove(ctx context.Context, id string) error
}

// MemoryReplayCache is a ReplayCache in memory, bounded in size: when
// full it drops the oldest entries first. Only verified callbacks reach
// the cache, so only a flood of authentic callbacks can push an unexpired
// id out.
type MemoryReplayCache struct {
	max int
	now func() time.Time

	mu      sync.Mutex
	expires map[string]time.Time
	order   []replayEntry // insertion order; may hold stale entries
}

type replayEntry struct {
	id      string
	expires time.Time
}

// NewMemoryReplayCache returns a cache of at most size ids (at least 1);
// now is its clock (nil means time.Now).
func NewMemoryReplayCache(size int, now func() time.Time) *MemoryReplayCache {
	return &MemoryReplayCache{
		max:     max(size, 1),
		now:     orNow(now),
		expires: make(map[string]time.Time),
	}
}

// Add implements ReplayCache.
func (c *MemoryReplayCache) Add(_ context.Context, id string, expires time.Time) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if exp, ok := c.expires[id]; ok && now.Before(exp) {
		return false, nil
	}
	c.prune(now)
	for len(c.expires) >= c.max {
		if !c.dropOldest() {
			break
		}
	}
	c.expires[id] = expires
	c.order = append(c.order, replayEntry{id, expires})
	return true, nil
}

// Remove implements ReplayCache.
func (c *MemoryReplayCache) Remove(_ context.Context, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.expires, id)
	return nil
}

// Len returns the number of ids held, expired ones included until they
// are pruned.
func (c *MemoryReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.expires)
}

// live reports whether e is still the map's entry for its id.
func (c *MemoryReplayCache) live(e replayEntry) bool {
	exp, ok := c.expires[e.id]
	return ok && exp.Equal(e.expires)
}

// prune drops expired entries from the front of the queue, and stale ones
// (removed or re-added ids) on the way.
func (c *MemoryReplayCache) prune(now time.Time) {
	i := 0
	for ; i < len(c.order); i++ {
		e := c.order[i]
		if !c.live(e) {
			continue
		}
		if now.Before(e.expires) {
			break
		}
		delete(c.expires, e.id)
	}
	c.order = c.order[i:]
	// Removed ids leave stale entries behind; keep the queue near the map.
	if len(c.order) > 2*len(c.expires)+64 {
		kept := make([]replayEntry, 0, len(c.expires))
		for _, e := range c.order {
			if c.live(e) {
				kept = append(kept, e)
			}
		}
		c.order = kept
	}
}

// dropOldest removes the oldest live entry; it reports false if there
// was none.
func (c *MemoryReplayCache) dropOldest() bool {
	for len(c.order) > 0 {
		e := c.order[0]
		c.order = c.order[1:]
		if c.live(e) {
			delete(c.expires, e.id)
			return true
		}
	}
	return false
}
