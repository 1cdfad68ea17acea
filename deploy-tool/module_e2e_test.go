package main

// End-to-end tests over nginx with the real ngx_dynamic_upstream module
// (built by balancertest.DynamicUpstreamModule from ../shared/third_party):
// no in-flight count, so the drain is a timed wait covering the slowest
// request, and nginx's passive health check (max_fails, fail_timeout) would
// shut out a server whose cut requests it counted.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/balancer"
	"github.com/sre-suite/mackerel-plugins/lib/balancer/balancertest"
)

// moduleReadTimeout is the test nginx's proxy_read_timeout: the longest a
// request may take, and so the config's max_request_time and drain_wait
// (the README's recommendation). The load's slowest requests take 2 s.
const moduleReadTimeout = "3s"

// moduleDrain is the recommended config for the module.
const moduleDrain = `drain_wait = "3s"
max_request_time = "3s"
`

// startModuleNginx starts nginx with the C module in front of addrs;
// params are nginx server parameters in the drop-in's form, for every
// server ("max_fails = 1, fail_timeout = 2"), or "".
func startModuleNginx(t *testing.T, addrs []string, params string) *balancertest.Nginx {
	t.Helper()
	o := balancertest.NginxOptions{Backends: addrs, Workers: 2, Module: true, ReadTimeout: moduleReadTimeout}
	if params != "" {
		o.ServerParams = map[string]string{}
		for _, a := range addrs {
			o.ServerParams[a] = params
		}
	}
	return balancertest.StartNginxWith(t, o)
}

// failuresOf reads max_fails/fail_timeout of every server: addr → "1/10s".
func failuresOf(t testing.TB, bc balancer.Config) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, s := range listOf(t, bc) {
		m[s.Addr] = fmt.Sprintf("%d/%v", s.MaxFails, s.FailTimeout)
	}
	return m
}

func wantFailures(t testing.TB, bc balancer.Config, addrs []string, want string) {
	t.Helper()
	got := failuresOf(t, bc)
	for _, a := range addrs {
		if got[a] != want {
			t.Errorf("%s on %s: max_fails/fail_timeout %s, want %s", a, bc.Name, got[a], want)
		}
	}
}

// The key test: 4 apps behind the C module, the load `make demo` sends,
// a rollout with the README's recommended config: no error at all, every
// server v2, and max_fails=1 fail_timeout=2s put back (fail_timeout
// shorter than nginx's default of 10 s, which the rollout would wait out).
func TestZeroErrorsNginxModule(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end under load")
	}
	t.Parallel()
	a := startApps(t, 4, "v1")
	n := startModuleNginx(t, a.addrs, "max_fails = 1, fail_timeout = 2")
	bc := nginxConfig(n)
	wantFailures(t, bc, a.addrs, "1/2s")
	zeroErrors(t, n.Frontend, bc, a, nginxTOML(n), 300, moduleDrain, func(out string) {
		if !strings.Contains(out, "waited 3.") || !strings.Contains(out, "(no in-flight count) on nginx") {
			t.Errorf("the output does not say the drain was a timed wait")
		}
		if strings.Contains(out, "drained") {
			t.Errorf("the output says drained, but the module reports no in-flight count")
		}
		if !strings.Contains(out, "max_fails=1 fail_timeout=2s put back on nginx/") {
			t.Errorf("the output does not say max_fails was put back")
		}
		wantFailures(t, bc, a.addrs, "1/2s")
	})
}

