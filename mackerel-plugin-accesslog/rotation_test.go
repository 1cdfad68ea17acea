package main

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/tail"
)

// The rotation torture test: a writer appends lines with known statuses at a
// varying pace while a driver rotates the log in every way the plugin
// handles, and runs the real binary between, as mackerel-agent would. The
// counts it reports must add up to what was written, class by class.
//
//	go test ./mackerel-plugin-accesslog -run TestRotationTorture -torture.rotations=1000 -timeout 30m
var tortureRotations = flag.Int("torture.rotations", 25, "rotations in TestRotationTorture (the long form uses 1000)")
var tortureSeed = flag.Uint64("torture.seed", 0, "seed for TestRotationTorture (0: from the clock, printed)")

// logWriter stands in for nginx: it holds the log open and appends to it; it
// keeps writing to a renamed file until told to reopen.
type logWriter struct {
	t       testing.TB
	path    string
	mu      sync.Mutex // held for each line, and by the driver to pause writing
	f       *os.File
	rng     *rand.Rand
	seq     int
	written [6]int // by status class
	stop    chan struct{}
	done    chan struct{}
}

var tortureStatuses = []int{101, 200, 200, 200, 204, 301, 304, 404, 499, 500, 502, 503, 504}

func newLogWriter(t testing.TB, path string, seed uint64) *logWriter {
	w := &logWriter{t: t, path: path, rng: rand.New(rand.NewPCG(seed, 99)), stop: make(chan struct{}), done: make(chan struct{})}
	w.reopen()
	return w
}

func (w *logWriter) reopen() {
	if w.f != nil {
		w.f.Close()
	}
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		w.t.Fatal(err)
	}
	w.f = f
}

// line returns the next line and counts its status as written.
func (w *logWriter) line() string {
	st := tortureStatuses[w.rng.IntN(len(tortureStatuses))]
	w.written[st/100]++
	w.seq++
	return fmt.Sprintf("seq:%d\tstatus:%d\treqtime:0.%03d\tpad:%s\n", w.seq, st, w.rng.IntN(1000), strings.Repeat("p", w.rng.IntN(200)))
}

func (w *logWriter) writeLocked(s string) {
	if _, err := w.f.WriteString(s); err != nil {
		w.t.Error(err)
	}
}

// run appends lines until stopped: bursts, pauses and single lines.
func (w *logWriter) run() {
	defer close(w.done)
	for {
		select {
		case <-w.stop:
			return
		default:
		}
		w.mu.Lock() // the rng too: the driver draws lines while it holds the lock
		n := 1
		if w.rng.IntN(20) == 0 {
			n = 50 + w.rng.IntN(200) // a burst
		}
		for range n {
			w.writeLocked(w.line())
		}
		pause := time.Duration(w.rng.IntN(400)) * time.Microsecond
		w.mu.Unlock()
		time.Sleep(pause)
	}
}

func (w *logWriter) halt() {
	close(w.stop)
	<-w.done
	w.f.Close()
}

// rotator performs rotations on the log the writer writes.
type rotator struct {
	t       testing.TB
	w       *logWriter
	path    string
	rng     *rand.Rand
	workdir string
	got     [6]float64
	runs    int
	args    []string
	// inProcess, when set, replaces the binary (for debugging with the
	// lines themselves at hand).
	inProcess func()
}

func (r *rotator) runPlugin() {
	r.t.Helper()
	if r.inProcess != nil {
		r.inProcess()
		r.runs++
		return
	}
	res := runPlugin(r.t, r.workdir, nil, r.args...)
	if res.code != 0 {
		r.t.Fatalf("plugin run %d: exit %d: %s", r.runs, res.code, res.stderr)
	}
	for i, cl := range []string{"1xx", "2xx", "3xx", "4xx", "5xx"} {
		r.got[i+1] += res.metrics["accesslog.access_num."+cl+"_count"]
	}
	if m := res.metrics["accesslog.lines.malformed_count"]; m != 0 {
		r.t.Fatalf("plugin run %d counted %v malformed lines: %s", r.runs, m, res.stderr)
	}
	if testing.Verbose() {
		r.t.Logf("run %d: %v\n%s", r.runs, r.got, res.stderr)
	}
	r.runs++
}

