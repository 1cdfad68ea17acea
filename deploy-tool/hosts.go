package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/config"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/coord"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/journal"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/outage"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/plan"
	"github.com/sre-suite/mackerel-plugins/lib/balancer"
)

// Several deploy hosts over the same balancers: the budget check and the
// mark-down of a batch run under the Coordinator's lock, and the batch's
// servers are registered as this run's until they are back up. Another run
// never picks a registered server and counts it as unavailable. With one
// deploy host the Coordinator is coord.Single and all of it is a no-op.

// newRunID names a run to the coordination: random, kept by --resume.
func newRunID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newCoordinator connects to the deploy hosts' etcd when the config has
// [coordination]; without it there is one deploy host: coord.Single.
func newCoordinator(cfg *config.Config, runID string) (coord.Coordinator, error) {
	opts, ok := cfg.CoordinationOptions()
	if !ok {
		return coord.Single{}, nil
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	ctx, cancel := context.WithTimeout(context.Background(), opts.DialTimeout+opts.CallTimeout)
	defer cancel()
	c, err := coord.NewEtcd(ctx, opts, host, runID)
	if err != nil {
		return nil, refusedf("deploy hosts' coordination: %v; nothing was touched", err)
	}
	return c, nil
}

// adoptRun makes this run the holder of the servers the interrupted run
// prevRunID registered (rollout --resume), where the coordination keeps any.
func (e *Engine) adoptRun(prevRunID string) error {
	a, ok := e.coord.(interface {
		Adopt(ctx context.Context, prevRunID string) ([]string, error)
	})
	if !ok || prevRunID == "" {
		return nil
	}
	ctx, cancel := coordCtx()
	defer cancel()
	addrs, err := a.Adopt(ctx, prevRunID)
	if err != nil {
		return refusedf("take again the servers the interrupted run %s registered: %v; nothing was touched", prevRunID, err)
	}
	if len(addrs) > 0 {
		e.log.Printf("the servers the interrupted run registered are this run's now: %s", strings.Join(addrs, ", "))
	}
	return nil
}

// others are the servers of the config registered by another run: addr →
// who holds it (host, run, age, lease). Dead ones are included.
func (e *Engine) others(ctx context.Context) (map[string]coord.Registration, error) {
	regs, err := e.coord.Taken(ctx)
	if err != nil {
		return nil, fmt.Errorf("deploy hosts' registrations: %w", err)
	}
	out := map[string]coord.Registration{}
	for _, r := range regs {
		if r.RunID == e.runID {
			continue
		}
		for _, s := range e.cfg.Servers {
			if balancer.SameAddr(s.Addr, r.Addr) {
				out[s.Addr] = r
			}
		}
	}
	return out, nil
}

// othersNow is others with a deadline, empty when it cannot be read.
func (e *Engine) othersNow() map[string]coord.Registration {
	ctx, cancel := e.afterLossCtx()
	defer cancel()
	o, err := e.others(ctx)
	if err != nil {
		e.log.Printf("WARNING: %v", err)
	}
	return o
}

func describeReg(r coord.Registration) string {
	state := "lease alive"
	if !r.Alive {
		state = "lease LOST"
	}
	return fmt.Sprintf("%s (taken by %s run %s %v ago, %s)", r.Addr, r.Host, r.RunID, time.Since(r.Since).Round(time.Second), state)
}

func alive(others map[string]coord.Registration) []string {
	var out []string
	for _, r := range others {
		if r.Alive {
			out = append(out, describeReg(r))
		}
	}
	sort.Strings(out)
	return out
}

func registeredServers(cfg *config.Config, others map[string]coord.Registration) []config.Server {
	var out []config.Server
	for _, s := range cfg.Servers {
		if _, ok := others[s.Addr]; ok {
			out = append(out, s)
		}
	}
	return out
}

// takeOutBatch takes the batch out of rotation: under the deploy hosts'
// lock it checks the batch against the balancers and the registrations,
// registers it and marks it down; then it drains. While another live run
// explains why the batch cannot go, it waits. A nil Outage means nothing
// was touched. prior is each server's journal step before this batch.
func (e *Engine) takeOutBatch(i int, batch []config.Server) (*outage.Outage, map[string]string, error) {
	announced := ""
	var unhealthySince time.Time
	for attempt := 1; ; attempt++ {
		o, prior, wait, err := e.tryBatch(i, batch)
		if wait == nil {
			return o, prior, err
		}
		if !wait.others {
			// In rotation, not yet passing the balancer's health checks:
			// given up_timeout to start serving.
			if unhealthySince.IsZero() {
				unhealthySince = time.Now()
			}
			if time.Since(unhealthySince) > e.cfg.UpTimeout.D() {
				return nil, nil, refusedf("%s; nothing of this batch was touched", wait.reason)
			}
		}
		if wait.reason != announced {
			e.log.Printf("batch %d: waiting: %s", i+1, wait.reason)
			announced = wait.reason
		}
		if err := e.backOff(attempt); err != nil {
			return nil, nil, fmt.Errorf("%w before batch %d: nothing of it was touched", err, i+1)
		}
	}
}

// waitReason says why a batch waits: others is true when a live run of
// another deploy host explains it.
type waitReason struct {
	reason string
	others bool
}

// tryBatch is one attempt of takeOutBatch.
func (e *Engine) tryBatch(i int, batch []config.Server) (*outage.Outage, map[string]string, *waitReason, error) {
	ctx, cancel := e.lockCtx()
	defer cancel()
	unlock, err := e.coord.Lock(ctx)
	if err != nil {
		if e.stopped() {
			return nil, nil, nil, fmt.Errorf("%w before batch %d: nothing of it was touched", outage.ErrInterrupted, i+1)
		}
		return nil, nil, nil, refusedf("deploy hosts' lock: %v; nothing of batch %d was touched", err, i+1)
	}
	defer func() {
		uctx, ucancel := coordCtx()
		defer ucancel()
		if err := unlock(uctx); err != nil {
			e.log.Printf("WARNING: unlock the deploy hosts' lock: %v", err)
		}
	}()
	// The registrations first, then the balancers: a run releases a server
	// only once it is back up, so a server found down in the later read is
	// either registered in the earlier one or was never released.
	others, err := e.others(ctx)
	if err != nil {
		return nil, nil, nil, refusedf("before batch %d: %v; nothing of it was touched", i+1, err)
	}
	snap, err := e.cl.Read()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("before batch %d: %w; nothing of this batch was touched", i+1, err)
	}
	if wait, refuse := e.blockers(snap, others, batch); refuse != nil || wait != nil {
		return nil, nil, wait, refuse
	}
	// The journal and the registration record the intent first, so that a
	// crash between them and the mark-down leaves a server --resume knows.
	prior := map[string]string{}
	for _, s := range batch {
		prior[s.Addr] = e.journal.Progress[s.Addr]
		e.step(s.Addr, journal.StepDown)
	}
	if err := e.coord.Take(ctx, plan.Addrs(batch)); err != nil {
		e.restoreSteps(batch, prior)
		return nil, nil, nil, refusedf("register batch %d with the deploy hosts: %v; nothing of it was touched", i+1, err)
	}
	o, err := e.cl.MarkDown(e.halt, batch, outage.TimingsOf(e.cfg))
	if err != nil {
		e.releaseIfBack(o, batch)
		return o, prior, nil, err
	}
	return o, prior, nil, nil
}

