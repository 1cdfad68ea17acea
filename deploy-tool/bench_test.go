package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/internal/loadgen"
	"github.com/sre-suite/mackerel-plugins/lib/balancer"
	"github.com/sre-suite/mackerel-plugins/lib/balancer/balancertest"
	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// TestBenchRollout is `make bench-rollout` (deploy-tool/bench-rollout.sh
// sets BENCH_ROLLOUT=1): the wall time of a rollout of 4 and of 16 servers
// under load, against the sum of the deploy commands' own times, then three
// deploy hosts at once over etcd (benchThreeHosts). The target is an
// overhead per server of at most its drain time plus 1 s, with no error
// under load. It is a measurement, not a timed test: it fails only on
// errors and broken guarantees, never on time.
func TestBenchRollout(t *testing.T) {
	if os.Getenv("BENCH_ROLLOUT") == "" {
		t.Skip("run by make bench-rollout (BENCH_ROLLOUT=1)")
	}
	for _, lb := range []string{"nginx", "haproxy"} {
		for _, n := range []int{4, 16} {
			t.Run(lb+"-"+strconv.Itoa(n), func(t *testing.T) { benchRollout(t, lb, n) })
		}
	}
	t.Run("three-hosts-etcd", benchThreeHosts)
}

func benchRollout(t *testing.T, lb string, n int) {
	a := startApps(t, n, "v1")
	var frontend, btoml string
	if lb == "nginx" {
		ng := balancertest.StartNginx(t, a.addrs, 2)
		frontend, btoml = ng.Frontend, nginxTOML(ng)
	} else {
		h := balancertest.StartHAProxy(t, a.addrs)
		frontend, btoml = h.Frontend, haproxyTOML(h)
	}
	cfg := e2eConfig(t, a, btoml, "v2", `settle = "200ms"`)
	l := startLoad(t, frontend, loadRate)
	time.Sleep(time.Second)
	t0 := time.Now()
	code, out := tool(t, "rollout", "--config", cfg)
	wall := time.Since(t0)
	time.Sleep(500 * time.Millisecond)
	r := l.Report()
	if code != 0 || r.Non2xx+r.Errors != 0 {
		t.Fatalf("rollout exit %d, %d non-2xx, %d transport errors\n%s\n%s", code, r.Non2xx, r.Errors, out, r.Text)
	}
	deploy, drain := columnSum(t, out, 2), columnSum(t, out, 1)
	over := (wall.Seconds() - deploy) / float64(n)
	t.Logf("bench: %-7s %2d servers: wall %5.1fs, deploy commands %5.1fs, drains %5.1fs; overhead per server %.2fs = drain %.2fs + %.2fs; %d requests (%.0f/s), 0 errors",
		lb, n, wall.Seconds(), deploy, drain, over, drain/float64(n), over-drain/float64(n), r.Total, r.Rate)
}

var secondsCell = regexp.MustCompile(`^([0-9.]+)s$`)

// columnSum adds one column (0 = DOWN) of the summary table.
func columnSum(t *testing.T, out string, col int) float64 {
	sum := 0.0
	in := false
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == "SERVER" {
			in = true
			continue
		}
		if !in || len(f) < 8 {
			continue
		}
		if m := secondsCell.FindStringSubmatch(f[1+col]); m != nil {
			v, _ := strconv.ParseFloat(m[1], 64)
			sum += v
		}
	}
	return sum
}

// Three deploy hosts at once over one etcd: three deploy-tool processes,
// each with its own state directory, roll out the same 12 testapps behind
// nginx with the Lua drop-in, nginx with the real C module and HAProxy,
// with max_unavailable 3, under the bench's load mix (400 requests/s in
// all, a third through each balancer). The balancers are read every 20 ms.
const (
	benchHosts   = 3
	benchServers = 12
	benchMaxUnav = 3
)

func benchThreeHosts(t *testing.T) {
	a := startApps(t, benchServers, "v1")
	lua := balancertest.StartNginx(t, a.addrs, 2)
	mod := startModuleNginx(t, a.addrs, "")
	h := balancertest.StartHAProxy(t, a.addrs)
	r := &hostsRig{t: t, addrs: a.addrs, etcd: testenv.StartEtcd(t), prefix: "/deploy-tool/bench",
		log: filepath.Join(t.TempDir(), "deploys.log"), maxUnav: benchMaxUnav}
	r.cfgs = []balancer.Config{
		{Name: "nginx-lua", Driver: balancer.DriverNginx, URL: lua.APIURL, Upstreams: []string{lua.Zone}},
		{Name: "nginx-module", Driver: balancer.DriverNginx, URL: mod.APIURL, Upstreams: []string{mod.Zone}},
		haproxyConfig(h),
	}
	for _, c := range r.cfgs[:2] {
		r.bals += fmt.Sprintf("[[balancer]]\nname = %q\ndriver = \"ngx_dynamic_upstream\"\nurl = %q\nupstreams = [%q]\n\n", c.Name, c.URL, c.Upstreams[0])
	}
	r.bals += haproxyTOML(h)
	paths := map[string]string{}
	for i := range benchHosts {
		name := fmt.Sprintf("host%c", 'A'+i)
		paths[name] = benchHostConfig(r, a, name)
	}
	var loads []*loadgen.Load
	for _, f := range []string{lua.Frontend, mod.Frontend, h.Frontend} {
		loads = append(loads, startLoad(t, f, loadRate/3))
	}
	time.Sleep(time.Second)
	sampler := sampleOut(t, r.cfgs)
	t0 := time.Now()
	runs := r.startHosts(paths)
	waitHosts(t, runs, 3*time.Minute)
	sampler.Stop()
	time.Sleep(500 * time.Millisecond)
	benchHostsReport(t, r, a, runs, sampler, loads, t0)
}

