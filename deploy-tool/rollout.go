package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/config"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/coord"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/journal"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/outage"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/plan"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/report"
)

// RolloutOptions are the flags of `deploy-tool rollout`.
type RolloutOptions struct {
	ConfigFlag
	DryRun         bool `long:"dry-run" description:"print the plan (after a read-only preflight) and touch nothing"`
	Resume         bool `long:"resume" description:"continue the rollout recorded in the journal, checked against the balancers' real state"`
	AllowDown      bool `long:"allow-down" description:"start although some servers are already down; they are skipped and left as they are"`
	DiscardJournal bool `long:"discard-journal" description:"start afresh although the journal records an unfinished rollout"`
	Yes            bool `long:"yes" short:"y" description:"do not ask after the canary batch (canary_pause = \"prompt\")"`
}

// Engine runs one rollout.
type Engine struct {
	cfg     *config.Config
	opts    RolloutOptions
	cl      *outage.Cluster
	log     *report.Progress
	out     io.Writer
	in      io.Reader
	notify  *report.Notifier
	journal *journal.Journal
	stop    <-chan struct{} // first SIGINT/SIGTERM: finish or undo the current step
	kill    <-chan struct{} // second: kill a running command

	// coord coordinates the deploy hosts (hosts.go); coord.Single for one.
	coord coord.Coordinator
	runID string
	// adopt are servers out of rotation already that are this rollout's
	// own (in flight in the journal of a resumed run).
	adopt map[string]bool
	halt  <-chan struct{} // a signal or a lost lease: ends a take-out

	results []*report.ServerResult
	byAddr  map[string]*report.ServerResult
}

// step records a server's step in the journal; a journal that cannot be
// written is reported (a crash would then leave --resume without it) but
// does not stop a rollout half way.
func (e *Engine) step(addr, step string) {
	if err := e.journal.Set(addr, step); err != nil {
		e.log.Printf("WARNING: %v", err)
	}
}

func (e *Engine) stopped() bool {
	select {
	case <-e.stop:
		return true
	default:
		return false
	}
}

// Run executes the rollout. Its error decides the exit code (exitCode).
func (e *Engine) Run() error {
	e.byAddr = map[string]*report.ServerResult{}
	e.adopt = map[string]bool{}
	if e.runID == "" {
		e.runID = newRunID()
	}
	if e.coord == nil {
		c, err := newCoordinator(e.cfg, e.runID)
		if err != nil {
			return err
		}
		e.coord = c
		defer c.Close()
	}
	done := make(chan struct{})
	defer close(done)
	e.haltOn(done)
	if len(e.cfg.Servers) == 0 {
		return usagef("config %s has no [[server]] to roll out", e.cfg.Path())
	}
	if e.cfg.Deploy.Command == "" {
		return usagef("config %s has no deploy.command", e.cfg.Path())
	}
	if e.opts.DryRun {
		return e.runDryRun()
	}
	lock, err := coord.AcquireLock(e.cfg.LockPath(), coord.Describe("rollout --config "+e.cfg.Path()))
	if err != nil {
		return refusedf("%v", err)
	}
	defer lock.Release()

	batches, err := e.preflightPlan()
	if err != nil {
		return err
	}
	if err := e.saveJournal(); err != nil {
		return refusedf("%v", err)
	}
	e.printPlan(batches)
	e.notify.Sendf("deploy-tool: rollout of %d servers in %d batches started by %s", len(slices.Concat(batches...)), len(batches), coord.Describe("rollout"))
	for i, b := range batches {
		if err = e.runBatch(i, len(batches), b); err != nil {
			break
		}
		if i == 0 && e.cfg.Canary > 0 && len(batches) > 1 {
			if err = e.canaryPause(); err != nil {
				break
			}
		}
		if i < len(batches)-1 {
			if err = e.settle(); err != nil {
				break
			}
			if err = e.gate(i, len(batches), b); err != nil {
				break
			}
		}
	}
	return e.finish(err)
}

