package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/state"
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

func (rn *runner) warn(format string, args ...any) {
	fmt.Fprintf(rn.stderr, "%s: %s\n", binaryName, fmt.Sprintf(format, args...))
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
