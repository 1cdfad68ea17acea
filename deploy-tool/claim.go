package main

// Two deploy hosts over the same balancers (two state directories, two
// locks). Without a server of its own, deploy-tool coordinates through the
// balancers themselves:
//
//   - A batch is taken only when every server of it is in rotation and the
//     budget (max_unavailable, min_up) holds counting every server out of
//     rotation, whoever took it. Otherwise the rollout waits, with jitter,
//     up to claim.wait when another host's claim (below) explains it.
//   - Right after the mark-down, each entry this host took out gets this
//     run's claim mark (a random token): on nginx the down server's weight
//     (a down server's weight sends no traffic; the original weight is kept
//     in the mark and put back before the up), on HAProxy a process variable.
//   - After claim.delay the balancers are read again. The batch goes on only
//     if every entry is still out of rotation, carries this run's mark, and
//     the budget still holds. Otherwise the claim is lost: entries now
//     marked by another host are left to it, the rest is put back, and the
//     batch is tried again after a random back-off.
//
// Two hosts that mark the same server at once both write their token; the
// last write wins on each balancer and only a host that finds its token on
// every entry goes on (Fischer's mutual exclusion). That holds as long as
// a host's read-then-mark takes less than claim.delay: a host measures its
// own and gives the claim up when it took longer.

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/sre-suite/mackerel-plugins/lib/balancer"
)

// ClaimConfig is the [claim] table.
type ClaimConfig struct {
	Delay Duration `toml:"delay"` // between marking and the check
	Wait  Duration `toml:"wait"`  // longest wait for other deploy hosts, per batch
}

func (c *ClaimConfig) setDefaults(md toml.MetaData) {
	if !md.IsDefined("claim", "delay") {
		c.Delay = Duration(500 * time.Millisecond)
	}
	if !md.IsDefined("claim", "wait") {
		c.Wait = Duration(10 * time.Minute)
	}
}

func (c *ClaimConfig) validate(bad func(key, format string, args ...any) error) error {
	if c.Delay.D() < 50*time.Millisecond || c.Delay.D() > time.Minute {
		return bad("claim.delay", "%v: want 50ms to 1m (longer than any balancer call of a deploy host)", c.Delay.D())
	}
	if c.Wait.D() < 0 {
		return bad("claim.wait", "%v: want 0 or more", c.Wait.D())
	}
	return nil
}

// A claim mark on nginx is a weight 100 000 000 + token*1000 + the
// original weight (1…999): nine digits at most, which both the C module and
// the Lua drop-in take, and `up` finds the weight to put back in the
// balancer itself, whichever host runs it.
const (
	markWeightBase = 100_000_000
	markWeightSpan = 1000
	maxToken       = 899_999
)

func markWeight(token, orig int) int { return markWeightBase + token*markWeightSpan + orig }

func parseMarkWeight(w int) (token, orig int, ok bool) {
	if w < markWeightBase+markWeightSpan {
		return 0, 0, false
	}
	r := w - markWeightBase
	return r / markWeightSpan, r % markWeightSpan, true
}

// marker keeps claim marks on one kind of balancer.
type marker interface {
	mark(ctx context.Context, e balancer.Server) (token int, err error) // 0: none
	setMark(ctx context.Context, e balancer.Server, token int) error
	clearMark(ctx context.Context, e balancer.Server) error
}

// markerOf is nil for a balancer that cannot keep a mark.
func markerOf(b balancer.Balancer) marker {
	switch d := b.(type) {
	case *balancer.Nginx:
		return nginxMarker{d}
	case *balancer.HAProxy:
		return haproxyMarker{d}
	case marker:
		return d
	}
	return nil
}

type nginxMarker struct{ n *balancer.Nginx }

func (m nginxMarker) mark(_ context.Context, e balancer.Server) (int, error) {
	tok, _, _ := parseMarkWeight(e.Weight)
	return tok, nil
}

func (m nginxMarker) setMark(ctx context.Context, e balancer.Server, token int) error {
	orig := e.Weight
	if _, o, ok := parseMarkWeight(e.Weight); ok {
		orig = o
	}
	if orig < 1 || orig >= markWeightSpan {
		return fmt.Errorf("balancer %s upstream %s: server %s has weight %d; a claim mark keeps weights 1 to 999 only", m.n.Name(), e.Upstream, e.Addr, orig)
	}
	return m.n.SetWeight(ctx, e.Upstream, e.Addr, markWeight(token, orig))
}

func (m nginxMarker) clearMark(ctx context.Context, e balancer.Server) error {
	if _, orig, ok := parseMarkWeight(e.Weight); ok && orig > 0 {
		return m.n.SetWeight(ctx, e.Upstream, e.Addr, orig)
	}
	return nil
}

