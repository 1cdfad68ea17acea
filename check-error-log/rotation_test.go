package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/check"
	"github.com/sre-suite/mackerel-plugins/lib/state"
	"github.com/sre-suite/mackerel-plugins/lib/tail"
)

// errorCount is the number at the start of the message ("N errors in …").
func errorCount(t *testing.T, r check.Result) int {
	t.Helper()
	if strings.HasPrefix(r.Message, "no errors") {
		return 0
	}
	var n int
	if _, err := fmt.Sscanf(r.Message, "%d error", &n); err != nil {
		t.Fatalf("message %q", r.Message)
	}
	return n
}

// writer appends numbered fatal errors (and noise) to a log, the way PHP
// does: the file stays open and is reopened when told.
type writer struct {
	t    *testing.T
	path string
	f    *os.File
	seq  int
}

func (w *writer) reopen() {
	if w.f != nil {
		w.f.Close()
	}
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		w.t.Fatal(err)
	}
	w.f = f
	w.t.Cleanup(func() { f.Close() })
}

func (w *writer) errors(n int) {
	for range n {
		w.seq++
		fmt.Fprintf(w.f, "[01-Dec-2026 11:00:00 UTC] PHP Notice:  noise %d\n[01-Dec-2026 11:00:00 UTC] PHP Fatal error:  Uncaught Exception: n%d in /app/x.php:42\nStack trace:\n#0 {main}\n", w.seq, w.seq%7)
	}
}

// Every rotation the accesslog plugin handles: whatever happens between two
// runs, every error is counted once.
func TestRotation(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "php_error.log")
	w := &writer{t: t, path: log}
	w.reopen()
	c := newTestConfig(t, nil, "-f", log, "-p", "PHP Fatal error")
	now := time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)
	counted, lost := 0, 0
	var last check.Result
	run := func() {
		t.Helper()
		last = c.run(now)
		now = now.Add(time.Minute)
		counted += errorCount(t, last)
	}
	w.errors(5) // before the first run: not read (it starts at the end)
	run()
	base := w.seq
	steps := []struct {
		name string
		do   func()
	}{
		{"append", func() { w.errors(10) }},
		{"rename rotation, the writer still appending to the old file", func() {
			w.errors(3)
			if err := os.Rename(log, log+".1"); err != nil {
				t.Fatal(err)
			}
			w.errors(4) // into the renamed file
			w.reopen()
			w.errors(6)
		}},
		{"copytruncate", func() {
			w.errors(5)
			b, _ := os.ReadFile(log)
			os.WriteFile(log+".1", b, 0o644)
			os.Truncate(log, 0)
			w.errors(2)
		}},
		{"delete and recreate (what was written to the deleted file is lost, and said)", func() {
			w.errors(3)
			lost += 3
			os.Remove(log)
			w.reopen()
			w.errors(4)
		}},
		{"nothing new", func() {}},
	}
	for _, s := range steps {
		s.do()
		run()
		if want := w.seq - base - lost; counted != want {
			t.Fatalf("after %s: %d errors counted, %d written", s.name, counted, want)
		}
		if lost > 0 && strings.HasPrefix(s.name, "delete") && !strings.Contains(last.Message, "lines written to it after the last run are not counted") {
			t.Errorf("the loss is not said: %q", last.Message)
		}
	}
}

// A backlog beyond --max-read-bytes is skipped and said, never silently.
func TestMaxReadBytes(t *testing.T) {
	log := filepath.Join(t.TempDir(), "php_error.log")
	w := &writer{t: t, path: log}
	w.reopen()
	c := newTestConfig(t, nil, "-f", log, "-p", "PHP Fatal error", "--max-read-bytes", "10000")
	c.run(time.Now())
	w.errors(1000)
	r := c.run(time.Now())
	n := errorCount(t, r)
	if n == 0 || n >= 1000 || !strings.Contains(r.Message, "bytes of backlog (more than --max-read-bytes 10000)") {
		t.Errorf("%d errors: %q", n, r.Message)
	}
	// The next run goes on from where this one stopped.
	w.errors(2)
	if r := c.run(time.Now()); errorCount(t, r) != 2 {
		t.Errorf("next run: %q", r.Message)
	}
}

// A missing log is the --error-status; the other logs are read all the same.
func TestMissingLog(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "php_error.log")
	appendFile(t, log, "")
	gone := filepath.Join(dir, "gone.log")
	c := newTestConfig(t, nil, "-f", log, "-f", gone, "-f", filepath.Join(dir, "*.nomatch"), "-p", "Fatal", "--critical", "0", "--warning", "1", "--error-status", "unknown")
	c.run(time.Now())
	appendFile(t, log, "PHP Fatal error: x\n")
	r := c.run(time.Now())
	want := "1 error in 1 group on web-1; 2 logs not read\n" +
		`--file "` + filepath.Join(dir, "*.nomatch") + `" matches no file` + "\n" +
		"log file does not exist: " + filepath.Join(dir, "gone.log") + "\n1× PHP Fatal error: x"
	if r.Status != check.Warning || r.Message != want {
		t.Errorf("%v %q\nwant %q", r.Status, r.Message, want)
	}
	c.o.Warning = 0
	if r := c.run(time.Now()); r.Status != check.Unknown {
		t.Errorf("missing log alone: %v %q", r.Status, r.Message)
	}
	// Once it exists, it is read from its start.
	appendFile(t, gone, "PHP Fatal error: in the new file\n")
	c.o.Warning = 1
	if r := c.run(time.Now()); !strings.HasPrefix(r.Message, "1 error in 1 group on web-1; 1 log not read\n--file") || !strings.HasSuffix(r.Message, "1× PHP Fatal error: in the new file") {
		t.Errorf("created log: %q", r.Message)
	}
}

