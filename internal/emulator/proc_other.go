//go:build !unix

package emulator

import (
	"os"
	"syscall"
)

// sysProcAttr returns nil: outside Unix there are no process groups to use.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// killGroup kills p alone.
func killGroup(p *os.Process) error { return p.Kill() }
