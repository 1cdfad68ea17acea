package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/check"
	"github.com/sre-suite/mackerel-plugins/lib/fleet"
	"github.com/sre-suite/mackerel-plugins/lib/state"
)

// fleetPostState is --fleet-post's ledger, kept with the Slack spool in one
// atomically written file: a window is queued for Slack once (Seen), and
// marked posted in Redis at the next run (Unmarked), after the state that
// holds its posts was saved. A crash between the two steps never posts a
// window twice.
type fleetPostState struct {
	Gen      int64            `json:"gen,omitempty"` // Redis's gen of the service, last run
	Seen     map[string]int64 `json:"seen,omitempty"`
	Unmarked []fleet.Window   `json:"unmarked,omitempty"`
}

// seenFor is how long a window is remembered after it was queued: longer
// than its keys live in Redis (48 h).
const seenFor = 72 * time.Hour

// maxFleetWindows is the most windows one --fleet-post run hands over.
const maxFleetWindows = 120

// fleetPostPath is --fleet-post's state file: one per service and Redis.
func fleetPostPath(o *options) string {
	dir := o.StateDir
	if dir == "" {
		dir = state.Dir()
	}
	return state.PathIn(dir, binaryName+"-fleet-post", o.FleetService, fleet.RedactURL(o.FleetRedis))
}

// runFleetPost is one --fleet-post run: take the service's closed windows
// from Redis, queue one Slack report per window, deliver.
func (c *config) runFleetPost(ctx context.Context, now time.Time) check.Result {
	unlock, err := state.Lock(c.statePath)
	if err != nil {
		return check.Resultf(check.Unknown, "%v", err)
	}
	defer unlock()
	var st savedState
	f := &findings{}
	if err := state.Load(c.statePath, &st); err != nil && !errors.Is(err, os.ErrNotExist) {
		f.notes = append(f.notes, fmt.Sprintf("%v; starting afresh", err))
		st = savedState{}
	}
	if st.Fleet == nil {
		st.Fleet = &fleetPostState{}
	}
	save := func() error { return state.Save(c.statePath, &st) }
	var slackNote string
	rep, err := c.collect(ctx, st.Fleet.Unmarked)
	if err != nil {
		f.problems = append(f.problems, err.Error())
	} else {
		st.Fleet.Unmarked = nil
		f.notes = append(f.notes, c.noteLoss(st.Fleet, rep)...)
		slackNote = c.queueWindows(&st, rep, f, now)
		if err := save(); err != nil {
			return check.Resultf(check.Unknown, "%v (nothing posted; the next run takes these windows again)", err)
		}
	}
	var dres *deliverResult
	if len(st.Slack.Spool) > 0 {
		d := &deliverer{url: c.webhook, client: &http.Client{}, timeout: c.o.SlackTimeout.D(), reserve: 300 * time.Millisecond, sleep: sleepCtx}
		r := d.deliver(ctx, &st.Slack, save)
		dres = &r
	}
	return c.result(f, slackLine(c, &st.Slack, dres, slackNote))
}

// collect runs the pusher's collect-errors command.
func (c *config) collect(ctx context.Context, posted []fleet.Window) (*fleet.CollectReport, error) {
	timeout := c.fleetTimeout(ctx)
	if timeout <= 0 {
		return nil, fmt.Errorf("fleet: no time left for Redis within --timeout %v", c.o.Timeout.D())
	}
	bin, err := findPusher()
	if err != nil {
		return nil, fmt.Errorf("fleet: %v", err)
	}
	req, _ := json.Marshal(fleet.CollectRequest{
		URL: c.o.FleetRedis, PasswordFile: c.o.FleetRedisPasswordFile, CAFile: c.o.FleetRedisCAFile,
		Cluster: c.o.FleetRedisCluster, Service: c.o.FleetService, Timeout: timeout,
		Grace: c.o.FleetGrace.D(), MaxWindows: maxFleetWindows, Posted: posted,
	})
	ctx, cancel := context.WithTimeout(ctx, timeout+fleet.PushGrace)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, fleet.CollectCommand)
	cmd.Stdin = bytes.NewReader(req)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	runErr := cmd.Run()
	var r fleet.CollectReport
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("fleet: Redis gave no answer within %v", timeout)
	case runErr != nil:
		return nil, fmt.Errorf("fleet: %s", strings.TrimSpace(fleet.CutText(stderr.String(), 300)))
	case json.Unmarshal(stdout.Bytes(), &r) != nil:
		return nil, fmt.Errorf("fleet: %s %s wrote no report", bin, fleet.CollectCommand)
	}
	return &r, nil
}

