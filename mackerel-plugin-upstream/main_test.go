package main

// End-to-end tests: the built binary, and the real mackerel-agent (`once`),
// against Debian's nginx with the nginx/ Lua drop-in, the same nginx with
// the real ngx_dynamic_upstream module, and HAProxy 2.6, all started by
// lib/balancer/balancertest in front of Go backends on loopback.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/balancer"
	"github.com/sre-suite/mackerel-plugins/lib/balancer/balancertest"
	"github.com/sre-suite/mackerel-plugins/lib/metricname"
	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type pluginRun struct {
	code    int
	stdout  string
	stderr  string
	metrics map[string]float64
}

func runPlugin(t testing.TB, env []string, args ...string) pluginRun {
	t.Helper()
	bin := testenv.BuildBinary(t, "mackerel-plugin-upstream")
	r := testenv.Run(t, bin, env, args...)
	run := pluginRun{code: r.Code, stdout: r.Stdout, stderr: r.Stderr, metrics: map[string]float64{}}
	if !strings.HasPrefix(r.Stdout, "# mackerel-agent-plugin") {
		run.metrics = testenv.Metrics(t, r.Stdout)
	}
	return run
}

// rig is nginx (3 backends, one down, one slow request in flight) and
// HAProxy (3 backends, one draining) described by a TOML file that also
// names a third balancer nobody listens for. With module, nginx runs the
// real ngx_dynamic_upstream module and also has a backup server and a
// second upstream block sharing the zone, which the module does not list.
type rig struct {
	config string
	nginx  *balancertest.Nginx
	hap    *balancertest.HAProxy
}

