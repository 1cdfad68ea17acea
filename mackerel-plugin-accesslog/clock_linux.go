package main

import (
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// readClock reads the time since boot (CLOCK_BOOTTIME: it counts suspend and
// never steps) and the boot's id, so that the interval between two runs is
// right even when the wall clock was stepped between them.
func readClock() runClock {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return runClock{}
	}
	id, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return runClock{}
	}
	return runClock{Boot: strings.TrimSpace(string(id)), Uptime: ts.Nano()}
}
