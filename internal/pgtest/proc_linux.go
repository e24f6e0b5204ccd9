package pgtest

import "syscall"

// setParentDeathSignal asks the kernel to kill the server if the thread
// that started it dies, so that a test binary that crashes or is killed
// (a panicking test, a timeout) leaves no server running. Go sets it after
// changing the child's credentials, which would otherwise clear it.
func setParentDeathSignal(a *syscall.SysProcAttr) {
	a.Pdeathsig = syscall.SIGKILL
}
