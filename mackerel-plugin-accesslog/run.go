package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sre-suite/mackerel-plugins/lib/state"
	"github.com/sre-suite/mackerel-plugins/lib/tail"
)

const (
	binaryName = "mackerel-plugin-accesslog"
	chunkSize  = 1 << 20
	// maxTrackedGroups bounds memory when --group-by meets a field with
	// unbounded values: further new values are counted in "other" at once.
	maxTrackedGroups = 5000
)

// runner reads every log once and produces the run's statistics.
type runner struct {
	opts   *options
	parser Parser
	groups []pathGroup
	stderr io.Writer
	now    time.Time
	fleet  *fleetSide // nil without --fleet-redis
}

// result is one run's outcome.
type result struct {
	stats        stats
	skippedBytes int64
	elapsed      time.Duration // since the previous run; 0 when unknown (first run)
	firstRun     bool
}

// fileRun is one log file's plan, lock and state path within a run.
type fileRun struct {
	path      string
	statePath string
	run       *tail.Run
	unlock    func()
	prev      *tail.State
}

// expandFiles resolves the --file arguments: globs are expanded now, so that
// files appearing later are picked up at later runs.
func expandFiles(args []string) ([]string, error) {
	if len(args) == 0 {
		return nil, errors.New("no log file given: use --file PATH (or give paths as arguments)")
	}
	seen := map[string]bool{}
	var out []string
	for _, a := range args {
		paths := []string{a}
		if strings.ContainsAny(a, "*?[") {
			m, err := filepath.Glob(a)
			if err != nil {
				return nil, fmt.Errorf("--file %q: %v", a, err)
			}
			if len(m) == 0 {
				return nil, fmt.Errorf("--file %q matches no file", a)
			}
			paths = m
		}
		for _, p := range paths {
			abs, err := filepath.Abs(p)
			if err != nil {
				return nil, fmt.Errorf("--file %q: %v", p, err)
			}
			if !seen[abs] {
				seen[abs] = true
				out = append(out, abs)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

func (rn *runner) statePath(logPath string) string {
	if rn.opts.StateDir != "" {
		return state.PathIn(rn.opts.StateDir, binaryName, logPath, rn.opts.Prefix)
	}
	return state.Path(binaryName, logPath, rn.opts.Prefix)
}

func (rn *runner) warn(format string, args ...any) {
	fmt.Fprintf(rn.stderr, "%s: %s\n", binaryName, fmt.Sprintf(format, args...))
}

// open plans every file. On any error nothing has been read and every lock
// taken is released, so all state files stay as they were.
func (rn *runner) open(paths []string) ([]*fileRun, error) {
	var frs []*fileRun
	fail := func(err error) ([]*fileRun, error) {
		for _, fr := range frs {
			if fr.run != nil {
				fr.run.Close()
			}
			fr.unlock()
		}
		return nil, err
	}
	for _, p := range paths {
		fr := &fileRun{path: p, statePath: rn.statePath(p)}
		unlock, err := state.Lock(fr.statePath)
		if err != nil {
			return fail(fmt.Errorf("log file %s: %w", p, err))
		}
		fr.unlock = unlock
		frs = append(frs, fr)
		var st tail.State
		switch err := state.Load(fr.statePath, &st); {
		case err == nil && st.Path == p:
			fr.prev = &st
		case err == nil:
			rn.warn("state file %s belongs to %s, not %s; starting afresh", fr.statePath, st.Path, p)
		case errors.Is(err, os.ErrNotExist):
		default:
			rn.warn("%v; replacing it and starting afresh", err)
		}
		run, err := tail.Open(p, fr.prev, tail.Options{FromStart: rn.opts.FromStart, Now: rn.now})
		if err != nil {
			return fail(err)
		}
		fr.run = run
	}
	return frs, nil
}

// Run reads all files and, only when everything was read, saves their states.
func (rn *runner) Run() (*result, error) {
	paths, err := expandFiles(rn.opts.Files)
	if err != nil {
		return nil, err
	}
	frs, err := rn.open(paths)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, fr := range frs {
			fr.run.Close()
			fr.unlock()
		}
	}()
	res := &result{firstRun: true}
	var last time.Time
	for _, fr := range frs {
		for _, n := range fr.run.Notes {
			rn.warn("%s", n)
		}
		if fr.prev != nil {
			res.firstRun = false
			if fr.prev.LastRun.After(last) {
				last = fr.prev.LastRun
			}
		}
		if sk := fr.run.LimitBacklog(rn.opts.MaxReadBytes); sk > 0 {
			res.skippedBytes += sk
			rn.warn("%s: %d bytes behind, more than --max-read-bytes %d: skipped the oldest %d bytes", fr.path, sk+rn.opts.MaxReadBytes, rn.opts.MaxReadBytes, sk)
		}
	}
	if !last.IsZero() && rn.now.After(last) {
		res.elapsed = rn.now.Sub(last)
	}
	st, err := rn.process(frs)
	if err != nil {
		return nil, err
	}
	res.stats = *st
	if err := rn.fleet.spool(frs, &res.stats); err != nil {
		return nil, err
	}
	for _, fr := range frs {
		next := fr.run.Finish()
		if rn.opts.Verbose {
			for _, seg := range fr.run.Segments {
				rn.warn("%s: read %s bytes %d..%d (%s)", fr.path, seg.Name, seg.Start, seg.End, seg.Why)
			}
			rn.warn("%s: next run starts at offset %d of inode %d; %d rotated files followed", fr.path, next.Current.Offset, next.Current.Inode, len(next.Rotated))
		}
		if err := state.Save(fr.statePath, next); err != nil {
			return nil, err
		}
	}
	return res, nil
}

type chunk struct {
	buf, lines []byte
}

// process reads every segment of every file in order and parses the lines on
// all workers at once: the reading goroutine only cuts chunks at newlines.
func (rn *runner) process(frs []*fileRun) (*stats, error) {
	workers := rn.opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	nbuf := workers + 2
	free := make(chan []byte, nbuf)
	for range nbuf {
		free <- make([]byte, chunkSize+rn.opts.MaxLineBytes)
	}
	work := make(chan chunk, nbuf)
	results := make([]*worker, workers)
	var wg sync.WaitGroup
	for i := range results {
		w := &worker{rn: rn}
		w.st.all.reqTime, w.st.all.upstream = newDenseHistogram(), newDenseHistogram()
		results[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				w.lines(c.lines)
				free <- c.buf
			}
		}()
	}
	var overlong uint64
	var readErr error
	for _, fr := range frs {
		for _, seg := range fr.run.Segments {
			err := tail.Chunks(seg, func() []byte { return <-free }, func(buf, lines []byte) { work <- chunk{buf, lines} },
				rn.opts.MaxLineBytes, func() { overlong++ })
			if err != nil && readErr == nil {
				readErr = err
			}
		}
	}
	close(work)
	wg.Wait()
	if readErr != nil {
		return nil, readErr
	}
	total := &stats{overlong: overlong}
	var firstBad *worker
	for _, w := range results {
		total.merge(&w.st)
		if w.badExample != "" && firstBad == nil {
			firstBad = w
		}
	}
	if total.malformed > 0 && firstBad != nil {
		rn.warn("%d malformed lines skipped (not %s format?); first: %s: %q", total.malformed, rn.formatName(), firstBad.badErr, firstBad.badExample)
	}
	if total.overlong > 0 {
		rn.warn("%d lines longer than --max-line-bytes %d skipped", total.overlong, rn.opts.MaxLineBytes)
	}
	return total, nil
}

func (rn *runner) formatName() string {
	if rn.opts.NginxLogFormat != "" {
		return "the --nginx-log-format"
	}
	return rn.opts.Format
}

// worker parses lines into its own stats; the run merges them at the end.
type worker struct {
	rn         *runner
	st         stats
	rec        Record
	badErr     error
	badExample string
}

func (w *worker) lines(b []byte) {
	maxLine := w.rn.opts.MaxLineBytes
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			i = len(b) // never happens: chunks hold whole lines
		}
		line := b[:i]
		if i < len(b) {
			b = b[i+1:]
		} else {
			b = nil
		}
		if len(line) > maxLine {
			w.st.overlong++
			continue
		}
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		w.line(line)
	}
}