type haproxyMarker struct{ h *balancer.HAProxy }

// claimVar names a server's mark: proc.deploy_tool_claim_<hash of backend/server>.
func claimVar(e balancer.Server) string {
	h := fnv.New64a()
	h.Write([]byte(e.Upstream + "/" + e.Name))
	return fmt.Sprintf("proc.deploy_tool_claim_%016x", h.Sum64())
}

func (m haproxyMarker) mark(ctx context.Context, e balancer.Server) (int, error) {
	v, ok, err := m.h.ProcVar(ctx, claimVar(e))
	if err != nil || !ok || v == "" {
		return 0, err
	}
	tok, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("balancer %s backend %s server %s: claim mark %q is not a number", m.h.Name(), e.Upstream, e.Name, v)
	}
	return tok, nil
}

func (m haproxyMarker) setMark(ctx context.Context, e balancer.Server, token int) error {
	return m.h.SetProcVar(ctx, claimVar(e), strconv.Itoa(token))
}

func (m haproxyMarker) clearMark(ctx context.Context, e balancer.Server) error {
	if tok, err := m.mark(ctx, e); err != nil || tok == 0 {
		return err
	}
	return m.h.SetProcVar(ctx, claimVar(e), "")
}

// Claim is this run's claim on the servers it takes out.
type Claim struct {
	cl    *Cluster
	cfg   *Config
	log   *Progress
	token int
	// adopt are servers out of rotation already that are this rollout's
	// own (in flight in the journal of a resumed run).
	adopt map[string]bool

	turnReg *turn  // claim_turn.go; nil until looked for
	release func() // gives the turn back after the mark-down
}

func newClaim(cl *Cluster, cfg *Config, log *Progress) *Claim {
	return &Claim{cl: cl, cfg: cfg, log: log, token: 1 + rand.IntN(maxToken), adopt: map[string]bool{}}
}

// claims returns the rollout's claim, made on first use.
func (e *Engine) claims() *Claim {
	if e.claim == nil {
		e.claim = newClaim(e.cl, e.cfg, e.log)
	}
	return e.claim
}

// markable tells whether some balancer keeps marks (else no delay is needed).
func (c *Claim) markable() bool {
	for _, b := range c.cl.bals {
		if markerOf(b) != nil {
			return true
		}
	}
	return false
}

// others are the servers of the config out of rotation somewhere under
// another run's mark: addr → where and whose.
func (c *Claim) others(s Snapshot) map[string]string {
	out := map[string]string{}
	for _, srv := range c.cfg.Servers {
		for _, b := range c.cl.bals {
			m := markerOf(b)
			if m == nil {
				continue
			}
			for _, e := range s.Entries(b.Name(), srv.Addr) {
				if e.State == balancer.Up {
					continue
				}
				ctx, cancel := callCtx()
				tok, err := m.mark(ctx, e)
				cancel()
				if err == nil && tok != 0 && tok != c.token {
					out[srv.Addr] = fmt.Sprintf("%s (claim mark %d on %s/%s)", srv.Addr, tok, b.Name(), e.Upstream)
				}
			}
		}
	}
	return out
}

func (c *Claim) othersNow() map[string]string {
	s, _ := c.cl.Read()
	return c.others(s)
}

func (c *Claim) otherServers(s Snapshot) []ServerConfig {
	o := c.others(s)
	var out []ServerConfig
	for _, srv := range c.cfg.Servers {
		if o[srv.Addr] != "" {
			out = append(out, srv)
		}
	}
	return out
}

// markTaken puts this run's mark on every entry it took out that lacks it
// (after the first mark-down, and after a reload wiped a mark).
func (c *Claim) markTaken(o *Outage) error {
	s, err := c.cl.Read()
	if err != nil {
		return fmt.Errorf("read before marking: %w", err)
	}
	for _, t := range o.taken {
		m := markerOf(t.bal)
		if m == nil {
			continue
		}
		for _, e := range s.Entries(t.bal.Name(), t.addr) {
			if e.Upstream != t.upstream || e.State == balancer.Up {
				continue
			}
			ctx, cancel := callCtx()
			tok, err := m.mark(ctx, e)
			if err == nil && tok != c.token {
				err = m.setMark(ctx, e, c.token)
			}
			cancel()
			if err != nil {
				return fmt.Errorf("claim mark on %s: %w", t, err)
			}
		}
	}
	return nil
}

// claimLost is a claim given up: another host holds a server of the batch,
// or the budget broke; what this run took and still holds was put back.
type claimLost struct{ why string }

