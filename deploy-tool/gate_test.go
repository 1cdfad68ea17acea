package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/config"
	"github.com/sre-suite/mackerel-plugins/lib/balancer/balancertest"
)

// gateRig is 3 backends behind a real nginx (Lua drop-in), which is also
// the service's front end the gate probes. A backend answers ?status=N with
// that status, so a gate URL with ?status=503 is a front end serving 5xx.
type gateRig struct {
	t     *testing.T
	n     *balancertest.Nginx
	addrs []string
	log   string
}

func newGateRig(t *testing.T) *gateRig {
	if testing.Short() {
		t.Skip("end to end")
	}
	t.Parallel()
	addrs := balancertest.Addrs(balancertest.StartBackends(t, 3))
	return &gateRig{t: t, n: startNginx(t, addrs, 2), addrs: addrs, log: filepath.Join(t.TempDir(), "deploys.log")}
}

func (r *gateRig) config(gate string) string {
	r.t.Helper()
	dir := r.t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "state_dir = %q\ndrain_wait = \"100ms\"\nsettle = \"100ms\"\nup_timeout = \"5s\"\n\n", filepath.Join(dir, "state"))
	fmt.Fprintf(&b, "[deploy]\ncommand = %q\n\n%s\n\n%s\n", "echo {addr} >> "+r.log, gate, nginxTOML(r.n))
	for _, a := range r.addrs {
		fmt.Fprintf(&b, "[[server]]\naddr = %q\n\n", a)
	}
	path := filepath.Join(dir, "deploy.toml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		r.t.Fatal(err)
	}
	return path
}

func (r *gateRig) deployed() []string {
	b, _ := os.ReadFile(r.log)
	os.Remove(r.log)
	return strings.Fields(string(b))
}

func TestGateStopsRolloutWhenFrontEndFails(t *testing.T) {
	r := newGateRig(t)
	// The front end answers 503 (its backends do, through nginx).
	bad := r.n.Frontend + "/?status=503"
	code, out := tool(t, "rollout", "--config", r.config(fmt.Sprintf("[gate]\nurl = %q\nprobes = 2\ninterval = \"100ms\"\ntimeout = \"2s\"", bad)))
	wantExit(t, code, out, exitFailed, "front-end gate "+bad+" failed after batch 1/3: 2 of 2 probes did not answer 200")
	for _, want := range []string{
		"probe 1: 503 Service Unavailable",
		"servers left as they are: batch 1 (" + r.addrs[0] + ") is deployed and in rotation, nothing of batch 2 was touched",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if got := r.deployed(); strings.Join(got, ",") != r.addrs[0] {
		t.Errorf("deployed %v, want the first server only", got)
	}
	wantAllUp(t, nginxConfig(r.n), r.addrs)

	// Control: the same rollout with a front end that answers 200 passes
	// every gate and deploys every server.
	code, out = tool(t, "rollout", "--config", r.config(fmt.Sprintf("[gate]\nurl = %q\nprobes = 2\ninterval = \"100ms\"", r.n.Frontend+"/")), "--discard-journal")
	wantExit(t, code, out, exitOK, "gate: "+r.n.Frontend+"/ answered 2 of 2 probes with 200")
	if got := r.deployed(); len(got) != 3 {
		t.Errorf("deployed %v, want all 3", got)
	}
}

func TestGateConfigErrors(t *testing.T) {
	base := "[deploy]\ncommand = \"true\"\n[[balancer]]\nname = \"n\"\ndriver = \"ngx_dynamic_upstream\"\nurl = \"http://127.0.0.1:1/d\"\nupstreams = [\"u\"]\n"
	for gate, want := range map[string]string{
		"[gate]\nurl = \"ftp://lb/\"":                    "gate.url (line 2): \"ftp://lb/\": want the http(s) URL",
		"[gate]\nurl = \"http://{addr}/\"":               "no {host}, {addr} or {port}",
		"[gate]\nurl = \"http://lb/\"\nprobes = 0":       "gate.probes (line 3): 0: want 1 or more",
		"[gate]\nurl = \"http://lb/\"\nstatus = 99":      "gate.status (line 3): 99 is not an HTTP status",
		"[gate]\nurl = \"http://lb/\"\ntimeout = \"0s\"": "gate.timeout (line 3): want a positive duration",
		"[claim]\ndelay = \"1s\"":                        "unknown key \"claim.delay\" (line 2)",
	} {
		_, err := config.Parse([]byte(gate + "\n" + base))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", gate, err, want)
		}
	}
}
