package main

// Fault cases end to end, each asserting every server's final state and
// the exit code: real nginx (Lua drop-in) and HAProxy, real testapps, the
// deploy-tool binary.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/internal/loadgen"
	"github.com/sre-suite/mackerel-plugins/lib/balancer/balancertest"
	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// faultRig is 4 apps (v1) behind nginx and HAProxy both. nginx serves the
// API with the Lua drop-in (kind "lua", which counts requests in flight)
// or the real C module (kind "module": a timed drain of 1 s, which is its
// proxy_read_timeout: no fault test sends a slower request through it).
// max_fails 1 and fail_timeout 1 s keep the tests short: deploy-tool waits
// out fail_timeout before it puts max_fails back. The rig's tests run in
// parallel with the others.
type faultRig struct {
	t    *testing.T
	a    *apps
	n    *balancertest.Nginx
	h    *balancertest.HAProxy
	dir  string
	kind string
}

func newFaultRig(t *testing.T) *faultRig { return newFaultRigKind(t, "lua") }

func newFaultRigKind(t *testing.T, kind string) *faultRig {
	if testing.Short() {
		t.Skip("end to end")
	}
	t.Parallel()
	a := startApps(t, 4, "v1")
	r := &faultRig{t: t, a: a, h: balancertest.StartHAProxy(t, a.addrs), dir: t.TempDir(), kind: kind}
	if kind == "module" {
		o := balancertest.NginxOptions{Backends: a.addrs, Workers: 2, Module: true, ReadTimeout: "1s", ServerParams: map[string]string{}}
		for _, addr := range a.addrs {
			o.ServerParams[addr] = "max_fails = 1, fail_timeout = 1"
		}
		r.n = balancertest.StartNginxWith(t, o)
	} else {
		r.n = startNginx(t, a.addrs, 2)
	}
	return r
}

// faultModuleDrain is the recommended timed drain for the rig's C module:
// drain_wait and max_request_time are its proxy_read_timeout.
const faultModuleDrain = `drain_wait = "1s"
max_request_time = "1s"
`

// forKinds runs a kind-independent fault test over both kinds of nginx.
func forKinds(t *testing.T, test func(t *testing.T, r *faultRig)) {
	t.Parallel()
	for _, kind := range []string{"lua", "module"} {
		t.Run(kind, func(t *testing.T) { test(t, newFaultRigKind(t, kind)) })
	}
}

// config writes a config for both balancers; command "" is the normal deploy to v2.
func (r *faultRig) config(command, extra string) string {
	r.t.Helper()
	if r.kind == "module" {
		extra = faultModuleDrain + extra
	}
	path := e2eConfig(r.t, r.a, nginxTOML(r.n)+"\n"+haproxyTOML(r.h), "v2", extra)
	if command != "" {
		b, _ := os.ReadFile(path)
		s := strings.Replace(string(b), fmt.Sprintf("command = %q", r.a.command("v2")), fmt.Sprintf("command = %q", command), 1)
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	return path
}

// wantStates checks every server on both balancers: down lists those that
// must be out of rotation; all others must be up.
func (r *faultRig) wantStates(down ...string) {
	r.t.Helper()
	wantAllUp(r.t, nginxConfig(r.n), r.a.addrs, down...)
	wantAllUp(r.t, haproxyConfig(r.h), r.a.addrs, down...)
}

func (r *faultRig) wantVersions(want ...string) {
	r.t.Helper()
	if got := r.a.versions(); strings.Join(got, ",") != strings.Join(want, ",") {
		r.t.Errorf("versions %v, want %v", got, want)
	}
}

func wantExit(t *testing.T, code int, out string, want int, substr string) {
	t.Helper()
	t.Logf("exit %d\n%s", code, out)
	if code != want {
		t.Errorf("exit %d, want %d", code, want)
	}
	if substr != "" && !strings.Contains(out, substr) {
		t.Errorf("output lacks %q", substr)
	}
}

func waitFor(t *testing.T, out *testenv.Buffer, substr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(out.String(), substr) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q within %v in:\n%s", substr, timeout, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// heldCommand is the normal deploy, except that the command of a server
// whose hold file exists (see hold) says it started (started-PORT) and then
// waits, up to 2 minutes, until the test releases it. What a test does
// "during the command" then never races the command's end, however busy the
// machine is.
func (r *faultRig) heldCommand() string {
	return fmt.Sprintf("touch %[1]s/started-{port}; i=0; while [ -e %[1]s/hold-{port} ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done; %[2]s",
		r.dir, r.a.command("v2"))
}

// hold makes the command of addr wait (see heldCommand); the returned
// function releases it.
func (r *faultRig) hold(addr string) (release func()) {
	r.t.Helper()
	f := filepath.Join(r.dir, fmt.Sprintf("hold-%d", balancertest.Port(addr)))
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		r.t.Fatal(err)
	}
	return func() { os.Remove(f) }
}

// waitStarted waits until the command of addr has started.
func (r *faultRig) waitStarted(addr string, out *testenv.Buffer) {
	r.t.Helper()
	flag := filepath.Join(r.dir, fmt.Sprintf("started-%d", balancertest.Port(addr)))
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(flag); err == nil {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("the command of %s never started:\n%s", addr, out.String())
		}
	}
}

