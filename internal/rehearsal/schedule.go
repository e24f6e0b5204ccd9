package rehearsal

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/rolecall/rolecall/callback"
	"github.com/rolecall/rolecall/internal/ledger"
	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/params"
	"github.com/rolecall/rolecall/internal/synth"
)

// Scheduled is what the "time passes" act saw: the account whose role
// drifted and was restored, the account that joined with no event, and
// the vendor's timeline entries the scheduled runs added, in order.
type Scheduled struct {
	Drifted  string
	Quiet    string
	Timeline []ledger.TimelineEntry
	// Attention is AccountsNeedingAttention in the function's metrics
	// line after the drift was reported.
	Attention float64
}

// timePasses plays the stack's schedule (moto has no EventBridge Scheduler
// that fires: the rehearsal sends the event the template's schedule
// sends). Three firings, twelve hours apart as the default rate has it:
// the first while the vendor's endpoint is down, after someone attached an
// administrator policy to a member role; the second after an account
// joined with no event reaching the function; the third after the role was
// put right.
func (r *rehearsal) timePasses(ctx context.Context) error {
	res := &Scheduled{}
	r.res.Scheduled = res
	before, err := r.stored(ctx)
	if err != nil {
		return err
	}
	seen := len(before.Timeline)
	victim := r.org.Accounts[len(r.org.Accounts)-1]
	acct, err := r.aws.AccountConfig(ctx, victim.ID)
	if err != nil {
		return err
	}
	admin := Tamperings()[0]
	undo, err := admin.apply(ctx, iam.NewFromConfig(acct), r.opts.Profile.RoleName)
	if err != nil {
		return err
	}
	res.Drifted = victim.ID
	r.printf("   someone in %s (%s) %s on %s\n", victim.Name, victim.ID, admin.What, r.opts.Profile.RoleName)

	fired := time.Now().UTC().Truncate(time.Second)
	fire := func(n int) error {
		at := fired.Add(time.Duration(n-1) * 12 * time.Hour)
		raw, _ := json.Marshal(onboarding.ScheduledEvent{Source: onboarding.ScheduleSource, ExecutionID: fmt.Sprintf("rehearsal-%d", n),
			ScheduledTime: at.Format(time.RFC3339), Heartbeat: "daily"})
		ictx, cancel := context.WithTimeout(ctx, time.Duration(synth.FunctionTimeoutSeconds)*time.Second)
		defer cancel()
		if err := r.invokeFn(ictx, raw); err != nil {
			return fmt.Errorf("scheduled run %d: %w", n, err)
		}
		return nil
	}

	// 1: the vendor is down; the drift and the day's heartbeat are kept.
	r.vendorDown.Store(true)
	err = fire(1)
	r.vendorDown.Store(false)
	if err != nil {
		return err
	}
	stored, err := r.stored(ctx)
	if err != nil {
		return err
	}
	if a, _ := accountOf(stored, victim.ID); a.Status != callback.StatusVerified || len(stored.Timeline) != seen {
		return fmt.Errorf("the vendor heard something while its endpoint was down: %s is %s, %d new events", victim.ID, a.Status, len(stored.Timeline)-seen)
	}
	m, ok := r.metrics.last()
	if !ok {
		return fmt.Errorf("the function wrote no metrics line after the scheduled run")
	}
	res.Attention, _ = m[params.MetricNeedsAttention].(float64)
	r.printf("   schedule fires (run 1): %s drifted to finding; the vendor's endpoint is down, so the news waits in the outbox; the function's metrics say %s=%v, %s=%v, and the stack's alarm goes off\n",
		victim.ID, params.MetricNeedsAttention, m[params.MetricNeedsAttention], params.MetricPending, m[params.MetricPending])
	if res.Attention < 1 {
		return fmt.Errorf("the metrics line after the drift says %s=%v, want at least 1", params.MetricNeedsAttention, m[params.MetricNeedsAttention])
	}

	// 2: an account joins with no event reaching the function; the vendor
	// is back.
	const path = "Root/Workloads/Dev"
	ou, _ := r.org.OUByPath(path)
	quiet, err := r.joinLate(ctx, ou.ID, path, "workloads-dev-quiet-team")
	if err != nil {
		return err
	}
	res.Quiet = quiet
	r.printf("   no StackSet instance event reached the function for %s\n", quiet)
	if err := fire(2); err != nil {
		return err
	}
	r.printf("   schedule fires (run 2): the vendor is back; the outbox goes first, then the news of this run\n")

	// 3: the role is put right.
	if err := undo(ctx); err != nil {
		return err
	}
	r.printf("   the customer removed the policy again\n")
	if err := fire(3); err != nil {
		return err
	}
	stored, err = r.stored(ctx)
	if err != nil {
		return err
	}
	res.Timeline = slices.Clone(stored.Timeline[seen:])
	var got []string
	for _, e := range res.Timeline {
		label := string(e.Event)
		for _, c := range e.Accounts {
			label += " " + c.AccountID
			if c.PreviousStatus != "" {
				label += " " + string(c.PreviousStatus) + "->" + string(c.Status)
			}
		}
		got = append(got, label)
		r.printf("   vendor timeline: %s  %s\n", e.OccurredAt.Format(time.RFC3339), label)
	}
	want := []string{
		"verification.drifted " + victim.ID + " verified->finding",
		"heartbeat",
		"account.added " + quiet,
		"verification.restored " + victim.ID + " finding->verified",
	}
	if !slices.Equal(got, want) {
		return fmt.Errorf("the vendor's timeline after the scheduled runs is\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if a, _ := accountOf(stored, victim.ID); a.Status != callback.StatusVerified {
		return fmt.Errorf("after the restoration the vendor has %s as %s", victim.ID, a.Status)
	}
	return nil
}

// metricLines keeps the lines of the function's output that are metrics in
// CloudWatch's embedded metric format (a JSON object with "_aws").
type metricLines struct {
	mu    sync.Mutex
	buf   []byte
	lines [][]byte
}

func (m *metricLines) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.buf = append(m.buf, p...)
	for {
		i := bytes.IndexByte(m.buf, '\n')
		if i < 0 {
			break
		}
		line := bytes.TrimSpace(m.buf[:i])
		if bytes.HasPrefix(line, []byte("{")) && bytes.Contains(line, []byte(`"_aws"`)) {
			m.lines = append(m.lines, slices.Clone(line))
		}
		m.buf = m.buf[i+1:]
	}
	return len(p), nil
}

// last returns the newest metrics line, decoded.
func (m *metricLines) last() (map[string]any, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.lines) - 1; i >= 0; i-- {
		var v map[string]any
		if err := json.NewDecoder(bufio.NewReader(bytes.NewReader(m.lines[i]))).Decode(&v); err == nil {
			return v, true
		}
	}
	return nil, false
}
