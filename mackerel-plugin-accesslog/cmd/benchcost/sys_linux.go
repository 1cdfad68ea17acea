package main

import (
	"runtime"
	"syscall"
)

// maxrssKiB: Linux reports ru_maxrss in KiB.
func maxrssKiB(ru *syscall.Rusage) int64 { return ru.Maxrss }

func numCPU() int { return runtime.NumCPU() }
