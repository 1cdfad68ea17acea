package main

import (
	"context"

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

	// AllowUnhealthy lets a server that fails the preflight's health
	// check through (unhealthy.go).
	AllowUnhealthy []string `long:"allow-unhealthy" value-name:"SERVER" description:"deploy a fix to SERVER (addr or host; repeat, or comma-separate) although it fails its health check at preflight; it must still pass after its deploy"`

	// [window] and [mackerel] (window.go, annotate.go)
	OutsideWindow    string `long:"outside-window" value-name:"REASON" description:"start although the [window] calendar forbids it now (outside a window, in a freeze, or unreadable); REASON goes into the notification and the Mackerel annotation"`
	IgnoreOpenAlerts bool   `long:"ignore-open-alerts" description:"start although Mackerel alerts of the [mackerel] service are open (they are named, and never stop this rollout)"`
}

// Rollout rolls the deploy over every server of the config, batch by batch
// (engine.go), after a preflight that touches nothing (preflight.go), and
// ends with a summary read back from the balancers (finish.go).
func (app *App) Rollout(ctx context.Context, opts RolloutOptions) error {
	if err := app.setup(opts.Config); err != nil {
		return err
	}
	e := &Engine{
		cfg: app.cfg, opts: opts, cl: app.cl, log: app.log, out: app.stdout, in: app.stdin,
		notify: &report.Notifier{URL: app.cfg.NotifyWebhook, Log: app.log},
		ctx:    ctx, kill: app.kill, runID: newRunID(),
		mk: newMackerel(app.cfg, app.log),
	}
	return e.Run()
}
