// Package outage owns the one safety step every risky action goes
// through (rollout, down and wrapper alike): take the servers out of
// rotation on every balancer, read back, drain, park, re-check right
// before the action, and put back exactly what it took, read back. It also
// owns the Cluster (every balancer driven together, each call under a
// deadline) and nginx's saved max_fails (params.go).
package outage

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/config"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/report"
)

// Timings are the waits of the take-out step, from the config.
type Timings struct {
	DrainWait    time.Duration
	DrainTimeout time.Duration
	UpTimeout    time.Duration
	Inflight     config.Drain // the app's own in-flight figure, if configured
	// DeployUndrained goes on after a drain ended by drain_timeout
	// (on_drain_timeout = "deploy"); by default the servers are put back.
	DeployUndrained bool
}

func TimingsOf(c *config.Config) Timings {
	return Timings{DrainWait: c.DrainWait.D(), DrainTimeout: c.DrainTimeout.D(), UpTimeout: c.UpTimeout.D(), Inflight: c.Drain,
		DeployUndrained: c.OnDrainTimeout == config.DrainTimeoutDeploy}
}

// NotDrainedError is a drain ended by drain_timeout (or run past it) with
// on_drain_timeout = "stop": the servers are put back, not acted on.
type NotDrainedError struct {
	Servers string // their labels
	Report  string // the drain's line: how many requests were in flight, and where
}

func (e *NotDrainedError) Error() string {
	return fmt.Sprintf("drain of %s: %s; not deployed (on_drain_timeout = \"stop\"; \"deploy\" goes on anyway)", e.Servers, e.Report)
}

// Outage is the one step that takes servers out of rotation before a risky
// action (a deploy command, rsync, an operator's work), used by rollout, down
// and wrapper alike so that all three keep the same promise: mark down on
// every balancer, read back, drain, park, re-read right before the action
// and take down again what a reload put back; on any failure or interruption
// before the action, put back exactly what this step changed and read back.
//
// It remembers every entry it asked a balancer to change, including one
// whose answer was lost (a timeout, a 502 after applying): such an entry is
// put back like the others, and the final report reads the balancers again
// rather than trusting the answers.
//
// The drain, the re-check and the put-back are separate methods so that
// other guards can be added around them (re-reads during the action, saved
// and restored balancer parameters, a front-end probe) without a fourth copy.
type Outage struct {
	cl      *Cluster
	log     *report.Progress
	servers []config.Server
	times   Timings
	ctx     context.Context // ended by a signal (or a lost lease): undo and stop

	taken []target // entries this step changed (or tried to) from up

	PutBackFailed bool // an abort could not put back what it took out

	Drained time.Duration // time spent draining
	// NotDrained: a drain ended by drain_timeout and the action goes on
	// anyway (on_drain_timeout = "deploy").
	NotDrained bool
	// DrainReport says how the last drain ended, truthfully: "drained in
	// 0.42s (in flight 0 on haproxy)" or "waited 3.00s (no in-flight count)
	// on nginx".
	DrainReport string
}

// ErrInterrupted is returned (wrapped) when SIGINT/SIGTERM cut a step short.
var ErrInterrupted = errors.New("interrupted")

// TakeOut takes the servers out of rotation on every balancer and gets them
// ready for the risky action. On an error the servers this step took out
// have been put back (or the error says they could not be); the Outage is
// returned either way so that the caller can ask what it changed.
func (c *Cluster) TakeOut(ctx context.Context, servers []config.Server, tm Timings) (*Outage, error) {
	o, err := c.MarkDown(ctx, servers, tm)
	if err != nil {
		return o, err
	}
	return o, o.Ready()
}

