package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
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
	chunkSize  = 256 << 10
	// inlineBelow: a run with less to read is parsed by the reading
	// goroutine alone (see process).
	inlineBelow = 16 << 20
	// maxTrackedGroups bounds memory when --group-by meets a field with
	// unbounded values: further new values are counted in "other" at once.
	maxTrackedGroups = 5000
)

// runner reads every log once and produces the run's statistics.
type runner struct {
	opts   *options
	parser namedParser
	// guess, when set, are the formats tried on each file's first lines
	// (--format auto, the default); parser is then the fallback.
	guess  []namedParser
	groups []pathGroup
	stderr io.Writer
	now    time.Time
	clock  runClock
	fleet  *fleetSide // nil without --fleet-redis
}

// result is one run's outcome.
type result struct {
	stats        stats
	skippedBytes int64
	skippedFiles int           // paths that are not regular files (a FIFO…)
	elapsed      time.Duration // since the previous run; 0 when unknown
	firstRun     bool
}

// fileState is what is kept per log between runs: where tail stopped, and
// the run's clock.
type fileState struct {
	tail.State
	Clock runClock `json:"clock"`
	// Inode and Pos repeat Current's inode and offset under the names
	// mackerelio's plugin reads from its position file, so that going back
	// to it after --posfile resumes here. They are written, never read:
	// Current is what this plugin resumes from.
	Inode uint64 `json:"inode"`
	Pos   int64  `json:"pos"`
}

// newFileState is the state to save after a run.
func newFileState(st tail.State, clock runClock) fileState {
	return fileState{State: st, Clock: clock, Inode: st.Current.Inode, Pos: st.Current.Offset}
}

// runClock is a run's time on a clock that wall-clock steps do not move;
// zero where there is none.
type runClock struct {
	Boot   string `json:"boot_id,omitempty"`
	Uptime int64  `json:"uptime_ns,omitempty"`
}

// since returns the time from prev to c, when both are on the same boot.
func (c runClock) since(prev runClock) (time.Duration, bool) {
	if c.Boot == "" || c.Boot != prev.Boot || c.Uptime <= prev.Uptime {
		return 0, false
	}
	return time.Duration(c.Uptime - prev.Uptime), true
}

// fileRun is one log file's plan, lock and state path within a run.
type fileRun struct {
	path      string
	statePath string
	run       *tail.Run
	unlock    func()
	prev      *fileState // as the state file holds it (or imported)
	fromState bool       // prev is the state file's: it need not be written again when nothing moved
	parser    namedParser
	// last is when the previous run was: prev's time, or the clock file's
	// when a run that read nothing came later; lastOK is false when the
	// clock file was unreadable (that run's rates are left out).
	last   runMark
	lastOK bool
	// clockRaw is the clock file as read (nil when there was none): a run
	// that read nothing is told from the previous one by it.
	clockRaw []byte
	next     fileState // the state after this run (set once read)
	moved    bool      // next is not in the same place as prev
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
	if p := rn.opts.Posfile; p != "" {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(state.Dir(), binaryName+".d", p) // where mackerelio's plugin keeps it
	}
	if rn.opts.StateDir != "" {
		return state.PathIn(rn.opts.StateDir, binaryName, logPath, rn.opts.Prefix)
	}
	return state.Path(binaryName, logPath, rn.opts.Prefix)
}

func (rn *runner) warn(format string, args ...any) {
	fmt.Fprintf(rn.stderr, "%s: %s\n", binaryName, fmt.Sprintf(format, args...))
}