func (l claimLost) Error() string { return "claim lost: " + l.why }

// settle is the claim's check after the mark-down (and marking) of the
// batch that began at start.
func (c *Claim) settle(o *Outage, servers []ServerConfig, start time.Time) error {
	delay := c.cfg.Claim.Delay.D()
	// Under the turn (claim_turn.go) no other host marked anything since
	// this host's read: the check needs no wait.
	if c.markable() && c.turnKeeper() == nil {
		if took := time.Since(start); took > delay {
			return c.lose(o, fmt.Sprintf("reading and marking took %v, longer than claim.delay %v: another deploy host may have marked the same server meanwhile", took.Round(time.Millisecond), delay))
		}
		select {
		case <-o.stop:
			return fmt.Errorf("%w after mark-down", errInterrupted)
		case <-time.After(delay):
		}
	}
	snap, err := c.cl.Read()
	if err != nil {
		return fmt.Errorf("re-read after mark-down: %w", err)
	}
	var why []string
	for _, srv := range servers {
		for _, b := range c.cl.bals {
			m := markerOf(b)
			for _, e := range snap.Entries(b.Name(), srv.Addr) {
				where := srv.Addr + " on " + b.Name() + "/" + e.Upstream
				taken := o.tookEntry(b.Name(), e.Upstream, e.Addr)
				switch {
				case e.State == balancer.Up:
					why = append(why, where+" is in rotation again")
					continue
				case !taken && !c.adopt[srv.Addr]:
					why = append(why, where+" was already out of rotation when this host marked it down (another deploy host?)")
					continue
				case m == nil || !taken:
					continue
				}
				ctx, cancel := callCtx()
				tok, err := m.mark(ctx, e)
				cancel()
				switch {
				case err != nil:
					why = append(why, where+": "+err.Error())
				case tok == 0:
					why = append(why, where+" lost its claim mark (balancer reloaded?)")
				case tok != c.token:
					why = append(why, fmt.Sprintf("%s carries another deploy host's claim mark %d", where, tok))
					o.disown(b.Name(), e.Upstream, e.Addr)
				}
			}
		}
	}
	if len(why) == 0 {
		if err := checkBudget(c.cfg, c.cl, assumeServing(snap, servers), servers); err != nil {
			why = append(why, "budget broken by another deploy host meanwhile: "+err.Error())
		}
	}
	if len(why) > 0 {
		return claimLost{strings.Join(why, "; ")}
	}
	return nil
}

// lose gives the claim up at once, keeping only entries this run still marks.
func (c *Claim) lose(o *Outage, why string) error {
	snap, err := c.cl.Read()
	if err != nil {
		return claimLost{why}
	}
	for _, t := range append([]target(nil), o.taken...) {
		m := markerOf(t.bal)
		if m == nil {
			continue
		}
		for _, e := range snap.Entries(t.bal.Name(), t.addr) {
			ctx, cancel := callCtx()
			tok, err := m.mark(ctx, e)
			cancel()
			if e.Upstream == t.upstream && err == nil && tok != 0 && tok != c.token {
				o.disown(t.bal.Name(), t.upstream, t.addr)
			}
		}
	}
	return claimLost{why}
}

func (o *Outage) tookEntry(bal, upstream, addr string) bool {
	for _, t := range o.taken {
		if t.bal.Name() == bal && t.upstream == upstream && t.addr == addr {
			return true
		}
	}
	return false
}

// disown forgets an entry another host now holds: it is never put back by
// this run.
func (o *Outage) disown(bal, upstream, addr string) {
	kept := o.taken[:0]
	for _, t := range o.taken {
		if !(t.bal.Name() == bal && t.upstream == upstream && t.addr == addr) {
			kept = append(kept, t)
		}
	}
	o.taken = kept
}

// clearMarks takes every claim mark off the servers' entries (as read in
// s) before they are put in rotation: on nginx the weight goes back first.
// only, if not nil, limits it to some entries. It returns the entries whose
// mark could not be cleared (keyed by entryKey), which must not be put up:
// on nginx they would take nearly all the traffic.
func (c *Cluster) clearMarks(s Snapshot, servers []ServerConfig, only func(bal, upstream, addr string) bool) (map[string]bool, error) {
	var errs []error
	failed := map[string]bool{}
	for _, srv := range servers {
		for _, b := range c.bals {
			m := markerOf(b)
			if m == nil {
				continue
			}
			for _, e := range s.Entries(b.Name(), srv.Addr) {
				if only != nil && !only(b.Name(), e.Upstream, e.Addr) {
					continue
				}
				ctx, cancel := callCtx()
				if err := m.clearMark(ctx, e); err != nil {
					failed[entryKey(b.Name(), e.Upstream, e.Addr)] = true
					errs = append(errs, fmt.Errorf("clear claim mark of %s on %s/%s (left down): %w", srv.Addr, b.Name(), e.Upstream, err))
				}
				cancel()
			}
		}
	}
	return failed, joinErrors(errs)
}

