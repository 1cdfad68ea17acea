package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/config"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/mackerel"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/report"
)

// The [mackerel] section's part in a run (internal/mackerel): the run's
// graph annotation, and stop_on_alert. A nil client or guard (no
// [mackerel], or stop_on_alert off) does nothing.

// alertPoll is how often a timed canary pause reads the open alerts.
var alertPoll = 10 * time.Second

// mackerelLog turns the client's warning lines into progress lines.
type mackerelLog struct{ log *report.Progress }

func (w mackerelLog) Write(b []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		w.log.Printf("WARNING: %s", strings.TrimPrefix(line, "deploy-tool: "))
	}
	return len(b), nil
}

// newMackerel is the config's Mackerel client; nil without [mackerel].
func newMackerel(cfg *config.Config, log *report.Progress) *mackerel.Client {
	mk, err := mackerel.New(cfg.MackerelOptions(), cfg.StateDir, mackerelLog{log})
	if err != nil {
		// Options were checked by config.Load: only an odd apibase is left.
		log.Printf("WARNING: %v; no graph annotation, no alert check", err)
		return nil
	}
	return mk
}

// watchAlerts posts what earlier runs could not, and reads the alerts open
// at the start: already open ones refuse the rollout (exit 3, nothing
// touched) unless --ignore-open-alerts. See internal/mackerel's doc.
func (e *Engine) watchAlerts(start time.Time) error {
	e.mk.FlushPending(e.ctx)
	g, err := e.mk.Watch(e.ctx, start, e.opts.IgnoreOpenAlerts)
	if err != nil {
		return refusedf("%v", err)
	}
	e.guard = g
	if g != nil && e.opts.IgnoreOpenAlerts {
		e.ann.Notes = append(e.ann.Notes, "started with --ignore-open-alerts")
	}
	return nil
}

// alerted stops the rollout before the next batch when an alert of the
// service opened since it started (exit 1, the journal kept).
func (e *Engine) alerted() error {
	if a := e.guard.Check(e.ctx); len(a) > 0 {
		return &mackerel.AlertStopError{Alerts: a}
	}
	return nil
}

// annotateStart creates the run's annotation when its first server goes out.
func (e *Engine) annotateStart(batches [][]config.Server) {
	if e.mk == nil || e.annotated {
		return
	}
	e.annotated = true
	e.ann.Service = e.cfg.MackerelOptions().Service
	e.ann.Servers = len(slices.Concat(batches...))
	var plan []string
	for i, b := range batches {
		plan = append(plan, fmt.Sprintf("batch %d: %s", i+1, config.Labels(b)))
	}
	e.ann.Plan = "plan: " + strings.Join(plan, "; ")
	if e.opts.Resume {
		e.ann.Notes = append(e.ann.Notes, "resumed (--resume)")
	}
	e.ann.State = mackerel.Running
	e.mk.Start(context.WithoutCancel(e.ctx), e.ann.Title(), e.ann.Description(), time.Now())
}

// annotateFinish updates the run's annotation with how it ended.
func (e *Engine) annotateFinish(err error) {
	if !e.annotated {
		return
	}
	e.ann.State = mackerel.Done
	if err != nil {
		e.ann.State, e.ann.Batch, e.ann.Why = mackerel.Stopped, e.batch+1, stopReason(err)
	}
	e.ann.Each = nil
	for _, r := range e.results {
		e.ann.Each = append(e.ann.Each, mackerel.ServerResult{Server: r.Server.Label(), Result: r.Result})
	}
	e.mk.Finish(context.WithoutCancel(e.ctx), e.ann.Title(), e.ann.Description(), time.Now())
}

// stopReason is the title's "why": an alert's monitor and host, else the
// error's first line.
func stopReason(err error) string {
	var as *mackerel.AlertStopError
	if errors.As(err, &as) && len(as.Alerts) > 0 {
		return "Mackerel alert: " + as.Alerts[0].String()
	}
	return strings.SplitN(err.Error(), "\n", 2)[0]
}

// pauseWithAlerts waits d, reading the open alerts every alertPoll; an
// alert or a signal ends it early.
func (e *Engine) pauseWithAlerts(d time.Duration) error {
	end := time.After(d)
	tick := time.NewTicker(alertPoll)
	defer tick.Stop()
	if e.guard == nil {
		tick.Stop()
	}
	for {
		select {
		case <-e.ctx.Done():
			return nil // the caller reports the signal
		case <-end:
			return nil
		case <-tick.C:
			if err := e.alerted(); err != nil {
				return err
			}
		}
	}
}

// beforeBatch is what stops a rollout between batches, nothing of the next
// one touched: the deploy window's end and, from the second batch on, a
// Mackerel alert opened since the start.
func (e *Engine) beforeBatch(i, n int) error {
	if err := e.windowEnded(i, n); err != nil {
		return err
	}
	if i > 0 {
		return e.alerted()
	}
	return nil
}

// annotateStart creates the annotation of a down, up or wrapper run when
// its server goes out.
func (m *manual) annotateStart(ctx context.Context, verb string) {
	r := m.result(verb, mackerel.Running, "")
	m.mk.Start(context.WithoutCancel(ctx), r.Title(), r.Description(), time.Now())
}

// annotateEnd finishes it: done, or stopped with err (nothing without a
// started or unparked annotation).
func (m *manual) annotateEnd(verb string, err error) {
	r := m.result(verb, mackerel.Done, "done")
	if err != nil {
		r = m.result(verb, mackerel.Stopped, stopReason(err))
		r.Batch, r.Why = 1, stopReason(err)
	}
	m.mk.Finish(context.Background(), r.Title(), r.Description(), time.Now())
}

func (m *manual) result(verb string, st mackerel.State, outcome string) mackerel.Result {
	r := mackerel.Result{Verb: verb, Service: m.cfg.MackerelOptions().Service, State: st, Servers: 1,
		Plan: verb + " " + m.srv.Label()}
	if outcome != "" {
		r.Each = []mackerel.ServerResult{{Server: m.srv.Label(), Result: outcome}}
	}
	return r
}

// flushAnnotations posts what earlier runs could not ([mackerel]), for
// status, and says how many are left.
func flushAnnotations(ctx context.Context, cfg *config.Config, log *report.Progress) int {
	mk := newMackerel(cfg, log)
	mk.FlushPending(ctx)
	n, err := mk.Pending()
	if err != nil {
		log.Printf("WARNING: %v", err)
	}
	return n
}
