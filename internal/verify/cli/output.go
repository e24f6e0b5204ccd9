package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/rolecall/rolecall/internal/verify"
)

// printer writes the reports: a table once every account is done, or one
// JSON document streamed as accounts finish, so that memory does not grow
// with full reports.
type printer struct {
	w       *bufio.Writer
	json    bool
	verbose bool

	// JSON mode.
	first bool
	err   error

	// Table mode: one compact row per account, sorted at the end.
	rows []row
}

type row struct {
	account, role, status, probes, summary string
	// details explain an account that is not verified, or every account
	// with --verbose.
	details []string
	// diagnoses of a verified account, summed up once for all of them.
	diagnoses []verify.Diagnosis
}

func newPrinter(w io.Writer, asJSON, verbose bool) *printer {
	p := &printer{w: bufio.NewWriter(w), json: asJSON, verbose: verbose, first: true}
	if asJSON {
		p.write(`{"accounts":[`)
	}
	return p
}

func (p *printer) write(s string) {
	if p.err == nil {
		_, p.err = p.w.WriteString(s)
	}
}

func (p *printer) report(r verify.Report) {
	if p.json {
		b, err := json.Marshal(r)
		if err != nil {
			p.err = err
			return
		}
		if !p.first {
			p.write(",")
		}
		p.first = false
		p.write("\n" + string(b))
		return
	}
	p.rows = append(p.rows, tableRow(r, p.verbose))
}

// summaryJSON is the end of the JSON document.
type summaryJSON struct {
	verify.Summary
	DurationMS int64 `json:"duration_ms"`
	ExitCode   int   `json:"exit_code"`
	// Target says what was verified: a role, a stack or a StackSet.
	Target string `json:"target"`
}

func (p *printer) finish(s verify.Summary, title string) error {
	if p.json {
		b, err := json.Marshal(summaryJSON{Summary: s, DurationMS: s.Duration.Milliseconds(), ExitCode: s.ExitCode(), Target: title})
		if err != nil {
			return err
		}
		p.write("\n],\"summary\":" + string(b) + "}\n")
	} else {
		p.table(s, title)
	}
	if p.err != nil {
		return p.err
	}
	return p.w.Flush()
}

func (p *printer) table(s verify.Summary, title string) {
	slices.SortFunc(p.rows, func(a, b row) int { return strings.Compare(a.account, b.account) })
	tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tROLE\tSTATUS\tPROBES OK\tSUMMARY")
	for _, r := range p.rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.account, r.role, r.status, r.probes, r.summary)
	}
	if err := tw.Flush(); err != nil && p.err == nil {
		p.err = err
	}
	type seen struct {
		first    verify.Diagnosis
		account  string
		accounts int
	}
	var order []string
	onVerified := map[string]*seen{}
	for _, r := range p.rows {
		for _, d := range r.diagnoses {
			if onVerified[d.Code] == nil {
				onVerified[d.Code] = &seen{first: d, account: r.account}
				order = append(order, d.Code)
			}
			onVerified[d.Code].accounts++
		}
		if len(r.details) == 0 {
			continue
		}
		p.write("\n" + r.account + " " + r.role + ": " + r.status + "\n")
		for _, d := range r.details {
			p.write("  " + d + "\n")
		}
	}
	if len(order) > 0 {
		p.write("\nOn verified accounts:\n")
		for _, code := range order {
			s := onVerified[code]
			where := "account " + s.account
			if s.accounts > 1 {
				where = fmt.Sprintf("%d accounts, such as %s", s.accounts, s.account)
			}
			p.write(fmt.Sprintf("  %s (%s): %s\n", code, where, s.first.Message))
		}
	}
	p.write(fmt.Sprintf("\n%s: %s. Exit status %d.\n", title, counts(s), s.ExitCode()))
}

// counts writes a summary's counts, such as "4 accounts: verified 2,
// gaps 1, finding 1, unverifiable 0, unreachable 0".
func counts(s verify.Summary) string {
	noun := "accounts"
	if s.Accounts == 1 {
		noun = "account"
	}
	return fmt.Sprintf("%d %s: verified %d, gaps %d, finding %d, unverifiable %d, unreachable %d", s.Accounts, noun, s.Verified, s.Gaps, s.Findings, s.Unverifiable, s.Unreachable)
}