// A timed drain shorter than the longest request is refused before
// anything is touched, with a line naming both keys and their values; so
// is a timed drain with no max_request_time at all.
func TestModuleTooShortDrainRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	t.Parallel()
	a := startApps(t, 2, "v1")
	n := startModuleNginx(t, a.addrs, "")
	for _, c := range []struct{ extra, want string }{
		{"drain_wait = \"1s\"\nmax_request_time = \"3s\"\n", "drain_wait 1s is shorter than max_request_time 3s, and balancer nginx reports no in-flight count"},
		{"drain_wait = \"3s\"\nmax_request_time = \"0s\"\n", "balancer nginx reports no in-flight count, so the drain is a timed wait of drain_wait 3s: set max_request_time"},
	} {
		cfg := e2eConfig(t, a, nginxTOML(n), "v2", c.extra)
		for _, args := range [][]string{{"rollout", "--config", cfg}, {"rollout", "--dry-run", "--config", cfg}, {"down", "--config", cfg, a.addrs[0]}} {
			code, out := tool(t, args...)
			wantExit(t, code, out, exitRefused, c.want)
			if !strings.Contains(out, "nothing was touched") {
				t.Errorf("%s: the refusal does not say nothing was touched", args[0])
			}
		}
	}
	wantAllUp(t, nginxConfig(n), a.addrs)
	wantFailures(t, nginxConfig(n), a.addrs, "1/10s")
	if v := a.versions(); strings.Join(v, ",") != "v1,v1" {
		t.Errorf("versions %v, want v1 everywhere", v)
	}
}

// A reload during the drain puts the server back in rotation (and its
// max_fails back to the file's): it is taken down again within the drain's
// polling, before its deploy command runs, and the log says so. The drain
// of the first server is held by the app's figure (a file the test writes,
// read by [drain] inflight_command), so that the reload falls inside it
// however slow the machine is.
func TestModuleReloadDuringDrain(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	t.Parallel()
	a := startApps(t, 4, "v1")
	n := startModuleNginx(t, a.addrs, "max_fails = 1, fail_timeout = 2")
	r := &faultRig{t: t, a: a, n: n, dir: t.TempDir()}
	bc := nginxConfig(n)
	first := a.addrs[0]
	figure := filepath.Join(r.dir, fmt.Sprintf("inflight-%d", balancertest.Port(first)))
	setFigure := func(v string) {
		if err := os.WriteFile(figure, []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	setFigure("1")
	release := r.hold(first)
	defer release()
	// The figure's command also leaves a file behind: once it is there the
	// drain has begun (after the claim's check), and the reload falls in it.
	asked := filepath.Join(r.dir, fmt.Sprintf("asked-%d", balancertest.Port(first)))
	inflight := fmt.Sprintf("touch %s/asked-{port}; cat %s/inflight-{port} 2>/dev/null || echo 0", r.dir, r.dir)
	cfg := e2eConfig(t, a, nginxTOML(n), "v2", fmt.Sprintf("drain = { inflight_command = %q }\nmax_request_time = \"3s\"\n", inflight))
	cfg = withCommand(t, cfg, a.command("v2"), r.heldCommand())
	c, out := toolCmd(t, "rollout", "--config", cfg)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, out, "down on every balancer", 30*time.Second)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(asked); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the drain never read the app's figure:\n%s", out.String())
		}
	}
	if st := states(t, bc); st[first] != balancer.Down {
		t.Fatalf("%s is %s before the reload, want down", first, st[first])
	}
	n.ReloadSettled()
	waitFor(t, out, "during the drain: "+first+" on nginx is up again (balancer reloaded?): taking it down again now", 10*time.Second)
	setFigure("0")
	r.waitStarted(first, out)
	// The command runs: the server must be out of rotation, max_fails 0.
	if st := states(t, bc); st[first] != balancer.Down {
		t.Errorf("%s is %s while its deploy command runs, want down", first, st[first])
	}
	if f := failuresOf(t, bc)[first]; f != "0/2s" {
		t.Errorf("%s has max_fails/fail_timeout %s while its deploy command runs, want 0/2s", first, f)
	}
	release()
	code := processExit(t, c.Wait())
	wantExit(t, code, out.String(), exitOK, "rollout done")
	if !strings.Contains(out.String(), "taken down again 1 times during it") {
		t.Errorf("the drain's report does not count the server taken down again")
	}
	wantAllUp(t, bc, a.addrs)
	wantFailures(t, bc, a.addrs, "1/2s")
	if v := a.versions(); strings.Join(v, ",") != "v2,v2,v2,v2" {
		t.Errorf("versions %v, want v2 everywhere", v)
	}
}

