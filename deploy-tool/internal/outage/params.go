package outage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/config"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/report"
	"github.com/sre-suite/mackerel-plugins/lib/balancer"
	"github.com/sre-suite/mackerel-plugins/lib/state"
)

// nginx's passive health check (max_fails, fail_timeout) counts the
// requests that an app restart cuts as failures, and excludes the server for
// fail_timeout; ngx_dynamic_upstream's up= does not clear that. So before a
// server is taken out, deploy-tool sets its max_fails to 0 where it is above
// 0 (failures then exclude nothing), saves the original values in the state
// directory first, and puts them back only once the server is in rotation
// again, has answered its health check, and fail_timeout has passed since it
// came back: failures counted meanwhile (nginx keeps counting with
// max_fails 0) are then older than fail_timeout and exclude nothing.

// failureSetter is a balancer whose passive health check can be set per
// server at run time (ngx_dynamic_upstream and the drop-in).
type failureSetter interface {
	SetFailures(ctx context.Context, upstream, addr string, maxFails int, failTimeout time.Duration) error
}

// SavedFailures is one entry whose max_fails deploy-tool set to 0, with the
// values to put back.
type SavedFailures struct {
	Balancer    string    `json:"balancer"`
	Upstream    string    `json:"upstream"`
	Addr        string    `json:"addr"`   // as the balancer prints it
	Server      string    `json:"server"` // as the config names it
	MaxFails    int       `json:"max_fails"`
	FailTimeout int       `json:"fail_timeout_s"`
	Changed     time.Time `json:"changed"`
	// UpSince is when the server was seen back in rotation after its
	// action; zero while it is out.
	UpSince time.Time `json:"up_since,omitzero"`
}

func (s SavedFailures) wait() time.Duration { return time.Duration(s.FailTimeout) * time.Second }

func (s SavedFailures) String() string {
	return fmt.Sprintf("%s on %s/%s has max_fails 0 (was max_fails=%d fail_timeout=%ds)", s.Addr, s.Balancer, s.Upstream, s.MaxFails, s.FailTimeout)
}

func (s SavedFailures) same(bal, upstream, addr string) bool {
	return s.Balancer == bal && s.Upstream == upstream && s.Addr == addr
}

// failureGuard keeps the saved values (a file in the state directory, so
// that a run that was killed, `--resume`, `down` and `up` put them back).
type failureGuard struct {
	path   string
	log    *report.Progress
	health config.HealthConfig
	cfgs   []config.Server

	mu      sync.Mutex
	saved   []SavedFailures
	loadErr error
}

func newFailureGuard(cfg *config.Config, log *report.Progress) *failureGuard {
	g := &failureGuard{path: cfg.FailuresPath(), log: log, health: cfg.Health, cfgs: cfg.Servers}
	g.saved, g.loadErr = loadSavedFailures(g.path)
	return g
}

func loadSavedFailures(path string) ([]SavedFailures, error) {
	var f struct {
		Saved []SavedFailures `json:"saved"`
	}
	if err := state.Load(path, &f); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("saved max_fails values: %w (move it away to go on; the values in it are the ones to put back by hand)", err)
	}
	return f.Saved, nil
}

// save writes the file, or removes it when nothing is saved. Called locked.
func (g *failureGuard) save() error {
	if len(g.saved) == 0 {
		if err := os.Remove(g.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("saved max_fails values: %w", err)
		}
		return nil
	}
	err := state.Save(g.path, struct {
		Saved []SavedFailures `json:"saved"`
	}{g.saved})
	if err != nil {
		return fmt.Errorf("saved max_fails values: %w", err)
	}
	return nil
}

// disable sets max_fails 0 on one entry that is about to be taken out, after
// saving its values (kept from an earlier save if there is one: a reload may
// have put the file's values back since). A nil guard (unit tests), a
// balancer without the parameters, or max_fails 0 already: nothing to do.
func (g *failureGuard) disable(t target, e balancer.Server, server string) error {
	if g == nil {
		return nil
	}
	fs, ok := t.bal.(failureSetter)
	if !ok || e.MaxFails <= 0 || e.FailTimeout < 0 {
		return nil
	}
	if g.loadErr != nil {
		return g.loadErr
	}
	g.mu.Lock()
	found := false
	for i := range g.saved {
		if g.saved[i].same(t.bal.Name(), t.upstream, t.addr) {
			g.saved[i].UpSince = time.Time{}
			found = true
		}
	}
	if !found {
		g.saved = append(g.saved, SavedFailures{Balancer: t.bal.Name(), Upstream: t.upstream, Addr: t.addr, Server: server,
			MaxFails: e.MaxFails, FailTimeout: int(e.FailTimeout / time.Second), Changed: time.Now().UTC()})
	}
	err := g.save()
	g.mu.Unlock()
	if err != nil {
		return err // never change what could not be saved
	}
	ctx, cancel := callCtx()
	defer cancel()
	if err := fs.SetFailures(ctx, t.upstream, t.addr, 0, e.FailTimeout); err != nil {
		return fmt.Errorf("set max_fails 0 for %s on %s: %w", t.addr, t, err)
	}
	return nil
}

// cameUp records that the servers are in rotation again after their action.
func (g *failureGuard) cameUp(servers []config.Server) {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now().UTC()
	changed := false
	for i := range g.saved {
		for _, s := range servers {
			if sameAddr(g.saved[i].Addr, s.Addr) && g.saved[i].UpSince.IsZero() {
				g.saved[i].UpSince, changed = now, true
			}
		}
	}
	if changed {
		if err := g.save(); err != nil {
			g.log.Printf("WARNING: %v", err)
		}
	}
}

