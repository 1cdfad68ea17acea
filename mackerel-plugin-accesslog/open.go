package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/state"
	"github.com/sre-suite/mackerel-plugins/lib/tail"
)

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
