package main

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

// An nginx reload (the real ngx_dynamic_upstream module) during a slow
// deploy command puts the server being deployed back in rotation; the
// rollout sees it within a few hundred milliseconds and takes it out
// again, with a WARNING, long before the command ends.
func TestReloadDuringDeployCommandIsUndoneAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	t.Parallel()
	addrs := balancertest.Addrs(balancertest.StartBackends(t, 3))
	// proxy_read_timeout is the config's max_request_time (the test apps
	// answer at once), as the README recommends; fail_timeout 1 s, which
	// the rollout waits out before it puts max_fails back.
	params := map[string]string{}
	for _, a := range addrs {
		params[a] = "max_fails = 1, fail_timeout = 1"
	}
	n := balancertest.StartNginxWith(t, balancertest.NginxOptions{Backends: addrs, Workers: 2, Module: true, ReadTimeout: "200ms", ServerParams: params})
	dir := t.TempDir()
	started := filepath.Join(dir, "started")
	var b strings.Builder
	fmt.Fprintf(&b, "state_dir = %q\nmax_request_time = \"200ms\"\ndrain_wait = \"200ms\"\nsettle = \"100ms\"\nup_timeout = \"5s\"\n\n", filepath.Join(dir, "state"))
	// Only the first server's command is slow and says when it runs.
	cmd := fmt.Sprintf("if [ {addr} = %s ]; then touch %s; sleep 4; fi", addrs[0], started)
	fmt.Fprintf(&b, "[deploy]\ncommand = %q\n\n%s\n", cmd, nginxTOML(n))
	for _, a := range addrs {
		fmt.Fprintf(&b, "[[server]]\naddr = %q\n\n", a)
	}
	path := filepath.Join(dir, "deploy.toml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	c, out := toolCmd(t, "rollout", "--config", path)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(started); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the deploy command never started:\n%s", out.String())
		}
		select {
		case err := <-done:
			t.Fatalf("the rollout ended (%v) before its deploy command started:\n%s", err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if st := states(t, nginxConfig(n)); st[addrs[0]] != balancer.Down {
		t.Fatalf("%s is %s during its command, want down", addrs[0], st[addrs[0]])
	}
	n.ReloadSettled()
	reloaded := time.Now()
	sawUp := false
	var downAgain time.Duration
	for time.Since(reloaded) < 3*time.Second {
		st := states(t, nginxConfig(n))[addrs[0]]
		if st == balancer.Up {
			sawUp = true
		} else if sawUp || time.Since(reloaded) > 50*time.Millisecond {
			downAgain = time.Since(reloaded)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	code := processExit(t, <-done)
	wantExit(t, code, out.String(), exitOK, "WARNING: during the deploy command: "+addrs[0]+" on nginx is back in rotation (balancer reloaded?): taking it out again")
	if !strings.Contains(out.String(), "taken out again in ") {
		t.Error("output lacks the taken-out-again line")
	}
	if downAgain == 0 || downAgain > time.Second {
		t.Errorf("%s was out of rotation again %v after the reload, want within 1s", addrs[0], downAgain)
	}
	t.Logf("back out of rotation %v after the reload settled (saw it up: %v)", downAgain.Round(time.Millisecond), sawUp)
	wantAllUp(t, nginxConfig(n), addrs)
}

// A reload during the command whose server cannot be taken out again (the
// balancer refuses the drain): the command ends, the server is brought up
// (its command is done), and the rollout stops there, saying what happened.
func TestReloadDuringCommandNotUndoneStopsRollout(t *testing.T) {
	r := newRig(t, 3)
	flag := filepath.Join(r.dir, "reload")
	r.command = "echo {port} >> " + filepath.Join(r.dir, "deployed") + "; touch " + flag + "; sleep 0.6"
	go func() {
		for {
			if _, err := os.Stat(flag); err == nil {
				r.fakes[0].mu.Lock()
				r.fakes[0].failDrain[r.addrs[0]] = true
				r.fakes[0].mu.Unlock()
				r.fakes[0].reload()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	code, out := r.rollout()
	wantExit(t, code, out, exitFailed, "ERROR: during the deploy command, "+r.addrs[0]+" on nginx1 (")
	if !strings.Contains(out, "injected failure) came back in rotation and could not be taken out again: requests sent to it while its command ran may have failed; rollout stopped after this batch") {
		t.Error("the final error does not say what came back and why it stayed")
	}
	if !strings.Contains(out, "WARNING: during the deploy command: "+r.addrs[0]+" on nginx1 is back in rotation") {
		t.Error("no WARNING when it came back")
	}
	if got := r.deployed(); len(got) != 1 {
		t.Errorf("commands ran for %v, want the first only", got)
	}
	r.wantStates(nil)
}
