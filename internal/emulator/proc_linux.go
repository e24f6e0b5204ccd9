package emulator

import "syscall"

// sysProcAttr puts moto in a process group of its own, so that Stop can kill
// everything it started, and asks the kernel to kill it if the thread that
// started it dies, so that a crashed or killed test binary leaves nothing
// running. The thread is locked for the child's lifetime (see launch).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
