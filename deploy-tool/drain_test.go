package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/balancer"
)

// Over a balancer without in-flight count, a timed drain shorter than
// max_request_time, or without max_request_time, is refused before
// anything is touched; the app's figure or a balancer that counts lifts it.
func TestTimedDrainMustCoverMaxRequestTime(t *testing.T) {
	for _, c := range []struct {
		top  string
		want string // "" = accepted
	}{
		{`drain_wait = "1s"` + "\n" + `max_request_time = "3s"` + "\n" + `drain_timeout = "5s"`, "drain_wait 1s is shorter than max_request_time 3s, and balancer nginx1 reports no in-flight count"},
		{`drain_wait = "1s"` + "\n" + `max_request_time = "0s"`, "set max_request_time"},
		{`drain_wait = "300ms"` + "\n" + `max_request_time = "300ms"`, ""},
		{`drain_wait = "0s"` + "\n" + `max_request_time = "2s"` + "\n" + `drain = { inflight_command = "echo 0" }`, ""},
	} {
		r := newRig(t, 2)
		r.top = c.top
		code, out := r.rollout()
		if c.want == "" {
			if code != exitOK {
				t.Errorf("%s: exit %d, want 0\n%s", c.top, code, out)
			}
			continue
		}
		if code != exitRefused || !strings.Contains(out, c.want) || !strings.Contains(out, "nothing was touched") {
			t.Errorf("%s: exit %d, want %d with %q\n%s", c.top, code, exitRefused, c.want, out)
		}
		if d := r.deployed(); len(d) != 0 {
			t.Errorf("%s: deployed %v after a refusal", c.top, d)
		}
		for _, f := range r.fakes {
			if len(f.calls) != 0 {
				t.Errorf("%s: %s was changed: %v", c.top, f.name, f.calls)
			}
		}
	}
}

// With an app figure the drain lasts until the app reads 0 (twice), not
// drain_wait, and an unreadable figure keeps it waiting up to drain_timeout.
func TestDrainWaitsForTheAppsFigure(t *testing.T) {
	var busy atomic.Int64
	busy.Store(3)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := busy.Load()
		if n > 0 {
			busy.Add(-1)
		}
		fmt.Fprintf(w, "%d\n", n)
	}))
	defer app.Close()
	r := newRig(t, 1)
	r.fakes = r.fakes[:1] // the nginx-like one: no in-flight count
	// A generous drain_timeout: this part is about waiting for the figure,
	// and a busy machine can stretch five reads past the rig's 2 s.
	r.top = fmt.Sprintf("min_up = 0\ndrain_wait = \"0s\"\ndrain_timeout = \"30s\"\ndrain = { inflight_url = %q }", app.URL+"/inflight?port={port}")
	code, out := r.rollout()
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "drained in") || !strings.Contains(out, "in flight 0 on the app (inflight_url)") {
		t.Errorf("the report does not say the app's figure read 0:\n%s", out)
	}
	if busy.Load() != 0 {
		t.Errorf("the drain ended while the app still had %d in flight", busy.Load())
	}

	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ready\n")
	}))
	defer broken.Close()
	r = newRig(t, 1)
	r.fakes = r.fakes[:1]
	r.top = fmt.Sprintf("min_up = 0\ndrain_wait = \"0s\"\ndrain_timeout = \"300ms\"\ndrain = { inflight_url = %q }", broken.URL)
	code, out = r.rollout()
	if code != exitFailed || !strings.Contains(out, "requests in flight unknown (in-flight figure of") || !strings.Contains(out, `want one number`) ||
		!strings.Contains(out, "NOT drained: drain_timeout 300ms reached") || strings.Contains(out, "drained in") || strings.Contains(out, "1 requests") {
		t.Errorf("an unreadable figure: exit %d, want 1 with the reason, no figure and no \"drained\":\n%s", code, out)
	}
	if d := r.deployed(); len(d) != 0 {
		t.Errorf("deployed %v after a drain that timed out", d)
	}
}

