package policyscan

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/rolecall/rolecall/internal/permissions"
)

// Summary counts what CheckFiles saw.
type Summary struct {
	Files, Policies, Skipped, Errors, Warnings int
}

// CheckFiles scans each template (and the local nested templates they
// name, once each), puts every policy through the gate and writes one line
// per finding to w. A file that cannot be read or parsed is an error.
func CheckFiles(paths []string, g permissions.Gate, w io.Writer) Summary {
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
		r, err := Scan(data)
		if err != nil {
			s.Errors++
			fmt.Fprintf(w, "error: %s: %v\n", path, err)
			continue
		}
		for _, n := range r.Nested {
			queue = append(queue, filepath.Join(filepath.Dir(path), n))
		}
		for _, sk := range r.Skipped {
			s.Skipped++
			fmt.Fprintf(w, "skipped: %s: %s: %s\n", path, sk.Location, sk.Reason)
		}
		for _, p := range r.Problems {
			s.Errors++
			fmt.Fprintf(w, "error: %s: %s\n", path, p)
		}
		for _, p := range r.Policies {
			s.Policies++
			for _, f := range g.Check(p.Location, p.Document) {
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
		fmt.Fprintf(w, "FAIL: %d error(s) in %d file(s); the policies above are not read-only.\n", s.Errors, s.Files)
	} else {
		fmt.Fprintf(w, "ok: %d policies in %d file(s) are read-only (%d warning(s), %d skipped resource(s)).\n", s.Policies, s.Files, s.Warnings, s.Skipped)
	}
	return s
}
