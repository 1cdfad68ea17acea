// benchcost is the per-run half of `make bench` for mackerel-plugin-accesslog:
// what a user pays every minute. It runs the built plugin and kazeburo's
// axslog (built from ../shared/third_party by bench.sh) as mackerel-agent
// would, on the same LTSV log with their own state, interleaved (the order
// alternates every round), and reports the median CPU time (user+sys), peak
// RSS and minor page faults the kernel measured for each, and their ratio:
//   - an incremental run over lines appended since the previous run
//     (-increment, 20,000 by default: 1.2 M requests a minute over 60 hosts);
//   - a run with nothing new;
//   - a whole file read from the start (-lines, best of -rounds for each),
//     for the throughput ratio.
//
// It checks that the plugin counted exactly the lines appended.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sre-suite/mackerel-plugins/mackerel-plugin-accesslog/internal/benchproc"
	"github.com/sre-suite/mackerel-plugins/mackerel-plugin-accesslog/internal/loggen"
)

type sample struct {
	cpu    time.Duration // user + sys
	wall   time.Duration
	rssKiB int64
	minflt int64
}

type tool struct {
	name string
	args func(log string) []string
	env  []string
	runs map[string][]sample // by kind
}

func main() {
	plugin := flag.String("plugin", "bin/mackerel-plugin-accesslog", "the plugin binary")
	axslog := flag.String("axslog", "", "kazeburo's mackerel-plugin-axslog binary (required)")
	increment := flag.Int("increment", 20000, "lines appended before each incremental run")
	rounds := flag.Int("rounds", 101, "interleaved rounds (the median is reported)")
	lines := flag.Int("lines", 2000000, "lines of the whole-file read (0: skip it)")
	flag.Parse()
	if *axslog == "" {
		fail(fmt.Errorf("-axslog BIN is required"))
	}
	work, err := os.MkdirTemp("", "accesslog-benchcost-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(work)
	ours := &tool{name: "accesslog", runs: map[string][]sample{},
		args: func(log string) []string { return []string{*plugin, "--file", log} },
		env:  []string{"MACKEREL_PLUGIN_WORKDIR=" + filepath.Join(work, "state-ours")}}
	theirs := &tool{name: "axslog", runs: map[string][]sample{},
		args: func(log string) []string {
			return []string{*axslog, "--logfile", log, "--key-prefix", "bench", "--ptime-key", "reqtime"}
		},
		env: []string{"MACKEREL_PLUGIN_WORKDIR=" + filepath.Join(work, "state-axslog")}}
	for _, t := range []*tool{ours, theirs} {
		os.MkdirAll(strings.TrimPrefix(t.env[0], "MACKEREL_PLUGIN_WORKDIR="), 0o700)
	}

	log := filepath.Join(work, "access.log")
	appendLines(log, *increment, 0)
	for _, t := range []*tool{ours, theirs, theirs} { // axslog prints from its second run
		run(t, log, "")
	}
	for r := 1; r <= *rounds; r++ {
		appendLines(log, *increment, uint64(r))
		order := []*tool{ours, theirs}
		if r%2 == 0 {
			order = []*tool{theirs, ours}
		}
		for _, t := range order {
			out := run(t, log, "increment")
			if t == ours {
				checkTotal(out, *increment)
			}
		}
		for _, t := range order {
			out := run(t, log, "nothing new")
			if t == ours {
				checkTotal(out, 0)
			}
		}
	}
	if *lines > 0 {
		wholeFile(work, ours, theirs, *lines, *rounds, *plugin)
	}
	fmt.Printf("%d rounds, interleaved; %s\n", *rounds, machine())
	fmt.Printf("%-34s %12s %12s %10s %10s %8s\n", "run", "CPU s", "wall s", "RSS MiB", "minflt", "ratio")
	for _, kind := range []string{fmt.Sprintf("increment of %d lines", *increment), "nothing new", fmt.Sprintf("whole file, %d lines", *lines)} {
		key := strings.Split(kind, " of ")[0]
		if strings.HasPrefix(kind, "whole") {
			key = "whole"
		}
		a, b := ours.runs[key], theirs.runs[key]
		if len(a) == 0 || len(b) == 0 {
			continue
		}
		pick := median
		if key == "whole" {
			pick = best
		}
		sa, sb := pick(a), pick(b)
		fmt.Printf("%-34s %12.4f %12.4f %10.1f %10d\n", kind+": accesslog", sa.cpu.Seconds(), sa.wall.Seconds(), float64(sa.rssKiB)/1024, sa.minflt)
		fmt.Printf("%-34s %12.4f %12.4f %10.1f %10d %8.2f\n", kind+": axslog", sb.cpu.Seconds(), sb.wall.Seconds(), float64(sb.rssKiB)/1024, sb.minflt, sa.cpu.Seconds()/sb.cpu.Seconds())
	}
	fmt.Println("ratio: accesslog's CPU time / axslog's (below 1: accesslog is cheaper); medians, whole file: best wall time (CPU shown is of that run)")
	fmt.Printf("RSS is each tool's own: this benchmark had shrunk its own to at most %.1f MiB before starting one\n", float64(ownRSS)/1024)
}

// wholeFile reads a file of n lines from its start: the plugin with
// --from-start, axslog from a saved position of 0 on the same inode.
func wholeFile(work string, ours, theirs *tool, n, rounds int, plugin string) {
	log := filepath.Join(work, "big.log")
	os.WriteFile(log, nil, 0o644)
	axState := strings.TrimPrefix(theirs.env[0], "MACKEREL_PLUGIN_WORKDIR=")
	run(theirs, log, "") // saves position 0 of this inode
	saved := map[string][]byte{}
	ents, _ := os.ReadDir(axState)
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(axState, e.Name()))
		saved[e.Name()] = b
	}
	appendLines(log, n, 99)
	if err := loggen.Warm(log); err != nil {
		fail(err)
	}
	ours.args = func(l string) []string {
		return []string{plugin, "--from-start", "--max-read-bytes", "1099511627776", "--file", l, "--state-dir", filepath.Join(work, "whole-"+strconv.FormatInt(time.Now().UnixNano(), 10))}
	}
	for r := 0; r < min(rounds, 5); r++ {
		checkTotal(run(ours, log, "whole"), n)
		for name, b := range saved {
			os.WriteFile(filepath.Join(axState, name), b, 0o600)
		}
		run(theirs, log, "whole")
	}
}

