package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/config"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/coord"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/journal"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/outage"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/plan"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/report"
	"github.com/sre-suite/mackerel-plugins/lib/balancer"
)

// prepare runs the preflight and returns the servers to roll out, in order.
func (e *Engine) prepare() ([]config.Server, error) {
	j, inFlight, err := e.readJournal()
	if err != nil {
		return nil, err
	}
	others := e.othersNow() // before the balancers: see tryBatch
	snap, problems := e.cl.Preflight(e.cfg.Servers)
	todo, skipped, more := e.sortServers(snap, others, j, inFlight)
	// Another deploy host's servers are its to check: one it is deploying
	// may not answer now.
	unhealthy, err := e.checkHealth(snap, slices.DeleteFunc(slices.Clone(todo), func(s config.Server) bool {
		_, theirs := others[s.Addr]
		return theirs
	}))
	if err != nil {
		return nil, err
	}
	if problems = append(slices.Concat(problems, more), unhealthy...); len(problems) > 0 {
		return nil, e.refuseAtPreflight(problems)
	}
	e.log.Printf("preflight ok: %d balancers answer, %d servers known to every one", len(e.cl.Balancers()), len(e.cfg.Servers))
	// Servers the journal has in flight come first: they are down already.
	ordered := slices.Clone(todo)
	slices.SortStableFunc(ordered, func(a, b config.Server) int {
		switch {
		case inFlight[a.Addr] == inFlight[b.Addr]:
			return 0
		case inFlight[a.Addr]:
			return -1
		}
		return 1
	})
	for _, s := range ordered {
		e.addResult(s, report.NotStarted, "not started")
	}
	for _, s := range skipped {
		e.addResult(s, report.Skipped, "skipped: down before")
	}
	e.startJournal(j, skipped)
	return ordered, nil
}

// readJournal loads the journal and checks it against the options: with
// --resume it must record an unfinished rollout of these servers, without
// it none (unless --discard-journal). inFlight are the servers the
// interrupted run had out of rotation.
func (e *Engine) readJournal() (*journal.Journal, map[string]bool, error) {
	j, err := journal.Load(e.cfg.JournalPath())
	if err != nil {
		return nil, nil, refusedf("%v (move it away, or fix it, to go on; `deploy-tool status` shows the servers' real state)", err)
	}
	inFlight := map[string]bool{}
	switch {
	case e.opts.Resume && j == nil:
		return nil, nil, refusedf("--resume, but %s records no unfinished rollout", e.cfg.JournalPath())
	case e.opts.Resume:
		if err := e.checkJournalServers(j); err != nil {
			return nil, nil, refusedf("%v", err)
		}
		if running := j.Running(); len(running) > 0 {
			return nil, nil, refusedf("the deploy command of %s, started by the interrupted run, is still running; let it end (or kill it) and resume again", strings.Join(running, ", "))
		}
		if err := e.adoptRun(j.RunID); err != nil {
			return nil, nil, err
		}
		for _, a := range j.Servers {
			switch j.Progress[a] {
			case journal.StepDown, journal.StepDeploying, journal.StepDeployed, journal.StepFailed:
				inFlight[a] = true
			}
		}
		e.log.Printf("resuming the rollout started %s by %s: %s", j.Started.Format(time.RFC3339), j.Holder, formatCounts(j.Counts()))
	case j != nil && !e.opts.DiscardJournal:
		return nil, nil, refusedf("an unfinished rollout (started %s by %s: %s) is recorded in %s; continue it with --resume, or start afresh with --discard-journal",
			j.Started.Format(time.RFC3339), j.Holder, formatCounts(j.Counts()), e.cfg.JournalPath())
	}
	return j, inFlight, nil
}

// sortServers decides, from the balancers as read at preflight and the
// other runs' registrations, which servers this rollout takes (todo),
// which it leaves as they are (skipped, --allow-down), and what refuses it.
func (e *Engine) sortServers(snap balancer.Snapshot, others map[string]coord.Registration, j *journal.Journal, inFlight map[string]bool) (todo, skipped []config.Server, problems []string) {
	for _, s := range e.cfg.Servers {
		down := snap.DownSomewhere(s.Addr)
		switch {
		case e.opts.Resume && j.Progress[s.Addr] == journal.StepUp:
			if len(down) > 0 && !e.opts.AllowDown {
				problems = append(problems, fmt.Sprintf("server %s was rolled out by this rollout but is now down on %s", s.Addr, strings.Join(down, ", ")))
			}
		case inFlight[s.Addr] && others[s.Addr].Alive:
			problems = append(problems, fmt.Sprintf("server %s, in flight in the journal, is now held by another deploy host: %s", s.Addr, describeReg(others[s.Addr])))
		case inFlight[s.Addr]:
			e.adopt[s.Addr] = true
			if len(down) == 0 {
				e.log.Printf("journal: %s was %s, but every balancer has it up (reloaded, or brought up by hand): it is rolled out again", s.Addr, j.Progress[s.Addr])
			}
			todo = append(todo, s)
		case others[s.Addr].Alive:
			e.log.Printf("%s is being deployed by another deploy host (%s): this rollout waits for it", s.Addr, describeReg(others[s.Addr]))
			todo = append(todo, s)
		case len(down) > 0 && e.opts.AllowDown:
			e.log.Printf("skipped: %s is already down on %s (--allow-down)", s.Addr, strings.Join(down, ", "))
			skipped = append(skipped, s)
		case len(down) > 0:
			problems = append(problems, fmt.Sprintf("server %s is already down on %s (use --allow-down to skip it)", s.Addr, strings.Join(down, ", ")))
		default:
			todo = append(todo, s)
		}
	}
	return todo, skipped, problems
}

