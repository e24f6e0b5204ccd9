package policyscan

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rolecall/rolecall/internal/permissions"
)

// Summary counts what CheckFiles saw.
type Summary struct {
	Files, Policies, FunctionRoles, SchedulerRoles, Errors, Warnings int
}

// CheckOptions adjust CheckFiles.
type CheckOptions struct {
	Scan Options
	// Resolve maps URL prefixes to local directories: a nested stack whose
	// TemplateURL starts with a prefix is read from the directory (such as
	// a release built by make package, whose templates point at the
	// vendor's bucket). A URL no prefix covers is an error.
	Resolve map[string]string
}

// CheckFiles scans each template (and the nested templates they name,
// once each), puts every policy through the gate and writes one line per
// finding to w. A file that cannot be read or parsed, a nested template it
// cannot find, and anything the scan cannot evaluate are errors: the gate
// never passes what it has not seen.
func CheckFiles(paths []string, g permissions.Gate, opts CheckOptions, w io.Writer) Summary {
	var s Summary
	seen := map[string]bool{}
	queue := append([]string(nil), paths...)
	for len(queue) > 0 {
		path := filepath.Clean(queue[0])
		queue = queue[1:]
		if seen[path] {
			continue
		}
		seen[path] = true
		s.Files++
		data, err := os.ReadFile(path)
		if err != nil {
			s.Errors++
			fmt.Fprintf(w, "error: %v\n", err)
			continue
		}
		r, err := Scan(data, opts.Scan)
		if err != nil {
			s.Errors++
			fmt.Fprintf(w, "error: %s: %v\n", path, err)
			continue
		}
		for _, n := range r.Nested {
			local, err := resolve(path, n.URL, opts.Resolve)
			if err != nil {
				s.Errors++
				fmt.Fprintf(w, "error: %s: %s: %v\n", path, n.LogicalID, err)
				continue
			}
			queue = append(queue, local)
		}
		for _, p := range r.Problems {
			s.Errors++
			fmt.Fprintf(w, "error: %s: %s\n", path, p)
		}
		for _, p := range r.Policies {
			s.Policies++
			var findings []permissions.Finding
			switch p.Role {
			case FunctionRole:
				s.FunctionRoles++
				findings = g.CheckFunctionRole(p.Location, p.Document)
			case SchedulerRole:
				s.SchedulerRoles++
				findings = g.CheckSchedulerRole(p.Location, p.Document)
			default:
				findings = g.Check(p.Location, p.Document)
			}
			for _, f := range findings {
				if f.Severity == permissions.Error {
					s.Errors++
				} else {
					s.Warnings++
				}
				fmt.Fprintf(w, "%s: %s\n", path, f)
			}
		}
	}
	if s.Errors > 0 {
		fmt.Fprintf(w, "FAIL: %d error(s) in %d file(s); the policies above are not read-only or could not be evaluated.\n", s.Errors, s.Files)
	} else {
		fmt.Fprintf(w, "ok: %d policies in %d file(s) are read-only (%d of them of a function's own execution role and %d of a schedule's, held to their allowed writes: %s); %d warning(s).\n",
			s.Policies, s.Files, s.FunctionRoles, s.SchedulerRoles, functionWrites(), s.Warnings)
	}
	return s
}

func functionWrites() string {
	var names []string
	for _, fw := range append(permissions.FunctionWrites(), permissions.SchedulerWrites()...) {
		names = append(names, fw.Action)
	}
	return strings.Join(names, ", ")
}

// resolve finds the local file of a nested template: a path relative to
// the template that names it, or a URL under one of the Resolve prefixes.
func resolve(from, url string, prefixes map[string]string) (string, error) {
	if !strings.Contains(url, "://") {
		return filepath.Join(filepath.Dir(from), url), nil
	}
	keys := make([]string, 0, len(prefixes))
	for k := range prefixes {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	for _, prefix := range keys {
		if rest, ok := strings.CutPrefix(url, prefix); ok {
			rest = strings.TrimPrefix(rest, "/")
			if rest == "" || strings.Contains(rest, "..") {
				return "", fmt.Errorf("nested template URL %s does not name a file under %s", url, prefix)
			}
			return filepath.Join(prefixes[prefix], filepath.FromSlash(rest)), nil
		}
	}
	return "", fmt.Errorf("the nested template is given by URL %s, which the gate cannot fetch: point it at the local copy with -resolve %s=DIR", url, urlBase(url))
}

// urlBase returns the scheme and host of a URL, for a hint.
func urlBase(url string) string {
	scheme, rest, _ := strings.Cut(url, "://")
	host, _, _ := strings.Cut(rest, "/")
	return scheme + "://" + host + "/"
}
