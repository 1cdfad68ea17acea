// benchrun is `make bench` for mackerel-plugin-accesslog: it generates an
// LTSV log of realistic lines, runs the built plugin over it from the start
// (a first run with --from-start, the largest read a run does), and reports
// MB/s, lines/s and the plugin's peak RSS, taken from the kernel's rusage.
// It checks that the plugin counted every line.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sre-suite/mackerel-plugins/mackerel-plugin-accesslog/internal/benchproc"
	"github.com/sre-suite/mackerel-plugins/mackerel-plugin-accesslog/internal/loggen"
)

func main() {
	plugin := flag.String("plugin", "bin/mackerel-plugin-accesslog", "the plugin binary")
	sizes := flag.String("lines", "2000000,20000000", "comma-separated line counts to measure")
	runs := flag.Int("runs", 3, "runs per size (the best is reported)")
	dir := flag.String("dir", "", "work directory (default: a temporary one, removed at the end)")
	flag.Parse()
	work := *dir
	if work == "" {
		d, err := os.MkdirTemp("", "accesslog-bench-")
		if err != nil {
			fail(err)
		}
		defer os.RemoveAll(d)
		work = d
	}
	fmt.Printf("%-12s %10s %10s %12s %10s %12s\n", "lines", "MB", "seconds", "MB/s", "Mlines/s", "peak RSS MiB")
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			fail(fmt.Errorf("--lines %q: %v", s, err))
		}
		logPath := filepath.Join(work, fmt.Sprintf("access-%d.log", n))
		f, err := os.Create(logPath)
		if err != nil {
			fail(err)
		}
		if _, err := loggen.Write(f, n, "ltsv", 1); err != nil {
			fail(err)
		}
		f.Close()
		fi, _ := os.Stat(logPath)
		if err := loggen.Warm(logPath); err != nil {
			fail(err)
		}
		best := time.Duration(1<<63 - 1)
		var rss int64
		for r := 0; r < *runs; r++ {
			el, maxrss, total := runOnce(*plugin, logPath, filepath.Join(work, fmt.Sprintf("state-%d-%d", n, r)))
			if total != n {
				fail(fmt.Errorf("the plugin counted %d lines of %d", total, n))
			}
			best = min(best, el)
			rss = max(rss, maxrss)
		}
		mb := float64(fi.Size()) / 1e6
		fmt.Printf("%-12d %10.0f %10.3f %12.0f %10.2f %12.1f\n", n, mb, best.Seconds(), mb/best.Seconds(), float64(n)/best.Seconds()/1e6, float64(rss)/1024)
		os.Remove(logPath)
	}
	fmt.Printf("(peak RSS is the plugin's own: this tool had shrunk its own to at most %.1f MiB before starting it)\n", float64(ownRSS)/1024)
}

// ownRSS is this tool's largest resident set (KiB) when it started the
// plugin: the floor of the peak RSS read from the kernel (see benchproc).
var ownRSS int64

func runOnce(plugin, logPath, stateDir string) (time.Duration, int64, int) {
	if own := benchproc.LowerOwnRSS(); own > ownRSS {
		ownRSS = own
	}
	cmd := exec.Command(plugin, "--from-start", "--max-read-bytes", "1099511627776", "--file", logPath, "--state-dir", stateDir)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		fail(fmt.Errorf("%s: %v", plugin, err))
	}
	el := time.Since(start)
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	total := -1
	for _, line := range strings.Split(out.String(), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == "accesslog.access_num.total_count" {
			total, _ = strconv.Atoi(f[1])
		}
	}
	return el, ru.Maxrss, total
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "benchrun:", err)
	os.Exit(1)
}
