package main

import (
	"runtime"
	"syscall"
)

// maxrssKiB: macOS reports ru_maxrss in bytes.
func maxrssKiB(ru *syscall.Rusage) int64 { return ru.Maxrss / 1024 }

func numCPU() int { return runtime.NumCPU() }