func TestFaultDeployFailsOnServer2(t *testing.T) {
	forKinds(t, func(t *testing.T, r *faultRig) {
		s2 := balancertest.Port(r.a.addrs[1])
		cmd := fmt.Sprintf("if [ {port} = %d ]; then echo disk full >&2; exit 7; fi; %s", s2, r.a.command("v2"))
		code, out := tool(t, "rollout", "--config", r.config(cmd, ""))
		wantExit(t, code, out, exitFailed, "left down: "+r.a.addrs[1])
		r.wantStates(r.a.addrs[1])
		// Server 2 stays down and was not restarted; 3 and 4 were not touched.
		r.wantVersions("v2", "v1", "v1", "v1")
		if !strings.Contains(out, "127.0.0.1 | disk full") {
			t.Error("the command's stderr is not shown prefixed with the host")
		}
	})
}

func TestFaultHealthCheckNeverPasses(t *testing.T) {
	forKinds(t, func(t *testing.T, r *faultRig) {
		path := r.config("", "")
		b, _ := os.ReadFile(path)
		os.WriteFile(path, []byte(strings.Replace(string(b), "/healthz", "/missing", 1)), 0o644)
		// The preflight asks first and names each server, touching nothing.
		code, out := tool(t, "rollout", "--config", path)
		wantExit(t, code, out, exitRefused, "server "+r.a.addrs[0]+" does not answer its health check before anything is touched")
		r.wantStates()
		r.wantVersions("v1", "v1", "v1", "v1")
		// Let through, it fails after its deploy: left down.
		code, out = tool(t, "rollout", "--config", path, "--allow-unhealthy", strings.Join(r.a.addrs, ","))
		wantExit(t, code, out, exitFailed, "status 404, want 200")
		r.wantStates(r.a.addrs[0])
		r.wantVersions("v2", "v1", "v1", "v1")
	})
}

func TestFaultBalancerUnreachableAtPreflight(t *testing.T) {
	r := newFaultRig(t)
	path := r.config("", "")
	r.h.Process.Stop()
	code, out := tool(t, "rollout", "--config", path)
	wantExit(t, code, out, exitRefused, "nothing was touched")
	wantAllUp(t, nginxConfig(r.n), r.a.addrs)
	r.wantVersions("v1", "v1", "v1", "v1")
}

func TestFaultBalancerDiesMidRollout(t *testing.T) {
	forKinds(t, func(t *testing.T, r *faultRig) {
		release := r.hold(r.a.addrs[1])
		c, out := toolCmd(t, "rollout", "--config", r.config(r.heldCommand(), ""))
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		r.waitStarted(r.a.addrs[1], out)
		r.h.Process.Stop() // HAProxy dies while server 2 is deployed
		release()
		code := processExit(t, c.Wait())
		wantExit(t, code, out.String(), exitFailed, "balancer haproxy")
		// Server 2 was deployed and is back on the balancer that is alive.
		wantAllUp(t, nginxConfig(r.n), r.a.addrs)
		r.wantVersions("v2", "v2", "v1", "v1")
	})
}

func TestFaultNginxReloadedMidRollout(t *testing.T) {
	r := newFaultRig(t)
	cmd := fmt.Sprintf("touch %s/started-{port}; sleep 0.3; %s", r.dir, r.a.command("v2"))
	// A connection per request: on reload nginx's old workers close idle
	// keep-alive connections, and a POST racing that close fails whatever
	// deploy-tool does. What this test asserts is deploy-tool's part: no
	// request reaches a server while it restarts.
	takeTurn(t)
	l := loadgen.StartFresh(r.n.Frontend, loadRate/2)
	t.Cleanup(l.Stop)
	c, out := toolCmd(t, "rollout", "--config", r.config(cmd, ""))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	flag := filepath.Join(r.dir, "started-"+fmt.Sprint(balancertest.Port(r.a.addrs[1])))
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(flag); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server 2's command never started:\n%s", out.String())
		}
	}
	r.n.Reload()
	code := processExit(t, c.Wait())
	rep := l.Report()
	t.Logf("load: %s", rep.Text)
	wantExit(t, code, out.String(), exitOK, "rollout done")
	if rep.Non2xx != 0 || rep.Errors != 0 {
		t.Errorf("%d non-2xx and %d transport errors across the reload, want none", rep.Non2xx, rep.Errors)
	}
	r.wantStates()
	r.wantVersions("v2", "v2", "v2", "v2")
}