// Issue 19 fix 1: by default a drain ended by drain_timeout does not
// deploy: the server is put back, the rollout stops with exit 1, and the
// output says how many requests were in flight and where. With
// on_drain_timeout = "deploy" it goes on, and the summary and the final
// line say NOT drained.
func TestDrainTimeoutDoesNotDeploy(t *testing.T) {
	r := newRig(t, 1)
	r.top = "min_up = 0\ndrain_timeout = \"300ms\""
	r.fakes[1].setActive(r.addrs[0], 2) // never drains
	code, out := r.rollout()
	want := "NOT drained: drain_timeout 300ms reached after"
	where := "2 requests still in flight (2 on haproxy1 for " + r.addrs[0] + ")"
	if code != exitFailed || !strings.Contains(out, want) || !strings.Contains(out, where) || !strings.Contains(out, "not deployed, put back up") {
		t.Errorf("exit %d, want %d with %q, %q and the server put back:\n%s", code, exitFailed, want, where, out)
	}
	if d := r.deployed(); len(d) != 0 {
		t.Errorf("deployed %v after a drain that timed out", d)
	}
	r.wantStates(nil)

	r = newRig(t, 1)
	r.top = "min_up = 0\ndrain_timeout = \"300ms\"\non_drain_timeout = \"deploy\""
	r.fakes[1].setActive(r.addrs[0], 2)
	where = "2 requests still in flight (2 on haproxy1 for " + r.addrs[0] + ")"
	code, out = r.rollout()
	if code != exitOK || !strings.Contains(out, where) || !strings.Contains(out, "ok, NOT drained") ||
		!strings.Contains(out, "rollout done: 1 servers in") || !strings.Contains(out, "1 of them deployed NOT drained") {
		t.Errorf("on_drain_timeout = deploy: exit %d, want 0, the server \"ok, NOT drained\" and counted on the final line:\n%s", code, out)
	}
	if d := r.deployed(); len(d) != 1 {
		t.Errorf("deployed %v, want the one server", d)
	}
}

// hangingList is a balancer whose reads hang once, for a while, after a
// drain began: deploy-tool stopped (SIGSTOP) or a read that hung.
type hangingList struct {
	*fakeBalancer
	addr  string
	hang  time.Duration
	mu    sync.Mutex
	since time.Time // when addr was first seen out of rotation
	done  bool
}

func (h *hangingList) List(ctx context.Context) ([]balancer.Server, error) {
	h.mu.Lock()
	now := time.Now()
	if h.fakeBalancer.state(h.addr) != balancer.Up && h.since.IsZero() {
		h.since = now
	}
	hang := !h.done && !h.since.IsZero() && now.Sub(h.since) > 150*time.Millisecond
	h.done = h.done || hang
	h.mu.Unlock()
	if hang {
		time.Sleep(h.hang)
	}
	return h.fakeBalancer.List(ctx)
}

// Issue 19 fix 4: a drain that ran past drain_timeout (a read hung, or the
// process was stopped, for longer) is NOT drained, although the counts
// read 0 at its end, and by default nothing is deployed.
func TestDrainPastItsBoundIsNotDrained(t *testing.T) {
	r := newRig(t, 1)
	r.top = "min_up = 0\ndrain_timeout = \"500ms\""
	path := r.write()
	h := &hangingList{fakeBalancer: r.fakes[1], addr: r.addrs[0], hang: 1500 * time.Millisecond}
	useBalancers(t, map[string]balancer.Balancer{r.fakes[0].name: r.fakes[0], h.name: h})
	var buf bytes.Buffer
	code := run([]string{"rollout", "--config", path}, strings.NewReader(""), &buf, &buf)
	out := buf.String()
	if code != exitFailed || !strings.Contains(out, "NOT drained: the drain ran ") || !strings.Contains(out, "past drain_timeout 500ms") ||
		strings.Contains(out, "drained in") || strings.Contains(out, "waited ") {
		t.Errorf("exit %d, want %d and NOT drained:\n%s", code, exitFailed, out)
	}
	if d := r.deployed(); len(d) != 0 {
		t.Errorf("deployed %v after a drain past its bound", d)
	}
}
