package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/coord"
	"github.com/sre-suite/mackerel-plugins/lib/balancer"
)

func (r *rig) check(args ...string) (int, string) {
	r.t.Helper()
	path := r.write()
	r.t.Setenv("MACKEREL_PLUGIN_WORKDIR", r.dir)
	var out bytes.Buffer
	code := run(append([]string{"check", "--config", path}, args...), strings.NewReader(""), &out, &out)
	return code, out.String()
}

func TestCheck(t *testing.T) {
	r := newRig(t, 3)
	r.top = "min_up = 2\nmax_unavailable = 2"
	if code, out := r.check(); code != 0 || !strings.HasPrefix(out, "deploy-tool OK: 2 balancers") {
		t.Errorf("all up: exit %d %q", code, out)
	}
	for _, f := range r.fakes {
		f.servers[0].State = balancer.Down
	}
	if code, out := r.check(); code != 0 {
		t.Errorf("one down, not stuck yet: exit %d %q", code, out)
	}
	code, out := r.check("--stuck-after", "0s")
	if code != 1 || !strings.Contains(out, "nginx1/backend/"+r.addrs[0]+" down for") || !strings.Contains(out, "no rollout running") {
		t.Errorf("stuck: exit %d %q", code, out)
	}
	l, err := coord.AcquireLock(filepath.Join(r.dir, "state", "deploy-tool.lock"), "carol@deployhost pid 7: rollout")
	if err != nil {
		t.Fatal(err)
	}
	if code, out := r.check("--stuck-after", "0s"); code != 0 || !strings.Contains(out, "rollout running: carol@deployhost") {
		t.Errorf("down during a rollout: exit %d %q", code, out)
	}
	l.Release()
	r.fakes[1].servers[1].State = balancer.Down
	if code, out := r.check(); code != 2 || !strings.Contains(out, "haproxy1/backend: 1 of 3 servers up < min_up 2") {
		t.Errorf("below min_up: exit %d %q", code, out)
	}
	r.fakes[0].unreachable = true
	r.fakes[1].servers[1].State = balancer.Up
	if code, out := r.check("--error-status", "warning"); code != 1 || !strings.Contains(out, "connection refused") {
		t.Errorf("unreachable: exit %d %q", code, out)
	}
	if code, out := r.check("--stuck-after", "soon"); code != 3 || !strings.HasPrefix(out, "deploy-tool UNKNOWN") {
		t.Errorf("bad flag: exit %d %q, want UNKNOWN", code, out)
	}
}

func TestStatusTable(t *testing.T) {
	r := newRig(t, 2)
	r.fakes[1].servers[1].State = balancer.Draining
	r.fakes[1].setActive(r.addrs[1], 4)
	path := r.write()
	var out bytes.Buffer
	if code := run([]string{"status", "--config", path}, nil, &out, &out); code != 0 {
		t.Fatalf("exit %d\n%s", code, out.String())
	}
	t.Log(out.String())
	for _, want := range []string{"BALANCER", "haproxy1  backend   " + r.addrs[1], "draining", "lock: free"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q", want)
		}
	}
}
