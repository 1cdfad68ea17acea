package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/config"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/outage"
)

// UpOptions are the flags of `deploy-tool up`.
type UpOptions struct {
	ConfigFlag
	SkipHealth bool   `long:"skip-health" description:"bring it up without running the health check first"`
	Server     string `no-flag:"true"` // the one argument
}

// Up health-checks one server and puts it back in every balancer: the
// talk's `app_ctl up`.
func (app *App) Up(ctx context.Context, opts UpOptions) error {
	m, err := app.manualSetup("up", opts.Config, opts.Server)
	if err != nil {
		return err
	}
	defer m.lock.Release()
	// The annotation `down` started, if any: finished when the server is
	// up, handed on again for the next up when it is not.
	m.mk.Unpark(m.srv.Addr)
	err = m.up(ctx, opts.SkipHealth)
	if err != nil {
		m.mk.Park(m.srv.Addr)
	} else {
		m.annotateEnd("down/up", nil)
	}
	return err
}

func (m *manual) up(ctx context.Context, skipHealth bool) error {
	one := []config.Server{m.srv}
	if _, problems := m.cl.Preflight(one); len(problems) > 0 {
		return refusedf("nothing was touched: %s", strings.Join(problems, "; "))
	}
	if !skipHealth {
		if err := outage.HealthCheck(ctx, m.cfg.Health, m.srv); err != nil {
			return fmt.Errorf("not brought up: %v (--skip-health to bring it up anyway)", err)
		}
	}
	if err := m.cl.MarkUp(one, m.cfg.UpTimeout.D()); err != nil {
		m.log.Printf("ERROR: %v", err)
		m.whatIsLeft(one)
		return reported(err)
	}
	m.log.Printf("%s is up and serving on every balancer (read back)", m.srv.Addr)
	// max_fails that `down` (or a stopped rollout) set to 0 goes back once
	// fail_timeout has passed since now.
	m.cl.SettleFailures(ctx)
	m.cl.ReportFailuresLeft(m.cfg.Path())
	return nil
}