func entryKey(bal, upstream, addr string) string { return bal + "/" + upstream + "/" + addr }

// clearTakenMarks clears the marks of the entries this step took out.
func (o *Outage) clearTakenMarks() (map[string]bool, error) {
	s, err := o.cl.Read()
	failed, cerr := o.cl.clearMarks(s, o.servers, o.tookEntry)
	if err != nil {
		// An entry of a balancer that cannot be read keeps its mark unknown.
		for _, t := range o.taken {
			if markerOf(t.bal) != nil && len(s.Entries(t.bal.Name(), t.addr)) == 0 {
				failed[entryKey(t.bal.Name(), t.upstream, t.addr)] = true
			}
		}
		return failed, err
	}
	return failed, cerr
}

// takeOutInTurn waits for the batch's turn, takes it out under this run's
// claim, and on a lost claim backs off and tries again, up to claim.wait.
// A nil Outage means nothing was touched. prior is each server's journal
// step before this batch.
func (e *Engine) takeOutInTurn(i int, batch []ServerConfig) (*Outage, map[string]string, error) {
	c := e.claims()
	deadline := time.Now().Add(e.cfg.Claim.Wait.D())
	for attempt := 1; ; attempt++ {
		if err := e.waitTurn(i, batch, deadline); err != nil {
			return nil, nil, err
		}
		release, err := e.takeTurn(deadline)
		if errors.Is(err, errInterrupted) {
			return nil, nil, fmt.Errorf("%w before batch %d: nothing of it was touched", err, i+1)
		}
		if err != nil {
			return nil, nil, refusedf("%v; nothing of batch %d was touched", err, i+1)
		}
		if snap, err := e.cl.Read(); err != nil || len(e.blockers(snap, batch)) > 0 {
			// Another host took its batch between the wait and the turn.
			release()
			if err := e.backOff(attempt); err != nil {
				return nil, nil, fmt.Errorf("%w before batch %d: nothing of it was touched", err, i+1)
			}
			continue
		}
		c.release = release
		// The journal records the intent first, so that a crash between the
		// two leaves a server that --resume knows about.
		prior := map[string]string{}
		for _, s := range batch {
			prior[s.Addr] = e.journal.Progress[s.Addr]
			e.step(s.Addr, StepDown)
		}
		o, err := e.cl.takeOutClaimed(c, batch, e.cfg.timings(), e.stop)
		var lost claimLost
		if !errors.As(err, &lost) || o.PutBackFailed {
			return o, prior, err
		}
		for _, s := range batch {
			e.step(s.Addr, prior[s.Addr])
		}
		if time.Now().After(deadline) {
			return nil, nil, refusedf("gave up after claim.wait %v: %v; what this host took of batch %d is back in rotation (read back)", e.cfg.Claim.Wait.D(), err, i+1)
		}
		e.log.Printf("batch %d: %v; what this host took is back in rotation (read back); trying again", i+1, err)
		if err := e.backOff(attempt); err != nil {
			return nil, nil, fmt.Errorf("%w before batch %d: nothing of it is out of rotation by this run", err, i+1)
		}
	}
}

// backOff waits a random time growing with the attempt: two hosts that
// collided rarely collide again.
func (e *Engine) backOff(attempt int) error {
	base := e.cfg.Claim.Delay.D()
	d := base/2 + time.Duration(rand.Int64N(int64(base)*int64(min(attempt, 4))+1))
	select {
	case <-e.stop:
		return errInterrupted
	case <-time.After(d):
		return nil
	}
}