// MarkDown is the first half of TakeOut: the mark-down, read back. A
// rollout runs it under the deploy hosts' lock, and Ready after it.
func (c *Cluster) MarkDown(ctx context.Context, servers []config.Server, tm Timings) (*Outage, error) {
	o := &Outage{cl: c, log: c.log, servers: servers, times: tm, ctx: ctx}
	// Saved max_fails of servers back in rotation long enough go back now,
	// rather than holding up this batch or waiting for the end.
	c.failures.restoreDue(c, servers, nil)
	if err := o.markDown(servers); err != nil {
		return o, o.abort(err)
	}
	o.log.Printf("down on every balancer (read back): %s", config.Labels(servers))
	return o, nil
}

// Ready is the second half of TakeOut: drain, park, and the re-check right
// before the action. On an error what this step took is put back.
func (o *Outage) Ready() error {
	servers := o.servers
	if o.stopped() {
		return o.abort(fmt.Errorf("%w after mark-down", ErrInterrupted))
	}
	if err := o.drainAndPark(servers); err != nil {
		return o.abort(err)
	}
	if err := o.recheck("before the action"); err != nil {
		return o.abort(err)
	}
	if o.stopped() {
		return o.abort(fmt.Errorf("%w before the action", ErrInterrupted))
	}
	return nil
}

func (o *Outage) stopped() bool { return o.ctx.Err() != nil }

// Took reports whether this step took the server out on some balancer.
func (o *Outage) Took(addr string) bool {
	for _, t := range o.taken {
		if sameAddr(t.addr, addr) {
			return true
		}
	}
	return false
}

// markDown drains (HAProxy) or downs (nginx) every entry of the servers
// that is up, then reads every balancer back.
func (o *Outage) markDown(servers []config.Server) error {
	s, err := o.cl.Read()
	if err != nil {
		return fmt.Errorf("read before mark-down: %w", err)
	}
	for _, srv := range servers {
		for _, t := range o.cl.targets(s, srv.Addr) {
			if !t.wasUp {
				continue
			}
			// Remembered before the call: a lost answer may have applied.
			o.remember(t)
			if err := o.cl.failures.disable(t, t.entry, srv.Addr); err != nil {
				return err
			}
			ctx, cancel := callCtx()
			err := t.bal.Drain(ctx, t.upstream, t.addr)
			cancel()
			if err != nil {
				return fmt.Errorf("mark %s down on %s: %w", srv.Addr, t, err)
			}
		}
	}
	return o.cl.confirm(servers, false)
}

func (o *Outage) remember(t target) {
	for _, k := range o.taken {
		if k.bal.Name() == t.bal.Name() && k.upstream == t.upstream && k.addr == t.addr {
			return
		}
	}
	o.taken = append(o.taken, t)
}

// drainAndPark waits for in-flight requests, then parks the servers.
func (o *Outage) drainAndPark(servers []config.Server) error {
	t0 := time.Now()
	res, err := o.drain(servers)
	o.Drained += time.Since(t0)
	if errors.Is(err, ErrInterrupted) {
		return fmt.Errorf("%w during drain", ErrInterrupted)
	}
	if err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	if res.timeout && !o.times.DeployUndrained {
		return &NotDrainedError{Servers: config.Labels(servers), Report: res.String()}
	}
	if res.timeout {
		o.NotDrained = true
		o.log.Printf("WARNING: %s: going on anyway (on_drain_timeout = \"deploy\")", res)
	}
	if err := o.cl.Park(servers); err != nil {
		return fmt.Errorf("park: %w", err)
	}
	o.DrainReport = res.String()
	if !res.timeout {
		o.log.Printf("%s", o.DrainReport)
	}
	return nil
}

// recheck re-reads every balancer and takes down again any server that a
// reload put back in rotation, until none is (three tries).
func (o *Outage) recheck(when string) error {
	for try := 0; ; try++ {
		snap, err := o.cl.Read()
		if err != nil {
			return fmt.Errorf("re-read %s: %w", when, err)
		}
		var again []config.Server
		var where []string
		for _, s := range o.servers {
			if up := snap.UpSomewhere(s.Addr); len(up) > 0 {
				again = append(again, s)
				where = append(where, s.Addr+" on "+strings.Join(up, ", "))
			}
		}
		if len(again) == 0 {
			return nil
		}
		if try == 3 {
			return fmt.Errorf("%s: %s keeps coming back up", when, strings.Join(where, "; "))
		}
		o.log.Printf("WARNING: %s: %s is up again (balancer reloaded?): taking it down again", when, strings.Join(where, "; "))
		if err := o.markDown(again); err != nil {
			return err
		}
		if err := o.drainAndPark(again); err != nil {
			return err
		}
	}
}

