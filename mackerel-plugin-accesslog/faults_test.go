package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/testenv"
	"github.com/sre-suite/mackerel-plugins/mackerel-plugin-accesslog/internal/loggen"
)

// Faults found by trying to break the plugin (issue 12), each run on the
// real binary: nothing lost, nothing counted twice, no hang, no false value.

func lines(n, status int) string {
	return strings.Repeat(ltsvLine(status, "0.010"), n)
}

func stateFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "mackerel-plugin-accesslog-*.json"))
	return m
}

// 1. A FIFO among the files, given by name or matched by a glob, is left out
// at once with a line on stderr and files.skipped_count; the other files
// are counted.
func TestFIFOAmongTheFilesIsSkipped(t *testing.T) {
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	os.Mkdir(logs, 0o755)
	good, fifo := filepath.Join(logs, "a.log"), filepath.Join(logs, "b.log")
	writeFile(t, good, "")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		testenv.Skip(t, "mkfifo: %v", err)
	}
	for _, args := range [][]string{{good, fifo}, {filepath.Join(logs, "*.log")}} {
		state := t.TempDir()
		runPlugin(t, state, nil, args...)
		writeFile(t, good, lines(5, 200))
		r := runPlugin(t, state, nil, args...)
		if r.code != 0 || r.metrics["accesslog.access_num.total_count"] != 5 || r.metrics["accesslog.files.skipped_count"] != 1 {
			t.Fatalf("%v: exit %d %v\n%s", args, r.code, r.metrics, r.stderr)
		}
		if !strings.Contains(r.stderr, fifo) || !strings.Contains(r.stderr, "FIFO") {
			t.Fatalf("stderr does not name the FIFO: %q", r.stderr)
		}
		if r.took > 30*time.Second {
			t.Fatalf("took %v", r.took) // a generous bound: a hang is killed at a minute
		}
	}
}

// 3. Two files and a full disk while the states are saved (a real ENOSPC: a
// tmpfs with no inode left for the second file's state): the run fails,
// no state moves, and the next run counts every line once.
func TestFullDiskWhileSavingLosesNothing(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	os.Mkdir(state, 0o700)
	// mode=0700: a state dir others can write to is refused by lib/state.
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m,nr_inodes=100,mode=0700", "tmpfs", state).CombinedOutput(); err != nil {
		testenv.Skip(t, "mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", state).Run() })
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	writeFile(t, a, "")
	writeFile(t, b, "")
	if r := runPlugin(t, state, nil, a, b); r.code != 0 {
		t.Fatalf("first run: exit %d: %s", r.code, r.stderr)
	}
	before := map[string][]byte{}
	for _, f := range stateFiles(t, state) {
		before[f], _ = os.ReadFile(f)
	}
	writeFile(t, a, lines(50, 200))
	writeFile(t, b, lines(7, 500))
	// Room for one more file: the first state is written, the second is not.
	var fs syscall.Statfs_t
	if err := syscall.Statfs(state, &fs); err != nil {
		t.Fatal(err)
	}
	used := fs.Files - fs.Ffree
	if out, err := exec.Command("mount", "-o", "remount,nr_inodes="+itoa(used+1), state).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v: %s", err, out)
	}
	r := runPlugin(t, state, nil, a, b)
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "no space left") {
		t.Fatalf("on a full disk: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	for f, want := range before {
		if got, _ := os.ReadFile(f); string(got) != string(want) {
			t.Fatalf("state %s changed by the failed run", f)
		}
	}
	if out, err := exec.Command("mount", "-o", "remount,nr_inodes=100", state).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v: %s", err, out)
	}
	r = runPlugin(t, state, nil, a, b)
	if r.code != 0 || r.metrics["accesslog.access_num.total_count"] != 57 || r.metrics["accesslog.access_num.500_count"] != 7 {
		t.Fatalf("after the disk was freed: exit %d %v\n%s", r.code, r.metrics, r.stderr)
	}
}

// readState decodes a state file keeping its numbers exact (birth times in
// ns do not fit a float64).
func readState(t *testing.T, path string) map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := json.NewDecoder(f)
	d.UseNumber()
	var st map[string]any
	if err := d.Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// 6. A valid state file with a negative offset: one warning, and the next
// runs count again.
func TestImpossibleStateRecoversByItself(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "access.log")
	writeFile(t, log, lines(3, 200))
	runPlugin(t, dir, nil, log)
	f := stateFiles(t, dir)[0]
	st := readState(t, f)
	st["current"].(map[string]any)["offset"] = -100
	b, _ := json.Marshal(st)
	os.WriteFile(f, b, 0o600)
	writeFile(t, log, lines(2, 200))
	r := runPlugin(t, dir, nil, log)
	if r.code != 0 || !strings.Contains(r.stderr, "negative offset") {
		t.Fatalf("exit %d stderr %q", r.code, r.stderr)
	}
	writeFile(t, log, lines(4, 200))
	r = runPlugin(t, dir, nil, log)
	if r.code != 0 || r.metrics["accesslog.access_num.total_count"] != 4 {
		t.Fatalf("exit %d %v %s", r.code, r.metrics, r.stderr)
	}
}

