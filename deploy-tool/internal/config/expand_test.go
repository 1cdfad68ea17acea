package config

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 19 fix 8: a placeholder written in a command reaches the shell as
// one word, quoted where the shell would glob it, and an IPv6 {host} in a
// URL is bracketed.
func TestExpandCommandQuotesForTheShell(t *testing.T) {
	t.Parallel()
	v6 := Server{Addr: "[::1]:52001", Host: "::1", Port: 52001}
	v4 := Server{Addr: "10.0.0.1:80", Host: "app1", Port: 80}
	for _, c := range []struct {
		tmpl string
		s    Server
		want string
	}{
		{"deploy {addr} {host} {port}", v6, "deploy '[::1]:52001' ::1 52001"},
		{"deploy {addr}", v4, "deploy 10.0.0.1:80"},
		{`echo "{addr}" '{addr}' x{addr}`, v6, `echo "[::1]:52001" '[::1]:52001' x'[::1]:52001'`},
		{`echo "it's {addr}" \"{addr}`, v6, `echo "it's [::1]:52001" \"'[::1]:52001'`},
		{"echo ${host} $DEPLOY_ADDR", v6, "echo ${host} $DEPLOY_ADDR"},
	} {
		if got := ExpandCommand(c.tmpl, c.s); got != c.want {
			t.Errorf("%q: %q, want %q", c.tmpl, got, c.want)
		}
	}
	for _, c := range []struct {
		tmpl string
		s    Server
		want string
	}{
		{"http://{host}:9000/inflight", v6, "http://[::1]:9000/inflight"},
		{"http://{addr}/healthz", v6, "http://[::1]:52001/healthz"},
		{"http://{host}:9000/inflight?port={port}", v4, "http://app1:9000/inflight?port=80"},
		{"http://{host}/x", Server{Addr: "[::1]:80", Host: "[::1]", Port: 80}, "http://[::1]/x"},
	} {
		if got := ExpandURL(c.tmpl, c.s); got != c.want {
			t.Errorf("%q: %q, want %q", c.tmpl, got, c.want)
		}
	}
}

// The shell itself receives [::1]:52001, not the file 1:52001 that the
// unquoted glob would match, and the same through $DEPLOY_ADDR.
func TestExpandCommandIsNotGlobbed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "1:52001"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s := Server{Addr: "[::1]:52001", Host: "::1", Port: 52001}
	for _, tmpl := range []string{`echo {addr}`, `echo "{addr}"`, `echo "$DEPLOY_ADDR" "$DEPLOY_HOST" "$DEPLOY_PORT"`} {
		cmd := exec.Command("/bin/sh", "-c", ExpandCommand(tmpl, s))
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), Env(s)...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", tmpl, err)
		}
		want := "[::1]:52001"
		if strings.Contains(tmpl, "DEPLOY_") {
			want = "[::1]:52001 ::1 52001"
		}
		if got := strings.TrimSpace(string(out)); got != want {
			t.Errorf("%s: the shell got %q, want %q", tmpl, got, want)
		}
	}
}

// on_drain_timeout is "stop" by default, "deploy" on request, and nothing else.
func TestOnDrainTimeout(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte(minimal))
	if err != nil || c.OnDrainTimeout != DrainTimeoutStop {
		t.Fatalf("default: %q, %v", c.OnDrainTimeout, err)
	}
	c, err = Parse([]byte("on_drain_timeout = \"deploy\"\n" + minimal))
	if err != nil || c.OnDrainTimeout != DrainTimeoutDeploy {
		t.Errorf("deploy: %v, %v", c, err)
	}
	_, err = Parse([]byte("on_drain_timeout = \"go\"\n" + minimal))
	if err == nil || !strings.Contains(err.Error(), `on_drain_timeout (line 1): "go": want "stop"`) {
		t.Errorf("a bad value: %v", err)
	}
}
