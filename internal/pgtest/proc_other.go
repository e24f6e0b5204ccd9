//go:build unix && !linux

package pgtest

import "syscall"

// setParentDeathSignal does nothing: only Linux offers a parent-death
// signal. A server whose test binary dies without calling Stop runs on
// until it is killed by hand.
func setParentDeathSignal(*syscall.SysProcAttr) {}
