package main

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/coord"
	"github.com/sre-suite/mackerel-plugins/lib/balancer"
)

// fakeCoord is another deploy host's registrations as a Coordinator would
// report them, and a record of what this run took and released.
type fakeCoord struct {
	mu       sync.Mutex
	regs     []coord.Registration
	took     []string
	released []string
	lost     chan struct{}
	onTake   func()
}

func (f *fakeCoord) Lock(context.Context) (func(context.Context) error, error) {
	return func(context.Context) error { return nil }, nil
}

func (f *fakeCoord) Taken(context.Context) ([]coord.Registration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.regs), nil
}

func (f *fakeCoord) Take(_ context.Context, addrs []string) error {
	f.mu.Lock()
	f.took = append(f.took, addrs...)
	on := f.onTake
	f.mu.Unlock()
	if on != nil {
		on()
	}
	return nil
}

func (f *fakeCoord) Release(_ context.Context, addrs []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.released = append(f.released, addrs...)
	return nil
}

func (f *fakeCoord) Lost() <-chan struct{} { return f.lost }
func (f *fakeCoord) Close() error          { return nil }

func (f *fakeCoord) setRegs(regs ...coord.Registration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.regs = regs
}

// A server another live run holds is never picked: the batch waits until
// it is released and back, then deploys it; what this run took it releases.
func TestRegisteredServerIsWaitedFor(t *testing.T) {
	r := newRig(t, 2)
	for _, f := range r.fakes {
		f.set("down", r.addrs[0], balancer.Down)
	}
	fc := &fakeCoord{regs: []coord.Registration{{Addr: r.addrs[0], Host: "deploy2", RunID: "other", Since: time.Now(), Alive: true}}}
	var out bytes.Buffer
	e, _, _ := r.engine(RolloutOptions{}, &out)
	e.coord, e.runID = fc, "mine"
	go func() {
		time.Sleep(300 * time.Millisecond)
		for _, f := range r.fakes {
			f.set("up", r.addrs[0], balancer.Up)
		}
		fc.setRegs()
	}()
	if code := exitCode(e.Run()); code != exitOK {
		t.Fatalf("exit %d, want 0:\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "held by another deploy host: "+r.addrs[0]+" (taken by deploy2 run other") {
		t.Errorf("no wait naming the other host:\n%s", out.String())
	}
	if got := r.deployed(); len(got) != 2 {
		t.Errorf("deployed %v, want both", got)
	}
	slices.Sort(fc.took)
	slices.Sort(fc.released)
	if !slices.Equal(fc.took, fc.released) || len(fc.took) != 2 {
		t.Errorf("took %v, released %v: want both, each released", fc.took, fc.released)
	}
}

// A server out of rotation registered by a run whose lease is gone is not
// waited for: nobody knows its state, and the preflight refuses.
func TestDeadRunsServerIsRefused(t *testing.T) {
	r := newRig(t, 2)
	for _, f := range r.fakes {
		f.set("down", r.addrs[0], balancer.Down)
	}
	fc := &fakeCoord{regs: []coord.Registration{{Addr: r.addrs[0], Host: "deploy2", RunID: "other", Since: time.Now()}}}
	var out bytes.Buffer
	e, _, _ := r.engine(RolloutOptions{}, &out)
	e.coord, e.runID = fc, "mine"
	if code := exitCode(e.Run()); code != exitRefused {
		t.Fatalf("exit %d, want 3:\n%s", code, out.String())
	}
	if len(fc.took) != 0 || len(r.deployed()) != 0 {
		t.Errorf("took %v, deployed %v; want nothing", fc.took, r.deployed())
	}
}

// A lease lost during the take-out puts the batch back and stops the
// rollout with exit 1, saying why.
func TestLostLeaseStopsRollout(t *testing.T) {
	r := newRig(t, 2)
	r.top = `drain_wait = "1s"` + "\n" + `max_request_time = "1s"`
	fc := &fakeCoord{lost: make(chan struct{})}
	fc.onTake = func() { close(fc.lost) }
	var out bytes.Buffer
	e, _, _ := r.engine(RolloutOptions{}, &out)
	e.coord, e.runID = fc, "mine"
	if code := exitCode(e.Run()); code != exitFailed {
		t.Fatalf("exit %d, want 1:\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "coordination lease was lost") {
		t.Errorf("no word of the lost lease:\n%s", out.String())
	}
	if len(r.deployed()) != 0 {
		t.Errorf("deployed %v; want nothing", r.deployed())
	}
	r.wantStates(nil)
}