// open plans every file. A path that is not a regular file (a FIFO, which
// would block) is left out with a warning and counted in skipped. On any
// other error nothing has been read and every lock taken is released, so all
// state files stay as they were.
func (rn *runner) open(paths []string) (frs []*fileRun, skipped int, err error) {
	fail := func(err error) ([]*fileRun, int, error) {
		for _, fr := range frs {
			if fr.run != nil {
				fr.run.Close()
			}
			fr.unlock()
		}
		return nil, 0, err
	}
	for _, p := range paths {
		if rn.opts.NoPosfile {
			fr, err := rn.openStateless(p)
			switch {
			case errors.Is(err, tail.ErrNotRegular):
				rn.warn("%v: not read", err)
				skipped++
			case err != nil:
				return fail(err)
			default:
				frs = append(frs, fr)
			}
			continue
		}
		fr := &fileRun{path: p, statePath: rn.statePath(p)}
		unlock, err := state.Lock(fr.statePath)
		if err != nil {
			return fail(fmt.Errorf("log file %s: %w", p, err))
		}
		fr.unlock = unlock
		frs = append(frs, fr)
		fr.prev, fr.fromState = rn.loadState(fr.statePath, p)
		rn.loadClock(fr)
		var prev *tail.State
		if fr.prev != nil {
			prev = &fr.prev.State
		}
		run, err := tail.Open(p, prev, tail.Options{FromStart: rn.opts.FromStart, Now: rn.now})
		if errors.Is(err, tail.ErrNotRegular) {
			rn.warn("%v: not read, its state left as it was", err)
			skipped++
			fr.unlock()
			frs = frs[:len(frs)-1]
			continue
		}
		if err != nil {
			return fail(err)
		}
		fr.run = run
		fr.parser = rn.parserFor(fr)
	}
	return frs, skipped, nil
}

// loadState returns the saved state of log p, or nil (with a warning when
// one was there but unusable), and whether it is the state file's. Without
// one, a position file left by mackerelio's plugin (at --posfile, or where
// it keeps it by default) is taken, so that switching plugins loses no line.
func (rn *runner) loadState(path, p string) (*fileState, bool) {
	var st fileState
	err := state.Load(path, &st)
	switch {
	case err == nil && st.Path == p:
		return &st, true
	case err == nil && st.Path == "" && rn.opts.Posfile != "":
		// mackerelio's own format at --posfile: taken below.
	case err == nil:
		rn.warn("state file %s belongs to %s, not %s; starting afresh", path, st.Path, p)
		return nil, false
	case errors.Is(err, os.ErrNotExist):
	default:
		rn.warn("%v; replacing it and starting afresh", err)
		return nil, false
	}
	posfile := path
	if rn.opts.Posfile == "" {
		posfile = mackerelioPosfile(p)
	}
	if imported := importPosfile(posfile, p, rn.now); imported != nil {
		rn.warn("%s: resuming at offset %d from mackerelio's position file %s", p, imported.Current.Offset, posfile)
		return imported, false
	}
	return nil, false
}

// loadClock sets when the previous run of fr's log was: its state's time,
// or its clock file's when that is later (a run that read nothing).
func (rn *runner) loadClock(fr *fileRun) {
	if fr.prev == nil {
		return
	}
	fr.last, fr.lastOK = runMark{clock: fr.prev.Clock, wall: fr.prev.LastRun}, true
	if !fr.fromState {
		return
	}
	path := fr.statePath + clockFileSuffix
	b, err := state.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if b == nil {
		b = []byte{} // there, even if empty: not the same as none
	}
	fr.clockRaw = b
	m, derr := decodeClockFile(b)
	if err == nil {
		err = derr
	}
	if err != nil {
		rn.warn("%s: clock file %s: %v: rates are left out of this run (counts are exact)", fr.path, path, err)
		fr.lastOK = false
		return
	}
	if m.after(fr.last) {
		fr.last = m
	}
}

// openStateless plans a whole read of p with no state (--no-posfile).
func (rn *runner) openStateless(p string) (*fileRun, error) {
	run, err := tail.Open(p, nil, tail.Options{FromStart: true, Now: rn.now})
	if err != nil {
		return nil, err
	}
	fr := &fileRun{path: p, run: run, unlock: func() {}}
	fr.parser = rn.parserFor(fr)
	return fr, nil
}

func hasWork(r *tail.Run) bool {
	for _, seg := range r.Segments {
		if seg.Start < seg.End {
			return true
		}
	}
	return false
}

// parserFor is the parser of one file: the --format's, or the format
// guessed from the file's first lines.
func (rn *runner) parserFor(fr *fileRun) namedParser {
	if len(rn.guess) == 0 || !hasWork(fr.run) {
		return rn.parser // nothing to parse: nothing to guess
	}
	for _, seg := range fr.run.Segments {
		if seg.Name == fr.path {
			p, ok := guessFormat(seg.File, rn.guess)
			if ok && rn.opts.Verbose {
				rn.warn("%s: %s format, guessed from its first lines", fr.path, p.name)
			}
			return p
		}
	}
	return rn.parser
}

