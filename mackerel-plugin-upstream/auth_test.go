package main

// Basic auth end to end: Debian's nginx whose dynamic_upstream location
// (the Lua drop-in's, and the real C module's) requires auth_basic against
// an htpasswd file the test writes, started by lib/balancer/balancertest;
// the built plugin binary, and the README's auth snippet through the real
// mackerel-agent.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sre-suite/mackerel-plugins/lib/balancer/balancertest"
	"github.com/sre-suite/mackerel-plugins/lib/metricname"
	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

const (
	rightPassword = "Right-pw-4711 x"
	wrongPassword = "Wrong-pw-0815 y"
)

// startAuthNginx starts nginx in front of two backends, its API open to
// user ops with rightPassword only.
func startAuthNginx(t *testing.T, module bool) *balancertest.Nginx {
	t.Helper()
	bs := balancertest.StartBackends(t, 2)
	return balancertest.StartNginxWith(t, balancertest.NginxOptions{Backends: balancertest.Addrs(bs), Module: module,
		APIHtpasswd: "ops:{PLAIN}" + rightPassword + "\n"})
}

// secretFile writes a password file as the README says: mode 0600, the
// password alone on one line.
func secretFile(t *testing.T, password string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nginx-api.pw")
	if err := os.WriteFile(path, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func assertNoSecret(t *testing.T, what string, run pluginRun) {
	t.Helper()
	for _, pw := range []string{rightPassword, wrongPassword} {
		if strings.Contains(run.stdout, pw) || strings.Contains(run.stderr, pw) {
			t.Errorf("%s: a password is printed:\nstdout: %s\nstderr: %s", what, run.stdout, run.stderr)
		}
	}
}

func TestBasicAuth(t *testing.T) { eachNginxKind(t, testBasicAuth) }

func testBasicAuth(t *testing.T, module bool) {
	ng := startAuthNginx(t, module)
	right, wrong := secretFile(t, rightPassword), secretFile(t, wrongPassword)
	flags := []string{"--nginx-url", ng.APIURL, "--nginx-zone", balancertest.Zone, "--nginx-name", "web-lb", "--nginx-user", "ops"}
	with := func(more ...string) []string { return append(append([]string{}, flags...), more...) }
	config := filepath.Join(t.TempDir(), "deploy.toml")
	os.WriteFile(config, []byte(fmt.Sprintf("[[balancer]]\nname = \"web-lb\"\ndriver = \"ngx_dynamic_upstream\"\nurl = %q\nupstreams = [%q]\nuser = \"ops\"\npassword = %q\n",
		ng.APIURL, balancertest.Zone, rightPassword)), 0o600)
	const unset = "UPSTREAM_NGINX_PASSWORD"

	// The right password: from the file, from the environment, the file
	// before the environment, and deploy-tool's TOML file.
	for what, c := range map[string]struct {
		env  []string
		args []string
	}{
		"file":              {[]string{unset}, with("--nginx-password-file", right)},
		"environment":       {[]string{unset + "=" + rightPassword}, flags},
		"file before env":   {[]string{unset + "=" + wrongPassword}, with("--nginx-password-file", right)},
		"--config password": {[]string{unset}, []string{"--config", config}},
	} {
		run := runPlugin(t, c.env, c.args...)
		if run.code != 0 || run.stderr != "" || run.metrics["upstream.web-lb.servers.backend_zone.up"] != 2 ||
			run.metrics["upstream.web-lb.servers.backend_zone.total"] != 2 {
			t.Errorf("%s, right password: exit %d\nstdout: %s\nstderr: %s", what, run.code, run.stdout, run.stderr)
		}
		if _, ok := run.metrics["upstream.web-lb.active.backend_zone"]; ok == module {
			t.Errorf("%s: active reported %v with module %v", what, ok, module)
		}
		assertNoSecret(t, what, run)
	}

	// No password (the control: the location does require one) and a wrong
	// one: nothing read, exit 1, the balancer and the 401 named.
	for what, c := range map[string]struct {
		env  []string
		args []string
	}{
		"no user, no password":          {[]string{unset}, []string{"--nginx-url", ng.APIURL, "--nginx-zone", balancertest.Zone, "--nginx-name", "web-lb"}},
		"wrong file":                    {[]string{unset}, with("--nginx-password-file", wrong)},
		"wrong environment":             {[]string{unset + "=" + wrongPassword}, flags},
		"wrong file, right environment": {[]string{unset + "=" + rightPassword}, with("--nginx-password-file", wrong)},
	} {
		run := runPlugin(t, c.env, c.args...)
		lines := strings.Split(strings.TrimSpace(run.stderr), "\n")
		if run.code != 1 || run.stdout != "" || len(lines) != 2 ||
			!strings.HasPrefix(lines[0], "mackerel-plugin-upstream: balancer web-lb upstream backend_zone: not authorised (HTTP 401 from "+ng.APIURL+")") ||
			!strings.Contains(lines[0], "left out") || !strings.Contains(lines[1], "no balancer could be read") {
			t.Errorf("%s: exit %d\nstdout: %s\nstderr: %s", what, run.code, run.stdout, run.stderr)
		}
		assertNoSecret(t, what, run)
		t.Logf("%s: exit %d, stderr:\n%s", what, run.code, run.stderr)
	}

	// Meta mode reads the listing with the password too: the drop-in's
	// active graph is defined only when it could be read.
	meta := []string{"MACKEREL_AGENT_PLUGIN_META=1", unset}
	run := runPlugin(t, meta, with("--nginx-password-file", right)...)
	keys, err := metricname.CheckMeta([]byte(run.stdout))
	if run.code != 0 || err != nil || run.stderr != "" {
		t.Fatalf("meta, right password: exit %d, %v\n%s%s", run.code, err, run.stdout, run.stderr)
	}
	want := []string{"upstream.web-lb.servers.#"}
	if !module {
		want = append(want, "upstream.web-lb.active")
	}
	assertGraphs(t, keys, want...)
	run = runPlugin(t, meta, with("--nginx-password-file", wrong)...)
	keys, err = metricname.CheckMeta([]byte(run.stdout))
	if run.code != 0 || err != nil || !strings.Contains(run.stderr, "no active graph for balancer web-lb") ||
		!strings.Contains(run.stderr, "HTTP 401") {
		t.Fatalf("meta, wrong password: exit %d, %v\n%s%s", run.code, err, run.stdout, run.stderr)
	}
	assertGraphs(t, keys, "upstream.web-lb.servers.#")
	assertNoSecret(t, "meta, wrong password", run)
}

// The README's basic auth snippet, with this machine's binary, nginx URL
// and password file put in, through the real mackerel-agent: the metrics
// arrive with the right password and not with a wrong one.
func TestBasicAuthReadmeSnippetThroughMackerelAgent(t *testing.T) {
	commands := readmeCommands(t)
	var snippet []string
	for _, c := range commands {
		if strings.Contains(strings.Join(c, " "), "--nginx-password-file") {
			snippet = c
		}
	}
	if snippet == nil {
		t.Fatalf("no README snippet with --nginx-password-file in %v", commands)
	}
	ng := startAuthNginx(t, false)
	bin := testenv.BuildBinary(t, binaryName)
	for _, c := range []struct {
		password string
		want     bool
	}{{rightPassword, true}, {wrongPassword, false}} {
		replace := map[string]string{
			"/opt/mackerel-agent/plugins/bin/mackerel-plugin-upstream": bin,
			"http://127.0.0.1:6000/dynamic":                            ng.APIURL,
			"/etc/mackerel-agent/nginx-api.pw":                         secretFile(t, c.password),
		}
		var quoted []string
		for _, arg := range snippet {
			if r, ok := replace[arg]; ok {
				delete(replace, arg)
				arg = r
			}
			quoted = append(quoted, fmt.Sprintf("%q", arg))
		}
		if len(replace) != 0 {
			t.Fatalf("the README's auth snippet %v no longer has %v", snippet, replace)
		}
		got := testenv.AgentOnce(t, "[plugin.metrics.upstream]\ncommand = ["+strings.Join(quoted, ", ")+"]\n")
		up, ok := got["upstream.nginx.servers.backend_zone.up"]
		if c.want && (!ok || up != 2 || got["upstream.nginx.servers.backend_zone.total"] != 2) {
			t.Errorf("right password: %v", got)
		}
		if !c.want && ok {
			t.Errorf("wrong password, yet metrics: %v", got)
		}
	}
}