func (e *Engine) restoreSteps(batch []config.Server, prior map[string]string) {
	for _, s := range batch {
		e.step(s.Addr, prior[s.Addr])
	}
}

// releaseIfBack gives up the registration of a batch put back in rotation
// (not when putting back failed: those servers are still out).
func (e *Engine) releaseIfBack(o *outage.Outage, batch []config.Server) {
	if o != nil && o.PutBackFailed {
		return
	}
	e.release(batch)
}

func (e *Engine) release(servers []config.Server) {
	ctx, cancel := e.afterLossCtx()
	defer cancel()
	if err := e.coord.Release(ctx, plan.Addrs(servers)); err != nil {
		e.log.Printf("WARNING: release %s with the deploy hosts: %v", config.Labels(servers), err)
	}
}

// blockers tell whether the batch can be taken now. wait is set when it
// cannot yet but may soon (another live run holds what blocks it, or a
// server in rotation is not serving yet); refuse when it never will.
func (e *Engine) blockers(snap balancer.Snapshot, others map[string]coord.Registration, batch []config.Server) (*waitReason, error) {
	var why []string
	explained := len(alive(others)) > 0
	for _, s := range batch {
		d := snap.DownSomewhere(s.Addr)
		r, registered := others[s.Addr]
		switch {
		case registered && r.Alive:
			why = append(why, "held by another deploy host: "+describeReg(r))
		case len(d) > 0 && !e.adopt[s.Addr]:
			why = append(why, fmt.Sprintf("%s is out of rotation on %s", s.Addr, strings.Join(d, ", ")))
			if registered {
				explained = false // a dead run's server: nobody knows its state
			}
		}
	}
	if err := plan.CheckBudget(e.cfg, snap, e.cl.Upstreams, batch, registeredServers(e.cfg, others)); err != nil {
		why = append(why, err.Error())
	}
	if len(why) == 0 {
		return nil, nil
	}
	reason := strings.Join(why, "; ")
	if explained {
		return &waitReason{reason: reason + "; held by: " + strings.Join(alive(others), ", "), others: true}, nil
	}
	if len(inRotationNotServing(snap)) > 0 {
		return &waitReason{reason: reason}, nil
	}
	return nil, refusedf("%s; nothing of this batch was touched", reason)
}

