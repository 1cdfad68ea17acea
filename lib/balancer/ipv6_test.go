package balancer_test

// IPv6 backends ([::1]) behind each of the three kinds (the Lua drop-in,
// the real ngx_dynamic_upstream module, HAProxy), marked down and up through
// the drivers while internal/loadgen sends traffic: no request may fail, and
// a server that is down receives nothing.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/internal/loadgen"
	"github.com/sre-suite/mackerel-plugins/lib/balancer"
	"github.com/sre-suite/mackerel-plugins/lib/balancer/balancertest"
	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// ipv6Kind starts one kind of balancer in front of IPv6 backends written
// as addrs and returns its front end, a driver and the upstream to change.
type ipv6Kind struct {
	name  string
	start func(t *testing.T, addrs []string) (frontend string, drv balancer.Balancer, upstream string)
}

func nginxIPv6(module bool) func(*testing.T, []string) (string, balancer.Balancer, string) {
	return func(t *testing.T, addrs []string) (string, balancer.Balancer, string) {
		ng := balancertest.StartNginxWith(t, balancertest.NginxOptions{Backends: addrs, Workers: 2, Module: module})
		return ng.Frontend, nginxDriver(t, ng.APIURL), ng.Zone
	}
}

var ipv6Kinds = []ipv6Kind{
	{"lua-drop-in", nginxIPv6(false)},
	{"c-module", nginxIPv6(true)},
	{"haproxy", func(t *testing.T, addrs []string) (string, balancer.Balancer, string) {
		hp := balancertest.StartHAProxy(t, addrs)
		return hp.Frontend, haproxyDriver(t, hp.Socket), hp.Backend
	}},
}

func TestIPv6BackendsUnderLoad(t *testing.T) {
	for _, k := range ipv6Kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			testIPv6BackendsUnderLoad(t, k)
		})
	}
}

func testIPv6BackendsUnderLoad(t *testing.T, k ipv6Kind) {
	bs := balancertest.StartBackends6(t, 3)
	written := balancertest.Addrs(bs)
	// The first server in a long form: nginx (and the drop-in) must list
	// it, and match server=, as [::1]:PORT.
	written[0] = "[0:0:0::1]:" + strconv.Itoa(balancertest.Port(bs[0].Addr))
	frontend, drv, upstream := k.start(t, written)
	ctx := ctxT(t)
	servers, err := drv.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, s := range servers {
		listed = append(listed, s.Addr)
	}
	if want := balancertest.Addrs(bs); strings.Join(listed, " ") != strings.Join(want, " ") {
		t.Fatalf("listed %v, want %v", listed, want)
	}

	load := loadgen.Start(frontend, 100)
	defer load.Stop()
	for _, b := range bs {
		waitHits(t, bs, b, 1, "the first request to "+b.Addr)
	}
	for _, b := range bs {
		if err := drv.Down(ctx, upstream, b.Addr); err != nil {
			t.Fatal(err)
		}
		// Requests the balancer sent before the mark-down may still
		// arrive: wait until the server is idle and the others have
		// served a few more, then nothing may reach it.
		waitFor(t, 10*time.Second, b.Addr+" idle", func() bool { return b.InFlight() == 0 })
		waitOthers(t, bs, b, 10)
		before := b.Hits()
		waitOthers(t, bs, b, 60)
		if got := b.Hits(); got != before {
			t.Fatalf("%s is down but received %d requests", b.Addr, got-before)
		}
		if err := drv.Up(ctx, upstream, b.Addr); err != nil {
			t.Fatal(err)
		}
		waitHits(t, bs, b, before+5, b.Addr+" serving again after up")
	}
	r := load.Report()
	t.Log(r.Text)
	if r.Errors != 0 || r.Non2xx != 0 || r.Total < 100 {
		t.Fatalf("want 0 errors and 0 non-2xx of at least 100 requests: %s", r.Text)
	}
}

// waitHits waits until b has received at least n requests.
func waitHits(t *testing.T, bs []*balancertest.Backend, b *balancertest.Backend, n int64, what string) {
	t.Helper()
	waitFor(t, 15*time.Second, what, func() bool { return b.Hits() >= n })
}

// waitOthers waits until the backends other than b have served n more
// requests between them.
func waitOthers(t *testing.T, bs []*balancertest.Backend, b *balancertest.Backend, n int64) {
	t.Helper()
	others := func() int64 {
		var sum int64
		for _, o := range bs {
			if o != b {
				sum += o.Hits()
			}
		}
		return sum
	}
	start := others()
	waitFor(t, 15*time.Second, fmt.Sprintf("%d requests to the servers other than %s", n, b.Addr),
		func() bool { return others() >= start+n })
}

// The drop-in lists IPv6 servers exactly as the C module prints them
// (nginx's ngx_inet6_ntop), whatever form the config writes them in, and
// refuses the same server written twice in two forms.
func TestDropInListsIPv6LikeTheModule(t *testing.T) {
	forms := []string{
		"[0:0:0:0:0:0:0:1]:8001",
		"[2001:DB8:0:0:1:0:0:1]:8002",
		"[1:0:0:2:0:0:0:3]:8003",
		"[1:0:0:2:0:0:3:4]:8004",
		"[::ffff:10.0.0.1]:8005",
		"[::10.0.0.2]:8006",
		"[fe80::]:8007",
		"[::]:8008",
		"[1:2:3:4:5:6:7:8]:8009",
		"[0:0:1::]:8010",
		"[::0.0.1.2]:8011",
		"010.0.0.3:8012",
	}
	lists := map[string]string{}
	for _, k := range nginxKinds {
		ng := k.start(t, balancertest.NginxOptions{Backends: forms})
		code, body, err := balancertest.Get(ctxT(t), ng.APIURL+"?upstream="+ng.Zone, 5*time.Second)
		if err != nil || code != 200 {
			t.Fatalf("%s: list: %d %v", k.name, code, err)
		}
		lists[k.name] = body
	}
	if lists["lua-drop-in"] != lists["c-module"] {
		t.Fatalf("the drop-in lists\n%s\nthe C module lists\n%s", lists["lua-drop-in"], lists["c-module"])
	}
	t.Logf("both list:\n%s", lists["c-module"])
}

func TestDropInRefusesAnIPv6ServerWrittenTwice(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := nginxStart(ctx, t, []string{"[::1]:8001", "[0::1]:8001"})
	if err == nil || ctx.Err() != nil || !strings.Contains(out, "[0::1]:8001 is listed twice (as [::1]:8001)") {
		t.Fatalf("nginx: err %v, output:\n%s", err, out)
	}
}

// nginxStart writes the drop-in's config for servers and starts nginx with
// it, expecting it to stop: `nginx -t` does not run init_by_lua, where the
// drop-in checks its servers. ctx ends a start that did not fail.
func nginxStart(ctx context.Context, t *testing.T, servers []string) (string, error) {
	bin := testenv.RequireCommand(t, "nginx")
	dir := t.TempDir()
	for _, sub := range []string{"logs", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf, err := balancertest.NginxConfig(dir, testenv.FreePort(t), testenv.FreePort(t), balancertest.NginxOptions{Backends: servers})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, bin, "-p", dir, "-c", path)
	// A start that did not fail runs a master and workers: end them all.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}