// waitTurn returns when every server of the batch is in rotation and the
// budget allows taking them all, counting every server out of rotation. It
// waits while that is explained by another deploy host (a claim mark, or a
// server brought up and not yet passing the balancer's health checks, for
// up_timeout); otherwise it refuses, as before any rollout with two hosts.
func (e *Engine) waitTurn(i int, batch []ServerConfig, deadline time.Time) error {
	c := e.claims()
	graced := false
	unhealthySince := time.Time{}
	announced := ""
	for attempt := 1; ; attempt++ {
		snap, err := e.cl.Read()
		if err != nil {
			return fmt.Errorf("before batch %d: %w; nothing of this batch was touched", i+1, err)
		}
		why := e.blockers(snap, batch)
		if len(why) == 0 {
			return nil
		}
		reason := strings.Join(why, "; ")
		others := sortedValues(c.others(snap))
		unhealthy := inRotationNotServing(snap)
		switch {
		case len(others) > 0:
			// Another host is at work: an unmarked down seen later (its
			// mark just taken off, before its up) gets a grace again.
			unhealthySince = time.Time{}
			graced = false
		case len(unhealthy) > 0 && unhealthySince.IsZero():
			unhealthySince = time.Now()
		case len(unhealthy) > 0 && time.Since(unhealthySince) < e.cfg.UpTimeout.D():
		case !graced:
			// A host between its mark-down and its mark.
			graced = true
			if err := e.backOff(1); err != nil {
				return fmt.Errorf("%w before batch %d: nothing of it was touched", err, i+1)
			}
			continue
		default:
			return refusedf("%s; nothing of this batch was touched", reason)
		}
		if time.Now().After(deadline) {
			return refusedf("gave up after waiting claim.wait %v for other deploy hosts: %s; nothing of this batch was touched", e.cfg.Claim.Wait.D(), reason)
		}
		msg := reason
		if len(others) > 0 {
			msg += "; held by another deploy host: " + strings.Join(others, ", ")
		}
		if msg != announced {
			e.log.Printf("batch %d: waiting (up to claim.wait %v in all): %s", i+1, e.cfg.Claim.Wait.D(), msg)
			announced = msg
		}
		if err := e.backOff(attempt); err != nil {
			return fmt.Errorf("%w before batch %d: nothing of it was touched", err, i+1)
		}
	}
}

// blockers say why the batch cannot be taken now: a server of it out of
// rotation (not this rollout's own), or the budget.
func (e *Engine) blockers(snap Snapshot, batch []ServerConfig) []string {
	var why []string
	for _, s := range batch {
		if d := snap.DownSomewhere(s.Addr); len(d) > 0 && !e.claims().adopt[s.Addr] {
			why = append(why, fmt.Sprintf("%s is out of rotation on %s", s.Addr, strings.Join(d, ", ")))
		}
	}
	if err := checkBudget(e.cfg, e.cl, snap, batch); err != nil {
		why = append(why, err.Error())
	}
	return why
}

// preflightSettled is the preflight, read once more claim.delay later when
// a server is out of rotation without another host's mark: a host between
// its mark-down and its mark is not taken for a server down by hand.
func (e *Engine) preflightSettled() (Snapshot, []string, map[string]string) {
	c := e.claims()
	snap, problems := e.cl.Preflight(e.cfg.Servers)
	others := c.others(snap)
	for _, s := range e.cfg.Servers {
		if len(snap.DownSomewhere(s.Addr)) > 0 && others[s.Addr] == "" {
			time.Sleep(c.cfg.Claim.Delay.D())
			snap, problems = e.cl.Preflight(e.cfg.Servers)
			return snap, problems, c.others(snap)
		}
	}
	return snap, problems, others
}

// inRotationNotServing are entries in rotation that the balancer's health
// checks do not pass yet (a server just brought up by another host).
func inRotationNotServing(s Snapshot) []string {
	var out []string
	for a := range s.NotServing() {
		if len(s.UpSomewhere(a)) > 0 && len(s.DownSomewhere(a)) == 0 {
			out = append(out, a)
		}
	}
	return out
}

func sortedValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// takeOutClaimed is TakeOut with this run's claim: marks after the
// mark-down, and the claim's check before the drain.
func (c *Cluster) takeOutClaimed(claim *Claim, servers []ServerConfig, tm Timings, stop <-chan struct{}) (*Outage, error) {
	return c.takeOut(servers, tm, stop, claim)
}

// waitTakenServing is Cluster.waitServing for the entries this step took
// only: after a lost claim, the entries another host holds stay out.
func (o *Outage) waitTakenServing(servers []ServerConfig, upTimeout time.Duration) error {
	deadline := time.Now().Add(upTimeout)
	for {
		s, err := o.cl.Read()
		if err != nil {
			return fmt.Errorf("read back: %w", err)
		}
		var waiting []string
		for _, t := range o.taken {
			for _, e := range s.Entries(t.bal.Name(), t.addr) {
				if e.Upstream == t.upstream && !serving(e) {
					waiting = append(waiting, fmt.Sprintf("%s on %s is %s (%s)", t.addr, t, e.State, e.Health))
				}
			}
		}
		if len(waiting) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("read back: not serving %v after up: %s", upTimeout, strings.Join(waiting, "; "))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