// startJournal takes over the resumed run's journal, or starts one.
func (e *Engine) startJournal(j *journal.Journal, skipped []config.Server) {
	if e.opts.Resume {
		j.Holder = coord.Describe("rollout --resume")
		j.RunID = e.runID
		e.journal = j
		return
	}
	e.journal = journal.New(e.cfg.JournalPath(), coord.Describe("rollout"), e.cfg.Path(), plan.Addrs(e.cfg.Servers))
	e.journal.RunID = e.runID
	for _, s := range skipped {
		e.journal.Progress[s.Addr] = journal.StepUp // not ours to touch
	}
}

// saveJournal writes the journal before anything is touched: a rollout
// whose progress cannot be recorded is not started.
func (e *Engine) saveJournal() error {
	return e.journal.Save()
}

// refuseAtPreflight prints the problems found before anything was touched.
func (e *Engine) refuseAtPreflight(problems []string) error {
	e.log.Printf("preflight failed, nothing was touched:")
	for _, p := range problems {
		e.log.Printf("  %s", p)
	}
	if !e.opts.DryRun {
		e.notify.Sendf("deploy-tool: rollout refused at preflight: %s", strings.Join(problems, "; "))
	}
	return refusal{msg: "preflight failed: " + strings.Join(problems, "; "), reported: true}
}

func (e *Engine) checkJournalServers(j *journal.Journal) error {
	want := map[string]bool{}
	for _, s := range e.cfg.Servers {
		want[s.Addr] = true
	}
	if len(want) != len(j.Servers) {
		return fmt.Errorf("the journal's servers (%s) are not the config's: resume with the same config, or --discard-journal", strings.Join(j.Servers, ", "))
	}
	for _, a := range j.Servers {
		if !want[a] {
			return fmt.Errorf("the journal's server %s is not in the config: resume with the same config, or --discard-journal", a)
		}
	}
	return nil
}

func formatCounts(m map[string]int) string {
	var parts []string
	for _, k := range []string{journal.StepUp, journal.StepPending, journal.StepDown, journal.StepDeploying, journal.StepDeployed, journal.StepFailed} {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
		}
	}
	return strings.Join(parts, ", ")
}

func (e *Engine) addResult(s config.Server, o report.Outcome, result string) {
	r := &report.ServerResult{Server: s, Times: map[string]time.Duration{}, Outcome: o, Result: result}
	e.results = append(e.results, r)
	e.byAddr[s.Addr] = r
}

// preflightPlan makes every check a run makes before touching anything, the real
// run and the dry run alike: journal, preflight, batch sizes, and the budget
// of every batch. The batches come back also when only the budget refuses,
// for the dry run to print.
func (e *Engine) preflightPlan() ([][]config.Server, error) {
	servers, err := e.prepare()
	if err != nil {
		return nil, err
	}
	if err := outage.CheckDrainCovers(e.cfg, e.cl); err != nil {
		return nil, e.refuseAtPreflight([]string{err.Error()})
	}
	batches, err := plan.Batches(e.cfg, servers)
	if err != nil {
		return nil, usagef("%v", err)
	}
	if err := e.checkBatches(batches); err != nil {
		return batches, e.refuseAtPreflight([]string{err.Error()})
	}
	return batches, nil
}

// checkBatches runs, before anything is touched, the budget check that each
// batch will meet when its turn comes (the balancers as read at preflight,
// earlier batches back up): a batch that will be refused half way through
// is refused now.
func (e *Engine) checkBatches(batches [][]config.Server) error {
	snap, err := e.cl.Read()
	if err != nil {
		return err
	}
	// What other live runs hold now is theirs to put back: waited for.
	others := e.othersNow()
	for a, r := range others {
		if !r.Alive {
			delete(others, a)
		}
	}
	snap = snap.AssumeServing(plan.Addrs(registeredServers(e.cfg, others)))
	for i, b := range batches {
		if i > 0 {
			snap = snap.AssumeServing(plan.Addrs(batches[i-1]))
		}
		if err := plan.CheckBudget(e.cfg, snap, e.cl.Upstreams, b, nil); err != nil {
			return fmt.Errorf("batch %d (%s): %v", i+1, config.Labels(b), err)
		}
	}
	return nil
}

func (e *Engine) printPlan(batches [][]config.Server) {
	e.log.Printf("plan: %d batches; max_unavailable %d, min_up %d per upstream, drain_wait %v, drain_timeout %v, settle %v",
		len(batches), e.cfg.MaxUnavailable, e.cfg.MinUp, e.cfg.DrainWait.D(), e.cfg.DrainTimeout.D(), e.cfg.Settle.D())
	for i, b := range batches {
		label := ""
		if i == 0 && e.cfg.Canary > 0 {
			label = " (canary)"
		}
		e.log.Printf("  batch %d%s: %s", i+1, label, config.Labels(b))
	}
}

// runDryRun makes every check the real run makes before touching anything
// (lock, journal, preflight, batch sizes, budget of every batch) and exits
// as the real run would, touching nothing and writing nothing.
func (e *Engine) runDryRun() error {
	if held, who := coord.Locked(e.cfg.LockPath()); held {
		return refusedf("a run holds the lock: %s (the real run would be refused)", who)
	}
	batches, err := e.preflightPlan()
	if batches != nil {
		e.printPlan(batches)
		for _, s := range slices.Concat(batches...) {
			e.log.Printf("  %s: down on every balancer, drain, `%s` (timeout %v), health %s, up, settle",
				s.Label(), config.ExpandCommand(e.cfg.Deploy.Command, s), e.cfg.Deploy.Timeout.D(), orNone(config.ExpandURL(e.cfg.Health.URL, s)))
		}
	}
	if err != nil {
		return err
	}
	e.log.Printf("dry run: preflight ok; nothing was touched")
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
