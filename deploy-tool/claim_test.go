package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/balancer"
)

func TestMarkWeightKeepsTheOriginal(t *testing.T) {
	for _, c := range []struct{ token, orig int }{{1, 1}, {maxToken, 999}, {4242, 5}} {
		w := markWeight(c.token, c.orig)
		if w >= 1_000_000_000 {
			t.Errorf("markWeight(%d, %d) = %d: more than nine digits, the Lua drop-in refuses it", c.token, c.orig, w)
		}
		tok, orig, ok := parseMarkWeight(w)
		if !ok || tok != c.token || orig != c.orig {
			t.Errorf("parseMarkWeight(%d) = %d, %d, %v; want %d, %d", w, tok, orig, ok, c.token, c.orig)
		}
	}
	for _, w := range []int{0, 1, 100, 999, markWeightBase, markWeightBase + 999} {
		if _, _, ok := parseMarkWeight(w); ok {
			t.Errorf("weight %d is read as a claim mark", w)
		}
	}
}

// markingFake is a fake balancer that keeps claim marks, like nginx's
// weight or HAProxy's variables.
type markingFake struct {
	*fakeBalancer
	mmu    sync.Mutex
	marks  map[string]int
	onMark func(addr string, token int)
	// clearedForeign records marks of another host that this run cleared.
	clearedForeign []string
	foreign        int
}

func (m *markingFake) mark(_ context.Context, e balancer.Server) (int, error) {
	m.mmu.Lock()
	defer m.mmu.Unlock()
	return m.marks[e.Addr], nil
}

func (m *markingFake) setMark(_ context.Context, e balancer.Server, token int) error {
	m.mmu.Lock()
	m.marks[e.Addr] = token
	hook := m.onMark
	m.mmu.Unlock()
	if hook != nil {
		hook(e.Addr, token)
	}
	return nil
}

func (m *markingFake) clearMark(_ context.Context, e balancer.Server) error {
	m.mmu.Lock()
	defer m.mmu.Unlock()
	if m.foreign != 0 && m.marks[e.Addr] == m.foreign {
		m.clearedForeign = append(m.clearedForeign, e.Addr)
	}
	delete(m.marks, e.Addr)
	return nil
}

// Two hosts mark the same server in the same instant; the other host's
// mark lands last. This host must find it, leave that server to the other
// host (never put it back up while the other holds it), wait until the
// other puts it back, and then deploy it once.
func TestSameServerRaceOnlyOneProceeds(t *testing.T) {
	r := newRig(t, 2)
	const other = 777
	m := &markingFake{fakeBalancer: r.fakes[0], marks: map[string]int{}, foreign: other}
	var once sync.Once
	var mu sync.Mutex
	otherHolds := false
	var violations []string
	released := make(chan struct{})
	m.onMark = func(addr string, token int) {
		if addr != r.addrs[0] || token == other {
			return
		}
		once.Do(func() {
			// The other host's mark lands after this host's.
			mu.Lock()
			otherHolds = true
			mu.Unlock()
			m.setMark(context.Background(), balancer.Server{Addr: addr}, other)
			go func() {
				defer close(released)
				time.Sleep(1500 * time.Millisecond)
				mu.Lock()
				otherHolds = false
				mu.Unlock()
				m.mmu.Lock()
				delete(m.marks, addr) // the other host's own clearing
				m.mmu.Unlock()
				m.fakeBalancer.Up(context.Background(), "backend", addr)
			}()
		})
	}
	r.fakes[0].hook = func(op, addr string) {
		mu.Lock()
		defer mu.Unlock()
		if op == "up" && addr == r.addrs[0] && otherHolds {
			violations = append(violations, "this run put "+addr+" up on nginx1 while the other host held it")
		}
	}
	path := r.write()
	useBalancers(t, map[string]balancer.Balancer{"nginx1": m, "haproxy1": r.fakes[1]})
	var out bytes.Buffer
	code := run([]string{"rollout", "--config", path}, strings.NewReader(""), &out, &out)
	<-released
	t.Logf("exit %d\n%s", code, out.String())
	if code != exitOK {
		t.Errorf("exit %d, want 0", code)
	}
	for _, want := range []string{
		fmt.Sprintf("claim lost: %s on nginx1/backend carries another deploy host's claim mark %d", r.addrs[0], other),
		"waiting (up to claim.wait",
		"held by another deploy host: " + r.addrs[0] + " (claim mark 777 on nginx1/backend)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if got := r.deployed(); strings.Join(got, ",") != port(r.addrs[0])+","+port(r.addrs[1]) {
		t.Errorf("deployed %v, want each server once, in order", got)
	}
	mu.Lock()
	for _, v := range violations {
		t.Error(v)
	}
	mu.Unlock()
	if len(m.clearedForeign) > 0 {
		t.Errorf("this run cleared the other host's mark on %v", m.clearedForeign)
	}
	r.wantStates(nil)
	if len(m.marks) > 0 {
		t.Errorf("marks left: %v", m.marks)
	}
}

// useBalancers makes newBalancer return the given balancers by name.
func useBalancers(t *testing.T, bals map[string]balancer.Balancer) {
	t.Helper()
	old := newBalancer
	newBalancer = func(c balancer.Config) (balancer.Balancer, error) {
		b, ok := bals[c.Name]
		if !ok {
			return nil, fmt.Errorf("no fake named %q", c.Name)
		}
		return b, nil
	}
	t.Cleanup(func() { newBalancer = old })
}