func TestFaultSignalDuringDrain(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) { signalDuringDrain(t, sig) })
	}
}

func signalDuringDrain(t *testing.T, sig syscall.Signal) {
	r := newFaultRig(t)
	c, out, slowDone := r.rolloutHeldInDrain(t, 5000)
	time.Sleep(200 * time.Millisecond)
	c.Process.Signal(sig)
	code := processExit(t, c.Wait())
	wantExit(t, code, out.String(), exitInterrupted, "interrupted during drain")
	r.wantStates()
	r.wantVersions("v1", "v1", "v1", "v1")
	slowDone()
}

func TestFaultSIGINTDuringCommand(t *testing.T) {
	forKinds(t, func(t *testing.T, r *faultRig) {
		release := r.hold(r.a.addrs[0])
		c, out := toolCmd(t, "rollout", "--config", r.config(r.heldCommand(), ""))
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		r.waitStarted(r.a.addrs[0], out)
		c.Process.Signal(syscall.SIGINT)
		waitFor(t, out, "interrupt: finishing or undoing the current step", 60*time.Second)
		release() // the command ends only once the tool has seen the signal
		code := processExit(t, c.Wait())
		// The started command finishes, its server is checked and put back; nothing else is touched.
		wantExit(t, code, out.String(), exitInterrupted, "interrupted: batch 1 finished")
		r.wantStates()
		r.wantVersions("v2", "v1", "v1", "v1")
	})
}

func TestFaultSecondRolloutWhileOneRuns(t *testing.T) {
	r := newFaultRig(t)
	release := r.hold(r.a.addrs[0])
	path := r.config(r.heldCommand(), "")
	c, out := toolCmd(t, "rollout", "--config", path)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitStarted(r.a.addrs[0], out)
	code2, out2 := tool(t, "rollout", "--config", path)
	release()
	wantExit(t, code2, out2, exitRefused, "held by ")
	if !strings.Contains(out2, "rollout --config "+path) {
		t.Errorf("the refusal does not say what holds the lock")
	}
	code := processExit(t, c.Wait())
	wantExit(t, code, out.String(), exitOK, "rollout done")
	r.wantStates()
	r.wantVersions("v2", "v2", "v2", "v2")
}

func TestFaultResumeAfterKill(t *testing.T) {
	forKinds(t, func(t *testing.T, r *faultRig) {
		release := r.hold(r.a.addrs[1])
		path := r.config(r.heldCommand(), "")
		c, out := toolCmd(t, "rollout", "--config", path)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		r.waitStarted(r.a.addrs[1], out)
		c.Process.Kill() // the tool dies during server 2's command
		c.Wait()
		r.wantStates(r.a.addrs[1])
		// Its command runs on in its own process group: no resume until it ends.
		code, rout := tool(t, "rollout", "--config", path, "--resume")
		wantExit(t, code, rout, exitRefused, "started by the interrupted run, is still running")
		release()
		// --dry-run makes the same check: it passes once the command has ended.
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			code, dout := tool(t, "rollout", "--config", path, "--resume", "--dry-run")
			if code == exitOK {
				break
			}
			if time.Now().After(deadline) || !strings.Contains(dout, "is still running") {
				t.Fatalf("--resume --dry-run: exit %d\n%s", code, dout)
			}
		}
		code, sout := tool(t, "status", "--config", path)
		t.Logf("status: exit %d\n%s", code, sout)
		if !strings.Contains(sout, r.a.addrs[1]+"\tdeploying") {
			t.Errorf("status does not show the unfinished rollout")
		}
		code, rout = tool(t, "rollout", "--config", path)
		wantExit(t, code, rout, exitRefused, "--resume")
		code, rout = tool(t, "rollout", "--config", path, "--resume")
		wantExit(t, code, rout, exitOK, "resuming the rollout")
		r.wantStates()
		r.wantVersions("v2", "v2", "v2", "v2")
		// Server 1 was finished before the kill: the resumed run does not redo it.
		if strings.Contains(rout, r.a.addrs[0]+": deploy:") {
			t.Error("the resumed rollout deployed server 1 again")
		}
	})
}

