package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
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
	r.top = fmt.Sprintf("min_up = 0\ndrain_wait = \"0s\"\ndrain = { inflight_url = %q }", app.URL+"/inflight?port={port}")
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
	if code != exitOK || !strings.Contains(out, `want one number`) || !strings.Contains(out, "NOT drained: drain_timeout reached") || strings.Contains(out, "drained in") {
		t.Errorf("an unreadable figure: exit %d, want 0 with the reason and no \"drained\":\n%s", code, out)
	}
}
