//go:build unix && !linux

package emulator

import "syscall"

// sysProcAttr puts moto in a process group of its own, so that Stop can kill
// everything it started. Only Linux offers a parent-death signal.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
