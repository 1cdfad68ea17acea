package main

import (
	"bufio"
	"context"
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
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/mackerel"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/outage"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/report"
)

// Engine runs one rollout: its batches, each taken out (internal/outage),
// deployed, health-checked and brought up.
type Engine struct {
	cfg     *config.Config
	opts    RolloutOptions
	cl      *outage.Cluster
	log     *report.Progress
	out     io.Writer
	in      io.Reader
	notify  *report.Notifier
	journal *journal.Journal
	ctx     context.Context // ends at the first SIGINT/SIGTERM: finish or undo the current step
	kill    context.Context // ends at the second: kill a running command

	// coord coordinates the deploy hosts (hosts.go); coord.Single for one.
	coord coord.Coordinator
	runID string
	// adopt are servers out of rotation already that are this rollout's
	// own (in flight in the journal of a resumed run).
	adopt map[string]bool
	halt  context.Context // ctx, or a lost lease: ends a take-out

	results []*report.ServerResult
	byAddr  map[string]*report.ServerResult

	// [window] (window.go): no batch starts at or after windowStop (zero:
	// no limit). [mackerel] (annotate.go): the run's annotation, and the
	// alerts that stop it; nil without the section.
	windowStop time.Time
	mk         *mackerel.Client
	guard      *mackerel.Guard
	ann        mackerel.Result
	annotated  bool // the annotation was started
	batch      int  // the batch running, from 0
}

// step records a server's step in the journal; a journal that cannot be
// written is reported (a crash would then leave --resume without it) but
// does not stop a rollout half way.
func (e *Engine) step(addr, step string) {
	if err := e.journal.Set(addr, step); err != nil {
		e.log.Printf("WARNING: %v", err)
	}
}

func (e *Engine) stopped() bool { return e.ctx.Err() != nil }

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
	defer e.haltOn()()
	if len(e.cfg.Servers) == 0 {
		return usagef("config %s has no [[server]] to roll out", e.cfg.Path())
	}
	if e.cfg.Deploy.Command == "" {
		return usagef("config %s has no deploy.command", e.cfg.Path())
	}
	if e.opts.DryRun {
		// The deploy window is a check the real run makes before anything
		// is touched: a dry run refuses as it would.
		if err := e.checkWindow(); err != nil {
			return err
		}
		return e.runDryRun()
	}
	lock, err := coord.AcquireLock(e.cfg.LockPath(), coord.Describe("rollout --config "+e.cfg.Path()))
	if err != nil {
		return refusedf("%v", err)
	}
	defer lock.Release()

	start := time.Now()
	if err := e.checkWindow(); err != nil {
		return err
	}
	batches, err := e.preflightPlan()
	if err != nil {
		return err
	}
	if err := e.watchAlerts(start); err != nil {
		return err
	}
	if err := e.saveJournal(); err != nil {
		return refusedf("%v", err)
	}
	e.printPlan(batches)
	e.notify.Sendf("deploy-tool: rollout of %d servers in %d batches started by %s", len(slices.Concat(batches...)), len(batches), coord.Describe("rollout"))
	for i, b := range batches {
		e.batch = i
		if err = e.beforeBatch(i, len(batches)); err != nil {
			break
		}
		if err = e.runBatch(i, len(batches), b, batches); err != nil {
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

// runBatch takes one batch out of rotation (the Outage step), deploys and
// health-checks each server, and brings up those that passed.
func (e *Engine) runBatch(i, n int, batch []config.Server, all [][]config.Server) error {
	if e.stopped() {
		return fmt.Errorf("%w before batch %d: nothing of it was touched", outage.ErrInterrupted, i+1)
	}
	e.log.Printf("batch %d/%d: %s", i+1, n, config.Labels(batch))
	t0 := time.Now()
	if e.lost() {
		return fmt.Errorf("the deploy hosts' coordination lease is lost; stopping before batch %d: nothing of it was touched", i+1)
	}
	e.annotateStart(all)
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
		e.takeOutFailed(o, batch, prior)
		return err
	}
	watch := e.watchCommand(o, batch)
	ok := e.deployAll(batch)
	watchErr := watch.Stop()
	if len(ok) > 0 {
		e.bringUp(o, ok)
	}
	if err := e.batchFailures(batch, watchErr); err != nil {
		return err
	}
	if e.stopped() {
		return fmt.Errorf("%w: batch %d finished, stopping", outage.ErrInterrupted, i+1)
	}
	if e.lost() {
		return fmt.Errorf("the deploy hosts' coordination lease was lost: batch %d finished, stopping", i+1)
	}
	return nil
}

// takeOutFailed records, after a take-out that failed (and put back what
// it could), what became of each server of the batch.
func (e *Engine) takeOutFailed(o *outage.Outage, batch []config.Server, prior map[string]string) {
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
}

// batchFailures names each server of the batch not done, and what the
// watch during the command could not undo.
func (e *Engine) batchFailures(batch []config.Server, watchErr error) error {
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
	return nil
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
	e.log.Printf("%s: deploy: %s", s.Label(), config.ExpandCommand(e.cfg.Deploy.Command, s))
	t0 := time.Now()
	err := RunCommand(e.kill, e.cfg.Deploy.Command, s, e.cfg.Deploy.Timeout.D(), e.log, func(pgid int) {
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
	err = outage.HealthCheck(e.kill, e.cfg.Health, s)
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

// okNotDrained is the summary of a server deployed after a drain ended by
// drain_timeout (on_drain_timeout = "deploy").
const okNotDrained = "ok, NOT drained"

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
		if o.NotDrained {
			r.Set(report.Done, okNotDrained)
		}
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
	case <-e.ctx.Done():
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
		if err := e.pauseWithAlerts(p.Wait); err != nil {
			return err
		}
		if e.stopped() {
			return fmt.Errorf("%w after the canary", outage.ErrInterrupted)
		}
		return nil
	}
	e.log.Printf("canary done. Continue with the rest? [y/N] ")
	answer := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(e.in).ReadString('\n')
		answer <- strings.ToLower(strings.TrimSpace(line))
	}()
	select {
	case <-e.ctx.Done():
		return fmt.Errorf("%w after the canary", outage.ErrInterrupted)
	case a := <-answer:
		if a == "y" || a == "yes" {
			return nil
		}
		return errors.New("stopped after the canary by the operator")
	}
}