func startRig(t *testing.T, module bool) rig {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	nbs := balancertest.StartBackends(t, 5)
	o := balancertest.NginxOptions{Backends: balancertest.Addrs(nbs[:3]), Workers: 2}
	if module {
		o.Module, o.Backup, o.SecondServers = true, []string{nbs[3].Addr}, []string{nbs[4].Addr}
	}
	ng := balancertest.StartNginxWith(t, o)
	hbs := balancertest.StartBackends(t, 3)
	hp := balancertest.StartHAProxy(t, balancertest.Addrs(hbs))
	dead := testenv.FreePort(t)
	config := filepath.Join(t.TempDir(), "deploy.toml")
	text := fmt.Sprintf(`# deploy-tool's settings are ignored by the plugin
[deploy]
command = "true"

[[balancer]]
name = "web-lb"
driver = "ngx_dynamic_upstream"
url = %q
upstreams = [%q]

[[balancer]]
name = "hap"
driver = "haproxy"
socket = %q
upstreams = [%q]

[[balancer]]
name = "gone"
driver = "ngx_dynamic_upstream"
url = "http://127.0.0.1:%d/dynamic"
upstreams = ["z"]
timeout = "1s"
`, ng.APIURL, balancertest.Zone, hp.Socket, hp.Backend, dead)
	if err := os.WriteFile(config, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgs, err := balancer.LoadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	nb, _ := balancer.New(cfgs[0])
	hb, _ := balancer.New(cfgs[1])
	if err := nb.Down(ctx, balancertest.Zone, nbs[2].Addr); err != nil {
		t.Fatal(err)
	}
	if err := hb.Drain(ctx, hp.Backend, "app3"); err != nil {
		t.Fatal(err)
	}
	// One slow request in flight through nginx for the active count.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		balancertest.Get(ctx, ng.Frontend+"/?sleep=15s", 20*time.Second)
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if nbs[0].InFlight()+nbs[1].InFlight() == 1 {
			servers, err := nb.List(ctx)
			if module || err == nil && servers[0].Active+servers[1].Active == 1 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the slow request never showed as in flight")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return rig{config: config, nginx: ng, hap: hp}
}

// The same rig through the real agent, with the drop-in and with the C
// module: the module reports no in-flight count, so there is no active
// metric, and its total counts only the servers it lists.
func TestThroughMackerelAgentWithOneBalancerUnreachable(t *testing.T) {
	eachNginxKind(t, testThroughMackerelAgent)
}

// eachNginxKind runs f as a subtest with the Lua drop-in (module false)
// and with the real C module.
func eachNginxKind(t *testing.T, f func(t *testing.T, module bool)) {
	for _, module := range []bool{false, true} {
		name := map[bool]string{false: "lua-drop-in", true: "c-module"}[module]
		t.Run(name, func(t *testing.T) { f(t, module) })
	}
}

func testThroughMackerelAgent(t *testing.T, module bool) {
	r := startRig(t, module)
	bin := testenv.BuildBinary(t, "mackerel-plugin-upstream")
	got := testenv.AgentOnce(t, fmt.Sprintf("[plugin.metrics.upstream]\ncommand = [%q, \"--config\", %q]\n", bin, r.config))
	want := map[string]float64{
		"upstream.web-lb.servers.backend_zone.up":       2,
		"upstream.web-lb.servers.backend_zone.down":     1,
		"upstream.web-lb.servers.backend_zone.draining": 0,
		// with the module: not the backup, not the second block's server
		"upstream.web-lb.servers.backend_zone.total": 3,
		"upstream.web-lb.active.backend_zone":        1,
		"upstream.hap.servers.app.up":                2,
		"upstream.hap.servers.app.down":              0,
		"upstream.hap.servers.app.draining":          1,
		"upstream.hap.servers.app.total":             3,
		"upstream.hap.active.app":                    0,
	}
	if module {
		delete(want, "upstream.web-lb.active.backend_zone")
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	for k := range got {
		if strings.HasPrefix(k, "upstream.") {
			if _, ok := want[k]; !ok {
				t.Errorf("unexpected metric %s = %v (the unreachable balancer must report nothing)", k, got[k])
			}
		}
	}

	// The binary itself: one stderr line for the unreachable balancer, exit 0.
	run := runPlugin(t, nil, "--config", r.config)
	t.Logf("stdout:\n%s\nstderr:\n%s", run.stdout, run.stderr)
	if run.code != 0 {
		t.Errorf("exit %d with two of three balancers read\n%s", run.code, run.stderr)
	}
	lines := strings.Split(strings.TrimSpace(run.stderr), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "balancer gone upstream z") || !strings.Contains(lines[0], "left out") {
		t.Errorf("stderr: %q", run.stderr)
	}
	// Only the unreachable one: nothing read, exit 1.
	run = runPlugin(t, nil, "--config", r.config, "--balancer", "gone")
	if run.code != 1 || run.stdout != "" || !strings.Contains(run.stderr, "no balancer could be read") {
		t.Errorf("only the unreachable balancer: exit %d, stdout %q, stderr %q", run.code, run.stdout, run.stderr)
	}
}

func TestFlagsInsteadOfConfig(t *testing.T) {
	r := startRig(t, false)
	run := runPlugin(t, nil, "--nginx-url", r.nginx.APIURL, "--nginx-zone", balancertest.Zone,
		"--haproxy-socket", r.hap.TCPSocket, "--haproxy-backend", r.hap.Backend, "--metric-key-prefix", "lb")
	if run.code != 0 || run.stderr != "" {
		t.Fatalf("exit %d: %s", run.code, run.stderr)
	}
	for k, v := range map[string]float64{
		"lb.nginx.servers.backend_zone.down": 1, "lb.nginx.active.backend_zone": 1,
		"lb.haproxy.servers.app.draining": 1, "lb.haproxy.servers.app.total": 3,
	} {
		if run.metrics[k] != v {
			t.Errorf("%s = %v, want %v\n%s", k, run.metrics[k], v, run.stdout)
		}
	}
}

func TestMetaOutput(t *testing.T) {
	config := filepath.Join(t.TempDir(), "lb.toml")
	os.WriteFile(config, []byte(`
[[balancer]]
name = "web.lb #1"
driver = "ngx_dynamic_upstream"
url = "http://127.0.0.1:1/dynamic"
upstreams = ["z"]
timeout = "1s"
`), 0o644)
	// Nothing listens on port 1 nor at the socket: the nginx balancer cannot
	// tell whether it reports requests in flight, so it gets no active
	// graph; HAProxy always reports them.
	run := runPlugin(t, []string{"MACKEREL_AGENT_PLUGIN_META=1"}, "--config", config,
		"--haproxy-socket", "/nonexistent.sock", "--haproxy-backend", "app")
	if run.code != 0 {
		t.Fatalf("exit %d: %s", run.code, run.stderr)
	}
	keys, err := metricname.CheckMeta([]byte(run.stdout))
	if err != nil {
		t.Fatalf("%v\n%s", err, run.stdout)
	}
	assertGraphs(t, keys, "upstream.web_lb__1.servers.#", "upstream.haproxy.servers.#", "upstream.haproxy.active")
	if !strings.Contains(run.stdout, `"stacked":true`) {
		t.Errorf("no stacked metrics: %s", run.stdout)
	}
	if !strings.Contains(run.stderr, "no active graph for balancer web.lb #1: whether it reports requests in flight is unknown") ||
		!strings.Contains(run.stderr, "connection refused") {
		t.Errorf("stderr: %q", run.stderr)
	}
}

// The active graph is defined only for balancers that report requests in
// flight: the drop-in does, the C module does not (Mackerel would show an
// empty graph).
func TestMetaOutputDefinesActiveOnlyWhereReported(t *testing.T) {
	bs := balancertest.StartBackends(t, 2)
	lua := balancertest.StartNginx(t, balancertest.Addrs(bs), 1)
	mod := balancertest.StartModuleNginx(t, balancertest.Addrs(bs), 1)
	run := runPlugin(t, []string{"MACKEREL_AGENT_PLUGIN_META=1"},
		"--nginx-url", lua.APIURL, "--nginx-zone", balancertest.Zone, "--nginx-name", "lua")
	keys, err := metricname.CheckMeta([]byte(run.stdout))
	if run.code != 0 || err != nil {
		t.Fatalf("exit %d, %v\n%s%s", run.code, err, run.stdout, run.stderr)
	}
	assertGraphs(t, keys, "upstream.lua.servers.#", "upstream.lua.active")

	config := filepath.Join(t.TempDir(), "lb.toml")
	os.WriteFile(config, []byte(fmt.Sprintf("[[balancer]]\nname = \"c\"\ndriver = \"ngx_dynamic_upstream\"\nurl = %q\nupstreams = [%q]\n",
		mod.APIURL, balancertest.Zone)), 0o644)
	run = runPlugin(t, []string{"MACKEREL_AGENT_PLUGIN_META=1"}, "--config", config,
		"--nginx-url", lua.APIURL, "--nginx-zone", balancertest.Zone, "--nginx-name", "lua")
	keys, err = metricname.CheckMeta([]byte(run.stdout))
	if run.code != 0 || err != nil {
		t.Fatalf("exit %d, %v\n%s%s", run.code, err, run.stdout, run.stderr)
	}
	assertGraphs(t, keys, "upstream.c.servers.#", "upstream.lua.servers.#", "upstream.lua.active")
	if run.stderr != "" {
		t.Errorf("stderr for two readable balancers: %q", run.stderr)
	}

	// Value mode agrees: no active value for the module.
	run = runPlugin(t, nil, "--config", config, "--nginx-url", lua.APIURL, "--nginx-zone", balancertest.Zone, "--nginx-name", "lua")
	if _, ok := run.metrics["upstream.c.active.backend_zone"]; ok || run.metrics["upstream.lua.active.backend_zone"] != 0 {
		t.Errorf("values: %v", run.metrics)
	}
	if _, ok := run.metrics["upstream.lua.active.backend_zone"]; !ok || run.metrics["upstream.c.servers.backend_zone.total"] != 2 {
		t.Errorf("values: %v\n%s", run.metrics, run.stderr)
	}
}

// assertGraphs checks that the meta output defines exactly these graphs.
func assertGraphs(t *testing.T, keys []string, want ...string) {
	t.Helper()
	got := slices.Clone(keys)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("graphs %v, want %v", got, want)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Setenv("UPSTREAM_NGINX_PASSWORD", "") // run reads it
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("[[balancer]]\nname = \"x\"\ndriver = \"f5\"\nupstreams = [\"a\"]\n"), 0o644)
	badURL := filepath.Join(dir, "badurl.toml")
	os.WriteFile(badURL, []byte("[[balancer]]\nname = \"a\"\ndriver = \"ngx_dynamic_upstream\"\nurl = \"http://ops:hunter22@127.0.0.1:port/d\"\nupstreams = [\"z\"]\n"), 0o644)
	fifo := filepath.Join(dir, "fifo.toml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	nginx := []string{"--nginx-url", "http://x/d", "--nginx-zone", "z"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "no balancer to read"},
		{[]string{"--nginx-url", "http://127.0.0.1:1/d"}, "--nginx-url and --nginx-zone go together"},
		{[]string{"--haproxy-backend", "app"}, "--haproxy-socket and --haproxy-backend go together"},
		{[]string{"--balancer", "x"}, "--balancer needs --config"},
		{[]string{"--config", bad}, `unknown driver "f5"`},
		{[]string{"--config", filepath.Join(dir, "missing.toml")}, "--config: open " + filepath.Join(dir, "missing.toml") + ": no such file or directory"},
		{[]string{"--config", fifo}, "--config: " + fifo + " is a named pipe (FIFO), not a regular file"},
		{append(nginx, "--metric-key-prefix", "a.*"), "--metric-key-prefix"},
		{append(nginx, "--haproxy-socket", "s", "--haproxy-backend", "b", "--haproxy-name", "nginx"), `"nginx" is used twice`},
		{[]string{"--nope"}, "unknown flag --nope"},
		{append(nginx, "extra"), `unexpected argument "extra": this command takes flags only`},
		{append(nginx, "--timeout", "0"), "--timeout 0s: want more than 0 and at most 20s"},
		{append(nginx, "--timeout", "21"), "--timeout 21s: want more than 0 and at most 20s"},
		{append(nginx, "--timeout", "soon"), `--timeout: "soon" is not a duration`},
		{append(nginx, "--nginx-password", "hunter22"), "unknown flag --nginx-password: the password comes from --nginx-password-file or $UPSTREAM_NGINX_PASSWORD, never from the command line"},
		{append(nginx, "--nginx-password-file", filepath.Join(dir, "none")), "--nginx-password-file: open "},
		{[]string{"--nginx-password-file", bad}, "--nginx-password-file needs --nginx-url"},
		{append(nginx, "--nginx-user", "ops"), "--nginx-user ops without a password: give --nginx-password-file, or set $UPSTREAM_NGINX_PASSWORD"},
		{[]string{"--nginx-url", "http://ops:hunter22@127.0.0.1:6000/dynamic", "--nginx-zone", "z"}, "--nginx-url: no user or password in the URL"},
		{[]string{"--nginx-url", "http://ops@127.0.0.1:6000/dynamic", "--nginx-zone", "z"}, "use --nginx-user, and --nginx-password-file or $UPSTREAM_NGINX_PASSWORD"},
		{[]string{"--nginx-url", "ftp://127.0.0.1/dynamic", "--nginx-zone", "z"}, `balancer nginx: url "ftp://127.0.0.1/dynamic" is not http(s)://host/path`},
		{[]string{"--nginx-url", "http://127.0.0.1:port/dynamic", "--nginx-zone", "z"}, `balancer nginx: url "http://127.0.0.1:port/dynamic": invalid port`},
		{[]string{"--nginx-url", "http://127.0.0.1/dynamic", "--nginx-zone", "a&b"}, `balancer nginx: upstream name "a&b" has characters a query cannot carry unescaped`},
		{[]string{"--config", badURL}, `balancer a: url "http://xxxxx@127.0.0.1:port/d": invalid port`},
	} {
		var out, errb bytes.Buffer
		code := run(c.args, &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), c.want) || out.Len() != 0 ||
			!strings.HasPrefix(errb.String(), "mackerel-plugin-upstream: ") || strings.Count(errb.String(), "\n") != 1 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q, want one line with %q", c.args, code, out.String(), errb.String(), c.want)
		}
		if strings.Contains(errb.String(), "hunter22") {
			t.Errorf("%v: the password is shown: %q", c.args, errb.String())
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"--version"}, &out, &errb); code != 0 || out.String() != "mackerel-plugin-upstream dev\n" {
		t.Errorf("--version: %d %q", code, out.String())
	}
	out.Reset()
	if code := run([]string{"--help"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "PREFIX.BALANCER.servers.UPSTREAM.draining  integer") ||
		!strings.Contains(out.String(), "--nginx-password-file") || !strings.Contains(out.String(), "Exit codes") {
		t.Errorf("--help: %d\n%s", code, out.String())
	}
}

// The nginx password comes from --nginx-password-file, else from the
// environment; bare seconds are a --timeout like everywhere in the suite.
func TestPasswordAndTimeout(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte("from file\n"), 0o600)
	env := func(k string) string {
		if k == "UPSTREAM_NGINX_PASSWORD" {
			return "from env"
		}
		return ""
	}
	for want, args := range map[string][]string{
		"from file": {"--nginx-url", "http://x/d", "--nginx-zone", "z", "--nginx-password-file", pwFile, "--timeout", "3"},
		"from env":  {"--nginx-url", "http://x/d", "--nginx-zone", "z", "--nginx-user", "ops", "--timeout", "3"},
	} {
		var o options
		if _, out := program.Parse(&o, args); out.Done {
			t.Fatalf("%v: %+v", args, out)
		}
		cfgs, err := o.configs(env)
		if err != nil || len(cfgs) != 1 || cfgs[0].Password != want || time.Duration(cfgs[0].Timeout) != 3*time.Second {
			t.Errorf("%v: %+v %v", args, cfgs, err)
		}
	}
}
