package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Exit codes of rollout, down, up and wrapper (the check subcommand uses
// Mackerel's 0–3 instead).
const (
	exitOK          = 0
	exitFailed      = 1   // a step failed; what was left down is listed
	exitUsage       = 2   // bad flags or config
	exitRefused     = 3   // refused before touching anything: preflight, lock, budget, journal
	exitInterrupted = 130 // stopped by SIGINT/SIGTERM
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
	cfg     *Config
	opts    RolloutOptions
	cl      *Cluster
	log     *Progress
	out     io.Writer
	in      io.Reader
	notify  *Notifier
	journal *Journal
	stop    <-chan struct{} // first SIGINT/SIGTERM: finish or undo the current step
	kill    <-chan struct{} // second: kill a running command

	results  []*ServerResult
	byAddr   map[string]*ServerResult
	mu       sync.Mutex
	leftDown []string
	touched  bool // this run changed a balancer
}

// step records a server's step in the journal; a journal that cannot be
// written is reported (a crash would then leave --resume without it) but
// does not stop a rollout half way.
func (e *Engine) step(addr, step string) {
	if err := e.journal.Set(addr, step); err != nil {
		e.log.Printf("WARNING: %v", err)
	}
}

func (e *Engine) markLeftDown(addr string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.leftDown = append(e.leftDown, addr)
}

func (e *Engine) stopped() bool {
	select {
	case <-e.stop:
		return true
	default:
		return false
	}
}

// Run executes the rollout and returns the exit code.
func (e *Engine) Run() int {
	e.byAddr = map[string]*ServerResult{}
	if len(e.cfg.Servers) == 0 {
		e.log.Printf("config %s has no [[server]] to roll out", e.cfg.Path())
		return exitUsage
	}
	if e.cfg.Deploy.Command == "" {
		e.log.Printf("config %s has no deploy.command", e.cfg.Path())
		return exitUsage
	}
	if e.opts.DryRun {
		return e.runDryRun()
	}
	lock, err := AcquireLock(e.cfg.LockPath(), Holder("rollout --config "+e.cfg.Path()))
	if err != nil {
		e.log.Printf("refused: %v", err)
		return exitRefused
	}
	defer lock.Release()

	plan, code := e.prepare()
	if code != exitOK {
		return code
	}
	batches, code := e.batches(plan)
	if code != exitOK {
		return code
	}
	e.printPlan(batches)
	e.notify.Sendf("deploy-tool: rollout of %d servers in %d batches started by %s", len(plan), len(batches), Holder("rollout"))
	code = exitOK
	for i, b := range batches {
		code = e.runBatch(i, len(batches), b)
		if code != exitOK {
			break
		}
		if i == 0 && e.cfg.Canary > 0 && len(batches) > 1 {
			if code = e.canaryPause(); code != exitOK {
				break
			}
		}
		if i < len(batches)-1 {
			if code = e.settle(); code != exitOK {
				break
			}
		}
	}
	return e.finish(code)
}

// prepare runs the preflight and returns the servers to roll out, in order.
func (e *Engine) prepare() ([]ServerConfig, int) {
	j, err := LoadJournal(e.cfg.JournalPath())
	if err != nil {
		e.log.Printf("refused: %v (remove it, or fix it, to go on)", err)
		return nil, exitRefused
	}
	inFlight := map[string]bool{}
	switch {
	case e.opts.Resume && j == nil:
		e.log.Printf("refused: --resume, but %s records no unfinished rollout", e.cfg.JournalPath())
		return nil, exitRefused
	case e.opts.Resume:
		if err := e.checkJournalServers(j); err != nil {
			e.log.Printf("refused: %v", err)
			return nil, exitRefused
		}
		if running := j.Running(); len(running) > 0 {
			e.log.Printf("refused: the deploy command of %s, started by the interrupted run, is still running; let it end (or kill it) and resume again", strings.Join(running, ", "))
			return nil, exitRefused
		}
		for _, a := range j.Servers {
			switch j.Progress[a] {
			case StepDown, StepDeploying, StepDeployed, StepFailed:
				inFlight[a] = true
			}
		}
		e.log.Printf("resuming the rollout started %s by %s: %s", j.Started.Format(time.RFC3339), j.Holder, formatCounts(j.Counts()))
	case j != nil && !e.opts.DiscardJournal:
		e.log.Printf("refused: an unfinished rollout (started %s by %s: %s) is recorded in %s; continue it with --resume, or start afresh with --discard-journal",
			j.Started.Format(time.RFC3339), j.Holder, formatCounts(j.Counts()), e.cfg.JournalPath())
		return nil, exitRefused
	}

	snap, problems := e.cl.Preflight(e.cfg.Servers)
	var plan []ServerConfig
	var skipped []ServerConfig
	for _, s := range e.cfg.Servers {
		if e.opts.Resume && j.Progress[s.Addr] == StepUp {
			if down := snap.DownSomewhere(s.Addr); len(down) > 0 && !e.opts.AllowDown {
				problems = append(problems, fmt.Sprintf("server %s was rolled out by this rollout but is now down on %s", s.Addr, strings.Join(down, ", ")))
			}
			continue
		}
		down := snap.DownSomewhere(s.Addr)
		switch {
		case inFlight[s.Addr]:
			if len(down) == 0 {
				e.log.Printf("journal: %s was %s, but every balancer has it up (reloaded, or brought up by hand): it is rolled out again", s.Addr, j.Progress[s.Addr])
			}
			plan = append(plan, s)
		case len(down) > 0 && e.opts.AllowDown:
			e.log.Printf("skipped: %s is already down on %s (--allow-down)", s.Addr, strings.Join(down, ", "))
			skipped = append(skipped, s)
		case len(down) > 0:
			problems = append(problems, fmt.Sprintf("server %s is already down on %s (use --allow-down to skip it)", s.Addr, strings.Join(down, ", ")))
		default:
			plan = append(plan, s)
		}
	}
	if len(problems) > 0 {
		e.log.Printf("preflight failed, nothing was touched:")
		for _, p := range problems {
			e.log.Printf("  %s", p)
		}
		e.notify.Sendf("deploy-tool: rollout refused at preflight: %s", strings.Join(problems, "; "))
		return nil, exitRefused
	}
	e.log.Printf("preflight ok: %d balancers answer, %d servers known to every one", len(e.cl.bals), len(e.cfg.Servers))
	// Servers the journal has in flight come first: they are down already.
	var ordered []ServerConfig
	for _, s := range plan {
		if inFlight[s.Addr] {
			ordered = append(ordered, s)
		}
	}
	for _, s := range plan {
		if !inFlight[s.Addr] {
			ordered = append(ordered, s)
		}
	}
	for _, s := range ordered {
		e.addResult(s, "not started")
	}
	for _, s := range skipped {
		e.addResult(s, "skipped: down before")
	}
	if e.opts.Resume {
		j.path = e.cfg.JournalPath()
		j.Holder = Holder("rollout --resume")
		e.journal = j
	} else {
		e.journal = NewJournal(e.cfg.JournalPath(), Holder("rollout"), e.cfg.Path(), e.cfg.Servers)
		for _, s := range skipped {
			e.journal.Progress[s.Addr] = StepUp // not ours to touch
		}
	}
	if err := e.journal.save(); err != nil {
		e.log.Printf("refused: %v", err)
		return nil, exitRefused
	}
	return ordered, exitOK
}

func (e *Engine) checkJournalServers(j *Journal) error {
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
	for _, k := range []string{StepUp, StepPending, StepDown, StepDeploying, StepDeployed, StepFailed} {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
		}
	}
	return strings.Join(parts, ", ")
}

