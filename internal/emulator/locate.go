package emulator

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// MotoServerEnv names the environment variable that overrides where
// moto_server is found.
const MotoServerEnv = "ROLECALL_MOTO_SERVER"

// ErrMotoServerNotFound reports that the moto_server executable is missing.
// The full error says where it was looked for and what to do.
var ErrMotoServerNotFound = errors.New("moto_server not found")

// motoCommand returns the command that runs moto: explicit if set, else
// $ROLECALL_MOTO_SERVER, else tools/moto/server.py (moto with rolecall's
// trust-policy fixes) run by .venv/bin/python, both in the module root
// found by walking up from the working directory. An explicit executable
// runs as it is, without the fixes.
func motoCommand(explicit string) ([]string, error) {
	path := explicit
	if path == "" {
		path = os.Getenv(MotoServerEnv)
	}
	if path != "" {
		if err := executable(path); err != nil {
			return nil, err
		}
		return []string{path}, nil
	}
	root, err := ModuleRoot()
	if err != nil {
		return nil, fmt.Errorf("locate moto: %w: set %s to the moto_server executable", err, MotoServerEnv)
	}
	python := filepath.Join(root, ".venv", "bin", "python")
	if err := executable(python); err != nil {
		return nil, err
	}
	script := filepath.Join(root, "tools", "moto", "server.py")
	if _, err := os.Stat(script); err != nil {
		return nil, fmt.Errorf("locate moto: %w", err)
	}
	return []string{python, script}, nil
}

// RawMotoServer returns the unpatched moto_server of the project's
// virtualenv, for tests that pin moto's own behaviour: pass it as
// Options.MotoServer.
func RawMotoServer() (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	path := filepath.Join(root, ".venv", "bin", "moto_server")
	return path, executable(path)
}

// ModuleRoot returns the nearest directory at or above the working
// directory that holds go.mod: the repository root.
func ModuleRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return moduleRoot(wd)
}

func executable(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return notFound(path)
		}
		return fmt.Errorf("locate moto: %w", err)
	}
	if info.IsDir() || info.Mode()&0o111 == 0 {
		return notFound(path)
	}
	return nil
}

func notFound(path string) error {
	return fmt.Errorf("%w at %s: run `make tools` (make test and make demo do it for you)", ErrMotoServerNotFound, path)
}

// moduleRoot returns the nearest directory at or above dir that holds go.mod.
func moduleRoot(dir string) (string, error) {
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.mod at or above %s", dir)
		}
		d = parent
	}
}