// benchHostConfig writes one deploy host's config: the bench's settings,
// the C module's timed drain, and a deploy command that logs its start and
// end around the testapp's restart (for deployLog).
func benchHostConfig(r *hostsRig, a *apps, host string) string {
	r.t.Helper()
	dir := r.t.TempDir()
	command := fmt.Sprintf("echo '%s {addr} start' >> %s && %s && echo '%s {addr} end' >> %s",
		host, r.log, a.command("v2-"+host), host, r.log)
	var b strings.Builder
	fmt.Fprintf(&b, "state_dir = %q\nmax_unavailable = %d\n%sdrain_timeout = \"45s\"\nsettle = \"200ms\"\nup_timeout = \"10s\"\n\n",
		filepath.Join(dir, "state"), r.maxUnav, moduleDrain)
	fmt.Fprintf(&b, "[coordination]\netcd_endpoints = [%s]\nprefix = %q\nlease_ttl = \"10s\"\n\n", quoteAll(r.etcd.Endpoints()), r.prefix)
	fmt.Fprintf(&b, "[deploy]\ncommand = %q\ntimeout = \"30s\"\n\n", command)
	b.WriteString("[health]\nurl = \"http://{addr}/healthz\"\ninterval = \"50ms\"\nretries = 40\ntimeout = \"1s\"\n\n")
	b.WriteString(r.bals + "\n")
	for _, addr := range r.addrs {
		fmt.Fprintf(&b, "[[server]]\naddr = %q\n\n", addr)
	}
	path := filepath.Join(dir, "deploy.toml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		r.t.Fatal(err)
	}
	return path
}

// benchHostsReport checks the round's guarantees (each host deployed each
// server once, never more than max_unavailable out, no error under load,
// everything up and nothing left in etcd) and prints the figures.
func benchHostsReport(t *testing.T, r *hostsRig, a *apps, runs map[string]*hostRun, sampler *outSampler, loads []*loadgen.Load, t0 time.Time) {
	deployed := r.checkRound(1, sampler)
	_, atOnce, _ := deployLog(t, r.log)
	var names []string
	for name := range runs {
		names = append(names, name)
	}
	sort.Strings(names)
	var wall time.Duration
	var perHost []string
	for _, name := range names {
		h := runs[name]
		t.Logf("%s exit %d:\n%s", name, h.code, h.out.String())
		n := 0
		for _, addr := range a.addrs {
			if c := deployed[name+" "+addr]; c != 1 {
				t.Errorf("%s deployed %s %d times, want once", name, addr, c)
			}
			n += deployed[name+" "+addr]
		}
		if h.code != 0 {
			t.Errorf("%s exit %d, want 0:\n%s", name, h.code, h.out.String())
		}
		wall = max(wall, h.ended.Sub(t0))
		perHost = append(perHost, fmt.Sprintf("%s %.1fs, %d servers, waited %.1fs",
			name, h.ended.Sub(t0).Seconds(), n, waitedSeconds(h.out.String())))
	}
	total, errs, rate := 0, 0, 0.0
	for _, l := range loads {
		rep := l.Report()
		total, errs, rate = total+rep.Total, errs+rep.Non2xx+rep.Errors, rate+rep.Rate
		if rep.Non2xx+rep.Errors != 0 {
			t.Errorf("under the rollouts: %s", rep.Text)
		}
	}
	for _, c := range r.cfgs {
		wantAllUp(t, c, r.addrs)
	}
	if st := r.etcdStatus(); st.Holder != nil || len(st.Servers) != 0 {
		t.Errorf("etcd after the rollouts: holder %v, registered %v", st.Holder, st.Servers)
	}
	var worst []string
	for _, c := range r.cfgs {
		worst = append(worst, fmt.Sprintf("%s %d", c.Name, sampler.worst[c.Name]))
	}
	t.Logf("bench: %d hosts, %d servers, max_unavailable %d: wall %.1fs; %s", len(runs), len(a.addrs), r.maxUnav, wall.Seconds(), strings.Join(perHost, "; "))
	t.Logf("bench: most out at once (balancers read every 20 ms, %d reads): %s; deploy commands at once: %d", sampler.reads, strings.Join(worst, ", "), atOnce)
	t.Logf("bench: %d requests (%.0f/s), %d errors", total, rate, errs)
}

var progressLine = regexp.MustCompile(`^\[\s*([0-9.]+)s\] (.*)$`)

// waitedSeconds sums, in a rollout's output, the time from each "batch N:
// waiting:" line to the next line of the run: how long its batches waited
// for the budget that other deploy hosts' servers held, the deploy hosts'
// lock taken at each attempt.
func waitedSeconds(out string) float64 {
	sum, since := 0.0, -1.0
	for _, line := range strings.Split(out, "\n") {
		m := progressLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		at, _ := strconv.ParseFloat(m[1], 64)
		waiting := strings.Contains(m[2], ": waiting: ")
		if since >= 0 && !waiting {
			sum += at - since
			since = -1
		}
		if waiting && since < 0 {
			since = at
		}
	}
	return sum
}