func (e *Engine) addResult(s ServerConfig, result string) {
	r := &ServerResult{Server: s, Times: map[string]time.Duration{}, Result: result}
	e.results = append(e.results, r)
	e.byAddr[s.Addr] = r
}

// batches splits the plan: a canary batch first when configured, then
// batches of the configured size, none larger than max_unavailable.
func (e *Engine) batches(plan []ServerConfig) ([][]ServerConfig, int) {
	size := e.cfg.Batch.Size(len(e.cfg.Servers))
	if size > e.cfg.MaxUnavailable {
		e.log.Printf("refused: batch %s of %d servers is %d, more than max_unavailable %d", e.cfg.Batch, len(e.cfg.Servers), size, e.cfg.MaxUnavailable)
		return nil, exitUsage
	}
	var out [][]ServerConfig
	rest := plan
	if e.cfg.Canary > 0 && len(rest) > 0 {
		n := min(e.cfg.Canary, len(rest))
		out = append(out, rest[:n])
		rest = rest[n:]
	}
	for len(rest) > 0 {
		n := min(size, len(rest))
		out = append(out, rest[:n])
		rest = rest[n:]
	}
	return out, exitOK
}

func (e *Engine) printPlan(batches [][]ServerConfig) {
	e.log.Printf("plan: %d batches; max_unavailable %d, min_up %d per upstream, drain_wait %v, drain_timeout %v, settle %v",
		len(batches), e.cfg.MaxUnavailable, e.cfg.MinUp, e.cfg.DrainWait.D(), e.cfg.DrainTimeout.D(), e.cfg.Settle.D())
	for i, b := range batches {
		label := ""
		if i == 0 && e.cfg.Canary > 0 {
			label = " (canary)"
		}
		var names []string
		for _, s := range b {
			names = append(names, s.Label())
		}
		e.log.Printf("  batch %d%s: %s", i+1, label, strings.Join(names, ", "))
	}
}

