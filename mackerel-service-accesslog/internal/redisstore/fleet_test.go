package redisstore_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/fleet"
	"github.com/sre-suite/mackerel-plugins/lib/fleet/fleettest"
	"github.com/sre-suite/mackerel-plugins/mackerel-service-accesslog/internal/redisstore"
)

// openStore opens service web's store with a generous timeout (the machine
// is busy), closed when the test ends. The tests deliver to windows that
// ended before their Redis started, up to half an hour ago: the service's
// data is said to begin at 0, and deliveries are judged with a grace of two
// hours.
func openStore(t *testing.T, cfg redisstore.Config) *redisstore.Store {
	t.Helper()
	cfg.Timeout = 10 * time.Second
	st, err := redisstore.Open(cfg, "web")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.SetGen(context.Background(), time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	st.Grace = 2 * time.Hour
	return st
}

// line is one access-log line as the brute force sees it.
type line struct {
	status   int
	reqUS    int64
	hasUp    bool
	upUS     int64
	bytes    int64
	group    string
	window   fleet.Window
	hostName string
}

func randomLines(r *rand.Rand, n int, host string, w fleet.Window) []line {
	statuses := []int{200, 200, 200, 201, 204, 301, 304, 404, 499, 500, 502, 503, 504, 101}
	groups := []string{"api", "static", "login", "search"}
	out := make([]line, n)
	for i := range out {
		l := line{status: statuses[r.IntN(len(statuses))], bytes: r.Int64N(50_000), group: groups[r.IntN(len(groups))], window: w, hostName: host}
		if r.IntN(3) == 0 {
			l.reqUS = r.Int64N(5_000_000) // µs resolution (Apache %D)
		} else {
			l.reqUS = r.Int64N(3000) * 1000 // ms resolution (nginx)
		}
		if r.IntN(4) != 0 {
			l.hasUp, l.upUS = true, r.Int64N(2000)*1000
		}
		out[i] = l
	}
	return out
}

func contributionOf(id, host string, w fleet.Window, lines []line) *fleet.Contribution {
	c := &fleet.Contribution{ID: id, Service: "web", Host: host, Window: w}
	for _, l := range lines {
		for _, cnt := range []*fleet.Counts{&c.All, c.Group(l.group)} {
			cnt.Total++
			cnt.Class[l.status/100]++
			if i := fleet.CodeIndex(l.status); i >= 0 {
				cnt.Code[i]++
			}
			cnt.Bytes += float64(l.bytes)
			cnt.ReqTime.Add(l.reqUS)
			if l.hasUp {
				cnt.Upstream.Add(l.upUS)
			}
		}
	}
	return c
}

// nearestRank is the brute force: sort every value, take the ceil(p*n/100)th.
func nearestRank(vals []int64, p int) int64 {
	s := slices.Clone(vals)
	slices.Sort(s)
	r := int(math.Ceil(float64(p) * float64(len(s)) / 100))
	if r < 1 {
		r = 1
	}
	return s[r-1]
}

// bruteForce computes the metrics of one window from every line in it.
func bruteForce(lines []line, secs float64, scope func(graph string) string) map[string]float64 {
	v := map[string]float64{}
	var req, up []int64
	var bytes int64
	classes := map[string]float64{}
	codes := map[int]float64{}
	for _, l := range lines {
		classes[fmt.Sprintf("%dxx", l.status/100)]++
		codes[l.status]++
		bytes += l.bytes
		req = append(req, l.reqUS)
		if l.hasUp {
			up = append(up, l.upUS)
		}
	}
	n := float64(len(lines))
	v[scope("access_num")+"total_count"] = n
	for _, cl := range fleet.Classes {
		v[scope("access_num")+cl+"_count"] = classes[cl]
		v[scope("access_rate")+cl+"_percentage"] = 100 * classes[cl] / n
		v[scope("rps")+cl] = classes[cl] / secs
	}
	for _, code := range fleet.TrackedCodes {
		v[scope("access_num")+fmt.Sprint(code)+"_count"] = codes[code]
	}
	for name, vals := range map[string][]int64{"latency": req, "upstream_latency": up} {
		var sum, max int64
		for _, x := range vals {
			sum += x
			max = maxOf(max, x)
		}
		v[scope(name)+"average"] = float64(sum) / float64(len(vals)) / 1e6
		v[scope(name)+"max"] = float64(max) / 1e6
		for _, p := range fleet.Percentiles {
			v[scope(name)+fmt.Sprintf("%d_percentile", p)] = float64(nearestRank(vals, p)) / 1e6
		}
	}
	if scope("x") == "x." {
		v["bytes.sent"] = float64(bytes) / secs
	}
	return v
}

func maxOf(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

func assertValues(t *testing.T, w fleet.Window, got, want map[string]float64) {
	t.Helper()
	for k, wv := range want {
		gv, ok := got[k]
		if !ok {
			t.Errorf("window %s: %s missing (want %v)", w, k, wv)
			continue
		}
		if math.Abs(gv-wv) > 1e-9*math.Max(1, math.Abs(wv)) {
			t.Errorf("window %s: %s = %v, brute force %v", w, k, gv, wv)
		}
	}
}

// TestExactAgainstBruteForce: 12 hosts, 4 windows, random lines (ms and µs
// resolution), every contribution delivered twice (once concurrently with
// another host's): every metric of every window, overall and per group,
// equals a brute-force computation over the union of the hosts' lines.
func TestExactAgainstBruteForce(t *testing.T) {
	srv := fleettest.StartRedis(t)
	st := openStore(t, redisstore.Config{URL: srv.URL()})
	exactness(t, st)
}

func exactness(t *testing.T, st *redisstore.Store) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := rand.New(rand.NewPCG(1, 2))
	now := time.Now()
	base := fleet.WindowOf(now, 10*time.Second)
	windows := []fleet.Window{}
	for i := 4; i >= 1; i-- {
		windows = append(windows, fleet.Window{Start: base.Start - int64(i)*10, Len: 10})
	}
	all := map[fleet.Window][]line{}
	var contribs []*fleet.Contribution
	for h := range 12 {
		host := fmt.Sprintf("host%02d", h)
		for ri, w := range windows {
			if r.IntN(5) == 0 {
				continue // this host read nothing in that window
			}
			lines := randomLines(r, 1+r.IntN(400), host, w)
			all[w] = append(all[w], lines...)
			contribs = append(contribs, contributionOf(fmt.Sprintf("%s-run%d", host, ri), host, w, lines))
		}
	}
	noMove := func(c *fleet.Contribution) error { return fmt.Errorf("contribution %s moved to %s", c.ID, c.Window) }
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(contribs))
	for _, c := range contribs {
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := *c
				if _, err := st.Deliver(ctx, &c, noMove); err != nil {
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	closed, err := st.Closed(ctx, time.Unix(base.Start, 0), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(closed) != len(windows) {
		t.Fatalf("closed windows %v, want %v", closed, windows)
	}
	for _, w := range windows {
		f, err := st.Freeze(ctx, w)
		if err != nil {
			t.Fatal(err)
		}
		got := f.Values(100)
		assertValues(t, w, got, bruteForce(all[w], 10, func(g string) string { return g + "." }))
		byGroup := map[string][]line{}
		hosts := map[string]bool{}
		for _, l := range all[w] {
			byGroup[l.group] = append(byGroup[l.group], l)
			hosts[l.hostName] = true
		}
		for g, lines := range byGroup {
			assertValues(t, w, got, bruteForce(lines, 10, func(graph string) string { return "group_" + graph + "." + g + "." }))
		}
		if got["fleet.hosts_count"] != float64(len(hosts)) {
			t.Errorf("window %s: fleet.hosts_count %v, want %d", w, got["fleet.hosts_count"], len(hosts))
		}
		// Frozen twice gives the same values: what a second aggregator would post.
		again, err := st.Freeze(ctx, w)
		if err != nil {
			t.Fatal(err)
		}
		if a, b := fmt.Sprint(again.Values(100)), fmt.Sprint(got); a != b {
			t.Errorf("window %s: a second freeze reads different values", w)
		}
	}
}

// TestFrozenWindowMovesContribution: a contribution that reaches a window
// after an aggregator froze it goes to the window open now, once, even when
// delivered again later (a retry after a lost answer).
func TestFrozenWindowMovesContribution(t *testing.T) {
	srv := fleettest.StartRedis(t)
	st := openStore(t, redisstore.Config{URL: srv.URL()})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	now := time.Now()
	old := fleet.WindowOf(now.Add(-time.Hour/2), time.Minute)
	cur := fleet.WindowOf(now, time.Minute)
	first := contributionOf("a-1", "a", old, randomLines(rand.New(rand.NewPCG(3, 4)), 50, "a", old))
	if out, err := st.Deliver(ctx, first, nil); err != nil || out != redisstore.Applied {
		t.Fatalf("first delivery: %v %v", out, err)
	}
	if _, err := st.Freeze(ctx, old); err != nil {
		t.Fatal(err)
	}
	late := contributionOf("b-1", "b", old, randomLines(rand.New(rand.NewPCG(5, 6)), 70, "b", old))
	var persisted []fleet.Window
	keep := func(c *fleet.Contribution) error { persisted = append(persisted, c.Window); return nil }
	if out, err := st.Deliver(ctx, late, keep); err != nil || out != redisstore.Applied {
		t.Fatalf("late delivery: %v %v", out, err)
	}
	if cur = fleet.WindowOf(time.Now(), time.Minute); late.Window.Start < cur.Start-60 || late.Window.Start > cur.Start || len(persisted) != 1 || persisted[0] != late.Window {
		t.Fatalf("late contribution went to %v (persisted %v), want %v", late.Window, persisted, cur)
	}
	if out, err := st.Deliver(ctx, late, keep); err != nil || out != redisstore.Dup {
		t.Fatalf("retried delivery: %v %v, want dup", out, err)
	}
	f, err := st.Freeze(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	if f.All.Total != 50 {
		t.Errorf("frozen window changed: %d lines, want 50", f.All.Total)
	}
	// A window Redis never saw that ended long ago is not created.
	ancient := fleet.WindowOf(now.Add(-3*time.Hour), time.Minute)
	c := contributionOf("c-1", "c", ancient, nil)
	if _, err := st.Deliver(ctx, c, keep); err != nil || c.Window != late.Window && c.Window.Start != late.Window.End() {
		t.Errorf("ancient contribution: %v, went to %v, want %v", err, c.Window, cur)
	}
	f, err = st.Freeze(ctx, cur)
	if err != nil {
		t.Fatal(err)
	}
	if f.All.Total != 70 || len(f.Hosts) != 2 {
		t.Errorf("current window: %d lines from %v, want 70 from b and none from c", f.All.Total, f.Hosts)
	}
	if err := st.MarkPosted(ctx, old, now); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Freeze(ctx, old); err != redisstore.ErrPosted {
		t.Errorf("freeze after posted: %v, want ErrPosted", err)
	}
}

// TestExactOnCluster: the same exactness on a three-node Redis Cluster; the
// keys of one window share a slot.
func TestExactOnCluster(t *testing.T) {
	nodes := fleettest.StartCluster(t)
	st := openStore(t, redisstore.Config{URL: nodes[1].URL(), Cluster: true})
	exactness(t, st)
	slots := map[int]bool{}
	for _, suffix := range []string{"meta", "ids", "hosts", "data"} {
		slots[fleettest.KeySlot(t, nodes[0], "mackerel-fleet:{web:1700000000+60}:"+suffix)] = true
	}
	if len(slots) != 1 {
		t.Errorf("a window's keys span slots %v", slots)
	}
}
