package onboarding

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rolecall/rolecall/callback"
	"github.com/rolecall/rolecall/internal/permissions"
	"github.com/rolecall/rolecall/internal/state"
	"github.com/rolecall/rolecall/internal/verify"
)

// outcome is what one onboarding run found, in the form every consumer
// (the callback, the state table, the response, the reason) reads.
type outcome struct {
	accounts []callback.Account
	summary  verify.Summary
	// findings are "account: action via source" lines, one per finding.
	findings []string
	// unverifiable are "account: what could not be proven" lines.
	unverifiable []string
	// gaps are "account: what" lines for the other accounts that are not
	// verified.
	gaps []string
	// verifiedAt stamps the state records of this run.
	verifiedAt time.Time
	// notReached are the accounts the run's deadline kept from being
	// verified: their reports say unreachable, but nothing is known.
	notReached []string
	// secondLooks counts the accounts verified twice (verifyOpts).
	secondLooks int
}

func (o *outcome) add(r verify.Report) {
	a := account(r)
	for _, f := range r.Findings {
		o.findings = append(o.findings, fmt.Sprintf("account %s: %s allowed by %s", r.AccountID, findingLabel(f), f.Source))
	}
	switch r.Status {
	case verify.StatusVerified, verify.StatusFinding:
	case verify.StatusUnverifiable:
		what := "write safety unproven"
		if len(r.Unproven) > 0 {
			u := r.Unproven[0]
			what = u.Check + " on " + u.Target + " refused"
			if u.Code != "" {
				what += " (" + u.Code + ")"
			}
		}
		o.unverifiable = append(o.unverifiable, fmt.Sprintf("account %s: %s", r.AccountID, what))
	default:
		what := string(r.Status)
		if len(r.Diagnoses) > 0 {
			what += " (" + r.Diagnoses[0].Code + ")"
		} else if len(a.FailedProbes) > 0 {
			what += " (" + string(a.FailedProbes[0].Outcome) + " " + a.FailedProbes[0].Action + ")"
		}
		o.gaps = append(o.gaps, fmt.Sprintf("%s %s", r.AccountID, what))
	}
	o.accounts = append(o.accounts, a)
}

// failed reports whether the run must fail a Create or Update: a finding
// or an unverifiable account.
func (o *outcome) failed() bool { return len(o.findings) > 0 || len(o.unverifiable) > 0 }

// reason is the start of the Reason of a failed Create or Update.
func (o *outcome) reason() string {
	var parts []string
	if len(o.findings) > 0 {
		parts = append(parts, "security finding: "+joinLimited(o.findings, 2)+"; remove the write access (see the GrantedPermissions output for what the role should have)")
	}
	if len(o.unverifiable) > 0 {
		parts = append(parts, "unverifiable: "+joinLimited(o.unverifiable, 2)+"; let the role read its own policies again (see the verify tool's write_safety_unproven diagnosis)")
	}
	return strings.Join(parts, "; ")
}

// records are the state records of the run's accounts.
func (o *outcome) records() []state.Record {
	out := make([]state.Record, len(o.accounts))
	for i, a := range o.accounts {
		out[i] = state.Record{AccountID: a.AccountID, RoleARN: a.RoleARN, Status: a.Status, PermissionSet: permissions.Version, VerifiedAt: o.verifiedAt, Account: a}
	}
	return out
}

// findingLabel names what a finding allows: the action or pattern as
// written, or the NotAction it grants through.
func findingLabel(f verify.Finding) string {
	switch {
	case f.NotAction:
		return "NotAction " + strings.Join(f.Patterns, ",")
	case f.Action == "*":
		return `"*" (every action)`
	case f.Action != "":
		return f.Action
	}
	return f.Kind
}

// account maps a report to the callback's account entry, clipped to the
// limits the payload's schema states, so that any report the verifier can
// make validates.
func account(r verify.Report) callback.Account {
	a := callback.Account{AccountID: r.AccountID, RoleARN: r.RoleARN, Status: callback.Status(r.Status), FindingsTotal: len(r.Findings)}
	for _, d := range r.Diagnoses {
		a.Diagnoses = append(a.Diagnoses, callback.Diagnosis{Code: d.Code, Message: clip(d.Message, 1000)})
	}
	for _, p := range r.Probes {
		switch p.Outcome {
		case verify.OutcomeDenied, verify.OutcomeWriteAllowed, verify.OutcomeError:
			a.FailedProbes = append(a.FailedProbes, callback.Probe{Action: p.Name(), Region: p.Region, Outcome: callback.Outcome(p.Outcome)})
		}
	}
	for i, f := range r.Findings {
		if i == callback.MaxFindings {
			break
		}
		a.Findings = append(a.Findings, callback.Finding{
			Kind:           f.Kind,
			Source:         clip(f.Source, callback.MaxFindingString+40),
			PolicyType:     f.PolicyType,
			Policy:         clip(f.Policy, callback.MaxFindingString),
			Statement:      clip(f.Statement, callback.MaxFindingString),
			StatementIndex: f.Index,
			Effect:         clip(f.Effect, callback.MaxFindingString),
			Action:         clip(f.Action, callback.MaxFindingString),
			NotAction:      f.NotAction,
			Patterns:       clipList(f.Patterns),
			Resources:      clipList(f.Resources),
			WriteActions:   f.WriteActions,
			Examples:       clipList(f.Examples),
			Detail:         clip(orDefault(f.Detail, f.Kind), callback.MaxFindingDetail),
		})
	}
	for i, u := range r.Unproven {
		if i == callback.MaxUnproven {
			break
		}
		a.Unproven = append(a.Unproven, callback.Unproven{
			Check:   clip(u.Check, callback.MaxUnprovenString),
			Target:  clip(u.Target, callback.MaxFindingString+40),
			Code:    clip(u.Code, callback.MaxUnprovenString),
			Message: clip(orDefault(u.Message, u.Check), callback.MaxUnprovenString),
		})
	}
	if len(a.Diagnoses) > 100 {
		a.Diagnoses = a.Diagnoses[:100]
	}
	if len(a.FailedProbes) > 1000 {
		a.FailedProbes = a.FailedProbes[:1000]
	}
	return a
}

func clipList(items []string) []string {
	if len(items) > callback.MaxFindingList {
		items = items[:callback.MaxFindingList]
	}
	out := make([]string, len(items))
	for i, s := range items {
		out[i] = clip(s, callback.MaxFindingString)
	}
	return out
}

// minimal is the report sent when the full one does not validate: the
// accounts, their roles and statuses, and a note saying why. It carries
// nothing a report could have got wrong but the statuses.
func minimal(full callback.Payload, requestID string, invalid error) callback.Payload {
	p := full
	p.Event = callback.EventVerificationFailed
	p.Accounts = make([]callback.Account, len(full.Accounts))
	for i, a := range full.Accounts {
		p.Accounts[i] = callback.Account{AccountID: a.AccountID, RoleARN: a.RoleARN, Status: a.Status, FindingsTotal: max(a.FindingsTotal, len(a.Findings)),
			Diagnoses: []callback.Diagnosis{{Code: "report_invalid", Message: "The full report of this account could not be sent; its status is as verified. Run the verify tool for the details."}}}
	}
	p.Notes = []string{clip(fmt.Sprintf("The full %s report failed validation (%v); this minimal report names every account and its status.", full.Event, invalid), 2000)}
	p.ID = callback.EventID(p.Event, p.StackID, requestID, p.RoleARNs())
	slices.SortFunc(p.Accounts, func(a, b callback.Account) int { return strings.Compare(a.AccountID, b.AccountID) })
	return p
}