// down sets max_fails 0 (status lists it as changed), up puts it back once
// fail_timeout has passed since the server came back; a rollout killed
// during a deploy command leaves its changes saved, and --resume puts every
// one back.
func TestModuleMaxFailsSavedAcrossDownUpAndKill(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	t.Parallel()
	a := startApps(t, 3, "v1")
	n := startModuleNginx(t, a.addrs, "max_fails = 2, fail_timeout = 2")
	r := &faultRig{t: t, a: a, n: n, dir: t.TempDir()}
	bc := nginxConfig(n)
	cfg := e2eConfig(t, a, nginxTOML(n), "v2", moduleDrain+"canary = 0\n")
	code, out := tool(t, "down", "--config", cfg, a.addrs[1])
	wantExit(t, code, out, exitOK, "waited 3.")
	if f := failuresOf(t, bc)[a.addrs[1]]; f != "0/2s" {
		t.Errorf("after down: %s has %s, want 0/2s", a.addrs[1], f)
	}
	code, out = tool(t, "status", "--config", cfg)
	wantExit(t, code, out, exitOK, "changed by deploy-tool, not put back yet: "+a.addrs[1]+" on nginx/backend_zone has max_fails 0 (was max_fails=2 fail_timeout=2s)")
	code, out = tool(t, "up", "--config", cfg, a.addrs[1])
	wantExit(t, code, out, exitOK, "max_fails=2 fail_timeout=2s put back")
	wantFailures(t, bc, a.addrs, "2/2s")
	code, out = tool(t, "status", "--config", cfg)
	if code != exitOK || strings.Contains(out, "changed by deploy-tool") {
		t.Errorf("status after up: exit %d, want 0 and no changed parameters:\n%s", code, out)
	}

	release := r.hold(a.addrs[1])
	cfg = withCommand(t, cfg, a.command("v2"), r.heldCommand())
	c, cout := toolCmd(t, "rollout", "--config", cfg)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitStarted(a.addrs[1], cout)
	c.Process.Kill()
	c.Wait()
	release()
	if f := failuresOf(t, bc)[a.addrs[1]]; f != "0/2s" {
		t.Errorf("after the kill: %s has %s, want 0/2s", a.addrs[1], f)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if code, _ := tool(t, "rollout", "--config", cfg, "--resume", "--dry-run"); code == exitOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the killed run's command did not end")
		}
	}
	code, out = tool(t, "rollout", "--config", cfg, "--resume")
	wantExit(t, code, out, exitOK, "rollout done")
	if strings.Contains(out, "CHANGED PARAMETERS LEFT") {
		t.Errorf("the resumed rollout left parameters changed")
	}
	wantAllUp(t, bc, a.addrs)
	wantFailures(t, bc, a.addrs, "2/2s")
}

// withCommand replaces the deploy command in a config written by
// e2eConfig, in place.
func withCommand(t *testing.T, path, old, command string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), fmt.Sprintf("command = %q", old), fmt.Sprintf("command = %q", command), 1)
	if s == string(b) {
		t.Fatalf("no command %q in %s", old, path)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// With the app's own in-flight figure ([drain] inflight_url), the drain
// over the C module ends when the app reads 0 rather than after a fixed
// wait, and the rollout under load still gives no error.
func TestZeroErrorsNginxModuleInflightURL(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end under load")
	}
	t.Parallel()
	a := startApps(t, 4, "v1")
	n := startModuleNginx(t, a.addrs, "max_fails = 1, fail_timeout = 2")
	bc := nginxConfig(n)
	extra := "drain = { inflight_url = \"http://{addr}/inflight\" }\ndrain_wait = \"0s\"\nmax_request_time = \"3s\"\n"
	zeroErrors(t, n.Frontend, bc, a, nginxTOML(n), 300, extra, func(out string) {
		if !strings.Contains(out, "(in flight 0 on the app (inflight_url))") {
			t.Errorf("the output does not say the app's figure read 0")
		}
		if strings.Contains(out, "no in-flight count") {
			t.Errorf("the output says the drain was timed, but the app's figure was read")
		}
		wantFailures(t, bc, a.addrs, "1/2s")
	})
}