// elapsed is the time since the previous run: on the boot clock when the
// state has it, else on the wall clock; false when neither can tell (the
// wall clock is before the last run and the machine rebooted, or the state
// is from before the boot clock was kept, or its clock file is torn).
func (rn *runner) elapsed(frs []*fileRun) (time.Duration, bool) {
	var best time.Duration
	found := false
	for _, fr := range frs {
		if fr.prev == nil || !fr.lastOK {
			continue
		}
		d, ok := rn.clock.since(fr.last.clock)
		if !ok && rn.now.After(fr.last.wall) {
			d, ok = rn.now.Sub(fr.last.wall), true
		}
		if ok && (!found || d < best) {
			best, found = d, true
		}
	}
	return best, found
}

// Run reads all files and, only when everything was read, saves their states.
func (rn *runner) Run() (*result, error) {
	paths, err := expandFiles(rn.opts.Files)
	if err != nil {
		return nil, err
	}
	frs, skippedFiles, err := rn.open(paths)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, fr := range frs {
			fr.run.Close()
			fr.unlock()
		}
	}()
	// Without state (--no-posfile) no interval is known: rates are left out.
	res := &result{firstRun: !rn.opts.NoPosfile, skippedFiles: skippedFiles}
	for _, fr := range frs {
		for _, n := range fr.run.Notes {
			rn.warn("%s", n)
		}
		if fr.prev != nil {
			res.firstRun = false
		}
		if sk := fr.run.LimitBacklog(rn.opts.MaxReadBytes); sk > 0 {
			res.skippedBytes += sk
			rn.warn("%s: %d bytes behind, more than --max-read-bytes %d: skipped the oldest %d bytes", fr.path, sk+rn.opts.MaxReadBytes, rn.opts.MaxReadBytes, sk)
		}
	}
	if !res.firstRun && !rn.opts.NoPosfile {
		var ok bool
		if res.elapsed, ok = rn.elapsed(frs); !ok && !slices.ContainsFunc(frs, func(fr *fileRun) bool { return fr.prev != nil && !fr.lastOK }) {
			rn.warn("the clock is before the last run (stepped back?) and no boot clock tells the interval: rates are left out of this run, counts are exact")
		}
	}
	st, err := rn.process(frs)
	if err != nil {
		return nil, err
	}
	res.stats = *st
	if rn.opts.NoPosfile {
		return res, nil
	}
	for _, fr := range frs {
		fr.next = newFileState(fr.run.Finish(), rn.clock)
		fr.moved = !fr.fromState || !fr.next.SamePlace(fr.prev.State)
	}
	// The fleet's contribution is on disk before the offsets move: a run
	// that dies between the two reads the same lines again and replaces it.
	if err := rn.fleet.spool(frs, &res.stats); err != nil {
		return nil, err
	}
	if err := rn.save(frs); err != nil {
		return nil, err
	}
	return res, nil
}

// save commits the state of every file whose position moved, or none:
// with several, each is first written whole beside its state file (an error
// there, a full disk, leaves every state as it was, so the next run reads
// the same lines again and none is lost), then renamed over it, which needs
// no space. One file's state is saved in place: lib/state writes it
// atomically. A file whose position did not move keeps its state file as it
// is, and only the run's time goes to its clock file.
func (rn *runner) save(all []*fileRun) error {
	var frs []*fileRun
	for _, fr := range all {
		if fr.moved {
			frs = append(frs, fr)
		}
	}
	suffix := ".next"
	if len(frs) == 1 {
		suffix = ""
	}
	var written []string
	for _, fr := range frs {
		next := fr.next
		if rn.opts.Verbose {
			for _, seg := range fr.run.Segments {
				rn.warn("%s: read %s bytes %d..%d (%s)", fr.path, seg.Name, seg.Start, seg.End, seg.Why)
			}
			rn.warn("%s: next run starts at offset %d of inode %d; %d rotated files followed", fr.path, next.Current.Offset, next.Current.Inode, len(next.Rotated))
		}
		if err := state.Save(fr.statePath+suffix, next); err != nil {
			for _, w := range written {
				os.Remove(w)
			}
			return fmt.Errorf("%w; no state was changed, so this run's lines are read again by the next", err)
		}
		written = append(written, fr.statePath+suffix)
	}
	for i, fr := range frs {
		if suffix == "" {
			break
		}
		if err := os.Rename(written[i], fr.statePath); err != nil {
			return fmt.Errorf("commit state %s: %w", fr.statePath, err)
		}
	}
	mark := encodeClockFile(runMark{clock: rn.clock, wall: rn.now})
	for _, fr := range all {
		if fr.moved {
			continue
		}
		if rn.opts.Verbose {
			rn.warn("%s: nothing read; state left as it was, the run's time put in its clock file", fr.path)
		}
		if err := state.WriteLight(fr.statePath+clockFileSuffix, mark); err != nil {
			rn.warn("%v: the next run's rates are over the interval since the last run that read lines", err)
		}
	}
	return nil
}

