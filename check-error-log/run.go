package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/check"
	"github.com/sre-suite/mackerel-plugins/lib/state"
	"github.com/sre-suite/mackerel-plugins/lib/tail"
)

// savedState is everything kept between runs, in one file written
// atomically: the offsets of the logs and the posts not yet delivered move
// together, so a run killed at any point either reads its lines again or has
// their post kept.
type savedState struct {
	// Started is when the check first ran with this state: a log without
	// an offset after that is new, and read from its start.
	Started time.Time              `json:"started"`
	Logs    map[string]*tail.State `json:"logs"`
	Slack   slackState             `json:"slack"`
	Fleet   *fleetPostState        `json:"fleet,omitempty"` // --fleet-post only
}

// findings is what one run read.
type findings struct {
	groups   []*group
	total    int
	skipped  int64 // bytes of backlog skipped by --max-read-bytes
	late     int64 // bytes consumed unread because the read deadline passed
	overlong int
	problems []string // logs that could not be read
	notes    []string // tail's warnings (a rotated file lost)
}

// run is the whole check, bounded by --timeout.
func (c *config) run(now time.Time) check.Result {
	return check.Run(c.o.Timeout.D(), func() check.Result {
		return check.Resultf(check.Unknown, "did not finish within --timeout %v (offsets kept where the last saved state left them)", c.o.Timeout.D())
	}, func(ctx context.Context) check.Result {
		if c.o.FleetPost {
			return c.runFleetPost(ctx, now)
		}
		return c.runCtx(ctx, now)
	})
}

func (c *config) runCtx(ctx context.Context, now time.Time) check.Result {
	unlock, err := state.Lock(c.statePath)
	if err != nil {
		return check.Resultf(check.Unknown, "%v", err)
	}
	defer unlock()
	var st savedState
	var notes []string
	if err := state.Load(c.statePath, &st); err != nil && !errors.Is(err, os.ErrNotExist) {
		notes = append(notes, fmt.Sprintf("%v; starting afresh", err))
		st = savedState{}
	}
	if st.Logs == nil {
		st.Logs = map[string]*tail.State{}
	}
	// Reading may take the run's time but a second, kept to save the state
	// and say what happened; Slack gets what is left.
	var readBy time.Time
	if d, ok := ctx.Deadline(); ok {
		readBy = d.Add(-time.Second)
	}
	started := offsetsOf(&st)
	f, err := c.read(&st, now, readBy)
	if err != nil {
		return check.Resultf(check.Unknown, "%v", err)
	}
	if err := c.spoolFleet(started, f, now); err != nil {
		return check.Resultf(check.Unknown, "%v (nothing saved; the next run reads these lines again)", err)
	}
	f.notes = append(notes, f.notes...)
	var slackNote string
	if c.webhook != "" {
		slackNote = st.Slack.queue(c, f.groups, f.total, now)
	}
	save := func() error { return state.Save(c.statePath, &st) }
	if err := save(); err != nil {
		return check.Resultf(check.Unknown, "%v (nothing posted; the next run reads these lines again)", err)
	}
	var dres *deliverResult
	if c.webhook != "" && len(st.Slack.Spool) > 0 {
		d := &deliverer{url: c.webhook, client: &http.Client{}, timeout: c.o.SlackTimeout.D(), reserve: 300 * time.Millisecond, sleep: sleepCtx}
		r := d.deliver(ctx, &st.Slack, save)
		dres = &r
	}
	if l := c.deliverFleet(ctx, now); l != "" {
		f.notes = append(f.notes, l)
	}
	return c.result(f, slackLine(c, &st.Slack, dres, slackNote))
}

// read opens every log, reads what is new, and leaves the next offsets in st.
//
// Past deadline (when not zero) the lines are still consumed but no longer
// looked at, and counted as skipped: a backlog too slow to read within
// --timeout is reported once rather than read again and again by runs that
// all time out.
func (c *config) read(st *savedState, now, deadline time.Time) (*findings, error) {
	paths, missing := expandFiles(c.o.Files)
	f := &findings{problems: missing}
	g := newGrouper(c.norm, c.o.MaxGroups)
	asm := &assembler{match: c.matches, emit: g.add, maxTraceLines: c.o.MaxTraceLines, maxLineBytes: 4096}
	lines := 0
	feed := func(line []byte) {
		if f.late > 0 {
			f.late += int64(len(line)) + 1
			return
		}
		if lines++; lines%4096 == 0 && !deadline.IsZero() && time.Now().After(deadline) {
			f.late = int64(len(line)) + 1
			return
		}
		asm.feed(line)
	}
	buf := make([]byte, 1<<20+c.o.MaxLineBytes)
	budget := c.o.MaxReadBytes
	for _, p := range paths {
		// The first run starts at the end of the logs; a log that appears
		// later (a glob's new match, a missing file created) is read whole.
		fromStart := c.o.FromStart || !st.Started.IsZero()
		run, err := tail.Open(p, st.Logs[p], tail.Options{FromStart: fromStart, Now: now})
		if err != nil {
			f.problems = append(f.problems, err.Error())
			continue // its state stays as it was
		}
		f.notes = append(f.notes, run.Notes...)
		sk := run.LimitBacklog(max(budget, 0))
		f.skipped += sk
		for _, s := range run.Segments {
			budget -= s.End - s.Start
		}
		for _, seg := range run.Segments {
			err := tail.ReadLines(seg, buf, c.o.MaxLineBytes, feed, func() { f.overlong++ })
			asm.flush()
			if err != nil {
				run.Close()
				return nil, err
			}
		}
		next := run.Finish()
		run.Close()
		st.Logs[p] = &next
	}
	if st.Started.IsZero() {
		st.Started = now
	}
	f.groups, f.total = g.sorted(), g.total
	return f, nil
}

func (c *config) matches(line []byte) bool {
	hit := false
	for _, re := range c.patterns {
		if re.Match(line) {
			hit = true
			break
		}
	}
	if !hit {
		return false
	}
	for _, re := range c.excludes {
		if re.Match(line) {
			return false
		}
	}
	return true
}

// expandFiles resolves --file arguments, globs at every run; it returns the
// paths to read and a problem for each argument that names no file.
func expandFiles(args []string) (paths, missing []string) {
	seen := map[string]bool{}
	for _, a := range args {
		ps := []string{a}
		if strings.ContainsAny(a, "*?[") {
			m, err := filepath.Glob(a)
			if err != nil || len(m) == 0 {
				missing = append(missing, fmt.Sprintf("--file %q matches no file", a))
				continue
			}
			ps = m
		}
		for _, p := range ps {
			abs, err := filepath.Abs(p)
			if err == nil && !seen[abs] {
				seen[abs] = true
				paths = append(paths, abs)
			}
		}
	}
	sort.Strings(paths)
	return paths, missing
}
