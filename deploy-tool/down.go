package main

import (
	"errors"
	"io"
	"strings"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/config"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/coord"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/outage"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/plan"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/report"
)

// DownOptions are the flags of `deploy-tool down`.
type DownOptions struct {
	ConfigFlag
	Force bool `long:"force" description:"take it down even beyond max_unavailable or min_up"`
}

// cmdDown takes one server out of every balancer and drains it: the talk's
// `app_ctl down`, with the rollout's checks and its take-out step.
func cmdDown(args []string, stdout, stderr io.Writer) int {
	var opts DownOptions
	m, code := manualSetup("down", &opts, &opts.ConfigFlag, args, stdout, stderr)
	if code >= 0 {
		return code
	}
	defer m.lock.Release()
	return exitWith(m.log, m.down(opts.Force))
}

func (m *manual) down(force bool) error {
	one := []config.Server{m.srv}
	snap, problems := m.cl.Preflight(one)
	if len(problems) > 0 {
		return refusedf("nothing was touched: %s", strings.Join(problems, "; "))
	}
	if len(snap.UpSomewhere(m.srv.Addr)) == 0 {
		m.log.Printf("%s is already down on every balancer", m.srv.Addr)
		return nil
	}
	if err := plan.CheckBudget(m.cfg, snap, m.cl.Upstreams, one, nil); err != nil && !force {
		return refusedf("nothing was touched: %v (--force to do it anyway)", err)
	}
	if err := outage.CheckDrainCovers(m.cfg, m.cl); err != nil {
		return refusedf("nothing was touched: %v", err)
	}
	stop, _, release := interrupts(m.log)
	defer release()
	if _, err := m.cl.TakeOut(one, outage.TimingsOf(m.cfg), stop); err != nil {
		return m.takeOutFailed(err, "")
	}
	// The drain's own line above says whether it drained or only waited.
	m.log.Printf("%s is down on every balancer; `deploy-tool up --config %s %s` brings it back", m.srv.Addr, m.cfg.Path(), m.srv.Addr)
	return nil
}

// manual is what down, up and wrapper share: one server, its config and
// balancers, and the deploy host's lock.
type manual struct {
	srv  config.Server
	log  *report.Progress
	cfg  *config.Config
	cl   *outage.Cluster
	lock *coord.Lock
}

// takeOutFailed reports a take-out that failed or was interrupted (it has
// put back what it could), with the server's state read back.
func (m *manual) takeOutFailed(err error, suffix string) error {
	if errors.Is(err, outage.ErrInterrupted) {
		m.log.Printf("stopped: %v%s", err, suffix)
	} else {
		m.log.Printf("ERROR: %v%s", err, suffix)
	}
	m.whatIsLeft([]config.Server{m.srv})
	return reported(err)
}

// whatIsLeft reads the balancers back after a failure and says, for each
// server, whether it is out of rotation and how to bring it back.
func (m *manual) whatIsLeft(servers []config.Server) {
	down, unreadable := m.cl.LeftDown(servers)
	for _, s := range servers {
		if where, ok := down[s.Addr]; ok {
			m.log.Printf("%s is LEFT DOWN on %s (read back); `deploy-tool up --config %s %s` brings it back", s.Addr, strings.Join(where, ", "), m.cfg.Path(), s.Addr)
		} else if len(unreadable) == 0 {
			m.log.Printf("%s is in rotation on every balancer (read back)", s.Addr)
		}
	}
	for _, u := range unreadable {
		m.log.Printf("WARNING: %s: could not be read; the server may be out of rotation there (`deploy-tool status --config %s`)", u, m.cfg.Path())
	}
}

// manualSetup parses the flags and one SERVER, loads the config, builds the
// balancers and takes the deploy host's lock.
func manualSetup(name string, opts any, cf *ConfigFlag, args []string, stdout, stderr io.Writer) (*manual, int) {
	rest, code := parseFlags(name, opts, args, stdout, stderr)
	if code >= 0 {
		return nil, code
	}
	if len(rest) != 1 {
		return nil, badArgs(name, stderr, "want one SERVER (its address, IP:port, or its host in the config), got %d arguments", len(rest))
	}
	log := report.NewProgress(stdout)
	cfg, cl, code := setup(cf.Config, log, stderr)
	if code >= 0 {
		return nil, code
	}
	srv, err := cfg.Lookup(rest[0])
	if err != nil {
		return nil, badArgs(name, stderr, "%v", err)
	}
	lock, err := coord.AcquireLock(cfg.LockPath(), coord.Describe(name+" "+srv.Addr))
	if err != nil {
		return nil, exitWith(log, refusedf("%v", err))
	}
	return &manual{srv: srv, log: log, cfg: cfg, cl: cl, lock: lock}, -1
}
