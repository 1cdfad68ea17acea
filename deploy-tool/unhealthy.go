package main

import (
	"fmt"
	"strings"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/config"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/outage"
	"github.com/sre-suite/mackerel-plugins/lib/balancer"
)

// checkHealth is the preflight's health check (issue 19 fix 7): every
// server this rollout takes that is in rotation now must answer its health
// URL, else the rollout is refused before anything is touched, naming it:
// a URL that fails before the deploy (a redirect to a 404, a typo) would
// leave each server down after it. A server out of rotation is not asked
// (its app may be mid-deploy: another host's, or this rollout's own in
// flight in the journal). --allow-unhealthy SERVER lets through a server
// that fails, to deploy a fix to it; it must still pass after its deploy.
func (e *Engine) checkHealth(snap balancer.Snapshot, todo []config.Server) (problems []string, err error) {
	allowed, err := e.allowedUnhealthy()
	if err != nil || e.cfg.Health.URL == "" {
		return nil, err
	}
	var ask []config.Server
	for _, s := range todo {
		if len(snap.DownSomewhere(s.Addr)) == 0 && !e.adopt[s.Addr] {
			ask = append(ask, s)
		}
	}
	failed := outage.CheckHealthAll(e.ctx, e.cfg.Health, ask)
	for _, s := range ask {
		err := failed[s.Addr]
		switch {
		case err == nil && allowed[s.Addr]:
			e.log.Printf("note: %s answers its health check; --allow-unhealthy %s was not needed", s.Label(), s.Addr)
		case err == nil:
		case allowed[s.Addr]:
			e.log.Printf("WARNING: %s does not answer its health check before its deploy (%v); going on (--allow-unhealthy): it must pass after its deploy", s.Label(), err)
		default:
			problems = append(problems, fmt.Sprintf("server %s does not answer its health check before anything is touched: %v (to deploy a fix to it anyway: --allow-unhealthy %s)", s.Label(), err, s.Addr))
		}
	}
	return problems, nil
}

// allowedUnhealthy resolves --allow-unhealthy (addr, host, or host:port as
// the config names a server; repeated, or comma-separated) to addrs.
func (e *Engine) allowedUnhealthy() (map[string]bool, error) {
	allowed := map[string]bool{}
	for _, arg := range e.opts.AllowUnhealthy {
		for _, name := range strings.Split(arg, ",") {
			s, ok := e.cfg.Server(strings.TrimSpace(name))
			if !ok {
				return nil, usagef("--allow-unhealthy %q: no such server in %s (give its addr or host)", name, e.cfg.Path())
			}
			allowed[s.Addr] = true
		}
	}
	return allowed, nil
}
