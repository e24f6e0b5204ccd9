package verify

import (
	"math"
	"runtime/debug"
)

// TuneRuntime sizes Go's garbage collector for a process with memoryMB of
// memory and nothing else to share it with, such as a Lambda function: a
// verification allocates a little for every call, and the default
// (collect when the heap doubles) spends a fifth of a small vCPU share
// collecting a heap that would fit many times over. The collector runs
// when the heap has grown fourfold, or when it nears three quarters of
// the memory, whichever comes first.
//
// It is called first thing in main, and replaces whatever GOGC said (the
// template sets GOGC=off for the package initialisation only): with no
// known memory size (memoryMB <= 0) it restores Go's default pacing.
func TuneRuntime(memoryMB int) {
	if memoryMB <= 0 {
		debug.SetGCPercent(100)
		debug.SetMemoryLimit(math.MaxInt64)
		return
	}
	debug.SetGCPercent(400)
	debug.SetMemoryLimit(int64(memoryMB) << 20 * 3 / 4)
}
