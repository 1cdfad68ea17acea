package main

import (
	"strings"
	"testing"
)

// Issue 19 fix 7: the preflight, --dry-run included, asks every server's
// health URL and names one that does not answer before anything is
// touched; --allow-unhealthy SERVER lets it through to deploy a fix.
func TestPreflightHealthCheck(t *testing.T) {
	r := newRig(t, 2)
	r.top = "min_up = 0"
	r.healthy[1].Store(false)
	want := "server " + r.addrs[1] + " does not answer its health check before anything is touched"
	for _, args := range [][]string{{"--dry-run"}, nil} {
		code, out := r.rollout(args...)
		if code != exitRefused || !strings.Contains(out, want) || !strings.Contains(out, "--allow-unhealthy "+r.addrs[1]) ||
			!strings.Contains(out, "nothing was touched") || strings.Contains(out, r.addrs[0]+" does not answer") {
			t.Errorf("%v: exit %d, want %d naming only %s:\n%s", args, code, exitRefused, r.addrs[1], out)
		}
		for _, f := range r.fakes {
			if calls := f.callLog(); len(calls) != 0 {
				t.Errorf("%v: %s was changed: %v", args, f.name, calls)
			}
		}
	}
	if d := r.deployed(); len(d) != 0 {
		t.Errorf("deployed %v after a refusal", d)
	}

	code, out := r.rollout("--allow-unhealthy", "nosuch")
	if code != exitUsage || !strings.Contains(out, `--allow-unhealthy "nosuch": no such server`) {
		t.Errorf("an unknown server: exit %d, want %d:\n%s", code, exitUsage, out)
	}

	// The fix deployed to it makes it answer (here: once it is taken out).
	r.fakes[0].hook = func(op, addr string) {
		if op == "drain" && addr == r.addrs[1] {
			r.healthy[1].Store(true)
		}
	}
	code, out = r.rollout("--allow-unhealthy", r.addrs[1])
	if code != exitOK || !strings.Contains(out, "WARNING: "+r.addrs[1]+" does not answer its health check before its deploy") {
		t.Errorf("--allow-unhealthy: exit %d, want 0 with a warning:\n%s", code, out)
	}
	if d := r.deployed(); len(d) != 2 {
		t.Errorf("deployed %v, want both", d)
	}
}
