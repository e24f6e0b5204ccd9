package customresource

import (
	"context"
	"sync"
)

// phaseKey is the context key under which the runtime stores a *phase.
type phaseKey struct{}

// phase is what a handler says it is doing, read by the runtime when the
// deadline comes while the handler is still running.
type phase struct {
	mu   sync.Mutex
	text string
}

func (p *phase) set(s string) {
	p.mu.Lock()
	p.text = s
	p.mu.Unlock()
}

func (p *phase) get() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.text
}

// SetPhase records what the handler is doing, as a phrase that completes
// "timed out while ...", such as "verifying 120 of 500 accounts". If the
// invocation's deadline comes before the handler returns, the Reason
// CloudFormation shows names the last phase set. The phrase is also logged,
// so it must not hold secrets. Outside a context made by Runtime.Handle,
// SetPhase does nothing; it is safe to call from several goroutines.
func SetPhase(ctx context.Context, phrase string) {
	if p, ok := ctx.Value(phaseKey{}).(*phase); ok {
		p.set(phrase)
	}
}
