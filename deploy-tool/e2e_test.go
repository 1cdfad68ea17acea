package main

// End-to-end tests: the deploy-tool binary against real nginx (Debian's
// 1.22 with the Lua drop-in from nginx/) and real HAProxy 2.6, started by
// lib/balancer/balancertest under private prefixes on loopback ports, in
// front of 4 testapp processes (internal/testapp), under load.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/internal/loadgen"
	"github.com/sre-suite/mackerel-plugins/lib/balancer"
	"github.com/sre-suite/mackerel-plugins/lib/balancer/balancertest"
	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// TestMain runs up to 6 tests at once unless -parallel says otherwise: the
// end-to-end tests mostly wait (for drains, health checks, fail_timeout),
// and `go test`'s default of GOMAXPROCS (2 here) would leave the machine
// idle. Those that send load take turns (see heavy).
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", "6")
	}
	testenv.Main(m)
}

// heavy lets one test at a time send load through a balancer: their
// assertions (zero errors, a minimum of requests) are about deploy-tool,
// not about how many load generators two cores can run at once.
var heavy = make(chan struct{}, 1)

// takeTurn waits for the test's turn to send load, until its end.
func takeTurn(t testing.TB) {
	heavy <- struct{}{}
	t.Cleanup(func() { <-heavy })
}

// startNginx starts nginx with the Lua drop-in, with fail_timeout 1 s
// (nginx's default is 10 s): deploy-tool waits out fail_timeout after a
// server came back before it puts max_fails back.
func startNginx(t testing.TB, addrs []string, workers int) *balancertest.Nginx {
	t.Helper()
	o := balancertest.NginxOptions{Backends: addrs, Workers: workers, ServerParams: map[string]string{}}
	for _, a := range addrs {
		o.ServerParams[a] = "max_fails = 1, fail_timeout = 1"
	}
	return balancertest.StartNginxWith(t, o)
}

// apps are testapp processes, started detached by `testapp restart` (the
// deploy command does the same), stopped by their pid files at cleanup.
type apps struct {
	t     testing.TB
	bin   string
	dir   string
	addrs []string
}

func startApps(t testing.TB, n int, version string) *apps {
	t.Helper()
	a := &apps{t: t, bin: testenv.BuildBinary(t, "deploy-tool/internal/testapp"), dir: t.TempDir()}
	t.Cleanup(a.stopAll)
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := filepath.Glob(filepath.Join(a.dir, "*.log"))
			for _, f := range logs {
				b, _ := os.ReadFile(f)
				t.Logf("%s:\n%s", filepath.Base(f), b)
			}
		}
	})
	for range n {
		addr := fmt.Sprintf("127.0.0.1:%d", appPort(t))
		a.addrs = append(a.addrs, addr)
		a.restart(addr, version)
	}
	return a
}

// appPort is a port for an app that restarts (testenv.RestartablePort).
func appPort(t testing.TB) int { return testenv.RestartablePort(t) }

// command is the deploy command template: restart the app with a version.
func (a *apps) command(version string) string {
	return fmt.Sprintf("%s restart --addr {addr} --version %s --pidfile %s/{port}.pid --log %s/{port}.log --max-lifetime 5m",
		a.bin, version, a.dir, a.dir)
}

func (a *apps) restart(addr, version string) {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	line := strings.NewReplacer("{addr}", addr, "{port}", strconv.Itoa(balancertest.Port(addr))).Replace(a.command(version))
	if out, err := exec.CommandContext(ctx, "/bin/sh", "-c", line).CombinedOutput(); err != nil {
		a.t.Fatalf("%s: %v\n%s", line, err, out)
	}
}