func TestDownUpStatusCheckEndToEnd(t *testing.T) {
	forKinds(t, func(t *testing.T, r *faultRig) {
		path := r.config("", "")
		s := r.a.addrs[2]
		code, out := tool(t, "down", "--config", path, s)
		if r.kind == "module" {
			wantExit(t, code, out, exitOK, "(no in-flight count) on nginx; in flight 0 on haproxy\n")
		} else {
			wantExit(t, code, out, exitOK, "(in flight 0 on nginx, haproxy)\n")
		}
		if !strings.Contains(out, s+" is down on every balancer; `deploy-tool up") {
			t.Errorf("down does not say how to bring it back")
		}
		r.wantStates(s)
		code, out = tool(t, "down", "--config", path, r.a.addrs[0])
		wantExit(t, code, out, exitRefused, "max_unavailable 1")
		code, out = tool(t, "check", "--config", path)
		wantExit(t, code, out, 0, "deploy-tool OK")
		code, out = tool(t, "check", "--config", path, "--stuck-after", "0s")
		wantExit(t, code, out, 1, "down for")
		code, out = tool(t, "status", "--config", path, "--json")
		t.Logf("status --json: %s", out)
		if code != 0 || !strings.Contains(out, `"state": "down"`) {
			t.Errorf("status --json: exit %d", code)
		}
		code, out = tool(t, "up", "--config", path, s)
		wantExit(t, code, out, exitOK, "up and serving on every balancer")
		r.wantStates()
		r.h.Process.Stop()
		code, out = tool(t, "check", "--config", path)
		wantExit(t, code, out, 2, "balancer haproxy")
	})
}

// nginx restarted while a server drains loses the drop-in's state, as a
// reload loses the C module's down flags: the server is up again before its
// deploy. The re-read before the deploy must take it down again.
func TestFaultNginxStateLostMidRollout(t *testing.T) {
	r := newFaultRig(t)
	c, out, slowDone := r.rolloutHeldInDrain(t, 4000)
	r.restartNginx()
	code := processExit(t, c.Wait())
	wantExit(t, code, out.String(), exitOK, "on nginx is up again (balancer reloaded?): taking it down again")
	r.wantStates()
	r.wantVersions("v2", "v2", "v2", "v2")
	slowDone()
}

// restartNginx stops nginx and starts it again on the same config and
// ports: a fresh shared dict, every server up.
func (r *faultRig) restartNginx() {
	r.t.Helper()
	r.n.Process.Stop()
	bin := testenv.RequireCommand(r.t, "nginx")
	cmd := exec.Command(bin, "-p", r.n.Dir, "-c", r.n.ConfPath)
	logf, err := os.Create(filepath.Join(r.n.Dir, "logs", "stderr-2.log"))
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { logf.Close() })
	cmd.Stdout, cmd.Stderr = logf, logf
	r.n.Process = testenv.Start(r.t, cmd)
	api := strings.TrimSuffix(strings.TrimPrefix(r.n.APIURL, "http://"), "/dynamic")
	testenv.WaitTCP(r.t, api, 10*time.Second)
	// That the restart lost the down flag is shown by the rollout's own
	// "is up again" line, which the test asserts: reading the state here
	// would race the rollout, which takes the server down again at once.
}

// rolloutHeldInDrain starts a rollout while one slow request per server
// (round robin) is in flight, and returns once the first server is down on
// every balancer, so the rollout is waiting in its drain. slowDone waits for
// the slow requests.
func (r *faultRig) rolloutHeldInDrain(t *testing.T, slowMS int) (c *exec.Cmd, out *testenv.Buffer, slowDone func()) {
	t.Helper()
	// Slow requests until nginx reports one in flight on the first server
	// (round robin over 2 workers need not reach it with the first four):
	// a fixed sleep could start the rollout before any request got there.
	done := make(chan struct{}, 16)
	sent := 0
	for deadline := time.Now().Add(30 * time.Second); activeOn(t, r.n, r.a.addrs[0]) == 0; {
		if time.Now().After(deadline) || sent == 16 {
			t.Fatalf("%d slow requests sent, none in flight on %s", sent, r.a.addrs[0])
		}
		sent++
		go func() {
			balancertest.Get(context.Background(), fmt.Sprintf("%s/slow?ms=%d", r.n.Frontend, slowMS), 10*time.Second)
			done <- struct{}{}
		}()
		time.Sleep(100 * time.Millisecond)
	}
	c, out = toolCmd(t, "rollout", "--config", r.config("", ""))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, out, "down on every balancer", 30*time.Second)
	return c, out, func() {
		for range sent {
			<-done
		}
	}
}

// activeOn is the number of requests nginx reports in flight to addr.
func activeOn(t *testing.T, n *balancertest.Nginx, addr string) int {
	t.Helper()
	for _, s := range listOf(t, nginxConfig(n)) {
		if s.Addr == addr && s.Active > 0 {
			return s.Active
		}
	}
	return 0
}
