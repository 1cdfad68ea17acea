package outage

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/config"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/report"
	"github.com/sre-suite/mackerel-plugins/lib/balancer"
)

// NewBalancer builds a driver from its config. It is a variable so that the
// engine's unit tests can use an in-memory balancer.
var NewBalancer = balancer.New

// Cluster is every configured balancer, driven together: a server is "down"
// only when it is out of rotation on every balancer that knows it.
type Cluster struct {
	bals []balancer.Balancer
	log  *report.Progress
	// failures saves and puts back nginx's max_fails (params.go); nil in
	// unit tests that build a Cluster by hand.
	failures *failureGuard
}

// NewCluster builds the drivers of every configured balancer
// and the guard of nginx's max_fails (params.go).
func NewCluster(cfg *config.Config, log *report.Progress) (*Cluster, error) {
	c := &Cluster{log: log}
	for _, bc := range cfg.Balancers {
		b, err := NewBalancer(bc)
		if err != nil {
			return nil, fmt.Errorf("balancer %q: %w", bc.Name, err)
		}
		c.bals = append(c.bals, b)
	}
	c.failures = newFailureGuard(cfg, log)
	return c, nil
}

// Balancers are the drivers, in the config's order.
func (c *Cluster) Balancers() []balancer.Balancer { return c.bals }

// SettleFailures puts back the saved max_fails of the servers back up,
// once their fail_timeout has passed (not waited for once ctx ends).
func (c *Cluster) SettleFailures(ctx context.Context) { c.failures.settle(ctx, c) }

// ReportFailuresLeft prints the saved max_fails not yet put back.
func (c *Cluster) ReportFailuresLeft(cfgPath string) { c.failures.reportLeft(cfgPath) }

// FailuresLeft lists the saved max_fails not yet put back.
func (c *Cluster) FailuresLeft() []string { return c.failures.Left() }

// callTimeout bounds one balancer call made by the cluster itself; the
// drivers have their own per-call timeouts inside it. The calls do not
// derive from the signal contexts on purpose: after the first signal the
// take-out puts back what it took, and after the second the final
// read-back still tells what is left down.
const callTimeout = 15 * time.Second

func callCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), callTimeout)
}

// Snapshot is what every balancer reported at one moment: lib/balancer's
// shared view, the same the upstream plugin reads balancers through.
type Snapshot = balancer.Snapshot

// Read lists every balancer. Balancers that cannot be read are recorded in
// the snapshot's errors; the returned error joins them.
func (c *Cluster) Read() (Snapshot, error) {
	ctx, cancel := callCtx()
	defer cancel()
	return balancer.ReadAll(ctx, c.bals)
}

// sameAddr and serving are the balancers' shared view (lib/balancer), so
// that deploy-tool and the drivers agree on which entry is which server.
var (
	sameAddr = balancer.SameAddr
	serving  = balancer.Serving
)

// target is one server in one upstream of one balancer.
type target struct {
	bal      balancer.Balancer
	upstream string
	addr     string // as the balancer prints it
	wasUp    bool
	entry    balancer.Server // as read
}

func (t target) String() string { return t.bal.Name() + "/" + t.upstream }

// targets are every (balancer, upstream) entry of a server in the snapshot.
func (c *Cluster) targets(s Snapshot, addr string) []target {
	var out []target
	for _, b := range c.bals {
		for _, e := range s.Entries(b.Name(), addr) {
			out = append(out, target{bal: b, upstream: e.Upstream, addr: e.Addr, wasUp: e.State == balancer.Up, entry: e})
		}
	}
	return out
}

// Preflight checks that every balancer answers and knows every server. It
// returns the snapshot and the problems found, one per line.
func (c *Cluster) Preflight(servers []config.Server) (Snapshot, []string) {
	s, err := c.Read()
	var problems []string
	if err != nil {
		for _, b := range s.Balancers() {
			if e := s.Err(b); e != nil {
				problems = append(problems, e.Error())
			}
		}
	}
	for _, srv := range servers {
		for _, b := range s.Balancers() {
			if s.Err(b) != nil {
				continue
			}
			if _, known := s.UpOn(b, srv.Addr); !known {
				problems = append(problems, fmt.Sprintf("server %s is not known to balancer %s (upstreams %s)", srv.Addr, b, strings.Join(c.Upstreams(b), ", ")))
			}
		}
	}
	return s, problems
}

