package plan

import (
	"context"
	"strings"
	"testing"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/config"
	"github.com/sre-suite/mackerel-plugins/lib/balancer"
)

func servers(addrs ...string) []config.Server {
	var out []config.Server
	for _, a := range addrs {
		out = append(out, config.Server{Addr: a})
	}
	return out
}

func TestBatches(t *testing.T) {
	t.Parallel()
	cfg := &config.Config{Batch: config.BatchSize{N: 2}, MaxUnavailable: 2, Canary: 1}
	got, err := Batches(cfg, servers("a:1", "b:1", "c:1", "d:1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || len(got[0]) != 1 || len(got[1]) != 2 || len(got[2]) != 1 {
		t.Errorf("batches %v, want 1 (canary), 2, 1", got)
	}
	all := servers("a:1", "b:1", "c:1", "d:1")
	cfg = &config.Config{Batch: config.BatchSize{Percent: 50}, MaxUnavailable: 1, Servers: all}
	if _, err := Batches(cfg, all); err == nil || !strings.Contains(err.Error(), "more than max_unavailable 1") {
		t.Errorf("50%% of 4 with max_unavailable 1: %v", err)
	}
}

// listed is a balancer that lists what it is given.
type listed struct{ servers []balancer.Server }

func (l listed) Name() string                                    { return "lb" }
func (l listed) Upstreams() []string                             { return []string{"app"} }
func (l listed) ReportsActive() bool                             { return false }
func (l listed) List(context.Context) ([]balancer.Server, error) { return l.servers, nil }
func (l listed) Down(context.Context, string, string) error      { return nil }
func (l listed) Drain(context.Context, string, string) error     { return nil }
func (l listed) Up(context.Context, string, string) error        { return nil }

func TestCheckBudget(t *testing.T) {
	t.Parallel()
	var list []balancer.Server
	for _, a := range []string{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"} {
		list = append(list, balancer.Server{Upstream: "app", Addr: a, State: balancer.Up})
	}
	snap, err := balancer.ReadAll(context.Background(), []balancer.Balancer{listed{list}})
	if err != nil {
		t.Fatal(err)
	}
	ups := func(string) []string { return []string{"app"} }
	cfg := &config.Config{MaxUnavailable: 1, MinUp: 2}
	one := servers("10.0.0.1:80")
	if err := CheckBudget(cfg, snap, ups, one, nil); err != nil {
		t.Errorf("one of three out: %v", err)
	}
	// Another run holds a server it has not marked down yet: it counts.
	if err := CheckBudget(cfg, snap, ups, one, servers("10.0.0.2:80")); err == nil || !strings.Contains(err.Error(), "more than max_unavailable 1") {
		t.Errorf("with one held by another run: %v", err)
	}
	cfg.MaxUnavailable = 2
	if err := CheckBudget(cfg, snap, ups, servers("10.0.0.1:80", "10.0.0.2:80"), nil); err == nil || !strings.Contains(err.Error(), "fewer than min_up 2") {
		t.Errorf("two of three out with min_up 2: %v", err)
	}
}
