package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/fleet"
	"github.com/sre-suite/mackerel-plugins/lib/fleet/fleettest"
	"github.com/sre-suite/mackerel-plugins/mackerel-service-accesslog/internal/push"
	"github.com/sre-suite/mackerel-plugins/mackerel-service-accesslog/internal/redisstore"
)

// These tests run on real time: windows of a few seconds, judged by
// Redis's clock as in production (no SetGen, no Grace override).

// hostStore opens service web's store as a host's pusher does.
func hostStore(t *testing.T, url string) *redisstore.Store {
	t.Helper()
	st, err := redisstore.Open(redisstore.Config{URL: url, Timeout: 10 * time.Second}, "web")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// freshWindow runs an aggregator once (it records its --grace and the
// service's data begins in this Redis), then waits for the next window of
// length l to begin: the first window of a new Redis is incomplete.
func freshWindow(t *testing.T, url string, l time.Duration, grace string, ledger ...string) fleet.Window {
	t.Helper()
	if code, out, errs := runAgg(t, append([]string{"--redis", url, "--service", "web", "--grace", grace}, ledger...)...); code != 0 || out != "" {
		t.Fatalf("first aggregator: exit %d, %q %q", code, out, errs)
	}
	w := fleet.WindowOf(time.Now(), l)
	next := fleet.Window{Start: w.End(), Len: w.Len}
	time.Sleep(time.Until(time.Unix(next.Start, 0).Add(50 * time.Millisecond)))
	return next
}

// afterClose waits until w is closed by --grace (Redis's clock is this
// machine's).
func afterClose(w fleet.Window, grace time.Duration) {
	time.Sleep(time.Until(time.Unix(w.End(), 0).Add(grace + 200*time.Millisecond)))
}

func deliverNow(t *testing.T, st *redisstore.Store, c *fleet.Contribution) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := st.Deliver(ctx, c, nil); err != nil {
		t.Fatal(err)
	}
}

