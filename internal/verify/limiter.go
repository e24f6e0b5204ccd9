package verify

import (
	"context"
	"sync"
	"time"
)

// keyedLimiter spaces calls with the same key at least interval apart,
// such as CloudTrail LookupEvents calls to one account and region. Calls
// with different keys never wait for each other.
type keyedLimiter struct {
	interval time.Duration
	now      func() time.Time
	sleep    func(context.Context, time.Duration) error

	mu   sync.Mutex
	next map[string]time.Time // key -> earliest time of its next call
}

// pruneAt is the size at which wait forgets keys whose turn has passed, so
// the map stays as small as the number of keys in use.
const pruneAt = 1024

func newKeyedLimiter(interval time.Duration, now func() time.Time, sleep func(context.Context, time.Duration) error) *keyedLimiter {
	return &keyedLimiter{interval: interval, now: now, sleep: sleep, next: map[string]time.Time{}}
}

// wait blocks until key's turn, or until ctx ends.
func (l *keyedLimiter) wait(ctx context.Context, key string) error {
	l.mu.Lock()
	now := l.now()
	turn := l.next[key]
	if turn.Before(now) {
		turn = now
	}
	l.next[key] = turn.Add(l.interval)
	if len(l.next) >= pruneAt {
		for k, t := range l.next {
			if t.Before(now) {
				delete(l.next, k)
			}
		}
	}
	l.mu.Unlock()
	if d := turn.Sub(now); d > 0 {
		return l.sleep(ctx, d)
	}
	return nil
}
