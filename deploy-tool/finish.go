package main

import (
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/coord"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/journal"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/outage"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/report"
)

// progressed tells whether this run deployed some server (so that a
// --resume has something to continue).
func (e *Engine) progressed() bool {
	for _, r := range e.results {
		switch r.Outcome {
		case report.Done, report.DeployedNotUp, report.LeftDown:
			return true
		}
	}
	return false
}

// finish prints the error, the summary and what to do next, read back from
// the balancers rather than assumed, and settles the journal so that the
// next step it prints works.
func (e *Engine) finish(err error) error {
	e.tellError(err)
	// Saved max_fails of the servers back up go back, once their
	// fail_timeout has passed (not waited for after a signal).
	e.cl.SettleFailures(e.ctx)
	ours, before, theirs, unreadable := e.leftDown()
	e.annotateFinish(err)
	fmt.Fprintln(e.out)
	report.WriteSummary(e.out, e.results)
	fmt.Fprintln(e.out)
	cfgFlag := "--config " + e.cfg.Path()
	keep := err != nil && (len(ours) > 0 || len(unreadable) > 0 || e.progressed() || e.opts.Resume)
	if !keep {
		if ferr := e.journal.Finish(); ferr != nil {
			e.log.Printf("WARNING: %v", ferr)
		}
	}
	if len(before) > 0 {
		e.log.Printf("down before this rollout and left as they were: %s", strings.Join(before, "; "))
	}
	if len(theirs) > 0 {
		e.log.Printf("out of rotation, held by another deploy host, left to it: %s", strings.Join(theirs, "; "))
	}
	for _, u := range unreadable {
		e.log.Printf("WARNING: %v: could not be read at the end; servers may be out of rotation there (`deploy-tool status %s` shows them)", u, cfgFlag)
	}
	e.cl.ReportFailuresLeft(e.cfg.Path())
	switch {
	case err == nil:
		done := fmt.Sprintf("rollout done: %d servers in %.1fs%s", len(e.results), e.log.Elapsed().Seconds(), e.notDrained())
		e.log.Printf("%s", done)
		e.notify.Sendf("deploy-tool: %s", done)
	case len(ours) > 0:
		e.log.Printf("rollout STOPPED; left down: %s", strings.Join(ours, "; "))
		e.log.Printf("next: look at the output above; once the cause is fixed, `deploy-tool rollout %s --resume` deploys the servers left down again and rolls out the rest (or `deploy-tool up %s SERVER` brings one back as it is)", cfgFlag, cfgFlag)
		e.notify.Sendf("deploy-tool: rollout stopped; left down: %s", strings.Join(ours, "; "))
	case len(unreadable) > 0:
		e.log.Printf("rollout STOPPED; what is left down cannot be read back from every balancer (above); once they answer, `deploy-tool status %s` shows it and `deploy-tool rollout %s --resume` takes the unfinished servers again", cfgFlag, cfgFlag)
		e.notify.Sendf("deploy-tool: rollout stopped; a balancer cannot be read, servers may be left down there")
	case keep:
		e.log.Printf("rollout stopped; no server is left down by it (read back); `deploy-tool rollout %s --resume` continues", cfgFlag)
		e.notify.Sendf("deploy-tool: rollout stopped; no server left down")
	default:
		e.log.Printf("rollout stopped before any server was deployed; no server is left down (read back); nothing to resume")
		e.notify.Sendf("deploy-tool: rollout stopped; no server left down")
	}
	return reported(err)
}

// notDrained counts, for the final line, the servers deployed after a drain
// that drain_timeout ended (on_drain_timeout = "deploy").
func (e *Engine) notDrained() string {
	n := 0
	for _, r := range e.results {
		if r.Outcome == report.Done && r.Result == okNotDrained {
			n++
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("; %d of them deployed NOT drained (on_drain_timeout = \"deploy\")", n)
}

// tellError prints and notifies the error a rollout ends with, unless it
// was shown already.
func (e *Engine) tellError(err error) {
	var ref refusal
	switch {
	case err == nil:
	case errors.As(err, &ref) && ref.reported:
	case errors.Is(err, outage.ErrInterrupted):
		e.log.Printf("stopped: %v", err)
	case errors.As(err, &ref):
		e.log.Printf("refused: %v", err)
		e.notify.Sendf("deploy-tool: rollout stopped: %v", err)
	default:
		e.log.Printf("ERROR: %v", err)
		e.notify.Sendf("deploy-tool: rollout failed: %v", err)
	}
}

// leftDown reads the balancers back: the servers this rollout leaves out
// of rotation (ours, marked for --resume), those down before it, those
// another deploy host holds, and the balancers that cannot be read.
func (e *Engine) leftDown() (ours, before, theirs, unreadable []string) {
	// Registrations read before and after the balancers: another host
	// registers a server before its mark-down and releases it after its
	// mark-up, so a server it had out during the read is in one of them.
	others := map[string]coord.Registration{}
	maps.Copy(others, e.othersNow())
	down, unreadable := e.cl.LeftDown(e.cfg.Servers)
	for addr, r := range e.othersNow() {
		if o, ok := others[addr]; !ok || !o.Alive {
			others[addr] = r
		}
	}
	for _, s := range e.cfg.Servers {
		where, isDown := down[s.Addr]
		if !isDown {
			continue
		}
		item := s.Addr + " (" + strings.Join(where, ", ") + ")"
		r := e.byAddr[s.Addr]
		if r != nil && r.Outcome == report.Skipped {
			before = append(before, item)
			continue
		}
		if o, ok := others[s.Addr]; ok && o.Alive && (r == nil || r.Outcome == report.Done || r.Outcome == report.NotStarted || r.Outcome == report.PutBack) {
			theirs = append(theirs, describeReg(o))
			continue
		}
		ours = append(ours, item)
		if r != nil && r.Outcome != report.LeftDown && r.Outcome != report.DeployedNotUp {
			r.Set(report.LeftDown, "LEFT DOWN: found out of rotation at the end")
		}
		// --resume takes again every server this rollout left down.
		if p := e.journal.Progress[s.Addr]; p == journal.StepPending || p == journal.StepUp {
			e.step(s.Addr, journal.StepDown)
		}
	}
	return ours, before, theirs, unreadable
}
