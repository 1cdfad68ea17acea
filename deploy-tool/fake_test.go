package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/outage"
	"github.com/sre-suite/mackerel-plugins/lib/balancer"
)

// fakeBalancer is an in-memory balancer for the engine's unit tests. It
// behaves like HAProxy (drain then maint, reports active) when active is
// true, and like ngx_dynamic_upstream otherwise.
type fakeBalancer struct {
	mu          sync.Mutex
	name        string
	upstream    string
	active      bool
	servers     []balancer.Server
	unreachable bool
	failDrain   map[string]bool
	// loseDrain applies a drain, then loses the answer (a timeout, or a
	// 502 after applying); failUp refuses an up without applying it.
	loseDrain map[string]bool
	failUp    map[string]bool
	// afterLost runs after an answer was lost, unlocked.
	afterLost func()
	calls     []string
	maxNotUp  int
	// hook runs after every change (op is drain, down or up), unlocked.
	hook func(op, addr string)
}

func newFake(name string, active bool, addrs ...string) *fakeBalancer {
	f := &fakeBalancer{name: name, upstream: "backend", active: active, failDrain: map[string]bool{}, loseDrain: map[string]bool{}, failUp: map[string]bool{}}
	for _, a := range addrs {
		act := -1
		if active {
			act = 0
		}
		f.servers = append(f.servers, balancer.Server{Upstream: f.upstream, Addr: a, State: balancer.Up, Weight: 1, Active: act})
	}
	return f
}

func (f *fakeBalancer) Name() string        { return f.name }
func (f *fakeBalancer) Upstreams() []string { return []string{f.upstream} }
func (f *fakeBalancer) ReportsActive() bool { return f.active }

func (f *fakeBalancer) List(ctx context.Context) ([]balancer.Server, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unreachable {
		return nil, errors.New("connection refused")
	}
	return append([]balancer.Server(nil), f.servers...), nil
}

func (f *fakeBalancer) set(op, addr string, st balancer.State) error {
	f.mu.Lock()
	if f.unreachable {
		f.mu.Unlock()
		return errors.New("connection refused")
	}
	if op == "drain" && f.failDrain[addr] {
		f.mu.Unlock()
		return fmt.Errorf("%s: server %s: injected failure", f.name, addr)
	}
	if op == "up" && f.failUp[addr] {
		f.mu.Unlock()
		return fmt.Errorf("%s: server %s: 502 Bad Gateway", f.name, addr)
	}
	found := false
	notUp := 0
	for i := range f.servers {
		if f.servers[i].Addr == addr {
			f.servers[i].State = st
			found = true
		}
		if f.servers[i].State != balancer.Up {
			notUp++
		}
	}
	f.calls = append(f.calls, op+" "+addr)
	f.maxNotUp = max(f.maxNotUp, notUp)
	hook := f.hook
	lost, after := op == "drain" && f.loseDrain[addr], f.afterLost
	f.mu.Unlock()
	if !found {
		return fmt.Errorf("%s: no such server %s", f.name, addr)
	}
	if lost {
		if after != nil {
			after()
		}
		return fmt.Errorf("%s: server %s: context deadline exceeded (the change was applied)", f.name, addr)
	}
	if hook != nil {
		hook(op, addr)
	}
	return nil
}

func (f *fakeBalancer) Down(ctx context.Context, upstream, addr string) error {
	return f.set("down", addr, balancer.Down)
}

func (f *fakeBalancer) Drain(ctx context.Context, upstream, addr string) error {
	if f.active {
		return f.set("drain", addr, balancer.Draining)
	}
	return f.set("drain", addr, balancer.Down)
}

func (f *fakeBalancer) Up(ctx context.Context, upstream, addr string) error {
	return f.set("up", addr, balancer.Up)
}

func (f *fakeBalancer) state(addr string) balancer.State {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.servers {
		if s.Addr == addr {
			return s.State
		}
	}
	return ""
}

func (f *fakeBalancer) setActive(addr string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.servers {
		if f.servers[i].Addr == addr {
			f.servers[i].Active = n
		}
	}
}

// reload puts every server back up, as `nginx -s reload` does to the module's flags.
func (f *fakeBalancer) reload() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.servers {
		f.servers[i].State = balancer.Up
	}
}

func (f *fakeBalancer) setUnreachable(v bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unreachable = v
}

func (f *fakeBalancer) callLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// useFakes makes outage.NewBalancer return the given fakes by name (see
// useBalancers: not from a parallel test).
func useFakes(t *testing.T, fakes ...*fakeBalancer) {
	t.Helper()
	byName := map[string]balancer.Balancer{}
	for _, f := range fakes {
		byName[f.name] = f
	}
	useBalancers(t, byName)
}

// useBalancers makes outage.NewBalancer return the given balancers by name.
// It swaps a package variable, so a test that calls it (through newRig too)
// must not call t.Parallel: two such tests at once take each other's fakes.
func useBalancers(t *testing.T, bals map[string]balancer.Balancer) {
	t.Helper()
	old := outage.NewBalancer
	outage.NewBalancer = func(c balancer.Config) (balancer.Balancer, error) {
		b, ok := bals[c.Name]
		if !ok {
			return nil, fmt.Errorf("no fake named %q", c.Name)
		}
		return b, nil
	}
	t.Cleanup(func() { outage.NewBalancer = old })
}
