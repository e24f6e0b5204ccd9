package synth

import (
	"fmt"
	"strings"

	"github.com/awslabs/goformation/v7/cloudformation"

	"github.com/rolecall/rolecall/callback"
	"github.com/rolecall/rolecall/internal/params"
	"github.com/rolecall/rolecall/internal/permissions"
	"github.com/rolecall/rolecall/internal/verify"
	"github.com/rolecall/rolecall/internal/verify/cli"
)

// Pages of the documentation that hold generated tables.
const (
	CustomerGuidePath = "docs/customer-guide.md"
	VerifyGuidePath   = "docs/verify.md"
	VendorGuidePath   = "docs/vendor-guide.md"
	ReadmePath        = "README.md"
)

// docBlocks are the tables of the hand-written documentation that come
// from code, so a reader never meets a parameter, output, diagnosis or
// exit status the code does not have, or misses one it has.
func docBlocks(mgmt *cloudformation.Template) []File {
	return []File{
		{Path: CustomerGuidePath, Block: "grants", Data: []byte(permissions.Grants())},
		{Path: CustomerGuidePath, Block: "parameters", Data: []byte(parametersTable())},
		{Path: CustomerGuidePath, Block: "outputs", Data: []byte(outputsTable(mgmt))},
		{Path: VerifyGuidePath, Block: "statuses", Data: []byte(statusesTable())},
		{Path: VerifyGuidePath, Block: "diagnoses", Data: []byte(diagnosesTable())},
		{Path: VerifyGuidePath, Block: "exit-codes", Data: []byte(exitCodesTable())},
		{Path: VendorGuidePath, Block: "partitions", Data: []byte(partitionsTable())},
		{Path: ReadmePath, Block: "plan", Data: []byte("```console\n$ rolecall-verify --plan 1000\n" + cli.PlanText(1000) + "```\n")},
	}
}

// cell makes text safe inside a Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.Join(strings.Fields(s), " ")
}

func parametersTable() string {
	var b strings.Builder
	for _, g := range params.Groups() {
		fmt.Fprintf(&b, "\n**%s**\n\n| Parameter | Default | What it is | Allowed |\n|---|---|---|---|\n", g)
		for _, p := range params.All() {
			if p.Group != g {
				continue
			}
			def := "empty"
			switch {
			case p.Required:
				def = "(required)"
			case p.Default != "":
				def = "`" + p.Default + "`"
			}
			allowed := p.Rule
			if len(p.AllowedValues) > 0 && allowed == "" {
				allowed = "`" + strings.Join(p.AllowedValues, "`, `") + "`"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", p.Name, def, cell(p.Description), cell(allowed))
		}
	}
	return strings.TrimPrefix(b.String(), "\n")
}

// outputOrder is the order outputs are explained in.
var outputOrder = []string{
	OutputRoleARN, OutputMemberRoleARN, OutputGrantedPermissions,
	OutputVerificationStatus, OutputCallbackStatus, OutputStackSetID,
	OutputVerificationAlarm, OutputVerifierRoleARN, OutputUnprocessedEvents,
}

func outputsTable(t *cloudformation.Template) string {
	var b strings.Builder
	b.WriteString("| Output | What it says |\n|---|---|\n")
	seen := 0
	for _, name := range outputOrder {
		o, ok := t.Outputs[name]
		if !ok {
			continue
		}
		seen++
		desc := ""
		if o.Description != nil {
			desc = *o.Description
		}
		fmt.Fprintf(&b, "| `%s` | %s |\n", name, cell(desc))
	}
	if seen != len(t.Outputs) {
		// A new output must be placed in outputOrder; failing here keeps
		// the table complete.
		panic(fmt.Sprintf("synth: the template has %d outputs, outputOrder explains %d", len(t.Outputs), seen))
	}
	return b.String()
}

func statusesTable() string {
	var b strings.Builder
	b.WriteString("| Status | What it means |\n|---|---|\n")
	for _, e := range verify.Statuses() {
		fmt.Fprintf(&b, "| `%s` | %s |\n", e.Name, cell(e.Explain))
	}
	return b.String()
}

func diagnosesTable() string {
	var b strings.Builder
	b.WriteString("| Code | Kind | What it means |\n|---|---|---|\n")
	for _, d := range verify.DiagnosisCodes() {
		kind := "problem"
		if d.Note {
			kind = "note"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", d.Code, kind, cell(d.Explain))
	}
	return b.String()
}

func exitCodesTable() string {
	var b strings.Builder
	b.WriteString("| Exit status | What it means |\n|---|---|\n")
	for _, e := range cli.ExitCodes() {
		fmt.Fprintf(&b, "| `%d` | %s |\n", e.Code, cell(e.Explain))
	}
	return b.String()
}

func partitionsTable() string {
	var b strings.Builder
	b.WriteString("| Partition | Identity proofs are signed for | Left out of its templates (and not verified there) |\n|---|---|---|\n")
	for _, p := range callback.Partitions() {
		var out []string
		for _, u := range permissions.Unavailable(p.Name) {
			out = append(out, fmt.Sprintf("`%s`: %s", u[0], u[1]))
		}
		left := "nothing"
		if len(out) > 0 {
			left = strings.Join(out, "; ")
		}
		fmt.Fprintf(&b, "| `%s` | `%s` (%s) | %s |\n", p.Name, p.Endpoint, p.Region, cell(left))
	}
	return b.String()
}
