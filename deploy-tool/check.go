package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/config"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/coord"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/journal"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/outage"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/report"
	"github.com/sre-suite/mackerel-plugins/lib/balancer"
	"github.com/sre-suite/mackerel-plugins/lib/check"
	"github.com/sre-suite/mackerel-plugins/lib/state"
)

// CheckOptions are the flags of `deploy-tool check`.
type CheckOptions struct {
	ConfigFlag
	StuckAfter check.Duration `long:"stuck-after" default:"15m" value-name:"DURATION" description:"WARNING when a server has been down this long while no rollout holds the lock: seconds (900) or with a unit (15m, 1h)"`
	check.Common
}

// downSince is the check's memory between runs: when each entry was first
// seen out of rotation, keyed "balancer/upstream/addr".
type downSince map[string]time.Time

// Check is a mackerel-agent check plugin: CRITICAL when an upstream has
// fewer than min_up servers up, WARNING when a server has been down longer
// than --stuck-after while no rollout holds the lock. Its flags go through
// lib/check like every check's: a bad one is one UNKNOWN line, exit 3.
func (app *App) Check(args []string) error {
	c, p := checkCommand(app.stdout, app.stderr)
	var opts CheckOptions
	code := c.Execute(p, &opts, args, func() check.Result {
		cfg, err := config.Load(opts.Config)
		if err != nil {
			return check.Resultf(check.Unknown, "%v", err)
		}
		cl, err := outage.NewCluster(cfg, report.NewProgress(io.Discard))
		if err != nil {
			return check.Resultf(check.Unknown, "%s", cfg.Redact(err.Error()))
		}
		r := check.Run(opts.Timeout.D(), func() check.Result {
			return opts.Failure(fmt.Errorf("balancers did not answer within %v", opts.Timeout.D()))
		}, func(ctx context.Context) check.Result {
			return judge(cfg, cl, opts, time.Now())
		})
		r.Message = cfg.Redact(r.Message)
		return r
	})
	if code == 0 {
		return nil
	}
	return checkStatus{code}
}

func judge(cfg *config.Config, cl *outage.Cluster, opts CheckOptions, now time.Time) check.Result {
	snap, readErr := cl.Read()
	crit, unreadable := belowMinUp(cfg, cl, snap)
	var warn []string
	// The check's own failures are UNKNOWN with the reason: a check that
	// cannot remember when a server went down would never warn, and a
	// corrupt journal blocks every rollout.
	if _, err := journal.Load(cfg.JournalPath()); err != nil {
		return check.Resultf(check.Unknown, "%v: every rollout is refused until it is moved away or fixed", err)
	}
	path := state.Path("deploy-tool-check", cfg.Path())
	since := downSince{}
	if err := state.Load(path, &since); err != nil && !errors.Is(err, os.ErrNotExist) {
		return check.Resultf(check.Unknown, "cannot load the check's state (when each server went down): %v", err)
	}
	seen := since.update(snap, now)
	if err := state.Save(path, seen); err != nil {
		return check.Resultf(check.Unknown, "cannot save the check's state (when each server went down): %v", err)
	}
	held, holder := coord.Locked(cfg.LockPath())
	var keys []string
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if d := now.Sub(seen[k]); d >= opts.StuckAfter.D() && !held {
			warn = append(warn, fmt.Sprintf("%s down for %s with no rollout running", k, d.Truncate(time.Second)))
		}
	}
	switch {
	case len(crit) > 0:
		return check.Resultf(check.Critical, "%s", strings.Join(append(crit, append(unreadable, warn...)...), "; "))
	case readErr != nil && len(warn) == 0:
		return opts.Failure(readErr)
	case len(warn) > 0:
		return check.Resultf(check.Warning, "%s", strings.Join(append(warn, unreadable...), "; "))
	}
	msg := fmt.Sprintf("%d balancers, every upstream has at least min_up %d up; %d entries down", len(snap.Balancers()), cfg.MinUp, len(seen))
	if held {
		msg += "; rollout running: " + holder
	}
	return check.Resultf(check.OK, "%s", msg)
}

// belowMinUp names the upstreams with fewer than min_up servers serving,
// and the balancers that cannot be read.
func belowMinUp(cfg *config.Config, cl *outage.Cluster, snap balancer.Snapshot) (crit, unreadable []string) {
	for _, b := range snap.Balancers() {
		if err := snap.Err(b); err != nil {
			unreadable = append(unreadable, err.Error())
			continue
		}
		up := map[string]int{}
		total := map[string]int{}
		for _, s := range snap.Servers(b) {
			total[s.Upstream]++
			if balancer.Serving(s) {
				up[s.Upstream]++
			}
		}
		for _, u := range cl.Upstreams(b) {
			if up[u] < cfg.MinUp {
				crit = append(crit, fmt.Sprintf("%s/%s: %d of %d servers up < min_up %d", b, u, up[u], total[u], cfg.MinUp))
			}
		}
	}
	return crit, unreadable
}

// update is the memory after this read: each entry out of rotation with
// when it was first seen so; a balancer that cannot be read keeps its own.
func (since downSince) update(snap balancer.Snapshot, now time.Time) downSince {
	seen := downSince{}
	for _, b := range snap.Balancers() {
		if snap.Err(b) != nil {
			for k, t := range since { // keep what we cannot see now
				if strings.HasPrefix(k, b+"/") {
					seen[k] = t
				}
			}
			continue
		}
		for _, s := range snap.Servers(b) {
			if s.State == balancer.Up {
				continue
			}
			k := b + "/" + s.Upstream + "/" + s.Addr
			t, ok := since[k]
			if !ok {
				t = now
			}
			seen[k] = t
		}
	}
	return seen
}
