// Package plan owns the arithmetic of a rollout, pure of any I/O: how the
// servers are cut into batches, and whether a batch keeps the budget
// (max_unavailable, min_up) against balancers as read.
package plan

import (
	"fmt"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/config"
	"github.com/sre-suite/mackerel-plugins/lib/balancer"
)

// Batches splits the servers to roll out: a canary batch first when
// configured, then batches of the configured size, none larger than
// max_unavailable.
func Batches(cfg *config.Config, plan []config.Server) ([][]config.Server, error) {
	size := cfg.Batch.Size(len(cfg.Servers))
	if size > cfg.MaxUnavailable {
		return nil, fmt.Errorf("batch %s of %d servers is %d, more than max_unavailable %d", cfg.Batch, len(cfg.Servers), size, cfg.MaxUnavailable)
	}
	var out [][]config.Server
	rest := plan
	if cfg.Canary > 0 && len(rest) > 0 {
		n := min(cfg.Canary, len(rest))
		out = append(out, rest[:n])
		rest = rest[n:]
	}
	for len(rest) > 0 {
		n := min(size, len(rest))
		out = append(out, rest[:n])
		rest = rest[n:]
	}
	return out, nil
}

// Upstreams names a balancer's upstreams (the config's, listed or not).
type Upstreams func(balancer string) []string

// CheckBudget refuses a batch that would take more than max_unavailable
// servers out, or leave an upstream with fewer than min_up up, counting
// what the balancers already have down and the servers other runs hold
// (held: registered, maybe not yet marked down).
func CheckBudget(cfg *config.Config, s balancer.Snapshot, upstreams Upstreams, batch, held []config.Server) error {
	s = s.AssumeNotServing(Addrs(held))
	notUp := s.NotServing()
	unavailable := len(notUp)
	for _, srv := range batch {
		counted := false
		for _, b := range s.Balancers() {
			for _, en := range s.Entries(b, srv.Addr) {
				if notUp[en.Addr] {
					counted = true
				}
			}
		}
		if !counted {
			unavailable++
		}
	}
	if unavailable > cfg.MaxUnavailable {
		return fmt.Errorf("this would make %d servers unavailable (%d already down), more than max_unavailable %d", unavailable, len(notUp), cfg.MaxUnavailable)
	}
	inBatch := map[string]bool{}
	for _, srv := range batch {
		inBatch[srv.Addr] = true
	}
	for _, b := range s.Balancers() {
		up := map[string]int{}
		taken := map[string]int{}
		for _, en := range s.Servers(b) {
			if !balancer.Serving(en) {
				continue
			}
			up[en.Upstream]++
			for a := range inBatch {
				if balancer.SameAddr(en.Addr, a) {
					taken[en.Upstream]++
				}
			}
		}
		for _, u := range upstreams(b) {
			if left := up[u] - taken[u]; taken[u] > 0 && left < cfg.MinUp {
				return fmt.Errorf("this would leave %d servers up in %s/%s (%d up now), fewer than min_up %d", left, b, u, up[u], cfg.MinUp)
			}
		}
	}
	return nil
}

// Addrs are the servers' addresses.
func Addrs(servers []config.Server) []string {
	out := make([]string, len(servers))
	for i, s := range servers {
		out[i] = s.Addr
	}
	return out
}
