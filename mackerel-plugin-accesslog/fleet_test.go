package main

import (
	"context"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/cli"
	"github.com/sre-suite/mackerel-plugins/lib/fleet"
	"github.com/sre-suite/mackerel-plugins/lib/fleet/fleettest"
	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// usePusher builds mackerel-plugin-accesslog-push (it delivers the spool)
// beside the plugin binary that runPlugin builds, and makes the
// in-process runs of these tests use it.
func usePusher(t testing.TB) {
	t.Helper()
	bin := testenv.BuildBinary(t, "mackerel-service-accesslog/cmd/"+fleet.PushBinary)
	old := findPusher
	findPusher = func() (string, error) { return bin, nil }
	t.Cleanup(func() { findPusher = old })
}

// TestFleetHistogramIsThePlugins: the fleet's histogram gives the plugin's
// percentiles on the same values, and both count the same codes.
func TestFleetHistogramIsThePlugins(t *testing.T) {
	if !slices.Equal(trackedCodes[:], fleet.TrackedCodes) || !slices.Equal(percentiles, fleet.Percentiles) {
		t.Fatalf("tracked codes %v / %v, percentiles %v / %v", trackedCodes, fleet.TrackedCodes, percentiles, fleet.Percentiles)
	}
	r := rand.New(rand.NewPCG(7, 8))
	for n := 1; n < 3000; n = n*3 + 1 {
		h := newDenseHistogram()
		var f fleet.Histogram
		for range n {
			v := r.Int64N(4000) * 1000
			if r.IntN(5) == 0 {
				v = r.Int64N(90_000_000)
			}
			h.add(v)
			f.Add(v)
		}
		var c fleet.Counts
		pc := &counts{reqTime: h}
		fleetCounts(&c, pc)
		h = pc.reqTime
		if got, want := f.Percentiles(percentiles), h.percentiles(percentiles); !slices.Equal(got, want) || !slices.Equal(c.ReqTime.Percentiles(percentiles), want) {
			t.Fatalf("%d values: fleet %v, converted %v, plugin %v", n, got, c.ReqTime.Percentiles(percentiles), want)
		}
		if mean := h.sum.float() / float64(h.n); f.N != h.n || math.Abs(f.Mean()-mean) > 1e-9*mean || math.Abs(c.ReqTime.Mean()-mean) > 1e-9*mean || f.Max != h.max || c.ReqTime.Max != h.max {
			t.Fatalf("%d values: n/mean/max differ", n)
		}
	}
}

// fleetLine is one line written to a simulated host's log.
type fleetLine struct {
	status    int
	reqMS     int64
	upMS      int64
	vhost     string
	byteCount int64
}

func (l fleetLine) ltsv() string {
	return fmt.Sprintf("time:x\thost:192.0.2.1\treq:GET /x HTTP/1.1\tstatus:%d\tsize:%d\treqtime:%d.%03d\tupstream_response_time:%d.%03d\tvhost:%s\n",
		l.status, l.byteCount, l.reqMS/1000, l.reqMS%1000, l.upMS/1000, l.upMS%1000, l.vhost)
}

var (
	spooledRE   = regexp.MustCompile(`fleet: spooled contribution ([0-9a-f]+): (\d+) requests, window (\d+\+\d+)`)
	deliveredRE = regexp.MustCompile(`fleet: delivered contribution ([0-9a-f]+): (\d+) requests, window (\d+\+\d+) \((applied|dup)\)`)
)

// fleetSim is a fleet of simulated hosts: each its own log, state dir and
// --fleet-host, with the lines of every run remembered for the brute force.
type fleetSim struct {
	t        *testing.T
	dir      string
	redisURL string
	window   string
	r        *rand.Rand
	pending  map[int][]fleetLine // host → lines written since its last run
	byID     map[string][]fleetLine
	hostOf   map[string]string
	landed   map[string]string // id → window it was applied to
	spooled  map[string]string // id → window it was spooled for
	written  int
}

func (s *fleetSim) log(h int) string {
	return filepath.Join(s.dir, fmt.Sprintf("host%02d", h), "access.log")
}

func (s *fleetSim) write(h, n int) {
	s.t.Helper()
	statuses := []int{200, 200, 200, 204, 301, 404, 499, 500, 502, 503, 504}
	var b strings.Builder
	for range n {
		l := fleetLine{status: statuses[s.r.IntN(len(statuses))], reqMS: s.r.Int64N(2500), upMS: s.r.Int64N(2000),
			vhost: []string{"www", "api", "img"}[s.r.IntN(3)], byteCount: s.r.Int64N(10000)}
		b.WriteString(l.ltsv())
		s.pending[h] = append(s.pending[h], l)
	}
	s.written += n
	writeFile(s.t, s.log(h), b.String())
}

// rotate renames the log as logrotate's create mode does.
func (s *fleetSim) rotate(h int) {
	s.t.Helper()
	if err := os.Rename(s.log(h), s.log(h)+".1"); err != nil && !os.IsNotExist(err) {
		s.t.Fatal(err)
	}
	writeFile(s.t, s.log(h), "")
}

// run runs host h's plugin once and records what it spooled and delivered.
func (s *fleetSim) run(h int, extra ...string) pluginRun {
	s.t.Helper()
	host := fmt.Sprintf("host%02d", h)
	args := append([]string{"--file", s.log(h), "--from-start", "--state-dir", filepath.Join(s.dir, host, "state"),
		"--group-by", "vhost", "-v", "--fleet-redis", s.redisURL, "--fleet-service", "web", "--fleet-host", host,
		"--fleet-window", s.window, "--fleet-timeout", "3s"}, extra...)
	r := runPlugin(s.t, s.dir, nil, args...)
	if r.code != 0 {
		s.t.Fatalf("%s: exit %d: %s", host, r.code, r.stderr)
	}
	for _, m := range spooledRE.FindAllStringSubmatch(r.stderr, -1) {
		if n, _ := strconv.Atoi(m[2]); n != len(s.pending[h]) {
			s.t.Fatalf("%s spooled %d requests, %d were written since its last run", host, n, len(s.pending[h]))
		}
		s.byID[m[1]] = s.pending[h]
		s.hostOf[m[1]] = host
		s.spooled[m[1]] = m[3]
		s.pending[h] = nil
	}
	for _, m := range deliveredRE.FindAllStringSubmatch(r.stderr, -1) {
		if prev, ok := s.landed[m[1]]; ok && m[4] == "applied" {
			s.t.Fatalf("contribution %s applied twice (windows %s and %s)", m[1], prev, m[3])
		}
		s.landed[m[1]] = m[3]
	}
	return r
}

// drain runs host h again (reading nothing new) until its spool is empty:
// on a busy machine a delivery may take longer than --fleet-timeout, and the
// next run delivers what is left. A spool that does not empty in five runs
// fails the test.
func (s *fleetSim) drain(h int, extra ...string) pluginRun {
	s.t.Helper()
	var r pluginRun
	for range 5 {
		if r = s.run(h, extra...); r.metrics["accesslog.fleet.pending_count"] == 0 {
			return r
		}
	}
	s.t.Fatalf("host%02d: spool not empty after five runs: %v\n%s", h, r.metrics, r.stderr)
	return r
}

// expected is the brute force: per window, every metric over the union of
// the lines of the contributions that landed there.
func (s *fleetSim) expected() map[int64]map[string]float64 {
	byWindow := map[string][]fleetLine{}
	hosts := map[string]map[string]bool{}
	for id, w := range s.landed {
		byWindow[w] = append(byWindow[w], s.byID[id]...)
		if hosts[w] == nil {
			hosts[w] = map[string]bool{}
		}
		hosts[w][s.hostOf[id]] = true
	}
	out := map[int64]map[string]float64{}
	for ws, lines := range byWindow {
		w, err := fleet.ParseWindow(ws)
		if err != nil {
			s.t.Fatal(err)
		}
		v := map[string]float64{"accesslog.fleet.hosts_count": float64(len(hosts[ws]))}
		bruteLines(v, "accesslog.", "", lines)
		byVhost := map[string][]fleetLine{}
		for _, l := range lines {
			byVhost[l.vhost] = append(byVhost[l.vhost], l)
		}
		for vh, ls := range byVhost {
			bruteLines(v, "accesslog.group_", "."+vh, ls)
		}
		out[w.Start] = v
	}
	return out
}

func bruteLines(v map[string]float64, pre, group string, lines []fleetLine) {
	v[pre+"access_num"+group+".total_count"] = float64(len(lines))
	if len(lines) == 0 {
		return
	}
	var req, up []int64
	var c5, c2, c503 float64
	for _, l := range lines {
		req = append(req, l.reqMS)
		up = append(up, l.upMS)
		switch l.status / 100 {
		case 5:
			c5++
		case 2:
			c2++
		}
		if l.status == 503 {
			c503++
		}
	}
	v[pre+"access_num"+group+".5xx_count"] = c5
	v[pre+"access_num"+group+".2xx_count"] = c2
	v[pre+"access_num"+group+".503_count"] = c503
	for name, vals := range map[string][]int64{"latency": req, "upstream_latency": up} {
		slices.Sort(vals)
		var sum int64
		for _, x := range vals {
			sum += x
		}
		v[pre+name+group+".average"] = float64(sum) / float64(len(vals)) / 1e3
		v[pre+name+group+".max"] = float64(vals[len(vals)-1]) / 1e3
		for _, p := range percentiles {
			r := int(math.Ceil(float64(p) * float64(len(vals)) / 100))
			v[pre+name+group+fmt.Sprintf(".%d_percentile", p)] = float64(vals[max(r, 1)-1]) / 1e3
		}
	}
}

// aggregate runs the real aggregator binary and returns what it printed by
// window start; killAfter > 0 kills it (SIGKILL) that long after its start.
// extra are more flags for it.
func aggregate(t *testing.T, redisURL string, killAfter time.Duration, extra ...string) map[int64]map[string]float64 {
	t.Helper()
	bin := testenv.BuildBinary(t, "mackerel-service-accesslog")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--redis", redisURL, "--service", "web", "--grace", "0s"}, extra...)...)
	var out strings.Builder
	cmd.Stdout = &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if killAfter > 0 {
		time.AfterFunc(killAfter, func() { cmd.Process.Signal(syscall.SIGKILL) })
	}
	err := cmd.Wait()
	if killAfter == 0 && err != nil {
		t.Fatalf("aggregator: %v", err)
	}
	got := map[int64]map[string]float64{}
	for _, l := range strings.Split(out.String(), "\n") {
		f := strings.Split(l, "\t")
		if len(f) != 3 {
			continue // the end of a killed aggregator's last line
		}
		v, err1 := strconv.ParseFloat(f[1], 64)
		ts, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		if got[ts] == nil {
			got[ts] = map[string]float64{}
		}
		got[ts][f[0]] = v
	}
	return got
}

// TestFleetTwentyHosts: 20 simulated hosts (own log, state dir and
// --fleet-host), six rounds of known lines with rotations, Redis (with an
// append-only file) restarted in the middle, aggregators killed, restarted
// and running two at once. Every window's printed values equal the brute
// force over the lines that landed in it; no line is lost or counted twice.
func TestFleetTwentyHosts(t *testing.T) {
	srv := fleettest.StartRedis(t, "--appendonly", "yes", "--appendfsync", "always")
	s := &fleetSim{t: t, dir: t.TempDir(), redisURL: srv.URL(), window: "2s", r: rand.New(rand.NewPCG(11, 12)),
		pending: map[int][]fleetLine{}, byID: map[string][]fleetLine{}, hostOf: map[string]string{}, landed: map[string]string{},
		spooled: map[string]string{}}
	const hosts = 20
	for h := range hosts {
		os.MkdirAll(filepath.Dir(s.log(h)), 0o755)
		writeFile(t, s.log(h), "")
	}
	printed := map[int64][]map[string]float64{}
	var mu sync.Mutex
	collect := func(got map[int64]map[string]float64) {
		mu.Lock()
		defer mu.Unlock()
		for ts, m := range got {
			printed[ts] = append(printed[ts], m)
		}
	}
	for round := range 6 {
		for h := range hosts {
			if round == 2 && h == hosts/2 {
				srv.Stop() // half the hosts delivered this round, half spool
			}
			s.write(h, s.r.IntN(60))
			if round > 0 && s.r.IntN(4) == 0 { // a first run knows no rotated file
				s.rotate(h)
				s.write(h, s.r.IntN(30))
			}
			r := s.run(h)
			if round == 2 && h >= hosts/2 {
				if r.metrics["accesslog.fleet.pending_count"] < 1 || !strings.Contains(r.stderr, "kept in") {
					t.Fatalf("Redis down: pending %v, stderr %s", r.metrics["accesslog.fleet.pending_count"], r.stderr)
				}
				if _, ok := r.metrics["accesslog.access_num.total_count"]; !ok {
					t.Fatal("Redis down: the host metrics were not printed")
				}
			}
		}
		switch round {
		case 2:
			// Redis back; the windows of the first half close (and freeze)
			// before the second half delivers: their contributions move.
			srv.Start()
			time.Sleep(2100 * time.Millisecond)
			collect(aggregate(t, srv.URL(), 0))
		case 3:
			collect(aggregate(t, srv.URL(), time.Duration(20+s.r.IntN(200))*time.Millisecond)) // killed, maybe mid-window
			collect(aggregate(t, srv.URL(), 0))                                                // restarted
		default:
			var wg sync.WaitGroup
			for range 2 {
				wg.Add(1)
				go func() { defer wg.Done(); collect(aggregate(t, srv.URL(), 0)) }()
			}
			wg.Wait()
		}
	}
	// Every host once more, so that every spool is empty; then, after the
	// last window has ended, the last aggregation.
	for h := range hosts {
		r := s.run(h)
		if r.metrics["accesslog.fleet.pending_count"] != 0 {
			t.Fatalf("host%02d still has %v pending: %s", h, r.metrics["accesslog.fleet.pending_count"], r.stderr)
		}
	}
	time.Sleep(2100 * time.Millisecond)
	collect(aggregate(t, srv.URL(), 0))

	if len(s.landed) != len(s.byID) {
		t.Fatalf("%d contributions spooled, %d delivered", len(s.byID), len(s.landed))
	}
	want := s.expected()
	var total float64
	for ts, exp := range want {
		ps := printed[ts]
		if len(ps) == 0 {
			t.Errorf("window %d never printed (%v lines)", ts, exp["accesslog.access_num.total_count"])
			continue
		}
		complete := false
		for _, p := range ps {
			for name, wv := range exp {
				if gv, ok := p[name]; ok && math.Abs(gv-wv) > 1e-9*math.Max(1, wv) {
					t.Errorf("window %d: %s = %v, brute force %v", ts, name, gv, wv)
				}
			}
			if len(p) >= len(exp) {
				complete = true
			}
		}
		if !complete {
			t.Errorf("window %d never printed whole", ts)
		}
		total += exp["accesslog.access_num.total_count"]
	}
	for ts := range printed {
		if want[ts] == nil {
			t.Errorf("window %d printed but nothing landed there", ts)
		}
	}
	if total != float64(s.written) {
		t.Errorf("%v lines in the windows, %d written", total, s.written)
	}
	moved := 0
	for id, w := range s.landed {
		if s.spooled[id] != w {
			moved++
		}
	}
	t.Logf("%d lines, %d contributions (%d moved from a closed window to the open one), %d windows", s.written, len(s.byID), moved, len(want))
}

// TestFleetRunRepeatedFromTheSameStateReplacesItsContribution: a run that
// spooled its contribution but died before saving the logs' states is
// repeated from the same states by the next run, whose contribution (the
// same lines and the new ones) replaces the first: delivered, it counts
// every line once.
func TestFleetRunRepeatedFromTheSameStateReplacesItsContribution(t *testing.T) {
	srv := fleettest.StartRedis(t)
	usePusher(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log")
	writeFile(t, logPath, ltsvLine(200, "0.100")+ltsvLine(500, "0.200"))
	opts := options{Files: []string{logPath}, Format: "ltsv", Prefix: "accesslog", MaxReadBytes: 1 << 30, MaxLineBytes: 1 << 16,
		FromStart: true, StateDir: filepath.Join(dir, "state")}
	opts.FleetRedis, opts.FleetService, opts.FleetHost, opts.FleetWindow, opts.FleetTimeout = srv.URL(), "web", "h1", cli.Duration(time.Minute), cli.Duration(5*time.Second)
	opts.FleetSpoolMax = 10
	p, err := NewParser("ltsv", "", opts.fields())
	if err != nil {
		t.Fatal(err)
	}
	run := func(now time.Time) (*fleetSide, *result) {
		fs, err := newFleetSide(&opts, os.Stderr, now)
		if err != nil {
			t.Fatal(err)
		}
		rn := &runner{opts: &opts, parser: namedParser{"ltsv", p}, stderr: os.Stderr, now: now, fleet: fs}
		res, err := rn.Run()
		if err != nil {
			t.Fatal(err)
		}
		return fs, res
	}
	now := time.Now().Add(-2 * time.Minute)
	fs, _ := run(now)
	spooled, _ := fs.sp.Load()
	// The run "died" before saving its state: put the state back as it was.
	states, _ := filepath.Glob(filepath.Join(dir, "state", "mackerel-plugin-accesslog-*.json"))
	if len(states) != 1 || len(spooled) != 1 {
		t.Fatalf("states %v, spooled %d", states, len(spooled))
	}
	os.Remove(states[0])
	writeFile(t, logPath, ltsvLine(503, "0.300"))
	fs, res := run(now.Add(30 * time.Second))
	again, _ := fs.sp.Load()
	if len(again) != 1 || again[0].ID != spooled[0].ID || again[0].All.Total != 3 || res.stats.all.total != 3 {
		t.Fatalf("after the repeated run: %d spooled, ids %v / %s, totals %v", len(again), again, spooled[0].ID, res.stats.all.total)
	}
	v := map[string]float64{}
	fs.deliver(v)
	if v["fleet.delivered_count"] != 1 || v["fleet.pending_count"] != 0 {
		t.Fatalf("delivery: %v", v)
	}
	// The run's window ended before this Redis held the service's data: the
	// contribution moved to the window open by Redis's clock, whole.
	if got := windowsInRedis(t, srv); len(got) != 1 || !slices.Contains(slices.Collect(maps.Values(got)), "3 lines from h1=1") {
		t.Fatalf("windows in Redis %v, want 3 lines in one (the run's %s or the open one)", got, again[0].Window)
	}
}

// windowsInRedis reads the service web's windows as redis-cli sees them
// (the plugin links no Redis client, and the store is the aggregator's):
// "N lines from HOST=CONTRIBUTIONS,…" by window.
func windowsInRedis(t *testing.T, srv *fleettest.Redis, cliArgs ...string) map[string]string {
	t.Helper()
	cli := func(args ...string) string {
		out, err := srv.Cli(append(append(cliArgs, "--no-auth-warning"), args...)...)
		if err != nil {
			t.Fatalf("redis-cli %v: %v %s", args, err, out)
		}
		return strings.TrimSpace(out)
	}
	got := map[string]string{}
	for _, key := range strings.Fields(cli("--scan", "--pattern", "mackerel-fleet:{web:*}:hosts")) {
		w := strings.TrimSuffix(strings.TrimPrefix(key, "mackerel-fleet:{web:"), "}:hosts")
		pre := strings.TrimSuffix(key, "hosts")
		hosts := strings.Fields(cli("hgetall", key))
		var hs []string
		for i := 0; i+1 < len(hosts); i += 2 {
			hs = append(hs, hosts[i]+"="+hosts[i+1])
		}
		slices.Sort(hs)
		got[w] = cli("hget", pre+"data", "total") + " lines from " + strings.Join(hs, ",")
	}
	return got
}

// TestFleetRedisSilentStillPrintsHostMetrics: a Redis that accepts
// connections and never answers costs the run --fleet-timeout, not the
// agent's timeout; the host metrics are printed and the contribution is
// pending.
func TestFleetRedisSilentStillPrintsHostMetrics(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log")
	writeFile(t, logPath, ltsvLine(200, "0.100"))
	start := time.Now()
	r := runPlugin(t, dir, nil, "--file", logPath, "--from-start", "--fleet-redis", "redis://"+l.Addr().String()+"/0",
		"--fleet-service", "web", "--fleet-timeout", "2s", "--fleet-spool-max", "2")
	took := time.Since(start)
	if r.code != 0 || r.metrics["accesslog.access_num.total_count"] != 1 || r.metrics["accesslog.fleet.pending_count"] != 1 ||
		r.metrics["accesslog.fleet.pending_requests"] != 1 || !strings.Contains(r.stderr, "kept in") {
		t.Fatalf("exit %d, metrics %v, stderr %s", r.code, r.metrics, r.stderr)
	}
	if took > 25*time.Second {
		t.Errorf("the run took %v with --fleet-timeout 2s: past mackerel-agent's 30 s", took)
	}
	// Two more runs: the spool holds at most --fleet-spool-max 2, the oldest dropped and said so.
	for i, want := range []float64{0, 1} {
		writeFile(t, logPath, ltsvLine(200, "0.100")+ltsvLine(200, "0.100"))
		r = runPlugin(t, dir, nil, "--file", logPath, "--fleet-redis", "redis://"+l.Addr().String()+"/0",
			"--fleet-service", "web", "--fleet-timeout", "1s", "--fleet-spool-max", "2")
		if r.code != 0 || r.metrics["accesslog.fleet.dropped_count"] != want || r.metrics["accesslog.fleet.pending_count"] != float64(i+2) && want == 0 ||
			want == 1 && (r.metrics["accesslog.fleet.pending_count"] != 2 || r.metrics["accesslog.fleet.pending_requests"] != 4 || !strings.Contains(r.stderr, "dropped the 1 oldest contributions (1 requests")) {
			t.Fatalf("run %d: exit %d, metrics %v, stderr %s", i+2, r.code, r.metrics, r.stderr)
		}
	}
}

// TestFleetFlagErrors: one line naming the flag, exit 2, also for a URL or
// CA file that cannot be used; the password from a file is never printed,
// and a password file that cannot be read leaves the contribution pending.
func TestFleetFlagErrors(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log")
	writeFile(t, logPath, "")
	for _, args := range [][]string{
		{"--fleet-service", "web"},
		{"--fleet-redis", "redis://127.0.0.1:1/0"},
		{"--fleet-redis", "redis://127.0.0.1:1/0", "--fleet-service", "a b"},
		{"--fleet-redis", "redis://127.0.0.1:1/0", "--fleet-service", "web", "--fleet-window", "1500ms"},
		{"--fleet-redis", "redis://127.0.0.1:1/0", "--fleet-service", "web", "--no-posfile"},
		{"--fleet-redis", "http://127.0.0.1:1/0", "--fleet-service", "web"},
		{"--fleet-redis", "redis://127.0.0.1:1/0", "--fleet-service", "web", "--fleet-redis-ca-file", logPath},
		{"--fleet-redis", "rediss://127.0.0.1:1/0", "--fleet-service", "web", "--fleet-redis-ca-file", logPath},
		{"--fleet-redis-ca-file", logPath},
		// Issue 20's URLs that go-redis cannot read: refused now, not at every delivery.
		{"--fleet-redis", "redis://:s3cret-abc@127.0.0.1:6x79/0", "--fleet-service", "web"},
		{"--fleet-redis", "redis://:s3cret%zz@127.0.0.1:6379/0", "--fleet-service", "web"},
		{"--fleet-redis", "redis://:s3cret abc@127.0.0.1:6379/0", "--fleet-service", "web"},
		{"--fleet-redis", "redis://:s3cret@[::1:6379/0", "--fleet-service", "web"},
		{"--fleet-redis", "redis//:s3cret@127.0.0.1:6379/0", "--fleet-service", "web"},
	} {
		r := runPlugin(t, dir, nil, append([]string{"--file", logPath}, args...)...)
		if r.code != 2 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "--fleet-") || strings.Contains(r.stderr, "s3cret") {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("hunter2-secret\n"), 0o600)
	r := runPlugin(t, dir, nil, "--file", logPath, "--fleet-redis", "redis://127.0.0.1:1/0", "--fleet-service", "web",
		"--fleet-redis-password-file", pw, "--fleet-timeout", "1s")
	if r.code != 0 || strings.Contains(r.stdout+r.stderr, "hunter2") {
		t.Errorf("exit %d; the password must never be printed: %s", r.code, r.stderr)
	}
	r = runPlugin(t, dir, nil, "--file", logPath, "--fleet-redis", "redis://127.0.0.1:1/0", "--fleet-service", "web",
		"--fleet-redis-password-file", pw+".missing", "--fleet-timeout", "1s")
	if r.code != 0 || r.metrics["accesslog.fleet.pending_count"] < 1 || !strings.Contains(r.stderr, "redis password file") {
		t.Errorf("missing password file: exit %d, metrics %v, stderr %s", r.code, r.metrics, r.stderr)
	}
}

// TestFleetLeavesALaterRunsContribution: a delivering run does not deliver
// what a run that began after it spooled (that run may still fail and be
// repeated under the same id); it counts it as pending.
func TestFleetLeavesALaterRunsContribution(t *testing.T) {
	srv := fleettest.StartRedis(t)
	usePusher(t)
	dir := t.TempDir()
	opts := options{Files: []string{filepath.Join(dir, "access.log")}, Prefix: "accesslog", StateDir: dir}
	opts.FleetRedis, opts.FleetService, opts.FleetHost, opts.FleetWindow, opts.FleetTimeout = srv.URL(), "web", "h1", cli.Duration(time.Minute), cli.Duration(5*time.Second)
	opts.FleetSpoolMax = 10
	now := time.Now()
	fs, err := newFleetSide(&opts, os.Stderr, now)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(fs.spoolDir, 0o700)
	for i, at := range []time.Time{now.Add(-time.Minute), now.Add(time.Second)} {
		c := &fleet.Contribution{ID: fmt.Sprintf("c%d", i), Service: "web", Host: "h1", Window: fleet.WindowOf(at, time.Minute), At: at.UnixNano()}
		c.All.Total, c.All.Class[2] = uint64(i+1), uint64(i+1)
		if err := fs.sp.Save(c); err != nil {
			t.Fatal(err)
		}
	}
	v := map[string]float64{}
	fs.deliver(v)
	if v["fleet.delivered_count"] != 1 || v["fleet.pending_count"] != 1 || v["fleet.pending_requests"] != 2 {
		t.Fatalf("%v: want the earlier one delivered, the later one pending", v)
	}
}

// TestFleetUnderRealMackerelAgent: the real mackerel-agent runs the plugin
// with the fleet flags and the password in the config's env; the host
// metrics and fleet.* reach the agent, and the lines reach the window.
func TestFleetUnderRealMackerelAgent(t *testing.T) {
	srv := fleettest.StartRedis(t, "--requirepass", "agent-pw")
	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log")
	writeFile(t, logPath, ltsvLine(200, "0.120")+ltsvLine(503, "2.000"))
	bin := testenv.BuildBinary(t, "mackerel-plugin-accesslog")
	usePusher(t) // beside bin
	section := fmt.Sprintf("[plugin.metrics.accesslog]\ncommand = [%q, \"--file\", %q, \"--from-start\", \"--fleet-redis\", %q, \"--fleet-service\", \"web\", \"--fleet-host\", \"h1\"]\nenv = { FLEET_REDIS_PASSWORD = \"agent-pw\" }\n",
		bin, logPath, srv.URL())
	m := testenv.AgentOnce(t, section, "MACKEREL_PLUGIN_WORKDIR="+dir)
	if m["accesslog.access_num.total_count"] != 2 || m["accesslog.fleet.delivered_count"] != 1 || m["accesslog.fleet.pending_count"] != 0 {
		t.Fatalf("agent got %v", m)
	}
	got := windowsInRedis(t, srv, "-a", "agent-pw")
	if len(got) != 1 {
		t.Fatalf("windows in Redis %v, want one", got)
	}
	for w, v := range got {
		if v != "2 lines from h1=1" {
			t.Fatalf("window %s: %s, want 2 lines from h1", w, v)
		}
	}
}

// TestFleetOverTLS: three hosts deliver through rediss:// to Debian's
// redis-server listening with TLS only (--fleet-redis-ca-file names the test's
// CA) and the aggregator reads it the same way (--redis-ca-file): the printed
// values equal the brute force. A host given another CA prints its metrics
// all the same, says on one stderr line that the certificate's authority is
// unknown, and keeps its contribution; with the right CA a later run
// delivers it.
func TestFleetOverTLS(t *testing.T) {
	srv := fleettest.StartRedisTLS(t)
	s := &fleetSim{t: t, dir: t.TempDir(), redisURL: srv.URL(), window: "2s", r: rand.New(rand.NewPCG(21, 22)),
		pending: map[int][]fleetLine{}, byID: map[string][]fleetLine{}, hostOf: map[string]string{}, landed: map[string]string{},
		spooled: map[string]string{}}
	ca := []string{"--fleet-redis-ca-file", srv.CA.File}
	for h := range 3 {
		os.MkdirAll(filepath.Dir(s.log(h)), 0o755)
		writeFile(t, s.log(h), "")
		s.write(h, 20+s.r.IntN(40))
	}
	s.run(0, ca...)
	s.run(1, ca...)
	r := s.run(2, "--fleet-redis-ca-file", fleettest.NewCA(t, "other CA").File)
	var fleetLines []string
	for _, l := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		if strings.Contains(l, "fleet:") && !spooledRE.MatchString(l) {
			fleetLines = append(fleetLines, l)
		}
	}
	if r.metrics["accesslog.access_num.total_count"] == 0 || r.metrics["accesslog.fleet.pending_count"] != 1 ||
		len(fleetLines) != 1 || !strings.Contains(fleetLines[0], "certificate signed by unknown authority") {
		t.Fatalf("wrong CA: metrics %v, stderr %s", r.metrics, r.stderr)
	}
	if r = s.drain(2, ca...); strings.Contains(r.stderr, "authority") {
		t.Fatalf("right CA: metrics %v, stderr %s", r.metrics, r.stderr)
	}
	time.Sleep(2500 * time.Millisecond) // the 2 s window ends: the aggregator closes only ended windows
	got := aggregate(t, srv.URL(), 0, "--redis-ca-file", srv.CA.File)
	want := s.expected()
	if len(want) == 0 {
		t.Fatal("nothing landed")
	}
	for ts, exp := range want {
		for name, wv := range exp {
			if gv, ok := got[ts][name]; !ok || math.Abs(gv-wv) > 1e-9*math.Max(1, wv) {
				t.Errorf("window %d: %s = %v (printed: %v), brute force %v", ts, name, gv, ok, wv)
			}
		}
	}
}

// TestFleetBogusSizesAndTimes: issue 12's bogus values end to end. Two
// hosts read lines of size 999999999999999999 and request times of 31
// years (the largest the plugin takes), 9,000 lines a run: more than an
// int64 holds in bytes and in a sum of times. Every contribution is
// delivered (none stuck in the spool, none counted twice), and the printed
// values are the brute force's: bytes.sent and the averages positive.
func TestFleetBogusSizesAndTimes(t *testing.T) {
	srv := fleettest.StartRedis(t)
	s := &fleetSim{t: t, dir: t.TempDir(), redisURL: srv.URL(), window: "2s", r: rand.New(rand.NewPCG(31, 32)),
		pending: map[int][]fleetLine{}, byID: map[string][]fleetLine{}, hostOf: map[string]string{}, landed: map[string]string{},
		spooled: map[string]string{}}
	const size = 999999999999999999
	const huge = int64(1125899906842) // ms: just under 2^50 µs
	var bytesWritten float64
	for round := range 2 {
		for h := range 2 {
			var b strings.Builder
			for i := range 9000 {
				l := fleetLine{status: 200, reqMS: huge, upMS: huge, vhost: "www", byteCount: size}
				if i%4 == 0 {
					l.status, l.reqMS, l.upMS, l.vhost = 503, int64(i%1000), 1, "api"
				}
				b.WriteString(l.ltsv())
				s.pending[h] = append(s.pending[h], l)
				bytesWritten += size
			}
			s.written += 9000
			if round == 0 {
				os.MkdirAll(filepath.Dir(s.log(h)), 0o755)
			}
			writeFile(t, s.log(h), b.String())
			if r := s.run(h); strings.Contains(r.stderr, "overflow") {
				t.Fatalf("host %d round %d: stderr %s", h, round, r.stderr)
			}
		}
	}
	for h := range 2 {
		s.drain(h) // every contribution leaves the spool
	}
	time.Sleep(2500 * time.Millisecond) // the last 2 s window ends
	got := aggregate(t, srv.URL(), 0)
	want := s.expected()
	var total, sent float64
	for ts, exp := range want {
		for name, wv := range exp {
			if gv, ok := got[ts][name]; !ok || math.Abs(gv-wv) > 1e-9*math.Max(1, math.Abs(wv)) {
				t.Errorf("window %d: %s = %v (printed: %v), brute force %v", ts, name, gv, ok, wv)
			}
		}
		total += got[ts]["accesslog.access_num.total_count"]
		sent += got[ts]["accesslog.bytes.sent"] * 2 // per second of a 2 s window
		// A window may hold only runs that read nothing (drain runs, or a
		// slow machine's run that began after the last line was read): it has
		// no latency. Every window with lines has a positive one.
		if a, n := got[ts]["accesslog.latency.average"], got[ts]["accesslog.access_num.total_count"]; n > 0 && a <= 0 || n == 0 && a != 0 {
			t.Errorf("window %d: %v lines, latency.average %v", ts, n, a)
		}
	}
	if total != float64(s.written) || math.Abs(sent-bytesWritten) > 1e-9*bytesWritten {
		t.Errorf("%v lines and %v bytes in the windows; %d lines and %v bytes written", total, sent, s.written, bytesWritten)
	}
}

// TestFleetWithoutThePushCommand: when mackerel-plugin-accesslog-push is
// neither beside the plugin nor on $PATH, the run still prints its host
// metrics, keeps its contribution in the spool (pending), and says what to
// install, once.
func TestFleetWithoutThePushCommand(t *testing.T) {
	dir := t.TempDir()
	alone := filepath.Join(dir, "bin", "mackerel-plugin-accesslog")
	os.MkdirAll(filepath.Dir(alone), 0o755)
	b, err := os.ReadFile(testenv.BuildBinary(t, "mackerel-plugin-accesslog"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(alone, b, 0o755); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "access.log")
	writeFile(t, logPath, ltsvLine(200, "0.100"))
	r := testenv.Run(t, alone, []string{"MACKEREL_PLUGIN_WORKDIR=" + dir, "PATH=" + filepath.Join(dir, "empty")},
		"--file", logPath, "--from-start", "--fleet-redis", "redis://127.0.0.1:1/0", "--fleet-service", "web", "--fleet-host", "h1")
	m := testenv.Metrics(t, r.Stdout)
	if r.Code != 0 || m["accesslog.access_num.total_count"] != 1 || m["accesslog.fleet.pending_count"] != 1 || m["accesslog.fleet.pending_requests"] != 1 ||
		strings.Count(r.Stderr, "\n") != 1 || !strings.Contains(r.Stderr, "mackerel-plugin-accesslog-push not found") {
		t.Fatalf("exit %d, metrics %v, stderr %q", r.Code, m, r.Stderr)
	}
}
