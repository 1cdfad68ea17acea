package main

import (
	"context"
	"fmt"
	"time"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/config"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/window"
)

// WindowOptions are the flags of `deploy-tool window`.
type WindowOptions struct {
	ConfigFlag
	Count int `long:"count" default:"5" value-name:"N" description:"how many windows to list (the current one first)"`
}

// checkWindow refuses a rollout (exit 3, before anything is touched)
// outside the [window] calendar's deploy windows or inside a freeze, or
// when the calendar cannot be read, unless --outside-window gives a reason
// (it goes into the notification and the annotation). Inside a window it
// sets windowStop.
func (e *Engine) checkWindow() error {
	o, ok := e.cfg.WindowOptions()
	if !ok {
		return nil
	}
	why := e.opts.OutsideWindow
	s, err := window.Load(e.ctx, o, e.cfg.StateDir)
	if err != nil {
		if why == "" {
			return refusedf("deploy window: %v (start anyway with --outside-window REASON)", err)
		}
		e.overrideWindow(err.Error(), why)
		return nil
	}
	if s.Warning != "" {
		e.log.Printf("WARNING: %s", s.Warning)
	}
	d := s.Decide(time.Now())
	switch {
	case d.Allowed:
		e.log.Printf("deploy window: %s", d.Reason)
		e.windowStop = o.StopStartingAt(d)
	case why == "":
		return refusedf("deploy window: %s (start anyway with --outside-window REASON)", d.Reason)
	default:
		e.overrideWindow(d.Reason, why)
	}
	return nil
}

// overrideWindow tells that --outside-window started a rollout the
// calendar forbids.
func (e *Engine) overrideWindow(reason, why string) {
	e.log.Printf("deploy window: %s; going on: --outside-window %q", reason, why)
	if e.opts.DryRun {
		return
	}
	e.notify.Sendf("deploy-tool: rollout started outside the deploy window (%s): %s", reason, why)
	e.ann.Notes = append(e.ann.Notes, fmt.Sprintf("outside the deploy window (%s): %s", reason, why))
}

// windowEnded stops a rollout before batch i when its window has ended
// (exit 1; the journal is kept for --resume in the next window).
func (e *Engine) windowEnded(i, n int) error {
	if e.windowStop.IsZero() || time.Now().Before(e.windowStop) {
		return nil
	}
	return fmt.Errorf("the deploy window ended %s: batch %d of %d not started (continue with --resume in the next window; window.finish_after_window = true lets a rollout finish)",
		e.windowStop.Local().Format(window.TimeLayout), i+1, n)
}

// Window prints the decision now, and the current and next windows with
// the freezes that overlap them. Exit 0 when a rollout may start now, 3
// when it would be refused, 2 for a bad config or one without [window], 1
// when the calendar cannot be read.
func (app *App) Window(ctx context.Context, opts WindowOptions) error {
	cfg, err := config.Load(opts.Config)
	if err != nil {
		return usagef("%v", err)
	}
	app.log.Redact(cfg.Secrets())
	o, ok := cfg.WindowOptions()
	if !ok {
		return usagef("config %s has no [window] calendar", cfg.Path())
	}
	if opts.Count < 1 {
		return usagef("--count %d: want 1 or more", opts.Count)
	}
	s, err := window.Load(ctx, o, cfg.StateDir)
	if err != nil {
		return err
	}
	now := time.Now()
	entries, err := s.Upcoming(now, opts.Count)
	if err != nil {
		return err
	}
	d := s.Decide(now)
	if err := s.Render(app.stdout, now, d, entries); err != nil {
		return err
	}
	if !d.Allowed {
		return refusal{msg: d.Reason, reported: true}
	}
	return nil
}
