package main

import (
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/balancer/balancertest"
)

// Issue 19 fix 4, end to end: deploy-tool stopped with SIGSTOP mid-drain
// for longer than drain_timeout reports NOT drained, and (by default) puts
// the server back and deploys nothing, although HAProxy reads 0 in flight
// when it runs again. A slow request keeps the drain going until the stop.
func TestDrainStoppedPastDrainTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	t.Parallel()
	a := startApps(t, 1, "v1")
	h := balancertest.StartHAProxy(t, a.addrs)
	path := e2eConfig(t, a, haproxyTOML(h), "v2", "min_up = 0\ndrain_timeout = \"2s\"\nmax_request_time = \"2s\"\n")
	c, out := toolCmd(t, "rollout", "--config", path) // built before the slow request starts
	slow := make(chan error, 1)
	go func() {
		client := &http.Client{Timeout: 10 * time.Second}
		resp, err := client.Get(h.Frontend + "/slow?ms=2500")
		if err == nil {
			resp.Body.Close()
		}
		slow <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if s := listOf(t, haproxyConfig(h)); len(s) == 1 && s[0].Active > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the slow request never showed in flight on HAProxy")
		}
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, out, "down on every balancer (read back)", 30*time.Second)
	c.Process.Signal(syscall.SIGSTOP)
	// The stop is the event under test: 4.5 s, more than twice
	// drain_timeout, during which the slow request (2.5 s) ends.
	time.Sleep(4500 * time.Millisecond)
	c.Process.Signal(syscall.SIGCONT)
	code := processExit(t, c.Wait())
	// Past the bound, whatever the round read when it ran again (the slow
	// request had ended, or a read begun before the stop still had it).
	wantExit(t, code, out.String(), exitFailed, "not deployed, put back up")
	if o := out.String(); !strings.Contains(o, "NOT drained: the drain ran 4.") || !strings.Contains(o, "past drain_timeout 2s") {
		t.Errorf("no NOT drained past drain_timeout after 4+ s")
	}
	if err := <-slow; err != nil {
		t.Errorf("the slow request: %v", err)
	}
	wantAllUp(t, haproxyConfig(h), a.addrs)
	if v := a.versions(); len(v) != 1 || v[0] != "v1" {
		t.Errorf("versions %v, want v1: nothing deployed", v)
	}
}