func (c *Cluster) Upstreams(name string) []string {
	for _, b := range c.bals {
		if b.Name() == name {
			return b.Upstreams()
		}
	}
	return nil
}

func describe(ts []target) string {
	seen := map[string]bool{}
	var out []string
	for _, t := range ts {
		k := t.addr + " on " + t.String()
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// confirm reads every balancer back and checks each server's state.
func (c *Cluster) confirm(servers []config.Server, wantUp bool) error {
	s, err := c.Read()
	if err != nil {
		return fmt.Errorf("read back: %w", err)
	}
	var errs []error
	for _, srv := range servers {
		for _, b := range s.Balancers() {
			for _, e := range s.Entries(b, srv.Addr) {
				if (e.State == balancer.Up) != wantUp {
					errs = append(errs, fmt.Errorf("read back: %s is %s on %s/%s", srv.Addr, e.State, b, e.Upstream))
				}
			}
		}
	}
	return joinErrors(errs)
}

// Park takes drained servers fully out (HAProxy: maint, so that neither
// health checks nor persistent connections reach a restarting app; nginx:
// down again, a no-op) and confirms. An entry found up again (a balancer
// reloaded meanwhile) is left to the re-read that follows.
func (c *Cluster) Park(servers []config.Server) error {
	s, err := c.Read()
	if err != nil {
		return err
	}
	for _, srv := range servers {
		for _, t := range c.targets(s, srv.Addr) {
			if t.wasUp {
				continue
			}
			ctx, cancel := callCtx()
			err := t.bal.Down(ctx, t.upstream, t.addr)
			cancel()
			if err != nil {
				return fmt.Errorf("mark %s down on %s: %w", srv.Addr, t, err)
			}
		}
	}
	return nil
}

// MarkUp puts servers back in rotation on every balancer that answers,
// reads the state back, and waits (up to upTimeout) until every balancer that
// health-checks them (HAProxy) sees them serving. A balancer that cannot be
// reached is reported in the error; the others are still brought up, since
// an unreachable balancer sends no traffic anyway.
func (c *Cluster) MarkUp(servers []config.Server, upTimeout time.Duration) error {
	s, readErr := c.Read()
	var errs []error
	if readErr != nil {
		errs = append(errs, readErr)
	}
	for _, srv := range servers {
		for _, t := range c.targets(s, srv.Addr) {
			ctx, cancel := callCtx()
			if err := t.bal.Up(ctx, t.upstream, t.addr); err != nil {
				errs = append(errs, fmt.Errorf("mark %s up on %s: %w", srv.Addr, t, err))
			}
			cancel()
		}
	}
	if err := joinErrors(errs); err != nil {
		return err
	}
	if err := c.waitServing(servers, upTimeout); err != nil {
		return err
	}
	c.failures.cameUp(servers)
	return nil
}

// waitServing reads every balancer back: each entry of the servers must be
// in rotation, and within upTimeout serving where the balancer health-checks.
func (c *Cluster) waitServing(servers []config.Server, upTimeout time.Duration) error {
	if err := c.confirm(servers, true); err != nil {
		return err
	}
	deadline := time.Now().Add(upTimeout)
	for {
		s, err := c.Read()
		if err != nil {
			return err
		}
		var waiting []string
		for _, srv := range servers {
			for _, b := range s.Balancers() {
				for _, e := range s.Entries(b, srv.Addr) {
					if !serving(e) {
						waiting = append(waiting, fmt.Sprintf("%s on %s/%s is %s (%s)", srv.Addr, b, e.Upstream, e.State, e.Health))
					}
				}
			}
		}
		if len(waiting) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not serving %v after up: %s", upTimeout, strings.Join(waiting, "; "))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
