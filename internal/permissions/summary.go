package permissions

import (
	"fmt"
	"strings"
)

// SummaryLine is the summary of one module.
type SummaryLine struct {
	Module   string
	Optional bool
	Text     string
}

// SummaryLines describes what each module allows, for the GrantedPermissions
// output and the README. Management-only and per-log-group statements are
// described with their condition, so one text serves every account.
func SummaryLines() []SummaryLine {
	var out []SummaryLine
	for _, m := range Modules() {
		n := len(m.Actions())
		text := fmt.Sprintf("%s (%d actions): %s", m.Title, n, m.Purpose)
		var exposes []string
		for _, s := range m.Statements {
			if s.Exposes != "" {
				exposes = append(exposes, s.Exposes)
			}
		}
		if len(exposes) > 0 {
			text += " Also readable: " + strings.Join(exposes, "; ") + "."
		}
		out = append(out, SummaryLine{Module: m.ID, Optional: m.Optional, Text: text})
	}
	return out
}

// SummaryHeader opens the summary: what kind of access and which permission set.
func SummaryHeader() string {
	return fmt.Sprintf("Read-only access, permission set %s (%s). No write, tagging or permissions-management action is granted.", Version, shortDigest())
}

func shortDigest() string {
	d := Digest()
	if len(d) > len("sha256:")+12 {
		return d[:len("sha256:")+12]
	}
	return d
}

// Summary is the whole human-readable summary for one configuration, one
// line per granted module.
func Summary(bedrock bool) string { return SummaryIn("aws", bedrock) }

// SummaryIn is Summary for a partition: a module of services AWS does not
// offer there is left out, and a last line says which services are.
func SummaryIn(partition string, bedrock bool) string {
	lines := []string{SummaryHeader()}
	for _, l := range SummaryLines() {
		if l.Module == ModuleBedrock && !bedrock || !moduleAvailableIn(l.Module, partition) {
			continue
		}
		lines = append(lines, "- "+l.Text)
	}
	if gone := Unavailable(partition); len(gone) > 0 {
		var names []string
		for _, g := range gone {
			names = append(names, g[0])
		}
		lines = append(lines, fmt.Sprintf("- Left out in %s, where AWS does not offer them: %s.", partition, strings.Join(names, ", ")))
	}
	return strings.Join(lines, "\n")
}

// moduleAvailableIn reports whether any statement of the module is of a
// service the partition offers.
func moduleAvailableIn(id, partition string) bool {
	for _, m := range Modules() {
		if m.ID != id {
			continue
		}
		for _, s := range m.Statements {
			if availableIn(s, partition) {
				return true
			}
		}
	}
	return false
}