// abort puts back what this step took out and returns err, telling whether
// the put-back worked.
func (o *Outage) abort(err error) error {
	if len(o.taken) == 0 {
		return err
	}
	what := describe(o.taken)
	if perr := o.PutBack(); perr != nil {
		// %v, not %w: what is left down is a failure, not an interruption.
		o.PutBackFailed = true
		return fmt.Errorf("%v; PUTTING BACK FAILED: %v", err, perr)
	}
	o.log.Printf("rolled back: %s up again", what)
	return err
}

// PutBack puts in rotation again exactly the entries this step took out
// (not those that were down before it), reads them back and waits until
// balancers that health-check them see them serving.
func (o *Outage) PutBack() error {
	if len(o.taken) == 0 {
		return nil
	}
	var errs []error
	for _, t := range o.taken {
		ctx, cancel := callCtx()
		if err := t.bal.Up(ctx, t.upstream, t.addr); err != nil {
			errs = append(errs, fmt.Errorf("up %s on %s: %w", t.addr, t, err))
		}
		cancel()
	}
	var back []config.Server
	for _, s := range o.servers {
		if o.Took(s.Addr) {
			back = append(back, s)
		}
	}
	// Even after an error: a lost answer may have applied, and the read
	// back is what tells.
	if err := o.cl.waitServing(back, o.times.UpTimeout); err != nil {
		errs = append(errs, err)
	}
	// Their apps were not touched: max_fails goes back at once.
	o.cl.failures.restoreDue(o.cl, nil, back)
	return joinErrors(errs)
}

// BringUp puts the servers (after their action) in rotation on every
// balancer, reads back and waits until they serve. A server found back in
// rotation already was served traffic during the action (a balancer reload):
// it is reported, and brought up like the others since its action is done.
func (o *Outage) BringUp(servers []config.Server) error {
	if snap, err := o.cl.Read(); err == nil {
		for _, s := range servers {
			if up := snap.UpSomewhere(s.Addr); len(up) > 0 {
				o.log.Printf("WARNING: before up: %s was already in rotation on %s: a balancer reloaded during the action, and requests sent to it meanwhile may have failed", s.Addr, strings.Join(up, ", "))
			}
		}
	}
	return o.cl.MarkUp(servers, o.times.UpTimeout)
}

// LeftDown reads every balancer and returns, for each of the servers that
// is out of rotation somewhere, where; and the balancers that could not be
// read (on which any server may be down).
func (c *Cluster) LeftDown(servers []config.Server) (down map[string][]string, unreadable []string) {
	snap, _ := c.Read()
	down = map[string][]string{}
	for _, s := range servers {
		if d := snap.DownSomewhere(s.Addr); len(d) > 0 {
			down[s.Addr] = d
		}
	}
	for _, b := range snap.Balancers() {
		if err := snap.Err(b); err != nil {
			unreadable = append(unreadable, err.Error())
		}
	}
	sort.Strings(unreadable)
	return down, unreadable
}

// joinErrors joins errors on one line (errors.Join uses newlines).
func joinErrors(errs []error) error {
	var msgs []string
	for _, e := range errs {
		if e != nil {
			msgs = append(msgs, e.Error())
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return errors.New(strings.Join(msgs, "; "))
}

// TakeDownAgain takes out again servers that a reload put back in rotation
// during the action: mark-down, read back, park. There is no drain: the
// action has begun, and whatever reached the server meanwhile has.
func (o *Outage) TakeDownAgain(servers []config.Server) error {
	if err := o.markDown(servers); err != nil {
		return err
	}
	return o.cl.Park(servers)
}