// backOff waits a random time growing with the attempt.
func (e *Engine) backOff(attempt int) error {
	base := 200 * time.Millisecond
	d := base/2 + time.Duration(mrand.Int64N(int64(base)*int64(min(attempt, 4))+1))
	select {
	case <-e.ctx.Done():
		return outage.ErrInterrupted
	case <-time.After(d):
		return nil
	}
}

// inRotationNotServing are entries in rotation that the balancer's health
// checks do not pass yet (a server just brought up).
func inRotationNotServing(s balancer.Snapshot) []string {
	var out []string
	for a := range s.NotServing() {
		if len(s.UpSomewhere(a)) > 0 && len(s.DownSomewhere(a)) == 0 {
			out = append(out, a)
		}
	}
	return out
}

// lost tells whether this run's coordination lease is lost.
func (e *Engine) lost() bool {
	select {
	case <-e.coord.Lost():
		return true
	default:
		return false
	}
}

// coordTimeout bounds one call to the deploy hosts' coordination.
const coordTimeout = 15 * time.Second

func coordCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), coordTimeout)
}

// lostTimeout bounds a call made once the lease is lost: etcd is most
// likely out of reach then, and the report should not wait coordTimeout
// for each call.
const lostTimeout = 2 * time.Second

// afterLossCtx is coordCtx, or a lostTimeout deadline once the lease is lost.
func (e *Engine) afterLossCtx() (context.Context, context.CancelFunc) {
	if e.lost() {
		return context.WithTimeout(context.Background(), lostTimeout)
	}
	return coordCtx()
}

// lockTimeout bounds the wait for the deploy hosts' lock: another host
// holds it for one read and mark-down, a dead one for its lease's TTL.
const lockTimeout = 2 * time.Minute

// lockCtx is the lock's deadline; it also ends on the first signal.
func (e *Engine) lockCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(e.ctx, lockTimeout)
}

// haltOn makes e.halt: it ends with e.ctx or when the lease is lost
// (either ends a take-out, which puts back what it took). The returned
// func ends it.
func (e *Engine) haltOn() (end func()) {
	halt, cancel := context.WithCancel(e.ctx)
	e.halt = halt
	go func() {
		select {
		case <-e.coord.Lost():
			cancel()
		case <-halt.Done():
		}
	}()
	return cancel
}
