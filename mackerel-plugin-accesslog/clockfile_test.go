package main

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// A run with nothing new leaves the state file as it is (no write, no
// fsync) and records its time in the clock file; the next run's rates use
// it, and its counts are exact. A torn clock file costs that run's rates
// only, with a warning; a missing one falls back to the state's time.
func TestRunWithNothingNewLeavesTheStateFile(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "access.log")
	writeFile(t, log, lines(3, 200))
	if r := runPlugin(t, dir, nil, "--from-start", log); r.code != 0 || r.metrics["accesslog.access_num.total_count"] != 3 {
		t.Fatalf("first run: exit %d %v %s", r.code, r.metrics, r.stderr)
	}
	states := stateFiles(t, dir)
	if len(states) != 1 {
		t.Fatalf("state files %v", states)
	}
	stateFile, clockFile := states[0], states[0]+clockFileSuffix
	before, _ := os.ReadFile(stateFile)
	fi0, err := os.Stat(stateFile)
	if err != nil {
		t.Fatal(err)
	}

	r := runPlugin(t, dir, nil, log)
	if r.code != 0 || r.metrics["accesslog.access_num.total_count"] != 0 || r.stderr != "" {
		t.Fatalf("nothing new: exit %d %v %s", r.code, r.metrics, r.stderr)
	}
	after, _ := os.ReadFile(stateFile)
	fi1, err := os.Stat(stateFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) || !os.SameFile(fi0, fi1) || !fi0.ModTime().Equal(fi1.ModTime()) {
		t.Fatalf("a run with nothing new rewrote the state file:\n%s\n%s", before, after)
	}
	b, err := os.ReadFile(clockFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeClockFile(b); err != nil {
		t.Fatalf("clock file %q: %v", b, err)
	}
	withBootClock := func() bool { _, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); return err == nil }()

	writeFile(t, log, lines(5, 200))
	r = runPlugin(t, dir, nil, log)
	if r.code != 0 || r.metrics["accesslog.access_num.total_count"] != 5 || (withBootClock && r.metrics["accesslog.rps.total"] <= 0) {
		t.Fatalf("after appending 5: exit %d %v %s", r.code, r.metrics, r.stderr)
	}
	if now, _ := os.ReadFile(stateFile); bytes.Equal(now, before) {
		t.Fatal("a run that read lines left the state file as it was")
	}

	// Torn: half a record.
	runPlugin(t, dir, nil, log)
	b, _ = os.ReadFile(clockFile)
	os.WriteFile(clockFile, b[:len(b)/2], 0o600)
	writeFile(t, log, lines(4, 500))
	r = runPlugin(t, dir, nil, log)
	if r.code != 0 || r.metrics["accesslog.access_num.total_count"] != 4 || r.metrics["accesslog.access_num.5xx_count"] != 4 ||
		!strings.Contains(r.stderr, "clock file") || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("torn clock file: exit %d %v %s", r.code, r.metrics, r.stderr)
	}
	for k := range r.metrics {
		if strings.Contains(k, ".rps") || k == "accesslog.bytes.sent" {
			t.Errorf("%s reported while the interval is unknown", k)
		}
	}
	runPlugin(t, dir, nil, log)
	writeFile(t, log, lines(2, 200))
	if r = runPlugin(t, dir, nil, log); r.code != 0 || r.metrics["accesslog.access_num.total_count"] != 2 || r.stderr != "" ||
		(withBootClock && r.metrics["accesslog.rps.total"] <= 0) {
		t.Fatalf("after the torn clock file was rewritten: exit %d %v %s", r.code, r.metrics, r.stderr)
	}

	// Missing: the state's own time.
	runPlugin(t, dir, nil, log)
	os.Remove(clockFile)
	writeFile(t, log, lines(1, 200))
	if r = runPlugin(t, dir, nil, log); r.code != 0 || r.metrics["accesslog.access_num.total_count"] != 1 || r.stderr != "" ||
		(withBootClock && r.metrics["accesslog.rps.total"] <= 0) {
		t.Fatalf("clock file missing: exit %d %v %s", r.code, r.metrics, r.stderr)
	}
}

// Runs with nothing new killed (SIGKILL) at random points, and clock files
// torn at random, never lose or double-count a line: each run that is let
// finish counts exactly the lines appended since the last one that was.
func TestKilledRunsWithNothingNewLoseNothing(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "access.log")
	writeFile(t, log, "")
	bin := testenv.BuildBinary(t, "mackerel-plugin-accesslog")
	runPlugin(t, dir, nil, log)
	r := rand.New(rand.NewPCG(12, 1))
	killed := 0
	for i := range 40 {
		n := 1 + r.IntN(20)
		writeFile(t, log, lines(n, 200))
		if got := runPlugin(t, dir, nil, log); got.code != 0 || got.metrics["accesslog.access_num.total_count"] != float64(n) {
			t.Fatalf("round %d (%d killed so far): exit %d, counted %v of %d: %s", i, killed, got.code, got.metrics["accesslog.access_num.total_count"], n, got.stderr)
		}
		for range 1 + r.IntN(3) {
			cmd := exec.Command(bin, log)
			cmd.Env = append(os.Environ(), "MACKEREL_PLUGIN_WORKDIR="+dir)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Duration(r.IntN(4000)) * time.Microsecond) // a random point of the run, not a wait for anything
			cmd.Process.Kill()
			cmd.Wait()
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				killed++
			}
		}
		if r.IntN(4) == 0 {
			for _, f := range stateFiles(t, dir) {
				if b, err := os.ReadFile(f + clockFileSuffix); err == nil {
					os.WriteFile(f+clockFileSuffix, b[:r.IntN(len(b)+1)], 0o600)
				}
			}
		}
	}
	t.Logf("%d runs killed before their end", killed)
	if killed == 0 {
		t.Fatal("no run was killed before its end: the test tried nothing")
	}
}

// FuzzClockFile: a clock file either is refused or reads back, written
// again, as the same time; any time written reads back as itself.
func FuzzClockFile(f *testing.F) {
	f.Add([]byte("accesslog-clock 1 0f8e2c4a-1b2c-4d5e-8f90-a1b2c3d4e5f6 123456789 1796127874000000000\n"), "b", int64(5), int64(7))
	f.Add([]byte("accesslog-clock 1 - 0 -5\n"), "", int64(0), int64(-1))
	f.Add([]byte("accesslog-clock 1 x 1 2"), "0f8e-2c", int64(1<<62), int64(-1<<62))
	f.Fuzz(func(t *testing.T, b []byte, boot string, up, wall int64) {
		if m, err := decodeClockFile(b); err == nil {
			again, err := decodeClockFile(encodeClockFile(m))
			if err != nil || again != m {
				t.Fatalf("%q → %+v → %+v (%v)", b, m, again, err)
			}
		}
		if up < 0 || len(boot) > 64 || strings.Trim(boot, "0123456789abcdefABCDEF-") != "" || boot == "-" {
			return
		}
		m := runMark{clock: runClock{Boot: boot, Uptime: up}, wall: time.Unix(0, wall)}
		back, err := decodeClockFile(encodeClockFile(m))
		if err != nil || back.clock != m.clock || !back.wall.Equal(m.wall) {
			t.Fatalf("%+v → %q → %+v (%v)", m, encodeClockFile(m), back, err)
		}
	})
}