func (a *apps) pid(addr string) int {
	b, _ := os.ReadFile(filepath.Join(a.dir, strconv.Itoa(balancertest.Port(addr))+".pid"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func (a *apps) stopAll() {
	for _, addr := range a.addrs {
		pid := a.pid(addr)
		if pid <= 0 {
			continue
		}
		syscall.Kill(pid, syscall.SIGKILL)
		for i := 0; i < 200 && running(pid); i++ {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// running reports whether pid is a process that has not exited. The apps
// are detached, so a dead one becomes a zombie of PID 1, which need not
// reap it: kill(pid, 0) succeeds on a zombie, /proc/PID/stat says Z.
func running(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

func (a *apps) versions() []string {
	var out []string
	for _, addr := range a.addrs {
		code, body, err := balancertest.Get(context.Background(), "http://"+addr+"/version", 2*time.Second)
		if err != nil || code != 200 {
			out = append(out, fmt.Sprintf("error(%d %v)", code, err))
			continue
		}
		out = append(out, strings.TrimSpace(body))
	}
	return out
}

// startLoad sends keep-alive traffic at a fixed rate through the balancer
// (internal/loadgen: 70% fast GETs, 25% POSTs, 5% slow GETs of 1–2 s) until
// Report or the end of the test.
func startLoad(t testing.TB, url string, rate int) *loadgen.Load {
	l := loadgen.Start(url, rate)
	t.Cleanup(l.Stop)
	return l
}

// e2eConfig writes a deploy-tool config for the apps behind one balancer.
func e2eConfig(t testing.TB, a *apps, balancerTOML, version, extra string) string {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "state_dir = %q\n%s\n", filepath.Join(dir, "state"), extra)
	// The recommended drain settings: max_request_time is the test nginx's
	// proxy_read_timeout (40 s), and drain_timeout covers it. The drop-in
	// and HAProxy count requests in flight, so their drain ends when none
	// is left; the C module's tests set drain_wait (see moduleDrain).
	for _, d := range []string{`max_request_time = "40s"`, `drain_timeout = "45s"`, `settle = "100ms"`, `up_timeout = "10s"`} {
		if key, _, _ := strings.Cut(d, " "); !strings.Contains(extra, key+" =") {
			b.WriteString(d + "\n")
		}
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "[deploy]\ncommand = %q\ntimeout = \"30s\"\n\n", a.command(version))
	b.WriteString("[health]\nurl = \"http://{addr}/healthz\"\ninterval = \"50ms\"\nretries = 40\ntimeout = \"1s\"\n\n")
	b.WriteString(balancerTOML + "\n")
	for _, addr := range a.addrs {
		fmt.Fprintf(&b, "[[server]]\naddr = %q\n\n", addr)
	}
	path := filepath.Join(dir, "deploy.toml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func nginxTOML(n *balancertest.Nginx) string {
	return fmt.Sprintf("[[balancer]]\nname = \"nginx\"\ndriver = \"ngx_dynamic_upstream\"\nurl = %q\nupstreams = [%q]\n", n.APIURL, n.Zone)
}

func haproxyTOML(h *balancertest.HAProxy) string {
	return fmt.Sprintf("[[balancer]]\nname = \"haproxy\"\ndriver = \"haproxy\"\nsocket = %q\nupstreams = [%q]\n", h.Socket, h.Backend)
}

// tool runs the deploy-tool binary and returns its exit code and output.
func tool(t testing.TB, args ...string) (int, string) {
	t.Helper()
	cmd, out := toolCmd(t, args...)
	err := cmd.Run()
	return processExit(t, err), out.String()
}

func toolCmd(t testing.TB, args ...string) (*exec.Cmd, *testenv.Buffer) {
	t.Helper()
	bin := testenv.BuildBinary(t, "deploy-tool")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "MACKEREL_PLUGIN_WORKDIR="+workdir(t))
	out := &testenv.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	return cmd, out
}

var workdirs sync.Map

// workdir is one MACKEREL_PLUGIN_WORKDIR per test, for the check's state.
func workdir(t testing.TB) string {
	if d, ok := workdirs.Load(t.Name()); ok {
		return d.(string)
	}
	d := t.TempDir()
	workdirs.Store(t.Name(), d)
	return d
}

func processExit(t testing.TB, err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	t.Fatalf("deploy-tool: %v", err)
	return -1
}

// listOf reads one balancer through lib/balancer.
func listOf(t testing.TB, bc balancer.Config) []balancer.Server {
	t.Helper()
	b, err := balancer.New(bc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	list, err := b.List(ctx)
	if err != nil {
		t.Fatalf("list %s: %v", bc.Name, err)
	}
	return list
}

// states reads one balancer: addr → state.
func states(t testing.TB, bc balancer.Config) map[string]balancer.State {
	t.Helper()
	m := map[string]balancer.State{}
	for _, s := range listOf(t, bc) {
		m[s.Addr] = s.State
	}
	return m
}

func wantAllUp(t testing.TB, bc balancer.Config, addrs []string, except ...string) {
	t.Helper()
	st := states(t, bc)
	for _, a := range addrs {
		want := balancer.Up
		for _, e := range except {
			if e == a {
				want = ""
			}
		}
		got := st[a]
		if want == "" && got == balancer.Up {
			t.Errorf("%s on %s is up, want it out of rotation", a, bc.Name)
		}
		if want == balancer.Up && got != balancer.Up {
			t.Errorf("%s on %s is %q, want up", a, bc.Name, got)
		}
	}
}

func nginxConfig(n *balancertest.Nginx) balancer.Config {
	return balancer.Config{Name: "nginx", Driver: balancer.DriverNginx, URL: n.APIURL, Upstreams: []string{n.Zone}}
}

func haproxyConfig(h *balancertest.HAProxy) balancer.Config {
	return balancer.Config{Name: "haproxy", Driver: balancer.DriverHAProxy, Socket: h.Socket, Upstreams: []string{h.Backend}}
}

const loadRate = 400

// zeroErrors is the acceptance test: a rollout over 4 apps under load
// gives no error at all, and the same restarts without the tool do.
// extra is added to the config; check, when not nil, looks at the
// rollout's output and the balancer right after it.
func zeroErrors(t *testing.T, frontend string, bc balancer.Config, a *apps, balancerTOML string, rate int, extra string, check func(out string)) {
	takeTurn(t)
	cfg := e2eConfig(t, a, balancerTOML, "v2", extra)
	l := startLoad(t, frontend, rate)
	time.Sleep(time.Second)
	code, out := tool(t, "rollout", "--config", cfg)
	time.Sleep(time.Second)
	r := l.Report()
	t.Logf("rollout: exit %d\n%s\nload: %s", code, out, r.Text)
	if code != 0 {
		t.Errorf("rollout exit %d, want 0", code)
	}
	if r.Non2xx != 0 || r.Errors != 0 {
		t.Errorf("under rollout: %d non-2xx, %d transport errors, want none", r.Non2xx, r.Errors)
	}
	// Enough traffic to mean something, without asserting a speed: a busy
	// machine slows the load generator and the rollout alike (a rollout of
	// 4 servers lasts several seconds, each drain waiting for 1–2 s requests).
	if r.Total < 1000 {
		t.Errorf("only %d requests were sent during the rollout, want at least 1000", r.Total)
	}
	wantAllUp(t, bc, a.addrs)
	if v := a.versions(); strings.Join(v, ",") != "v2,v2,v2,v2" {
		t.Errorf("versions %v, want v2 everywhere", v)
	}
	if check != nil {
		check(out)
	}

	// Control: the same load, the same restarts, without the tool.
	l = startLoad(t, frontend, rate)
	time.Sleep(time.Second)
	for _, addr := range a.addrs {
		a.restart(addr, "v3")
		time.Sleep(300 * time.Millisecond)
	}
	time.Sleep(time.Second)
	r = l.Report()
	t.Logf("control (restarts without deploy-tool): %s", r.Text)
	if r.Non2xx+r.Errors == 0 {
		t.Errorf("restarting in place without the tool gave no error: the test cannot fail")
	}
}

func TestZeroErrorsNginxLua(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end under load")
	}
	t.Parallel()
	a := startApps(t, 4, "v1")
	n := startNginx(t, a.addrs, 2)
	zeroErrors(t, n.Frontend, nginxConfig(n), a, nginxTOML(n), loadRate, "", nil)
}

func TestZeroErrorsHAProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end under load")
	}
	t.Parallel()
	a := startApps(t, 4, "v1")
	h := balancertest.StartHAProxy(t, a.addrs)
	zeroErrors(t, h.Frontend, haproxyConfig(h), a, haproxyTOML(h), loadRate, "", nil)
}