// restoreDue puts back the saved values that are due: the server is in
// rotation, answers its health check, and fail_timeout has passed since it
// came back (at once for the servers in now: their app was not touched).
// Servers in skip are left alone (they are about to be taken out). It
// returns how long until the next saved entry is due (0: none waits).
func (g *failureGuard) restoreDue(cl *Cluster, skip, now []config.Server) time.Duration {
	if g == nil || g.loadErr != nil {
		return 0
	}
	g.mu.Lock()
	pending := len(g.saved) > 0
	g.mu.Unlock()
	if !pending {
		return 0
	}
	snap, _ := cl.Read()
	g.mu.Lock()
	defer g.mu.Unlock()
	var keep []SavedFailures
	var next time.Duration
	for _, s := range g.saved {
		if inServers(s.Addr, skip) {
			keep = append(keep, s)
			continue
		}
		wait, done := g.restoreOne(cl, snap, &s, inServers(s.Addr, now))
		if !done {
			keep = append(keep, s)
			if wait > 0 && (next == 0 || wait < next) {
				next = wait
			}
		}
	}
	g.saved = keep
	if err := g.save(); err != nil {
		g.log.Printf("WARNING: %v", err)
	}
	return next
}

// restoreOne decides for one saved entry (locked): done when the values
// are back (or a reload put them back), else how long it still waits (0:
// waiting for the server to come back up, not for time).
func (g *failureGuard) restoreOne(cl *Cluster, snap Snapshot, s *SavedFailures, untouched bool) (wait time.Duration, done bool) {
	if snap.Err(s.Balancer) != nil {
		return 0, false
	}
	var cur *balancer.Server
	for _, e := range snap.Entries(s.Balancer, s.Addr) {
		if e.Upstream == s.Upstream {
			cur = &e
		}
	}
	switch {
	case cur == nil:
		return 0, false
	case cur.MaxFails != 0:
		g.log.Printf("%s on %s/%s has max_fails=%d again (balancer reloaded?): nothing to put back", s.Addr, s.Balancer, s.Upstream, cur.MaxFails)
		return 0, true
	case cur.State != balancer.Up:
		s.UpSince = time.Time{}
		return 0, false
	case s.UpSince.IsZero():
		s.UpSince = time.Now().UTC()
	}
	if left := s.wait() - time.Since(s.UpSince); left > 0 && !untouched {
		return left, false
	}
	if ok, why := g.answers(s.Server); !ok {
		g.log.Printf("WARNING: %s does not answer its health check (%s): max_fails stays 0 on %s/%s for now", s.Server, why, s.Balancer, s.Upstream)
		return time.Second, false
	}
	fs, ok := balancerNamed(cl, s.Balancer).(failureSetter)
	if !ok {
		return 0, false
	}
	ctx, cancel := callCtx()
	err := fs.SetFailures(ctx, s.Upstream, s.Addr, s.MaxFails, s.wait())
	cancel()
	if err != nil {
		g.log.Printf("WARNING: putting back max_fails=%d fail_timeout=%ds on %s/%s for %s: %v", s.MaxFails, s.FailTimeout, s.Balancer, s.Upstream, s.Addr, err)
		return time.Second, false
	}
	g.log.Printf("max_fails=%d fail_timeout=%ds put back on %s/%s for %s (read back)", s.MaxFails, s.FailTimeout, s.Balancer, s.Upstream, s.Addr)
	return 0, true
}

// answers asks the server's health URL once (no URL: it passes; the time
// condition then stands alone).
func (g *failureGuard) answers(server string) (bool, string) {
	if g.health.URL == "" {
		return true, ""
	}
	srv := config.Server{Addr: server}
	for _, c := range g.cfgs {
		if c.Addr == server {
			srv = c
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.health.Timeout.D())
	defer cancel()
	return probe(ctx, healthClient(g.health.Timeout.D()), config.ExpandURL(g.health.URL, srv), g.health.Status)
}

// settle puts back every saved value whose server is in rotation, waiting
// for their fail_timeout (and no longer once ctx ends).
func (g *failureGuard) settle(ctx context.Context, cl *Cluster) {
	if g == nil {
		return
	}
	var deadline time.Time
	for {
		next := g.restoreDue(cl, nil, nil)
		if next == 0 {
			return
		}
		if deadline.IsZero() {
			// A server that stops answering its health check is not waited
			// for forever: its values stay saved and reported.
			deadline = time.Now().Add(next + 30*time.Second)
			g.log.Printf("waiting %.1fs (fail_timeout since it came back) before putting back max_fails", next.Seconds())
		}
		if time.Now().After(deadline) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(next, time.Second)):
		}
	}
}

// Left describes every entry whose values are not put back yet.
func (g *failureGuard) Left() []string {
	if g == nil {
		return nil
	}
	if g.loadErr != nil {
		return []string{g.loadErr.Error()}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, s := range g.saved {
		out = append(out, s.String())
	}
	sort.Strings(out)
	return out
}

// reportLeft prints, at the end of a run, the entries still changed.
func (g *failureGuard) reportLeft(cfgPath string) {
	left := g.Left()
	if len(left) == 0 {
		return
	}
	g.log.Printf("CHANGED PARAMETERS LEFT: %s; the next run of deploy-tool (rollout, up) puts them back once the server is up and fail_timeout has passed (`deploy-tool status --config %s` lists them)",
		strings.Join(left, "; "), cfgPath)
}

func inServers(addr string, servers []config.Server) bool {
	for _, s := range servers {
		if sameAddr(addr, s.Addr) {
			return true
		}
	}
	return false
}

func balancerNamed(cl *Cluster, name string) balancer.Balancer {
	for _, b := range cl.bals {
		if b.Name() == name {
			return b
		}
	}
	return nil
}