func (e *Engine) runDryRun() int {
	if held, who := Locked(e.cfg.LockPath()); held {
		e.log.Printf("note: a run holds the lock now: %s", who)
	}
	snap, problems := e.cl.Preflight(e.cfg.Servers)
	for _, s := range e.cfg.Servers {
		if down := snap.DownSomewhere(s.Addr); len(down) > 0 {
			problems = append(problems, fmt.Sprintf("server %s is already down on %s", s.Addr, strings.Join(down, ", ")))
		}
	}
	batches, code := e.batches(e.cfg.Servers)
	if code != exitOK {
		return code
	}
	e.printPlan(batches)
	for _, s := range e.cfg.Servers {
		e.log.Printf("  %s: down on every balancer, drain, `%s` (timeout %v), health %s, up, settle",
			s.Label(), Expand(e.cfg.Deploy.Command, s), e.cfg.Deploy.Timeout.D(), orNone(Expand(e.cfg.Health.URL, s)))
	}
	if len(problems) > 0 {
		e.log.Printf("dry run: preflight would refuse:")
		for _, p := range problems {
			e.log.Printf("  %s", p)
		}
		return exitRefused
	}
	e.log.Printf("dry run: preflight ok; nothing was touched")
	return exitOK
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// checkBudget refuses a batch that would take more than max_unavailable
// servers out, or leave an upstream with fewer than min_up up, counting
// what the balancers already have down.
func checkBudget(cfg *Config, cl *Cluster, s Snapshot, batch []ServerConfig) error {
	notUp := s.NotUp()
	unavailable := len(notUp)
	for _, srv := range batch {
		counted := false
		for _, b := range s.order {
			for _, en := range s.Entries(b, srv.Addr) {
				if notUp[en.Addr] {
					counted = true
				}
			}
		}
		if !counted {
			unavailable++
		}
	}
	if unavailable > cfg.MaxUnavailable {
		return fmt.Errorf("this would make %d servers unavailable (%d already down), more than max_unavailable %d", unavailable, len(notUp), cfg.MaxUnavailable)
	}
	inBatch := map[string]bool{}
	for _, srv := range batch {
		inBatch[srv.Addr] = true
	}
	for _, b := range s.order {
		up := map[string]int{}
		taken := map[string]int{}
		for _, en := range s.servers[b] {
			if !serving(en) {
				continue
			}
			up[en.Upstream]++
			for a := range inBatch {
				if sameAddr(en.Addr, a) {
					taken[en.Upstream]++
				}
			}
		}
		for _, u := range cl.upstreamsOf(b) {
			if left := up[u] - taken[u]; taken[u] > 0 && left < cfg.MinUp {
				return fmt.Errorf("this would leave %d servers up in %s/%s (%d up now), fewer than min_up %d", left, b, u, up[u], cfg.MinUp)
			}
		}
	}
	return nil
}

// runBatch takes one batch through down, drain, deploy, health, up.
func (e *Engine) runBatch(i, n int, batch []ServerConfig) int {
	if e.stopped() {
		e.log.Printf("interrupted before batch %d: nothing of it was touched", i+1)
		return exitInterrupted
	}
	names := make([]string, len(batch))
	for k, s := range batch {
		names[k] = s.Label()
	}
	e.log.Printf("batch %d/%d: %s", i+1, n, strings.Join(names, ", "))
	snap, err := e.cl.Read()
	if err != nil {
		return e.fail(fmt.Errorf("before batch %d: %w; nothing of this batch was touched", i+1, err))
	}
	if err := checkBudget(e.cfg, e.cl, snap, batch); err != nil {
		e.log.Printf("refused: %v; nothing of this batch was touched", err)
		e.notify.Sendf("deploy-tool: rollout stopped: %v", err)
		return exitRefused
	}

	// Down: the journal records the intent first, so that a crash between
	// the two leaves a server that --resume knows about.
	for _, s := range batch {
		e.step(s.Addr, StepDown)
	}
	t0 := time.Now()
	changed, err := e.cl.MarkDown(batch)
	if err != nil {
		for _, s := range batch {
			e.step(s.Addr, StepPending)
			e.byAddr[s.Addr].Result = "not started: mark-down failed, rolled back"
		}
		return e.fail(err)
	}
	e.touched = true
	e.timeEach(batch, "down", time.Since(t0))
	e.log.Printf("down on every balancer (read back): %s", strings.Join(names, ", "))
	if e.stopped() {
		return e.undo(batch, changed, "interrupted after mark-down")
	}

	if code, ok := e.drain(batch, batch, changed); !ok {
		return code
	}

	// Re-read: a balancer reloaded since the mark-down has them up again.
	if code, ok := e.ensureDown(batch, changed, "before deploy"); !ok {
		return code
	}
	if e.stopped() {
		return e.undo(batch, changed, "interrupted before the deploy command")
	}

	ok := e.deployAll(batch)
	if len(ok) > 0 {
		e.bringUp(ok)
	}
	var failed []string
	for _, s := range batch {
		if r := e.byAddr[s.Addr]; r.Result != "ok" {
			failed = append(failed, s.Addr+": "+r.Result)
		}
	}
	if len(failed) > 0 {
		e.notify.Sendf("deploy-tool: rollout stopped: %s", strings.Join(failed, "; "))
		return exitFailed
	}
	if e.stopped() {
		e.log.Printf("interrupted: batch %d finished, stopping", i+1)
		return exitInterrupted
	}
	return exitOK
}

func (e *Engine) timeEach(batch []ServerConfig, step string, d time.Duration) {
	for _, s := range batch {
		e.byAddr[s.Addr].Times[step] += d
	}
}

// drain waits for in-flight requests to the servers to finish, then parks
// them. On an interruption or error it puts the whole batch back.
func (e *Engine) drain(servers, batch []ServerConfig, changed []target) (int, bool) {
	t0 := time.Now()
	left, err := e.cl.Drain(servers, e.cfg.DrainWait.D(), e.cfg.DrainTimeout.D(), e.stop)
	if errors.Is(err, errInterrupted) {
		return e.undo(batch, changed, "interrupted during drain"), false
	}
	if err != nil {
		return e.undoAfterError(batch, changed, fmt.Errorf("drain: %w", err)), false
	}
	if left > 0 {
		e.log.Printf("WARNING: drain_timeout %v reached with %d requests still in flight; going on", e.cfg.DrainTimeout.D(), left)
	}
	if err := e.cl.Park(servers); err != nil {
		return e.undoAfterError(batch, changed, fmt.Errorf("park: %w", err)), false
	}
	e.timeEach(servers, "drain", time.Since(t0))
	e.log.Printf("drained in %.2fs", time.Since(t0).Seconds())
	return exitOK, true
}

// ensureDown re-reads every balancer and takes down again any server of the
// batch that a reload put back in rotation, until none is (three tries).
func (e *Engine) ensureDown(batch []ServerConfig, changed []target, when string) (int, bool) {
	for try := 0; ; try++ {
		snap, err := e.cl.Read()
		if err != nil {
			return e.undoAfterError(batch, changed, fmt.Errorf("re-read %s: %w", when, err)), false
		}
		var again []ServerConfig
		var where []string
		for _, s := range batch {
			if up := snap.UpSomewhere(s.Addr); len(up) > 0 {
				again = append(again, s)
				where = append(where, s.Addr+" on "+strings.Join(up, ", "))
			}
		}
		if len(again) == 0 {
			return exitOK, true
		}
		if try == 3 {
			return e.undoAfterError(batch, changed, fmt.Errorf("%s: %s keeps coming back up", when, strings.Join(where, "; "))), false
		}
		e.log.Printf("WARNING: %s: %s is up again (balancer reloaded?): taking it down again", when, strings.Join(where, "; "))
		if _, err := e.cl.MarkDown(again); err != nil {
			return e.undoAfterError(batch, changed, err), false
		}
		if code, ok := e.drain(again, batch, changed); !ok {
			return code, false
		}
	}
}

// undo puts the batch back after an interruption before any command ran.
func (e *Engine) undo(batch []ServerConfig, changed []target, why string) int {
	e.log.Printf("%s: putting the batch back up", why)
	if err := e.upChanged(batch, changed); err != nil {
		e.log.Printf("ERROR: %v", err)
		e.leftDownAll(batch, why+"; put-back failed")
		return exitFailed
	}
	for _, s := range batch {
		e.byAddr[s.Addr].Result = "not deployed: " + why + ", put back up"
	}
	return exitInterrupted
}

func (e *Engine) undoAfterError(batch []ServerConfig, changed []target, err error) int {
	e.log.Printf("ERROR: %v", err)
	e.notify.Sendf("deploy-tool: rollout failed: %v", err)
	if uerr := e.upChanged(batch, changed); uerr != nil {
		e.log.Printf("ERROR: putting the batch back up: %v", uerr)
		e.leftDownAll(batch, err.Error())
		return exitFailed
	}
	for _, s := range batch {
		e.byAddr[s.Addr].Result = "not deployed: " + err.Error() + "; put back up"
	}
	e.log.Printf("nothing was deployed; the batch is back up")
	return exitFailed
}

// upChanged brings back up the servers of the batch this run took down (not
// those the journal had down already).
func (e *Engine) upChanged(batch []ServerConfig, changed []target) error {
	var servers []ServerConfig
	for _, s := range batch {
		for _, t := range changed {
			if sameAddr(t.addr, s.Addr) {
				servers = append(servers, s)
				break
			}
		}
	}
	for _, s := range servers {
		e.step(s.Addr, StepPending)
	}
	if len(servers) == 0 {
		return nil
	}
	return e.cl.MarkUp(servers, e.cfg.UpTimeout.D())
}

func (e *Engine) leftDownAll(batch []ServerConfig, why string) {
	for _, s := range batch {
		e.byAddr[s.Addr].Result = "LEFT DOWN: " + why
		e.markLeftDown(s.Addr)
	}
}

// deployAll runs the command and the health check of every server of the
// batch in parallel. It returns the servers that passed. A first signal
// does not stop them; a second kills the commands.
func (e *Engine) deployAll(batch []ServerConfig) []ServerConfig {
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
	var ok []ServerConfig
	for k, s := range batch {
		if passed[k] {
			ok = append(ok, s)
		}
	}
	return ok
}

func (e *Engine) deployOne(s ServerConfig) bool {
	r := e.byAddr[s.Addr]
	e.step(s.Addr, StepDeploying)
	e.log.Printf("%s: deploy: %s", s.Label(), Expand(e.cfg.Deploy.Command, s))
	t0 := time.Now()
	err := RunCommand(e.cfg.Deploy.Command, s, e.cfg.Deploy.Timeout.D(), e.kill, e.log, func(pgid int) {
		if err := e.journal.SetCommand(s.Addr, pgid); err != nil {
			e.log.Printf("WARNING: %v", err)
		}
	})
	e.journal.SetCommand(s.Addr, 0)
	r.Times["deploy"] = time.Since(t0)
	if err != nil {
		e.step(s.Addr, StepFailed)
		r.Result = "LEFT DOWN: deploy command failed"
		e.log.Printf("ERROR: %v", err)
		e.markLeftDown(s.Addr)
		e.notify.Sendf("deploy-tool: %v; %s is left down", err, s.Addr)
		return false
	}
	e.step(s.Addr, StepDeployed)
	e.log.Printf("%s: deployed in %.2fs", s.Label(), r.Times["deploy"].Seconds())
	t0 = time.Now()
	err = HealthCheck(e.cfg.Health, s, e.kill)
	r.Times["health"] = time.Since(t0)
	if err != nil {
		e.step(s.Addr, StepFailed)
		r.Result = "LEFT DOWN: health check failed"
		e.log.Printf("ERROR: %s: %v", s.Addr, err)
		e.markLeftDown(s.Addr)
		e.notify.Sendf("deploy-tool: %s: %v; it is left down", s.Addr, err)
		return false
	}
	if e.cfg.Health.URL != "" {
		e.log.Printf("%s: healthy in %.2fs", s.Label(), r.Times["health"].Seconds())
	}
	return true
}

// bringUp re-reads (reporting a reload that put servers back early), then
// marks the servers up on every balancer.
func (e *Engine) bringUp(servers []ServerConfig) {
	if snap, err := e.cl.Read(); err == nil {
		for _, s := range servers {
			if up := snap.UpSomewhere(s.Addr); len(up) > 0 {
				e.log.Printf("WARNING: before up: %s was already up on %s (balancer reloaded during the deploy?)", s.Addr, strings.Join(up, ", "))
			}
		}
	}
	t0 := time.Now()
	err := e.cl.MarkUp(servers, e.cfg.UpTimeout.D())
	d := time.Since(t0)
	for _, s := range servers {
		r := e.byAddr[s.Addr]
		r.Times["up"] = d
		if err != nil {
			r.Result = "DEPLOYED, not up everywhere"
			e.markLeftDown(s.Addr)
			continue
		}
		r.Result = "ok"
		e.step(s.Addr, StepUp)
	}
	if err != nil {
		e.log.Printf("ERROR: mark up: %v", err)
		e.notify.Sendf("deploy-tool: mark up failed: %v", err)
		return
	}
	var names []string
	for _, s := range servers {
		names = append(names, s.Label())
	}
	e.log.Printf("up on every balancer (read back): %s", strings.Join(names, ", "))
}

func (e *Engine) settle() int {
	if e.cfg.Settle.D() <= 0 {
		return exitOK
	}
	select {
	case <-e.stop:
		e.log.Printf("interrupted while settling: stopping")
		return exitInterrupted
	case <-time.After(e.cfg.Settle.D()):
		return exitOK
	}
}

func (e *Engine) canaryPause() int {
	p := e.cfg.CanaryPause
	if p.Prompt && e.opts.Yes {
		return exitOK
	}
	if !p.Prompt {
		e.log.Printf("canary done; pausing %v before the rest (Ctrl-C stops here, nothing down)", p.Wait)
		select {
		case <-e.stop:
			e.log.Printf("interrupted after the canary: stopping")
			return exitInterrupted
		case <-time.After(p.Wait):
			return exitOK
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
		e.log.Printf("interrupted after the canary: stopping")
		return exitInterrupted
	case a := <-answer:
		if a == "y" || a == "yes" {
			return exitOK
		}
		e.log.Printf("stopped after the canary by the operator; resume later with --resume")
		return exitFailed
	}
}

// fail reports an error that left nothing down.
func (e *Engine) fail(err error) int {
	e.log.Printf("ERROR: %v", err)
	e.notify.Sendf("deploy-tool: rollout failed: %v", err)
	return exitFailed
}

// finish prints the summary and what to do next, and settles the journal.
func (e *Engine) finish(code int) int {
	fmt.Fprintln(e.out)
	WriteSummary(e.out, e.results)
	fmt.Fprintln(e.out)
	cfgFlag := "--config " + e.cfg.Path()
	switch {
	case code == exitOK || (!e.touched && !e.opts.Resume):
		e.journal.Finish() // done, or nothing to resume
	}
	switch {
	case code == exitOK:
		e.log.Printf("rollout done: %d servers in %.1fs", len(e.results), e.log.Elapsed().Seconds())
		e.notify.Sendf("deploy-tool: rollout done: %d servers in %.1fs", len(e.results), e.log.Elapsed().Seconds())
	case len(e.leftDown) > 0:
		e.log.Printf("rollout STOPPED; left down: %s", strings.Join(e.leftDown, ", "))
		e.log.Printf("next: look at the output above; once the cause is fixed, `deploy-tool rollout %s --resume` deploys the servers left down again and rolls out the rest (or `deploy-tool up %s SERVER` brings one back as it is)", cfgFlag, cfgFlag)
		e.notify.Sendf("deploy-tool: rollout stopped; left down: %s", strings.Join(e.leftDown, ", "))
	default:
		e.log.Printf("rollout stopped; no server was left down by it; `deploy-tool rollout %s --resume` continues", cfgFlag)
		e.notify.Sendf("deploy-tool: rollout stopped (exit %d); no server left down", code)
	}
	return code
}