// prepare runs the preflight and returns the servers to roll out, in order.
func (e *Engine) prepare() ([]config.Server, error) {
	j, err := journal.Load(e.cfg.JournalPath())
	if err != nil {
		return nil, refusedf("%v (move it away, or fix it, to go on; `deploy-tool status` shows the servers' real state)", err)
	}
	inFlight := map[string]bool{}
	switch {
	case e.opts.Resume && j == nil:
		return nil, refusedf("--resume, but %s records no unfinished rollout", e.cfg.JournalPath())
	case e.opts.Resume:
		if err := e.checkJournalServers(j); err != nil {
			return nil, refusedf("%v", err)
		}
		if running := j.Running(); len(running) > 0 {
			return nil, refusedf("the deploy command of %s, started by the interrupted run, is still running; let it end (or kill it) and resume again", strings.Join(running, ", "))
		}
		if err := e.adoptRun(j.RunID); err != nil {
			return nil, err
		}
		for _, a := range j.Servers {
			switch j.Progress[a] {
			case journal.StepDown, journal.StepDeploying, journal.StepDeployed, journal.StepFailed:
				inFlight[a] = true
			}
		}
		e.log.Printf("resuming the rollout started %s by %s: %s", j.Started.Format(time.RFC3339), j.Holder, formatCounts(j.Counts()))
	case j != nil && !e.opts.DiscardJournal:
		return nil, refusedf("an unfinished rollout (started %s by %s: %s) is recorded in %s; continue it with --resume, or start afresh with --discard-journal",
			j.Started.Format(time.RFC3339), j.Holder, formatCounts(j.Counts()), e.cfg.JournalPath())
	}

	snap, problems := e.cl.Preflight(e.cfg.Servers)
	others := e.othersNow()
	var todo []config.Server
	var skipped []config.Server
	for _, s := range e.cfg.Servers {
		if e.opts.Resume && j.Progress[s.Addr] == journal.StepUp {
			if down := snap.DownSomewhere(s.Addr); len(down) > 0 && !e.opts.AllowDown {
				problems = append(problems, fmt.Sprintf("server %s was rolled out by this rollout but is now down on %s", s.Addr, strings.Join(down, ", ")))
			}
			continue
		}
		down := snap.DownSomewhere(s.Addr)
		switch {
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
	if len(problems) > 0 {
		return nil, e.refuseAtPreflight(problems)
	}
	e.log.Printf("preflight ok: %d balancers answer, %d servers known to every one", len(e.cl.Balancers()), len(e.cfg.Servers))
	// Servers the journal has in flight come first: they are down already.
	var ordered []config.Server
	for _, s := range todo {
		if inFlight[s.Addr] {
			ordered = append(ordered, s)
		}
	}
	for _, s := range todo {
		if !inFlight[s.Addr] {
			ordered = append(ordered, s)
		}
	}
	for _, s := range ordered {
		e.addResult(s, report.NotStarted, "not started")
	}
	for _, s := range skipped {
		e.addResult(s, report.Skipped, "skipped: down before")
	}
	if e.opts.Resume {
		j.Holder = coord.Describe("rollout --resume")
		e.journal = j
		j.RunID = e.runID
	} else {
		e.journal = journal.New(e.cfg.JournalPath(), coord.Describe("rollout"), e.cfg.Path(), plan.Addrs(e.cfg.Servers))
		e.journal.RunID = e.runID
		for _, s := range skipped {
			e.journal.Progress[s.Addr] = journal.StepUp // not ours to touch
		}
	}
	return ordered, nil
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
				s.Label(), config.Expand(e.cfg.Deploy.Command, s), e.cfg.Deploy.Timeout.D(), orNone(config.Expand(e.cfg.Health.URL, s)))
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

// runBatch takes one batch out of rotation (the Outage step), deploys and
// health-checks each server, and brings up those that passed.
func (e *Engine) runBatch(i, n int, batch []config.Server) error {
	if e.stopped() {
		return fmt.Errorf("%w before batch %d: nothing of it was touched", outage.ErrInterrupted, i+1)
	}
	e.log.Printf("batch %d/%d: %s", i+1, n, config.Labels(batch))
	t0 := time.Now()
	if e.lost() {
		return fmt.Errorf("the deploy hosts' coordination lease is lost; stopping before batch %d: nothing of it was touched", i+1)
	}
	o, prior, err := e.takeOutBatch(i, batch)
	if o == nil {
		return err
	}
	if err == nil {
		err = o.Ready()
		if err != nil {
			e.releaseIfBack(o, batch)
		}
	}
	if err != nil && e.lost() {
		err = fmt.Errorf("the deploy hosts' coordination lease was lost during the take-out: %v", err)
	}
	e.timeEach(batch, "down", time.Since(t0)-o.Drained)
	e.timeEach(batch, "drain", o.Drained)
	if err != nil {
		for _, s := range batch {
			r := e.byAddr[s.Addr]
			switch {
			case o.PutBackFailed && o.Took(s.Addr):
				r.Set(report.LeftDown, "LEFT DOWN: not deployed, putting back failed")
			case !o.Took(s.Addr):
				// Untouched by this step: as it was (the final read-back
				// tells whether it is down, e.g. in flight from a resumed run).
				e.step(s.Addr, prior[s.Addr])
				r.Set(report.NotStarted, "not deployed: the take-out failed before touching it")
			default:
				e.step(s.Addr, journal.StepPending)
				r.Set(report.PutBack, "not deployed, put back up")
			}
		}
		return err
	}
	watch := e.watchCommand(o, batch)
	ok := e.deployAll(batch)
	watchErr := watch.Stop()
	if len(ok) > 0 {
		e.bringUp(o, ok)
	}
	var failed []string
	for _, s := range batch {
		if r := e.byAddr[s.Addr]; r.Outcome != report.Done {
			failed = append(failed, s.Addr+": "+r.Result)
		}
	}
	if watchErr != nil {
		failed = append(failed, watchErr.Error())
	}
	if len(failed) > 0 {
		return errors.New(strings.Join(failed, "; "))
	}
	if e.stopped() {
		return fmt.Errorf("%w: batch %d finished, stopping", outage.ErrInterrupted, i+1)
	}
	if e.lost() {
		return fmt.Errorf("the deploy hosts' coordination lease was lost: batch %d finished, stopping", i+1)
	}
	return nil
}

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

func (e *Engine) timeEach(batch []config.Server, step string, d time.Duration) {
	for _, s := range batch {
		e.byAddr[s.Addr].Times[step] += d
	}
}

// deployAll runs the command and the health check of every server of the
// batch in parallel. It returns the servers that passed. A first signal
// does not stop them; a second kills the commands.
func (e *Engine) deployAll(batch []config.Server) []config.Server {
	var wg sync.WaitGroup
	passed := make([]bool, len(batch))
	for k, s := range batch {
		wg.Add(1)
		go func() {
			defer wg.Done()
			passed[k] = e.deployOne(s)
		}()
	}
	wg.Wait()
	var ok []config.Server
	for k, s := range batch {
		if passed[k] {
			ok = append(ok, s)
		}
	}
	return ok
}

func (e *Engine) deployOne(s config.Server) bool {
	r := e.byAddr[s.Addr]
	e.step(s.Addr, journal.StepDeploying)
	e.log.Printf("%s: deploy: %s", s.Label(), config.Expand(e.cfg.Deploy.Command, s))
	t0 := time.Now()
	err := RunCommand(e.cfg.Deploy.Command, s, e.cfg.Deploy.Timeout.D(), e.kill, e.log, func(pgid int) {
		if err := e.journal.SetCommand(s.Addr, pgid); err != nil {
			e.log.Printf("WARNING: %v", err)
		}
	})
	e.journal.SetCommand(s.Addr, 0)
	r.Times["deploy"] = time.Since(t0)
	if err != nil {
		e.step(s.Addr, journal.StepFailed)
		r.Set(report.LeftDown, "LEFT DOWN: deploy command failed")
		e.log.Printf("ERROR: %v", err)
		e.notify.Sendf("deploy-tool: %v; %s is left down", err, s.Addr)
		return false
	}
	e.step(s.Addr, journal.StepDeployed)
	e.log.Printf("%s: deployed in %.2fs", s.Label(), r.Times["deploy"].Seconds())
	t0 = time.Now()
	err = outage.HealthCheck(e.cfg.Health, s, e.kill)
	r.Times["health"] = time.Since(t0)
	if err != nil {
		e.step(s.Addr, journal.StepFailed)
		r.Set(report.LeftDown, "LEFT DOWN: health check failed")
		e.log.Printf("ERROR: %s: %v", s.Addr, err)
		e.notify.Sendf("deploy-tool: %s: %v; it is left down", s.Addr, err)
		return false
	}
	if e.cfg.Health.URL != "" {
		e.log.Printf("%s: healthy in %.2fs", s.Label(), r.Times["health"].Seconds())
	}
	return true
}

// bringUp marks the deployed servers up on every balancer.
func (e *Engine) bringUp(o *outage.Outage, servers []config.Server) {
	t0 := time.Now()
	err := o.BringUp(servers)
	d := time.Since(t0)
	for _, s := range servers {
		r := e.byAddr[s.Addr]
		r.Times["up"] = d
		if err != nil {
			r.Set(report.DeployedNotUp, "DEPLOYED, not up everywhere")
			continue
		}
		r.Set(report.Done, "ok")
		e.step(s.Addr, journal.StepUp)
	}
	if err == nil {
		e.release(servers)
	}
	if err != nil {
		e.log.Printf("ERROR: mark up: %v", err)
		e.notify.Sendf("deploy-tool: mark up failed: %v", err)
		return
	}
	e.log.Printf("up on every balancer (read back): %s", config.Labels(servers))
}

func (e *Engine) settle() error {
	if e.cfg.Settle.D() <= 0 {
		return nil
	}
	select {
	case <-e.stop:
		return fmt.Errorf("%w while settling", outage.ErrInterrupted)
	case <-time.After(e.cfg.Settle.D()):
		return nil
	}
}

func (e *Engine) canaryPause() error {
	p := e.cfg.CanaryPause
	if p.Prompt && e.opts.Yes {
		return nil
	}
	if !p.Prompt {
		e.log.Printf("canary done; pausing %v before the rest (Ctrl-C stops here, nothing down)", p.Wait)
		select {
		case <-e.stop:
			return fmt.Errorf("%w after the canary", outage.ErrInterrupted)
		case <-time.After(p.Wait):
			return nil
		}
	}
	e.log.Printf("canary done. Continue with the rest? [y/N] ")
	answer := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(e.in).ReadString('\n')
		answer <- strings.ToLower(strings.TrimSpace(line))
	}()
	select {
	case <-e.stop:
		return fmt.Errorf("%w after the canary", outage.ErrInterrupted)
	case a := <-answer:
		if a == "y" || a == "yes" {
			return nil
		}
		return errors.New("stopped after the canary by the operator")
	}
}

// finish prints the error, the summary and what to do next, read back from
// the balancers rather than assumed, and settles the journal so that the
// next step it prints works.
func (e *Engine) finish(err error) error {
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
	// Saved max_fails of the servers back up go back, once their
	// fail_timeout has passed (not waited for after a signal).
	e.cl.SettleFailures(e.stop)
	down, unreadable := e.cl.LeftDown(e.cfg.Servers)
	others := e.othersNow()
	var ours, before, theirs []string
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
		e.log.Printf("rollout done: %d servers in %.1fs", len(e.results), e.log.Elapsed().Seconds())
		e.notify.Sendf("deploy-tool: rollout done: %d servers in %.1fs", len(e.results), e.log.Elapsed().Seconds())
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