// 7. Sums past int64: huge sizes and the largest accepted request time.
func TestHugeValuesDoNotOverflow(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "access.log")
	writeFile(t, log, "")
	runPlugin(t, dir, nil, log)
	big := "time:x\tstatus:200\tsize:999999999999999999\treqtime:1125899906.842624\n"
	writeFile(t, log, strings.Repeat(big, 8200))
	r := runPlugin(t, dir, nil, log)
	m := r.metrics
	if r.code != 0 || m["accesslog.access_num.total_count"] != 8200 {
		t.Fatalf("exit %d %v %s", r.code, m, r.stderr)
	}
	if avg := m["accesslog.latency.average"]; avg < 1125899906 || avg > 1125899907 {
		t.Errorf("latency.average = %v", avg)
	}
	if m["accesslog.bytes.sent"] <= 0 {
		t.Errorf("bytes.sent = %v", m["accesslog.bytes.sent"])
	}
}

// 8. Prefixes with an empty name part are refused like bad flags.
func TestPrefixWithEmptyPartsIsRefused(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "access.log")
	writeFile(t, log, "")
	for _, p := range []string{"x.", ".x", "a..b"} {
		r := runPlugin(t, dir, nil, "--metric-key-prefix", p, log)
		if r.code != 2 || !strings.Contains(r.stderr, "empty part") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("prefix %q: exit %d stderr %q", p, r.code, r.stderr)
		}
	}
	if r := runPlugin(t, dir, nil, "--metric-key-prefix", "www.front", log); r.code != 0 {
		t.Errorf("a dotted prefix: exit %d %s", r.code, r.stderr)
	}
}

// 10. The wall clock stepped back past the last run: the boot clock gives
// the interval, so rates are right; without it (another boot) rates are
// left out rather than reported as 0.
func TestClockSteppedBack(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "access.log")
	writeFile(t, log, "")
	runPlugin(t, dir, nil, log)
	f := stateFiles(t, dir)[0]
	edit := func(change func(st map[string]any)) {
		st := readState(t, f)
		st["last_run"] = time.Now().Add(time.Hour).Format(time.RFC3339Nano)
		change(st)
		b, _ := json.Marshal(st)
		os.WriteFile(f, b, 0o600)
	}
	edit(func(st map[string]any) {})
	writeFile(t, log, lines(6, 200))
	r := runPlugin(t, dir, nil, log)
	if r.code != 0 || r.metrics["accesslog.access_num.total_count"] != 6 {
		t.Fatalf("exit %d %v %s", r.code, r.metrics, r.stderr)
	}
	if _, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil && r.metrics["accesslog.rps.total"] <= 0 {
		t.Fatalf("rps.total = %v with the boot clock", r.metrics["accesslog.rps.total"])
	}
	edit(func(st map[string]any) { st["clock"] = map[string]any{"boot_id": "another-boot", "uptime_ns": 1} })
	writeFile(t, log, lines(2, 200))
	r = runPlugin(t, dir, nil, log)
	if r.code != 0 || r.metrics["accesslog.access_num.total_count"] != 2 || !strings.Contains(r.stderr, "clock") {
		t.Fatalf("exit %d %v %s", r.code, r.metrics, r.stderr)
	}
	for k := range r.metrics {
		if strings.Contains(k, ".rps") || k == "accesslog.bytes.sent" {
			t.Errorf("%s reported while the interval is unknown", k)
		}
	}
}

// A large read is parsed by several goroutines, a small one by the reader
// alone: both give the same metrics, line for line.
func TestParallelAndInlineParsingAgree(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "access.log")
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	counts, err := loggen.Write(f, 60000, "ltsv", 7)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]float64
	for _, w := range []string{"1", "3"} {
		r := runPlugin(t, filepath.Join(dir, "w"+w), nil, "--from-start", "--workers", w, "--group-by", "vhost", log)
		if r.code != 0 {
			t.Fatalf("--workers %s: exit %d %s", w, r.code, r.stderr)
		}
		got = append(got, r.metrics)
	}
	if got[0]["accesslog.access_num.total_count"] != 60000 || got[0]["accesslog.access_num.502_count"] != float64(counts[502]) {
		t.Fatalf("counts %v, want 60000 lines, %d 502", got[0], counts[502])
	}
	for k, v := range got[0] {
		if got[1][k] != v && !strings.Contains(k, "rps") && k != "accesslog.bytes.sent" {
			t.Errorf("%s: %v with one worker, %v with three", k, v, got[1][k])
		}
	}
}