func appendLines(path string, n int, seed uint64) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fail(err)
	}
	defer f.Close()
	if _, err := loggen.Write(f, n, "ltsv", seed); err != nil {
		fail(err)
	}
}

// ownRSS is this tool's largest resident set (KiB) when it started a run:
// the floor of the peak RSS read from the kernel (see benchproc).
var ownRSS int64

func run(t *tool, log, kind string) string {
	args := t.args(log)
	if own := benchproc.LowerOwnRSS(); own > ownRSS {
		ownRSS = own
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), t.env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	if err := cmd.Run(); err != nil {
		fail(fmt.Errorf("%s: %v: %s", t.name, err, errb.String()))
	}
	wall := time.Since(start)
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if kind != "" {
		t.runs[kind] = append(t.runs[kind], sample{
			cpu:    cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(),
			wall:   wall,
			rssKiB: maxrssKiB(ru),
			minflt: int64(ru.Minflt),
		})
	}
	return out.String()
}

func checkTotal(out string, want int) {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == "accesslog.access_num.total_count" {
			if got, _ := strconv.Atoi(f[1]); got != want {
				fail(fmt.Errorf("the plugin counted %d lines, want %d", got, want))
			}
			return
		}
	}
	fail(fmt.Errorf("no total_count in the plugin's output: %q", out))
}

func median(s []sample) sample {
	s = slices.Clone(s)
	slices.SortFunc(s, func(a, b sample) int { return int(a.cpu - b.cpu) })
	return s[len(s)/2]
}

func best(s []sample) sample {
	return slices.MinFunc(s, func(a, b sample) int { return int(a.wall - b.wall) })
}

func machine() string {
	model := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%d CPUs (%s), %s", numCPU(), model, time.Now().UTC().Format("2006-01-02"))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "benchcost:", err)
	os.Exit(1)
}