// shiftOld makes room for a new ".1": the previous ".1" becomes ".2", or
// ".2.gz" with compress (what delaycompress does one cycle later). It must
// have been read already: the driver runs the plugin after every rotation.
func (r *rotator) shiftOld(compress bool) {
	one := r.path + ".1"
	if _, err := os.Stat(one); err != nil {
		return
	}
	if !compress {
		if err := os.Rename(one, r.path+".2"); err != nil {
			r.t.Fatal(err)
		}
		return
	}
	in, err := os.Open(one)
	if err != nil {
		r.t.Fatal(err)
	}
	out, err := os.Create(r.path + ".2.gz")
	if err != nil {
		r.t.Fatal(err)
	}
	zw := gzip.NewWriter(out)
	io.Copy(zw, in)
	zw.Close()
	out.Close()
	in.Close()
	os.Remove(one)
}

// renameCreate is logrotate's default (create); with delaycompress the
// previous rotation is compressed now, one cycle late. The writer goes on appending to the renamed file until it
// reopens, possibly after a plugin run.
func (r *rotator) renameCreate(delaycompress bool) { r.rename(delaycompress, true) }

// twoRenames rotates twice with no run between (an agent stopped for a
// while): the middle file, rotated away whole, must be read too. The pause
// lets the kernel's coarse clock give the files distinct birth times.
func (r *rotator) twoRenames() {
	r.rename(false, false)
	time.Sleep(15 * time.Millisecond)
	r.rename(false, false)
}

func (r *rotator) rename(delaycompress, mayRun bool) {
	r.shiftOld(delaycompress)
	r.w.mu.Lock()
	if err := os.Rename(r.path, r.path+".1"); err != nil {
		r.t.Fatal(err)
	}
	f, _ := os.OpenFile(r.path, os.O_CREATE|os.O_WRONLY, 0o644) // logrotate's create
	f.Close()
	r.w.mu.Unlock()
	time.Sleep(time.Duration(r.rng.IntN(3)) * time.Millisecond)
	if mayRun && r.rng.IntN(2) == 0 {
		r.runPlugin() // sees the new file while the old one still grows
		time.Sleep(time.Duration(r.rng.IntN(3)) * time.Millisecond)
	}
	r.w.mu.Lock()
	r.w.reopen() // nginx -s reopen
	r.w.mu.Unlock()
}

// copyTruncate copies the log to ".1" and truncates it. Lines written between
// the copy and the truncation would be lost by copytruncate itself, so the
// writer is paused for that moment. With regrow, the log is refilled past its
// old size before the plugin runs again, the case size checks miss.
func (r *rotator) copyTruncate(regrow bool) {
	r.shiftOld(r.rng.IntN(2) == 0)
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	b, err := os.ReadFile(r.path)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(r.path+".1", b, 0o644); err != nil {
		r.t.Fatal(err)
	}
	if err := os.Truncate(r.path, 0); err != nil {
		r.t.Fatal(err)
	}
	if regrow {
		for size := 0; size <= len(b); {
			l := r.w.line()
			r.w.writeLocked(l)
			size += len(l)
		}
	}
}

// deleteRecreate: someone deletes the log and the writer reopens it. What was
// written to the deleted file after the last run cannot be read by anyone, so
// the writer is paused and the plugin runs just before the deletion.
func (r *rotator) deleteRecreate() {
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	r.runPlugin()
	r.shiftOld(true)
	os.Remove(r.path)
	r.w.reopen()
}

// halfLine: the plugin runs while the last line is half written.
func (r *rotator) halfLine() {
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	l := r.w.line()
	cut := 1 + r.rng.IntN(len(l)-2)
	r.w.writeLocked(l[:cut])
	r.runPlugin()
	r.w.writeLocked(l[cut:])
}

type rotation struct {
	name string
	do   func(r *rotator)
}

var rotations = []rotation{
	{"rename+create", func(r *rotator) { r.renameCreate(false) }},
	{"delaycompress", func(r *rotator) { r.renameCreate(true) }},
	{"two renames between runs", (*rotator).twoRenames},
	{"copytruncate", func(r *rotator) { r.copyTruncate(false) }},
	{"copytruncate+regrow", func(r *rotator) { r.copyTruncate(true) }},
	{"delete+recreate", (*rotator).deleteRecreate},
	{"half-written line", (*rotator).halfLine},
}