type chunk struct {
	buf, lines []byte
	parser     namedParser
}

// process reads every segment of every file in order and parses the lines on
// all workers at once: the reading goroutine only cuts chunks at newlines.
func (rn *runner) process(frs []*fileRun) (*stats, error) {
	var planned int64
	for _, fr := range frs {
		for _, seg := range fr.run.Segments {
			planned += seg.End - seg.Start
		}
	}
	workers := rn.opts.Workers
	if workers <= 0 {
		// One per CPU for a large read; a per-minute increment is parsed
		// by the reading goroutine alone, which costs less CPU in all.
		workers = runtime.GOMAXPROCS(0)
		if planned < inlineBelow {
			workers = 1
		}
	}
	results := make([]*worker, workers)
	for i := range results {
		results[i] = &worker{rn: rn}
		results[i].st.all.reqTime, results[i].st.all.upstream = newDenseHistogram(), newDenseHistogram()
	}
	get, put, wait := rn.pipeline(results)
	var overlong uint64
	var readErr error
	for _, fr := range frs {
		for _, seg := range fr.run.Segments {
			if seg.Start >= seg.End {
				continue // nothing to read: the segment keeps its offset
			}
			putLines := func(buf, lines []byte) { put(buf, lines, fr.parser) }
			err := tail.Chunks(seg, get, putLines, rn.opts.MaxLineBytes, func() { overlong++ })
			if err != nil && readErr == nil {
				readErr = err
			}
		}
	}
	wait()
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
		rn.warn("%d malformed lines skipped (not %s format?); first: %s: %q", total.malformed, firstBad.badFormat, firstBad.badErr, firstBad.badExample)
	}
	if total.overlong > 0 {
		rn.warn("%d lines longer than --max-line-bytes %d skipped", total.overlong, rn.opts.MaxLineBytes)
	}
	return total, nil
}

// pipeline returns the buffers' source and sink for tail.Chunks, and a wait
// that returns once every chunk is parsed. One worker parses in the reading
// goroutine, with a single buffer; several take chunks from a channel, with
// buffers made as the reader needs them, so a small run touches little
// memory.
func (rn *runner) pipeline(workers []*worker) (get func() []byte, put func(buf, lines []byte, p namedParser), wait func()) {
	size := chunkSize + rn.opts.MaxLineBytes
	if len(workers) == 1 {
		var buf []byte
		get = func() []byte {
			if buf == nil {
				buf = make([]byte, size)
			}
			return buf
		}
		return get, func(_, lines []byte, p namedParser) { workers[0].lines(lines, p) }, func() {}
	}
	nbuf := len(workers) + 2
	free := make(chan []byte, nbuf)
	work := make(chan chunk, nbuf)
	made := 0
	get = func() []byte {
		select {
		case b := <-free:
			return b
		default:
		}
		if made < nbuf {
			made++
			return make([]byte, size)
		}
		return <-free
	}
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				w.lines(c.lines, c.parser)
				free <- c.buf
			}
		}()
	}
	put = func(buf, lines []byte, p namedParser) { work <- chunk{buf, lines, p} }
	return get, put, func() {
		close(work)
		wg.Wait()
	}
}

// worker parses lines into its own stats; the run merges them at the end.
type worker struct {
	rn         *runner
	st         stats
	rec        Record
	badErr     error
	badExample string
	badFormat  string
}

func (w *worker) lines(b []byte, p namedParser) {
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
		w.line(line, p)
	}
}

func (w *worker) line(line []byte, p namedParser) {
	r := &w.rec
	r.Reset()
	err := p.Parse(line, r)
	if err == nil && (r.Status < 100 || r.Status > 599) {
		err = errBadStatus
	}
	if err != nil {
		w.st.malformed++
		if w.badExample == "" {
			w.badErr, w.badExample, w.badFormat = err, printable(line, 120), p.name
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
