package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/rolecall/rolecall/internal/params"
	"github.com/rolecall/rolecall/internal/permissions"
	"github.com/rolecall/rolecall/internal/verify"
)

// planned is what --plan prints: what verifying an organization costs,
// at the stack's creation or update and on each scheduled run.
type planned struct {
	Accounts      int    `json:"accounts"`
	PermissionSet string `json:"permission_set"`
	Regions       int    `json:"inventory_regions"`
	Bedrock       bool   `json:"bedrock"`
	Schedule      string `json:"schedule"`
	// RunsPerMonth is how many scheduled runs 30 days hold.
	RunsPerMonth float64 `json:"scheduled_runs_per_month"`

	Management      verify.Cost `json:"management_account"`
	Member          verify.Cost `json:"member_account"`
	MemberScheduled verify.Cost `json:"member_account_scheduled"`
	CreateOrUpdate  verify.Cost `json:"create_or_update"`
	ScheduledRun    verify.Cost `json:"scheduled_run"`
	Month           verify.Cost `json:"scheduled_runs_per_month_total"`
}

// newPlan prices an organization of o.plan accounts: the management
// account's role (the CUR bucket's reader) and o.plan-1 member roles, with
// the role settings given.
func newPlan(o options) planned {
	role := func(account string) verify.Role {
		return verify.Role{RoleARN: "arn:aws:iam::" + account + ":role/VendorReadOnly", ExternalID: "plan", Bedrock: !o.noBedrock, LogGroups: o.logGroups, Regions: o.regions}
	}
	mgmt := role("111111111111")
	mgmt.Management, mgmt.CURBucket, mgmt.CURPrefix = true, "cur-bucket", "cur/"
	member := role("222222222222")
	scheduled := member
	scheduled.NoPaidProbes = true
	p := planned{
		Accounts: o.plan, PermissionSet: permissions.Version, Regions: max(len(o.regions), 1), Bedrock: !o.noBedrock,
		Schedule: o.schedule, RunsPerMonth: runsPerMonth(o.schedule),
		Management: verify.Plan(mgmt), Member: verify.Plan(member), MemberScheduled: verify.Plan(scheduled),
	}
	members := o.plan - 1
	p.CreateOrUpdate = p.Management.Add(p.Member.Times(members))
	p.ScheduledRun = p.Management.Add(p.MemberScheduled.Times(members))
	runs := p.RunsPerMonth
	p.Month = verify.Cost{Calls: int(float64(p.ScheduledRun.Calls) * runs), PaidCalls: int(float64(p.ScheduledRun.PaidCalls) * runs)}
	return p
}

// runsPerMonth reads a checked schedule: off, rate(N hours), rate(N days).
func runsPerMonth(schedule string) float64 {
	if schedule == "off" {
		return 0
	}
	inner := strings.TrimSuffix(strings.TrimPrefix(schedule, "rate("), ")")
	num, unit, _ := strings.Cut(inner, " ")
	n, err := strconv.Atoi(num)
	if err != nil || n <= 0 {
		return 0
	}
	if strings.HasPrefix(unit, "hour") {
		return 30 * 24 / float64(n)
	}
	return 30 / float64(n)
}

// printPlan writes the plan as a table, or as JSON with --json.
func printPlan(w io.Writer, o options) error {
	p := newPlan(o)
	if o.json {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(p)
	}
	pr := message.NewPrinter(language.English)
	bedrock := "on"
	if !p.Bedrock {
		bedrock = "off"
	}
	fmt.Fprint(w, pr.Sprintf("What verifying an organization of %d accounts asks of AWS (permission set %s, %d inventory region(s), Bedrock %s):\n\n",
		p.Accounts, p.PermissionSet, p.Regions, bedrock))
	rows := [][4]string{{"", "AWS calls", "paid requests", "cost"}}
	row := func(what string, c verify.Cost) {
		rows = append(rows, [4]string{what, pr.Sprintf("%d", c.Calls), pr.Sprintf("%d", c.PaidCalls), pr.Sprintf("$%.2f", c.USD())})
	}
	row("management account's role", p.Management)
	row("each member account's role", p.Member)
	row(pr.Sprintf("stack creation or update (%d accounts)", p.Accounts), p.CreateOrUpdate)
	row("each member account's role, scheduled", p.MemberScheduled)
	row("one scheduled run", p.ScheduledRun)
	row(pr.Sprintf("%s for 30 days (%.0f runs)", p.Schedule, p.RunsPerMonth), p.Month)
	var width [4]int
	for _, r := range rows {
		for i, cell := range r {
			width[i] = max(width[i], len(cell))
		}
	}
	for _, r := range rows {
		if _, err := fmt.Fprintf(w, "  %-*s  %*s  %*s  %*s\n", width[0], r[0], width[1], r[1], width[2], r[2], width[3], r[3]); err != nil {
			return err
		}
	}
	_, err := fmt.Fprint(w, pr.Sprintf(`
Every call is free except Cost Explorer's (paid requests, $%.2f each). A stack
creation or update calls it once per account; a scheduled run calls it for the
management account only and proves each member account's grant from the
role's policies, which it reads anyway. Retries, throttling and policies
attached by hand add calls; Lambda, EventBridge Scheduler and DynamoDB add
fractions of a cent per run.
`, verify.CostExplorerRequestUSD))
	return err
}

// PlanText is what `rolecall-verify --plan N` prints with every other
// flag at its default: for the documentation, which shows it.
func PlanText(accounts int) string {
	var b strings.Builder
	o := options{mode: modePlan, plan: accounts, schedule: params.VerificationSchedule.Default}
	_ = printPlan(&b, o) // a strings.Builder does not fail
	return b.String()
}