// torture runs n rotations picked from kinds, with plugin runs between.
// With inProcess, lib/tail is driven directly instead of the binary, and every
// line (by its sequence number) must be read exactly once.
func torture(t *testing.T, kinds []rotation, n int, seed uint64, inProcess bool) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log")
	w := newLogWriter(t, logPath, seed)
	r := &rotator{t: t, w: w, path: logPath, rng: rand.New(rand.NewPCG(seed, 7)), workdir: dir, args: []string{"--file", logPath, "--from-start", "--verbose"}}
	seen := map[int]int{}
	var trace []string
	if inProcess {
		r.inProcess = lineReader(t, logPath, seen, &trace)
	}
	r.runPlugin()
	go w.run()
	counts := map[string]int{}
	for i := 0; i < n; i++ {
		time.Sleep(time.Duration(r.rng.IntN(4)) * time.Millisecond)
		k := kinds[r.rng.IntN(len(kinds))]
		counts[k.name]++
		trace = append(trace, "--- "+k.name)
		k.do(r)
		// At least one run between two rotations, as with an agent that
		// runs every minute and logs rotated daily; sometimes more.
		for runs := 1 + r.rng.IntN(2); runs > 0; runs-- {
			r.runPlugin()
		}
	}
	w.halt()
	r.runPlugin()
	if inProcess {
		for i := 1; i <= w.seq; i++ {
			if seen[i] != 1 {
				for j, e := range trace {
					var a, b int
					if k := strings.LastIndex(e, "seq "); k >= 0 {
						fmt.Sscanf(e[k:], "seq %d..%d", &a, &b)
					}
					if a <= i && i <= b {
						t.Logf("trace around it:\n%s", strings.Join(trace[max(0, j-12):min(len(trace), j+6)], "\n"))
					}
				}
				t.Fatalf("seed %d: line seq:%d read %d times", seed, i, seen[i])
			}
		}
		t.Logf("seed %d: %d rotations %v, %d runs, all %d lines read exactly once", seed, n, counts, r.runs, w.seq)
		return
	}
	var wrote, got int
	for c := 1; c <= 5; c++ {
		wrote += w.written[c]
		got += int(r.got[c])
		if int(r.got[c]) != w.written[c] {
			t.Errorf("%dxx: counted %v, written %d", c, r.got[c], w.written[c])
		}
	}
	t.Logf("seed %d: %d rotations %v, %d plugin runs, %d lines written, %d counted", seed, n, counts, r.runs, wrote, got)
}

// lineReader is one plugin run done in process with lib/tail, recording the
// sequence number of every line read.
func lineReader(t *testing.T, logPath string, seen map[int]int, trace *[]string) func() {
	var st *tail.State
	buf := make([]byte, 4096)
	return func() {
		run, err := tail.Open(logPath, st, tail.Options{FromStart: true})
		if err != nil {
			t.Fatal(err)
		}
		defer run.Close()
		for _, n := range run.Notes {
			*trace = append(*trace, "note: "+n)
		}
		for _, seg := range run.Segments {
			first, last := -1, -1
			err := tail.ReadLines(seg, buf, 2048, func(l []byte) {
				rest, ok := bytes.CutPrefix(l, []byte("seq:"))
				i := bytes.IndexByte(rest, '\t')
				if !ok || i < 0 {
					t.Fatalf("not a line of the writer's: %q", l)
				}
				n, _ := strconv.Atoi(string(rest[:i]))
				seen[n]++
				if first < 0 {
					first = n
				}
				last = n
			}, func() { t.Fatal("overlong line") })
			if err != nil {
				t.Fatal(err)
			}
			*trace = append(*trace, fmt.Sprintf("read %s %d..%d (%s): seq %d..%d", filepath.Base(seg.Name), seg.Start, seg.End, seg.Why, first, last))
		}
		next := run.Finish()
		st = &next
	}
}

func TestRotationCases(t *testing.T) {
	for _, k := range rotations {
		t.Run(k.name, func(t *testing.T) {
			for seed := uint64(1); seed <= 3; seed++ {
				torture(t, []rotation{k}, 8, seed, true)
			}
			torture(t, []rotation{k}, 6, 42, false)
		})
	}
}

// TestRotationTorture runs the real binary; TestRotationTortureLines drives
// lib/tail in process and checks every single line.
func TestRotationTorture(t *testing.T) {
	seed, n := tortureParams()
	torture(t, rotations, n, seed, false)
}

func TestRotationTortureLines(t *testing.T) {
	seed, n := tortureParams()
	torture(t, rotations, 4*n, seed, true)
}

func tortureParams() (uint64, int) {
	seed := *tortureSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	n := *tortureRotations
	if testing.Short() {
		n = min(n, 10)
	}
	return seed, n
}
