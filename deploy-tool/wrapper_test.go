package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sre-suite/mackerel-plugins/lib/balancer"
	"github.com/sre-suite/mackerel-plugins/lib/balancer/balancertest"
	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

func TestIsRsyncDryRun(t *testing.T) {
	for _, c := range []struct {
		argv []string
		want bool
	}{
		{[]string{"rsync", "--server", "-vlogDtpre.iLsfxCIvu", ".", "/srv/app"}, false},
		{[]string{"rsync", "--server", "-vnlogDtpre.iLsfxCIvu", ".", "/srv/app"}, true},
		{[]string{"rsync", "--server", "-vlogDtpre.iLsfnxC", ".", "/srv/app"}, false}, // n after "." is a capability
		{[]string{"rsync", "-an", "a/", "b/"}, true},
		{[]string{"rsync", "--dry-run", "a/", "b/"}, true},
		{[]string{"rsync", "-a", "--", "-n"}, false},
		{[]string{"rsync", "-a", "--delete", "a/", "b/"}, false},
	} {
		if got := isRsyncDryRun(c.argv); got != c.want {
			t.Errorf("isRsyncDryRun(%q) = %v, want %v", c.argv, got, c.want)
		}
	}
}

func (r *rig) wrapper(stdin string, args ...string) (int, string, string) {
	r.t.Helper()
	path := r.write()
	var out, errOut bytes.Buffer
	code := run(append([]string{"wrapper", "--config", path, "--self", r.addrs[0], "--"}, args...), strings.NewReader(stdin), &out, &errOut)
	r.t.Logf("wrapper %q: exit %d\nstderr:\n%s", args, code, errOut.String())
	return code, out.String(), errOut.String()
}

func TestWrapperBracketsCommandAndPassesStdio(t *testing.T) {
	r := newRig(t, 3)
	code, stdout, _ := r.wrapper("protocol bytes\n", "sh", "-c", `cat; printf '%s|' "$@"`, "sh", "a b", "c")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	if stdout != "protocol bytes\na b|c|" {
		t.Errorf("stdout %q: the command's stdio or arguments were not passed through untouched", stdout)
	}
	r.wantStates(nil)
	calls := r.fakes[1].callLog()
	if strings.Join(calls, ",") != "drain "+r.addrs[0]+",down "+r.addrs[0]+",up "+r.addrs[0] {
		t.Errorf("haproxy1 calls %v", calls)
	}
}

func TestWrapperFailedCommandLeavesServerDownWithItsExitCode(t *testing.T) {
	r := newRig(t, 3)
	code, _, stderr := r.wrapper("", "sh", "-c", "exit 23")
	if code != 23 || !strings.Contains(stderr, "LEFT DOWN") {
		t.Fatalf("exit %d, want 23", code)
	}
	r.wantStates(map[string]balancer.State{r.addrs[0]: balancer.Down})
}

func TestWrapperDryRunIsNotBracketed(t *testing.T) {
	r := newRig(t, 3)
	code, stdout, _ := r.wrapper("", "echo", "-n", "x")
	if code != 0 || stdout != "x" {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
	for _, f := range r.fakes {
		if len(f.callLog()) != 0 {
			t.Errorf("%s changed on a dry run", f.name)
		}
	}
}

func TestWrapperRefusesBeyondMaxUnavailable(t *testing.T) {
	r := newRig(t, 3)
	for _, f := range r.fakes {
		f.servers[1].State = balancer.Down
	}
	code, stdout, _ := r.wrapper("", "echo", "ran")
	if code != exitRefused || stdout != "" {
		t.Fatalf("exit %d, stdout %q: want refused before running", code, stdout)
	}
}

// Real rsync through --rsync-path, with a stand-in for ssh, against nginx
// with the Lua drop-in.
func TestWrapperWithRealRsync(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	t.Parallel()
	rsync := testenv.RequireCommand(t, "rsync")
	bs := balancertest.StartBackends(t, 2)
	n := startNginx(t, balancertest.Addrs(bs), 1)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "deploy.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("state_dir = %q\ndrain_wait = \"100ms\"\nmax_request_time = \"100ms\"\nsettle = \"100ms\"\n\n[health]\nurl = \"http://{addr}/\"\n\n%s\n[[server]]\naddr = %q\n\n[[server]]\naddr = %q\n",
		filepath.Join(dir, "state"), nginxTOML(n), bs[0].Addr, bs[1].Addr)), 0o644)
	// ssh joins its arguments and runs them through the remote shell.
	fakeSSH := filepath.Join(dir, "fakessh")
	os.WriteFile(fakeSSH, []byte("#!/bin/sh\nshift\nexec /bin/sh -c \"$*\"\n"), 0o755)
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	os.MkdirAll(src, 0o755)
	os.MkdirAll(dst, 0o755)
	os.WriteFile(filepath.Join(src, "app v2.txt"), []byte("v2\n"), 0o644)
	bin := testenv.BuildBinary(t, "deploy-tool")
	rsyncPath := fmt.Sprintf("%s wrapper --config %s --self %s -- rsync", bin, cfg, bs[0].Addr)
	for _, dry := range []bool{true, false} {
		args := []string{"-a", "-e", fakeSSH, "--rsync-path=" + rsyncPath, src + "/", "apphost:" + dst + "/"}
		if dry {
			args = append([]string{"-n"}, args...)
		}
		out, err := exec.Command(rsync, args...).CombinedOutput()
		t.Logf("rsync %v: %v\n%s", args, err, out)
		if err != nil {
			t.Fatalf("rsync: %v", err)
		}
		bracketed := strings.Contains(string(out), "down on every balancer")
		if bracketed == dry {
			t.Errorf("dry run %v: bracketed %v", dry, bracketed)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dst, "app v2.txt")); err != nil || string(b) != "v2\n" {
		t.Errorf("file not copied: %v", err)
	}
	wantAllUp(t, nginxConfig(n), balancertest.Addrs(bs))
}