func (w *worker) line(line []byte) {
	r := &w.rec
	r.Reset()
	err := w.rn.parser.Parse(line, r)
	if err == nil && (r.Status < 100 || r.Status > 599) {
		err = errBadStatus
	}
	if err != nil {
		w.st.malformed++
		if w.badExample == "" {
			w.badErr, w.badExample = err, printable(line, 120)
		}
		return
	}
	w.st.all.add(r)
	if g := w.groupOf(r); g != nil {
		g.add(r)
	}
}

// groupOf returns the counts of the line's group: the --group-by field's raw
// value (made a metric name at output), or the first --group whose regex
// matches the path; nil when not grouping.
func (w *worker) groupOf(r *Record) *counts {
	rn := w.rn
	switch {
	case rn.opts.GroupBy != "":
		if !r.HasGroupValue || len(r.GroupValue) == 0 {
			return w.st.group(noneGroup)
		}
		if g := w.st.groups[string(r.GroupValue)]; g != nil { // no allocation on a hit
			return g
		}
		if len(w.st.groups) >= maxTrackedGroups {
			return w.st.group(otherGroup)
		}
		return w.st.group(string(r.GroupValue))
	case len(rn.groups) > 0:
		for _, g := range rn.groups {
			if g.re.Match(r.Path) {
				return w.st.group(g.name)
			}
		}
		return w.st.group(otherGroup)
	}
	return nil
}

const noneGroup = "none"

// printable shortens a line for a message and makes binary bytes visible.
func printable(b []byte, max int) string {
	if len(b) > max {
		b = b[:max]
	}
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