// tableRow renders one report as a row and, for anything short of a clean
// verification (or always with --verbose), detail lines.
func tableRow(r verify.Report, verbose bool) row {
	role := r.RoleARN
	if a, err := verify.ParseRoleARN(r.RoleARN); err == nil {
		role = a.Name
	}
	good := r.Count(verify.OutcomeOK) + r.Count(verify.OutcomeNotFound)
	out := row{
		account: orDash(r.AccountID),
		role:    orDash(role),
		status:  string(r.Status),
		probes:  fmt.Sprintf("%d/%d", good, len(r.Probes)),
	}
	var parts []string
	var findings []string
	for _, f := range r.Findings {
		what := findingLabel(f)
		if !slices.Contains(findings, what) {
			findings = append(findings, what)
		}
	}
	if len(findings) > 0 {
		parts = append(parts, "write allowed: "+shortList(findings, 4))
	}
	if len(r.Unproven) > 0 {
		var checks []string
		for _, u := range r.Unproven {
			if !slices.Contains(checks, u.Check) {
				checks = append(checks, u.Check)
			}
		}
		parts = append(parts, "unproven: "+shortList(checks, 3))
	}
	for _, o := range []verify.Outcome{verify.OutcomeDenied, verify.OutcomeError} {
		var names []string
		for _, pr := range r.Probes {
			if pr.Outcome == o && !slices.Contains(names, pr.Name()) {
				names = append(names, pr.Name())
			}
		}
		if len(names) > 0 {
			parts = append(parts, string(o)+": "+shortList(names, 3))
		}
	}
	var codes []string
	for _, d := range r.Diagnoses {
		codes = append(codes, d.Code)
	}
	for _, d := range r.Notes {
		codes = append(codes, "note "+d.Code)
	}
	if len(codes) > 0 {
		parts = append(parts, "["+strings.Join(codes, ", ")+"]")
	}
	out.summary = orDash(strings.Join(parts, "; "))

	if r.Status == verify.StatusVerified && !verbose {
		// Nothing needs attention; what the diagnoses say is summed
		// up once for every verified account.
		out.diagnoses = append(r.Diagnoses, r.Notes...)
		return out
	}
	for _, pr := range r.Probes {
		if !verbose && (pr.Outcome == verify.OutcomeOK || pr.Outcome == verify.OutcomeNotFound) {
			continue
		}
		line := fmt.Sprintf("%-13s %s (%s)", pr.Outcome, pr.Name(), pr.Region)
		if pr.Code != "" {
			line += " " + pr.Code
		}
		if pr.Message != "" {
			line += ": " + pr.Message
		}
		out.details = append(out.details, line)
	}
	for _, f := range r.Findings {
		where := f.Source
		if f.Statement != "" {
			where += " statement " + f.Statement
		}
		out.details = append(out.details, fmt.Sprintf("%-13s %s (%s) in %s: %s", "finding", findingLabel(f), f.Kind, where, f.Detail))
	}
	for _, u := range r.Unproven {
		line := fmt.Sprintf("%-13s %s on %s", "unproven", u.Check, u.Target)
		if u.Code != "" {
			line += " " + u.Code
		}
		out.details = append(out.details, line+": "+u.Message)
	}
	for _, d := range r.Diagnoses {
		out.details = append(out.details, fmt.Sprintf("%-13s %s: %s", "diagnosis", d.Code, d.Message))
	}
	for _, d := range r.Notes {
		out.details = append(out.details, fmt.Sprintf("%-13s %s: %s", "note", d.Code, d.Message))
	}
	return out
}

// findingLabel names what a finding allows: the action or pattern as
// written, or the NotAction it grants through.
func findingLabel(f verify.Finding) string {
	switch {
	case f.NotAction:
		return "NotAction " + strings.Join(f.Patterns, ",")
	case f.Action != "":
		return f.Action
	}
	return f.Kind
}

func shortList(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:n], ", ") + fmt.Sprintf(" and %d more", len(items)-n)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