// TestPostedWindowNeverChanges is issue 20's first break: five hosts
// deliver, a sixth keeps its contribution, the window is posted, Redis is
// restarted empty, then the sixth delivers. Its contribution moves to the
// window open then (the posted window ended before the service's data began
// in the new Redis), which is posted as incomplete with one stderr line;
// the posted window is never posted again. And should Redis be made to
// take that window again anyway (its generation and grace forced), the
// aggregator's ledger refuses to post it with other values.
func TestPostedWindowNeverChanges(t *testing.T) {
	t.Parallel()
	srv := fleettest.StartRedis(t)
	ledger := []string{"--state-dir", t.TempDir()}
	agg := func() (int, map[int64]map[string]float64, string) {
		code, out, errs := runAgg(t, append([]string{"--redis", srv.URL(), "--service", "web", "--grace", "1s"}, ledger...)...)
		return code, windowsOf(t, out), errs
	}
	w := freshWindow(t, srv.URL(), 3*time.Second, "1s")
	st := hostStore(t, srv.URL())
	for h := range 5 {
		deliverNow(t, st, contribution(fmt.Sprint("c", h), fmt.Sprint("host", h), w, 100))
	}
	sixth := contribution("c5", "host5", w, 40)
	afterClose(w, time.Second)
	code, got, errs := agg()
	if code != 0 || len(got) != 1 || got[w.Start]["accesslog.access_num.total_count"] != 500 || got[w.Start]["accesslog.fleet.incomplete"] != 0 || errs != "" {
		t.Fatalf("first post: exit %d, %v, stderr %q", code, got, errs)
	}
	srv.Stop()
	srv.Start() // empty: no persistence
	deliverNow(t, st, sixth)
	if sixth.Window == w || !sixth.Moved {
		t.Fatalf("the sixth host's contribution went to %v (moved %v): the posted window was re-created", sixth.Window, sixth.Moved)
	}
	afterClose(sixth.Window, time.Second)
	code, got, errs = agg()
	open := got[sixth.Window.Start]
	if code != 0 || got[w.Start] != nil || open["accesslog.access_num.total_count"] != 40 || open["accesslog.fleet.incomplete"] != 1 ||
		open["accesslog.fleet.moved_contributions_count"] != 1 || !strings.Contains(errs, "window "+describe(sixth.Window)+": incomplete") ||
		!strings.Contains(errs, "Redis lost service web's data") {
		t.Fatalf("after the restart: exit %d, %v, stderr %q", code, got, errs)
	}
	// Redis restarted empty again, and made to take the posted window again.
	srv.Stop()
	srv.Start()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := st.SetGen(ctx, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	st.Grace = time.Hour
	again := contribution("c6", "host6", w, 7)
	if deliverNow(t, st, again); again.Window != w {
		t.Fatalf("forced delivery went to %v", again.Window)
	}
	code, got, errs = agg()
	if code != 0 || got[w.Start] != nil || !strings.Contains(errs, "window "+describe(w)+": handed over at ") || !strings.Contains(errs, "with 500 requests from 5 hosts; Redis now holds 7 requests from 1 hosts for it (it lost data, or got old data back): not handed over again") {
		t.Fatalf("a posted window in Redis again: exit %d, %v, stderr %q", code, got, errs)
	}
	if code, got, errs = agg(); code != 0 || len(got) != 0 || errs != "" {
		t.Fatalf("next run: exit %d, %v, stderr %q", code, got, errs)
	}
}

// TestRedisRestartedEmptyIsVisible is issue 20's second break: three hosts
// deliver, Redis restarts without persistence, two more deliver to the
// same window: it is posted with fleet.incomplete 1 and one stderr line
// naming it, not as if complete.
func TestRedisRestartedEmptyIsVisible(t *testing.T) {
	t.Parallel()
	srv := fleettest.StartRedis(t)
	w := freshWindow(t, srv.URL(), 4*time.Second, "1s")
	st := hostStore(t, srv.URL())
	for h := range 3 {
		deliverNow(t, st, contribution(fmt.Sprint("a", h), fmt.Sprint("host", h), w, 1500))
	}
	srv.Stop()
	srv.Start()
	for h := 3; h < 5; h++ {
		c := contribution(fmt.Sprint("a", h), fmt.Sprint("host", h), w, 10)
		if deliverNow(t, st, c); c.Window != w {
			t.Skipf("the restart took past the window's grace (%v): nothing to check", c.Window)
		}
	}
	afterClose(w, time.Second)
	code, out, errs := runAgg(t, "--redis", srv.URL(), "--service", "web", "--grace", "1s")
	got := windowsOf(t, out)[w.Start]
	if code != 0 || got["accesslog.access_num.total_count"] != 20 || got["accesslog.fleet.hosts_count"] != 2 || got["accesslog.fleet.incomplete"] != 1 ||
		strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "window "+describe(w)+": incomplete") {
		t.Fatalf("exit %d, window %v, stderr %q", code, got, errs)
	}
}

// TestRedisKilledWithAppendOnlyLosesNothing: with appendonly yes and
// appendfsync everysec (the README's settings), redis-server killed with
// SIGKILL and restarted loses nothing: the window is posted whole, complete,
// with nothing on stderr. (The aggregator keeps its ledger, as in
// production: had Redis lost the service's data, it would say so.)
func TestRedisKilledWithAppendOnlyLosesNothing(t *testing.T) {
	t.Parallel()
	srv := fleettest.StartRedis(t, "--appendonly", "yes", "--appendfsync", "everysec")
	ledger := []string{"--state-dir", t.TempDir()}
	w := freshWindow(t, srv.URL(), 3*time.Second, "1s", ledger...)
	st := hostStore(t, srv.URL())
	for h := range 5 {
		deliverNow(t, st, contribution(fmt.Sprint("k", h), fmt.Sprint("host", h), w, 100+h))
	}
	srv.WaitWritten()
	srv.Kill()
	srv.Start()
	afterClose(w, time.Second)
	code, out, errs := runAgg(t, append([]string{"--redis", srv.URL(), "--service", "web", "--grace", "1s"}, ledger...)...)
	got := windowsOf(t, out)[w.Start]
	if code != 0 || got["accesslog.access_num.total_count"] != 510 || got["accesslog.fleet.hosts_count"] != 5 || got["accesslog.fleet.incomplete"] != 0 || errs != "" {
		log, _ := os.ReadFile(filepath.Join(srv.Dir, "redis.log"))
		t.Fatalf("exit %d, window %v, stderr %q\n%s", code, got, errs, log)
	}
}

