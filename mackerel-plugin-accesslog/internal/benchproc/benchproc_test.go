package benchproc

import (
	"os/exec"
	"runtime"
	"syscall"
	"testing"
)

var sink []byte

// A child's ru_maxrss reads as this process's memory until LowerOwnRSS is
// called (the control), and as its own after.
func TestChildRSSIsItsOwn(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("ru_maxrss at exec and /proc/self/clear_refs are Linux's")
	}
	childKiB := func() int64 {
		c := exec.Command("true")
		if err := c.Run(); err != nil {
			t.Fatal(err)
		}
		return c.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
	}
	sink = make([]byte, 64<<20)
	for i := range sink {
		sink[i] = 1
	}
	if got := childKiB(); got < 60<<10 {
		t.Fatalf("control: a child of a 64 MiB process reads %d KiB; the effect this package undoes is not there", got)
	}
	sink = nil
	own := LowerOwnRSS()
	if got := childKiB(); own == 0 || got > 32<<10 {
		t.Fatalf("after LowerOwnRSS (own %d KiB): the child reads %d KiB", own, got)
	}
}
