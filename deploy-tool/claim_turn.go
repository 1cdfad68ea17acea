package main

// The turn: where a balancer can hold a note that no traffic depends on
// (HAProxy's process variables), the deploy hosts take turns for the short
// step "read every balancer, check the budget, mark the batch down", with
// Fischer's lock on one variable: write your name, wait claim.delay, and go
// on only if your name is still there. A second host then reads the first
// one's servers already down, and never more than max_unavailable servers
// are out, not even for a moment. Without such a balancer (nginx only) the
// claim's check after the mark-down (claim.go) is the only guard: two hosts
// may then have a batch out each for up to claim.delay before one puts its
// batch back.

import (
	"fmt"
	"time"
)

// turnVar is the variable that holds the turn, on the first HAProxy
// balancer of the config.
const turnVar = "proc.deploy_tool_turn"

// turnStale is how long a turn held by the same holder is respected: a host
// that died holding it does not block the others for longer.
const turnStale = time.Minute

type turn struct {
	m       haproxyMarker
	holder  string
	seen    string
	seenAt  time.Time
	counter int
}

// turnKeeper is the turn register, nil without an HAProxy balancer.
func (c *Claim) turnKeeper() *turn {
	if c.turnReg != nil {
		return c.turnReg
	}
	for _, b := range c.cl.bals {
		if m, ok := markerOf(b).(haproxyMarker); ok {
			c.turnReg = &turn{m: m}
			return c.turnReg
		}
	}
	return nil
}

// take waits for the turn (up to deadline), with jitter. release gives it
// back; it is a no-op when there is no turn register.
func (e *Engine) takeTurn(deadline time.Time) (release func(), err error) {
	c := e.claims()
	t := c.turnKeeper()
	if t == nil {
		return func() {}, nil
	}
	delay := e.cfg.Claim.Delay.D()
	for attempt := 1; ; attempt++ {
		readAt := time.Now()
		cur, err := t.get()
		if err != nil {
			return nil, fmt.Errorf("read the deploy hosts' turn: %w", err)
		}
		if cur != t.seen {
			t.seen, t.seenAt = cur, time.Now()
			if cur != "" {
				e.log.Printf("waiting for the deploy hosts' turn (%s on balancer %s), held by run %s", turnVar, t.m.h.Name(), cur)
			}
		}
		if cur == "" || time.Since(t.seenAt) > turnStale {
			t.counter++
			mine := fmt.Sprintf("%d_%d", c.token, t.counter)
			if err := t.set(mine); err != nil {
				return nil, fmt.Errorf("take the deploy hosts' turn: %w", err)
			}
			// Fischer's condition, for this host: read to write within delay.
			if time.Since(readAt) < delay {
				select {
				case <-e.stop:
					t.releaseIf(mine)
					return nil, errInterrupted
				case <-time.After(delay):
				}
				if now, err := t.get(); err == nil && now == mine {
					t.holder = mine
					return func() { t.releaseIf(mine) }, nil
				}
			} else {
				t.releaseIf(mine)
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("gave up after waiting claim.wait %v for the deploy hosts' turn, held by %q", e.cfg.Claim.Wait.D(), cur)
		}
		if err := e.backOff(attempt); err != nil {
			return nil, err
		}
	}
}

func (t *turn) get() (string, error) {
	ctx, cancel := callCtx()
	defer cancel()
	v, _, err := t.m.h.ProcVar(ctx, turnVar)
	return v, err
}

func (t *turn) set(v string) error {
	ctx, cancel := callCtx()
	defer cancel()
	return t.m.h.SetProcVar(ctx, turnVar, v)
}

// releaseIf clears the turn if it is still mine.
func (t *turn) releaseIf(mine string) {
	if cur, err := t.get(); err == nil && cur == mine {
		t.set("")
	}
}

// downDone gives the turn back once the batch is marked down (or was not).
func (c *Claim) downDone() {
	if c.release != nil {
		c.release()
		c.release = nil
	}
}