// Two runs at once never read the same lines: the second is UNKNOWN.
func TestOverlappingRuns(t *testing.T) {
	log := filepath.Join(t.TempDir(), "php_error.log")
	appendFile(t, log, "")
	c := newTestConfig(t, nil, "-f", log, "-p", "Fatal")
	unlock, err := state.Lock(c.statePath)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if r := c.run(time.Now()); r.Status != check.Unknown || !strings.Contains(r.Message, "another run holds it") {
		t.Errorf("%v %q", r.Status, r.Message)
	}
}

// A damaged state file is said and replaced; the check goes on.
func TestCorruptState(t *testing.T) {
	log := filepath.Join(t.TempDir(), "php_error.log")
	appendFile(t, log, "PHP Fatal error: old\n")
	c := newTestConfig(t, nil, "-f", log, "-p", "Fatal")
	os.WriteFile(c.statePath, []byte("{not json"), 0o600)
	r := c.run(time.Now())
	if r.Status != check.OK || !strings.Contains(r.Message, "corrupt state file") {
		t.Errorf("%v %q", r.Status, r.Message)
	}
	appendFile(t, log, "PHP Fatal error: new\n")
	if r := c.run(time.Now()); errorCount(t, r) != 1 {
		t.Errorf("after: %q", r.Message)
	}
}

// Checks with other patterns on the same log keep their own offsets.
func TestStatePerPatterns(t *testing.T) {
	log := filepath.Join(t.TempDir(), "php_error.log")
	appendFile(t, log, "")
	dir := t.TempDir()
	a := newTestConfig(t, nil, "-f", log, "-p", "Fatal", "--state-dir", dir)
	b := newTestConfig(t, nil, "-f", log, "-p", "Warning", "--state-dir", dir)
	a.run(time.Now())
	b.run(time.Now())
	appendFile(t, log, "PHP Fatal error: x\nPHP Warning: y\n")
	if ra, rb := a.run(time.Now()), b.run(time.Now()); errorCount(t, ra) != 1 || errorCount(t, rb) != 1 {
		t.Errorf("%q / %q", ra.Message, rb.Message)
	}
}

// A glob is expanded at every run: a log that appears later is read from its
// start (it is new), and every matching log counts.
func TestGlob(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.error.log"), filepath.Join(dir, "b.error.log")
	appendFile(t, a, "PHP Fatal error: before\n")
	c := newTestConfig(t, nil, "-f", filepath.Join(dir, "*.error.log"), "-p", "Fatal")
	c.run(time.Now())
	appendFile(t, a, "PHP Fatal error: in a\n")
	appendFile(t, b, "PHP Fatal error: in b\n")
	r := c.run(time.Now())
	if errorCount(t, r) != 2 {
		t.Errorf("%q", r.Message)
	}
	appendFile(t, a, "PHP Fatal error: in a\n")
	appendFile(t, b, "PHP Fatal error: in b\n")
	if r := c.run(time.Now()); errorCount(t, r) != 2 || !strings.Contains(r.Message, "2 groups") {
		t.Errorf("%q", r.Message)
	}
}

// Past the read deadline the rest of the backlog is consumed unread and
// said, so that the next run does not face it again.
func TestReadDeadline(t *testing.T) {
	log := filepath.Join(t.TempDir(), "php_error.log")
	w := &writer{t: t, path: log}
	w.reopen()
	c := newTestConfig(t, nil, "-f", log, "-p", "PHP Fatal error")
	st := &savedState{Logs: map[string]*tail.State{}}
	if _, err := c.read(st, time.Now(), time.Time{}); err != nil {
		t.Fatal(err)
	}
	w.errors(10000)
	f, err := c.read(st, time.Now(), time.Now().Add(-time.Second))
	if err != nil {
		t.Fatal(err)
	}
	size, _ := os.Stat(log)
	if f.late == 0 || f.total >= 10000 || f.total+int(f.late) > int(size.Size()) {
		t.Errorf("%d errors, %d bytes late of %d", f.total, f.late, size.Size())
	}
	if r := c.result(f, ""); !strings.Contains(r.Message, "bytes read: not looked at within --timeout") {
		t.Errorf("%q", r.Message)
	}
	w.errors(1)
	if f, _ := c.read(st, time.Now(), time.Time{}); f.total != 1 || f.late != 0 {
		t.Errorf("next run: %d errors, %d late", f.total, f.late)
	}
}

// A rotated log compressed before the next run: the message says so in that
// run, and not in the runs after it (OK runs included).
func TestRotatedNotFoundSaidOnce(t *testing.T) {
	log := filepath.Join(t.TempDir(), "error.log")
	w := &writer{t: t, path: log}
	w.reopen()
	c := newTestConfig(t, nil, "-f", log, "-p", "PHP Fatal error")
	now := time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)
	c.run(now)
	w.errors(2)
	os.Rename(log, log+".1")
	os.Remove(log + ".1") // compressed
	w.reopen()
	w.errors(1)
	said := 0
	for i := range 4 {
		now = now.Add(time.Minute)
		r := c.run(now)
		if strings.Contains(r.Message, "not found") {
			said++
		}
		if i > 0 && r.Status != check.OK {
			t.Errorf("run %d: %v %q", i, r.Status, r.Message)
		}
	}
	if said != 1 {
		t.Errorf("the lost rotated log was reported by %d runs, want 1", said)
	}
}
