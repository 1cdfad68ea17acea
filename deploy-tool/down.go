package main

import (
	"context"
	"errors"
	"strings"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/config"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/coord"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/mackerel"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/outage"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/plan"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/report"
)

// DownOptions are the flags of `deploy-tool down`.
type DownOptions struct {
	ConfigFlag
	Force  bool   `long:"force" description:"take it down even beyond max_unavailable or min_up"`
	Server string `no-flag:"true"` // the one argument
}

// Down takes one server out of every balancer and drains it: the talk's
// `app_ctl down`, with the rollout's checks and its take-out step.
func (app *App) Down(ctx context.Context, opts DownOptions) error {
	m, err := app.manualSetup("down", opts.Config, opts.Server)
	if err != nil {
		return err
	}
	defer m.lock.Release()
	err = m.down(ctx, opts.Force)
	if err != nil {
		m.annotateEnd("down/up", err)
	} else {
		// up finishes the annotation: the pair is one span.
		m.mk.Park(m.srv.Addr)
	}
	return err
}

func (m *manual) down(ctx context.Context, force bool) error {
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
	m.annotateStart(ctx, "down/up")
	if _, err := m.cl.TakeOut(ctx, one, outage.TimingsOf(m.cfg)); err != nil {
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
	mk   *mackerel.Client // [mackerel]: the run's annotation (annotate.go)
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

// manualSetup loads the config, builds the balancers, finds the server and
// takes the deploy host's lock.
func (app *App) manualSetup(name, path, server string) (*manual, error) {
	if err := app.setup(path); err != nil {
		return nil, err
	}
	srv, err := app.cfg.Lookup(server)
	if err != nil {
		if name == "wrapper" {
			return nil, app.badArgs(name, "--self: %v", err)
		}
		return nil, app.badArgs(name, "%v", err)
	}
	lock, err := coord.AcquireLock(app.cfg.LockPath(), coord.Describe(name+" "+srv.Addr))
	if err != nil {
		return nil, refusedf("%v", err)
	}
	return &manual{srv: srv, log: app.log, cfg: app.cfg, cl: app.cl, lock: lock, mk: newMackerel(app.cfg, app.log)}, nil
}