// TestHostClockBehind is issue 20's fourth break: a host whose clock is 2
// minutes behind delivers at once, through the real push code: its
// contribution is counted once, in the window open by Redis's clock, it is
// named on its stderr and, with fleet.offclock_hosts_count, by the
// aggregator. A host half a second behind (within --grace 1s) is counted
// in the window it read.
func TestHostClockBehind(t *testing.T) {
	srv := fleettest.StartRedis(t)
	w := freshWindow(t, srv.URL(), 2*time.Second, "1s")
	time.Sleep(time.Until(time.Unix(w.Start, 0).Add(700 * time.Millisecond))) // the host half a second behind reads in w too
	deliverAs := func(host string, behind time.Duration, n int) (fleet.Window, []string) {
		push.Clock = func() time.Time { return time.Now().Add(-behind) }
		t.Cleanup(func() { push.Clock = time.Now })
		read := push.Clock()
		c := contribution("id-"+host, host, fleet.WindowOf(read, 2*time.Second), n)
		c.At = read.UnixNano()
		spool := filepath.Join(t.TempDir(), "spool")
		if err := (fleet.Spool{Dir: spool}).Save(c); err != nil {
			t.Fatal(err)
		}
		var warns []string
		landed := ""
		r := push.Deliver(&fleet.PushRequest{Spool: spool, URL: srv.URL(), Service: "web", Timeout: 20 * time.Second, SpoolMax: 10, Now: read.UnixNano(), Verbose: true},
			func(s string) {
				if _, after, ok := strings.Cut(s, "delivered contribution id-"+host+": "); ok {
					landed = strings.Fields(after)[3]
				} else {
					warns = append(warns, s)
				}
			})
		w, err := fleet.ParseWindow(landed)
		if r.Delivered != 1 || r.Pending != 0 || err != nil {
			t.Fatalf("%s: %+v %v, landed %q", host, r, warns, landed)
		}
		return w, warns
	}
	nearWindow, warns := deliverAs("near", 500*time.Millisecond, 30)
	if len(warns) != 0 {
		t.Errorf("host half a second behind: %v", warns)
	}
	slowWindow, warns := deliverAs("slow", 2*time.Minute, 400)
	if len(warns) != 1 || !strings.Contains(warns[0], "this host's clock is 120 s behind Redis's") {
		t.Errorf("host 2 minutes behind: warnings %q", warns)
	}
	if now := time.Now().Unix(); slowWindow.Start > now || slowWindow.End() < now-1 {
		t.Errorf("host 2 minutes behind: counted in %v, not in the window open now", slowWindow)
	}
	afterClose(slowWindow, time.Second)
	code, out, errs := runAgg(t, "--redis", srv.URL(), "--service", "web", "--grace", "1s")
	got := windowsOf(t, out)
	var total float64
	for _, m := range got {
		total += m["accesslog.access_num.total_count"]
	}
	if code != 0 || total != 430 || got[nearWindow.Start]["accesslog.access_num.total_count"] < 30 || got[slowWindow.Start]["accesslog.fleet.offclock_hosts_count"] != 1 ||
		!strings.Contains(errs, "slow (-120 s)") || strings.Count(errs, "\n") != 1 {
		t.Fatalf("exit %d, windows %v, stderr %q", code, got, errs)
	}
}
