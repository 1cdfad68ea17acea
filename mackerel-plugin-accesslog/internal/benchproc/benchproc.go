// Package benchproc is what the benchmark commands need to read a child
// process's peak memory truly.
package benchproc

import (
	"bytes"
	"os"
	"runtime/debug"
	"strconv"
)

// LowerOwnRSS shrinks this process's resident set to what it uses, resets
// its high-water mark, and returns the resident set in KiB (0 where
// /proc/self/status is not there). Call it before starting a child whose
// ru_maxrss is reported: Go starts a child with vfork (CLONE_VM), so until
// its exec the child shares this process's memory, and Linux records that
// memory's high-water mark as the child's at the exec. Without this, a
// plugin whose own peak is 11 MiB read as 22–46 MiB after the benchmark had
// generated its log. What is returned is the floor of every figure read
// afterwards.
func LowerOwnRSS() int64 {
	debug.FreeOSMemory()
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // Linux: high-water mark := current RSS
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			n, _ := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(v), []byte(" kB"))), 10, 64)
			return n
		}
	}
	return 0
}
