package verify

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

// aimd bounds how many accounts are verified at once, adapting to AWS's
// answers: additive increase while no call is throttled (one more account
// per window of limit accounts), multiplicative decrease (halving) when
// one is, at most once per cooldown so that one burst of throttles counts
// once. It never goes below floor nor above ceiling; it starts at the
// ceiling, which Options.Concurrency sets from the STS and IAM quotas.
type aimd struct {
	mu             sync.Mutex
	cond           *sync.Cond
	limit          float64
	floor, ceiling float64
	inflight       int
	cooldown       time.Duration
	now            func() time.Time
	cutAt          time.Time
	lowest         float64
}

func newAIMD(floor, ceiling int, cooldown time.Duration, now func() time.Time) *aimd {
	a := &aimd{limit: float64(ceiling), floor: float64(floor), ceiling: float64(ceiling), cooldown: cooldown, now: now, lowest: float64(ceiling)}
	a.cond = sync.NewCond(&a.mu)
	return a
}

// acquire waits until one more account may start.
func (a *aimd) acquire() {
	a.mu.Lock()
	for a.inflight >= int(a.limit) {
		a.cond.Wait()
	}
	a.inflight++
	a.mu.Unlock()
}

// release ends one account, saying whether AWS throttled any call while
// it ran.
func (a *aimd) release(throttled bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.inflight--
	now := a.now()
	switch {
	case throttled && (a.cutAt.IsZero() || now.Sub(a.cutAt) >= a.cooldown):
		a.limit = max(a.floor, a.limit/2)
		a.cutAt = now
		a.lowest = min(a.lowest, a.limit)
	case !throttled:
		a.limit = min(a.ceiling, a.limit+1/a.limit)
	}
	a.cond.Broadcast()
}

// current returns the limit now and the lowest it has been.
func (a *aimd) current() (limit, lowest int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return int(a.limit), int(a.lowest)
}

// throttleCounter is the SDK's adaptive retryer (which paces each client)
// that also counts the throttling answers it sees, for the engine's
// cross-account concurrency.
type throttleCounter struct {
	aws.RetryerV2
	n *atomic.Int64
}

func (t throttleCounter) IsErrorRetryable(err error) bool {
	if isThrottleError(err) {
		t.n.Add(1)
	}
	return t.RetryerV2.IsErrorRetryable(err)
}

// isThrottleError reports whether AWS answered err to slow the caller down.
func isThrottleError(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary
}
