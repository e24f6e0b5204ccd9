package publish

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
)

// Target is a platform the verify binary is built for.
type Target struct{ OS, Arch string }

// VerifyTargets are the platforms customers run verify on: Linux (AWS
// CloudShell included), macOS and Windows, on amd64 and arm64.
var VerifyTargets = []Target{
	{"linux", "amd64"}, {"linux", "arm64"},
	{"darwin", "amd64"}, {"darwin", "arm64"},
	{"windows", "amd64"}, {"windows", "arm64"},
}

// Name is the binary's file name for the target, such as
// rolecall-verify-linux-amd64 or rolecall-verify-windows-arm64.exe.
func (t Target) Name() string {
	name := "rolecall-verify-" + t.OS + "-" + t.Arch
	if t.OS == "windows" {
		name += ".exe"
	}
	return name
}

var versionPattern = regexp.MustCompile(`^[0-9a-f]{12}$`)

// BuildVerify builds cmd/rolecall-verify of the module at root for each
// target, reproducibly: no cgo, no file paths (-trimpath), no VCS stamp,
// no build ID, symbols stripped, and the release version as the only
// input beyond the source and the toolchain. The same checkout and
// toolchain give the same bytes (see TestVerifyBuildsAreReproducible).
// gocache, if set, is the build cache to use.
func BuildVerify(ctx context.Context, root, version, gocache string, targets []Target) (map[string][]byte, error) {
	if !versionPattern.MatchString(version) {
		return nil, fmt.Errorf("build verify: %q is not a release version (12 hex digits)", version)
	}
	dir, err := os.MkdirTemp("", "rolecall-verify-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := map[string][]byte{}
	for _, t := range targets {
		path := filepath.Join(dir, t.Name())
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", //nolint:gosec // fixed arguments and our own paths
			"-ldflags", "-s -w -buildid= -X main.version="+version, "-o", path, "./cmd/rolecall-verify")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+t.OS, "GOARCH="+t.Arch, "GOFLAGS=-mod=readonly")
		if gocache != "" {
			cmd.Env = append(cmd.Env, "GOCACHE="+gocache)
		}
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build %s: %w\n%s", t.Name(), err, b)
		}
		if out[t.Name()], err = os.ReadFile(path); err != nil {
			return nil, err
		}
	}
	return out, nil
}