// noteLoss says when Redis lost the service's data since the last run.
func (c *config) noteLoss(led *fleetPostState, rep *fleet.CollectReport) []string {
	var notes []string
	if led.Gen != 0 && rep.Gen != led.Gen {
		notes = append(notes, fmt.Sprintf("fleet: Redis lost service %s's error groups: its data begins there at %s, later than the last run saw (Redis restarted without persistence, or flushed?); windows before are lost, the first after is marked incomplete",
			c.o.FleetService, time.Unix(rep.Gen, 0).UTC().Format("15:04:05 MST")))
	}
	led.Gen = rep.Gen
	return notes
}

// queueWindows queues the report of each window not queued before, and
// records it for marking in Redis at the next run.
func (c *config) queueWindows(st *savedState, rep *fleet.CollectReport, f *findings, now time.Time) string {
	led := st.Fleet
	if led.Seen == nil {
		led.Seen = map[string]int64{}
	}
	for w, at := range led.Seen {
		if now.Sub(time.Unix(at, 0)) > seenFor {
			delete(led.Seen, w)
		}
	}
	var notes []string
	for _, w := range rep.Windows {
		led.Unmarked = append(led.Unmarked, w.Window)
		if _, dup := led.Seen[w.Window.String()]; dup {
			continue // queued by an earlier run that could not mark it
		}
		led.Seen[w.Window.String()] = now.Unix()
		groups, total := fleetGroups(&w)
		if w.Incomplete {
			f.notes = append(f.notes, fmt.Sprintf("fleet: minute %s is incomplete: Redis lost data (restarted empty?)", minuteOf(w.Window)))
		}
		if total == 0 {
			continue
		}
		f.total += total
		f.groups = append(f.groups, groups...)
		if n := st.Slack.queueReport(c, composeFleetReport(c.o.FleetService, &w, now), groups, total, now); n != "" {
			notes = append(notes, n)
		}
	}
	sort.SliceStable(f.groups, func(i, j int) bool { return f.groups[i].Count > f.groups[j].Count })
	if len(notes) > 0 {
		return notes[len(notes)-1]
	}
	return ""
}

// fleetGroups are a window's groups as the per-host code counts them.
func fleetGroups(w *fleet.CollectedWindow) ([]*group, int) {
	var out []*group
	total := 0
	for _, e := range w.Errors {
		out = append(out, &group{Key: e.Message, Count: int(e.Count)})
		total += int(e.Count)
	}
	return out, total
}

func minuteOf(w fleet.Window) string { return time.Unix(w.Start, 0).UTC().Format("15:04:05 MST") }

// composeFleetReport writes a window's groups as Slack posts: the service,
// the minute and its totals, then each group once, with its total count,
// the hosts it came from (the two with most, then how many more), and its
// first example in a code block.
func composeFleetReport(service string, w *fleet.CollectedWindow, now time.Time) []string {
	total := uint64(0)
	for _, e := range w.Errors {
		total += e.Count
	}
	head := fmt.Sprintf("[%s] %s in %s on %s, minute %s (%s --fleet-post, %s)", slackEscape(service),
		plural(int(total), "error", "errors"), plural(len(w.Errors), "group", "groups"),
		plural(len(w.Hosts), "host", "hosts"), minuteOf(w.Window), binaryName, now.UTC().Format("2006-01-02 15:04:05 MST"))
	if w.Incomplete {
		head += "\n:warning: incomplete: Redis lost data of this minute (restarted empty?); some errors may be missing"
	}
	var pieces []string
	for _, e := range w.Errors {
		title := fmt.Sprintf("*%d×* %s on %s", e.Count, slackEscape(shorten(e.Message, 300)), hostList(e.Hosts))
		var lines []string
		for _, l := range strings.Split(e.Example, "\n") {
			lines = append(lines, slackEscape(l))
		}
		pieces = append(pieces, codeBlockPieces(title, lines, maxPostBytes-len(head)-24)...)
	}
	return pack(head, pieces)
}

// hostList is "web-01 (120), web-07 (98) and 5 more": the two hosts with
// the most errors of the group, then how many others.
func hostList(hosts map[string]uint64) string {
	names := make([]string, 0, len(hosts))
	for h := range hosts {
		names = append(names, h)
	}
	sort.Slice(names, func(i, j int) bool {
		if hosts[names[i]] != hosts[names[j]] {
			return hosts[names[i]] > hosts[names[j]]
		}
		return names[i] < names[j]
	})
	var parts []string
	for _, h := range names[:min(2, len(names))] {
		parts = append(parts, fmt.Sprintf("%s (%d)", slackEscape(shorten(h, 64)), hosts[h]))
	}
	s := strings.Join(parts, ", ")
	switch rest := len(names) - len(parts); {
	case rest > 0:
		s += fmt.Sprintf(" and %d more", rest)
	case len(parts) == 2:
		s = strings.Replace(s, ", ", " and ", 1)
	}
	return s
}
