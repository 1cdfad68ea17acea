package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/fleet"
	"github.com/sre-suite/mackerel-plugins/lib/fleet/fleettest"
	"github.com/sre-suite/mackerel-plugins/lib/testenv"
	"github.com/sre-suite/mackerel-plugins/mackerel-service-accesslog/internal/redisstore"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// deliver adds a contribution of n lines (status 200 for even i, 503 for odd
// ones; request time i ms) from host to window w of service web.
func deliver(t testing.TB, st *redisstore.Store, id, host string, w fleet.Window, n int) {
	t.Helper()
	c := contribution(id, host, w, n)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := st.Deliver(ctx, c, func(*fleet.Contribution) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

// contribution is host's run of n lines (as deliver describes) for window w.
func contribution(id, host string, w fleet.Window, n int) *fleet.Contribution {
	c := &fleet.Contribution{ID: id, Service: "web", Host: host, Window: w}
	for i := range n {
		status := 200
		if i%2 == 1 {
			status = 503
		}
		c.All.Total++
		c.All.Class[status/100]++
		if j := fleet.CodeIndex(status); j >= 0 {
			c.All.Code[j]++
		}
		c.All.ReqTime.Add(int64(i) * 1000)
	}
	return c
}

// openStore opens service web's store as a host would. The tests deliver to
// windows that ended before their Redis started: the service's data is said
// to begin at 0, and deliveries are judged with a grace of an hour (not the
// --grace 0s the aggregators of these tests record).
func openStore(t testing.TB, url string, cluster bool) *redisstore.Store {
	t.Helper()
	return openService(t, url, cluster, "web")
}

func openService(t testing.TB, url string, cluster bool, service string) *redisstore.Store {
	t.Helper()
	st, err := redisstore.Open(redisstore.Config{URL: url, Cluster: cluster, Timeout: 10 * time.Second}, service)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := st.SetGen(ctx, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	st.Grace = time.Hour
	return st
}

func runAgg(t testing.TB, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Each run its own ledger, unless the test gives one (the last flag wins).
	if slices.Contains(args, "--redis") {
		args = append([]string{"--state-dir", t.TempDir()}, args...)
	}
	code := run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

// windowsOf groups printed metric lines by timestamp.
func windowsOf(t testing.TB, out string) map[int64]map[string]float64 {
	t.Helper()
	ws := map[int64]map[string]float64{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		f := strings.Split(l, "\t")
		if len(f) != 3 {
			t.Fatalf("line %q: want name<TAB>value<TAB>epoch", l)
		}
		v, err1 := strconv.ParseFloat(f[1], 64)
		ts, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("line %q: bad value or time", l)
		}
		if ws[ts] == nil {
			ws[ts] = map[string]float64{}
		}
		ws[ts][f[0]] = v
	}
	return ws
}

func recentWindows(n int) []fleet.Window {
	base := fleet.WindowOf(time.Now(), 10*time.Second)
	var ws []fleet.Window
	for i := n; i >= 1; i-- {
		ws = append(ws, fleet.Window{Start: base.Start - int64(i)*10, Len: 10})
	}
	return ws
}

// TestPrintsEachClosedWindowOnce: closed windows are printed as metric lines
// stamped with the window's start; the window still open is not; a second
// run prints nothing.
func TestPrintsEachClosedWindowOnce(t *testing.T) {
	srv := fleettest.StartRedis(t)
	st := openStore(t, srv.URL(), false)
	ws := recentWindows(2)
	deliver(t, st, "a1", "a", ws[0], 10)
	deliver(t, st, "b1", "b", ws[0], 4)
	deliver(t, st, "a2", "a", ws[1], 3)
	open := fleet.WindowOf(time.Now().Add(time.Hour), time.Hour) // ends in the future
	deliver(t, st, "a3", "a", open, 5)

	code, out, errs := runAgg(t, "--redis", srv.URL(), "--service", "web", "--grace", "0s")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	got := windowsOf(t, out)
	if len(got) != 2 {
		t.Fatalf("printed windows %v, want %d and %d:\n%s", keys(got), ws[0].Start, ws[1].Start, out)
	}
	w0 := got[ws[0].Start]
	for name, want := range map[string]float64{
		"accesslog.access_num.total_count":          14,
		"accesslog.access_num.5xx_count":            7,
		"accesslog.access_num.503_count":            7,
		"accesslog.access_rate.5xx_percentage":      50,
		"accesslog.rps.total":                       1.4,
		"accesslog.fleet.hosts_count":               2,
		"accesslog.fleet.contributions_count":       2,
		"accesslog.latency.max":                     0.009,
		"accesslog.latency.50_percentile":           0.003, // values 0..9 and 0..3 ms: the 7th of 14 is 3 ms
		"accesslog.latency.99_percentile":           0.009,
		"accesslog.access_rate_code.503_percentage": 50,
	} {
		if w0[name] != want {
			t.Errorf("%s = %v, want %v", name, w0[name], want)
		}
	}
	if got[ws[1].Start]["accesslog.fleet.hosts_count"] != 1 {
		t.Errorf("second window: %v", got[ws[1].Start])
	}
	code, out, errs = runAgg(t, "--redis", srv.URL(), "--service", "web", "--grace", "0s")
	if code != 0 || out != "" {
		t.Fatalf("second run: exit %d, printed %q (%s), want nothing", code, out, errs)
	}
	// A host with another --fleet-window is pointed out.
	deliver(t, st, "x1", "x", fleet.Window{Start: ws[0].Start, Len: 5}, 1)
	deliver(t, st, "x2", "x", fleet.Window{Start: ws[0].Start - 60, Len: 60}, 1)
	code, _, errs = runAgg(t, "--redis", srv.URL(), "--service", "web", "--grace", "0s")
	if code != 0 || !strings.Contains(errs, "windows of 5 s and 60 s") {
		t.Errorf("mixed window lengths: exit %d, stderr %q", code, errs)
	}
	// The default grace keeps a window that has just ended (service web2: no window posted yet).
	st2 := openService(t, srv.URL(), false, "web2")
	justEnded := fleet.WindowOf(time.Now().Add(-15*time.Second), 10*time.Second)
	c := &fleet.Contribution{ID: "c1", Service: "web2", Host: "c", Window: justEnded}
	c.All.Total, c.All.Class[2] = 1, 1
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := st2.Deliver(ctx, c, nil); err != nil || c.Window != justEnded {
		t.Fatalf("deliver: %v, window %v", err, c.Window)
	}
	code, out, _ = runAgg(t, "--redis", srv.URL(), "--service", "web2")
	if code != 0 || out != "" {
		t.Fatalf("default --grace: exit %d, printed %q, want nothing yet", code, out)
	}
	code, out, _ = runAgg(t, "--redis", srv.URL(), "--service", "web2", "--grace", "1s")
	if code != 0 || windowsOf(t, out)[justEnded.Start]["accesslog.access_num.total_count"] != 1 {
		t.Fatalf("--grace 1s: exit %d, printed %q", code, out)
	}
}

func keys[V any](m map[int64]V) []int64 {
	var out []int64
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestSeveralAggregatorsAtOnce: three aggregators run over and over while
// 8 hosts keep delivering to 6 windows: every window is printed, a window
// printed by two of them has the same values, and its total is every line
// delivered to it.
func TestSeveralAggregatorsAtOnce(t *testing.T) {
	srv := fleettest.StartRedis(t)
	st := openStore(t, srv.URL(), false)
	ws := recentWindows(6)
	want := map[int64]float64{}
	var wg sync.WaitGroup
	var mu sync.Mutex
	printed := map[int64][]map[string]float64{}
	stopAgg := make(chan struct{})
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				code, out, errs := runAgg(t, "--redis", srv.URL(), "--service", "web", "--grace", "0s")
				if code != 0 {
					t.Errorf("aggregator: exit %d: %s", code, errs)
					return
				}
				mu.Lock()
				for ts, m := range windowsOf(t, out) {
					printed[ts] = append(printed[ts], m)
				}
				mu.Unlock()
				select {
				case <-stopAgg:
					return
				default:
				}
			}
		}()
	}
	// Hosts deliver before the aggregators reach their window (then the
	// window counts it) or after (then it moves to the open window, which
	// is not printed here): either way it is counted exactly once.
	var hw sync.WaitGroup
	moved := map[int64]float64{}
	for h := range 8 {
		hw.Add(1)
		go func() {
			defer hw.Done()
			for i, w := range ws {
				c := &fleet.Contribution{ID: fmt.Sprintf("h%d-%d", h, i), Service: "web", Host: fmt.Sprintf("h%d", h), Window: w}
				c.All.Total, c.All.Class[2] = uint64(10+h), uint64(10+h)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, err := st.Deliver(ctx, c, func(*fleet.Contribution) error { return nil })
				cancel()
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if c.Window == w {
					want[w.Start] += float64(10 + h)
				} else {
					moved[c.Window.Start] += float64(10 + h)
				}
				mu.Unlock()
			}
		}()
	}
	hw.Wait()
	// One more round after every delivery, then stop.
	time.Sleep(100 * time.Millisecond)
	close(stopAgg)
	wg.Wait()
	code, out, errs := runAgg(t, "--redis", srv.URL(), "--service", "web", "--grace", "0s")
	if code != 0 {
		t.Fatalf("last aggregator: exit %d: %s", code, errs)
	}
	for ts, m := range windowsOf(t, out) {
		printed[ts] = append(printed[ts], m)
	}
	for ts, total := range want {
		ps := printed[ts]
		if len(ps) == 0 {
			t.Errorf("window %d (%v lines) never printed", ts, total)
			continue
		}
		for _, p := range ps {
			if p["accesslog.access_num.total_count"] != total {
				t.Errorf("window %d printed with %v lines, want %v", ts, p["accesslog.access_num.total_count"], total)
			}
			if fmt.Sprint(p) != fmt.Sprint(ps[0]) {
				t.Errorf("window %d printed twice with different values:\n%v\n%v", ts, ps[0], p)
			}
		}
	}
	for ts := range printed {
		if _, ok := want[ts]; !ok && moved[ts] == 0 {
			t.Errorf("window %d printed but nothing was delivered to it", ts)
		}
	}
	t.Logf("windows printed %d times in all; %v lines moved to later windows", len(printed), moved)
}

// fakeMackerel is a local stand-in for the Mackerel API that records the
// service metrics it receives; fail makes the next requests answer 503.
type fakeMackerel struct {
	srv      *httptest.Server
	mu       sync.Mutex
	received map[string][]metric // by service
	keys     []string
	fail     int
	hang     chan struct{}
}

func newFakeMackerel(t *testing.T) *fakeMackerel {
	f := &fakeMackerel{received: map[string][]metric{}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		svc, ok := strings.CutPrefix(r.URL.Path, "/api/v0/services/")
		svc, ok2 := strings.CutSuffix(svc, "/tsdb")
		if r.Method != http.MethodPost || !ok || !ok2 {
			http.Error(w, `{"error":{"message":"not found"}}`, http.StatusNotFound)
			return
		}
		f.mu.Lock()
		hang := f.hang
		f.keys = append(f.keys, r.Header.Get("X-Api-Key"))
		if f.fail > 0 {
			f.fail--
			f.mu.Unlock()
			http.Error(w, `{"error":{"message":"try later"}}`, http.StatusServiceUnavailable)
			return
		}
		f.mu.Unlock()
		var ms []metric
		if err := json.NewDecoder(r.Body).Decode(&ms); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if hang != nil { // the body is read, so a client gone cancels the context
			select {
			case <-hang:
			case <-r.Context().Done():
				return
			}
		}
		f.mu.Lock()
		f.received[svc] = append(f.received[svc], ms...)
		f.mu.Unlock()
		io.WriteString(w, `{"success":true}`)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeMackerel) got(service string) map[int64]map[string]float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[int64]map[string]float64{}
	for _, m := range f.received[service] {
		if out[m.Time] == nil {
			out[m.Time] = map[string]float64{}
		}
		out[m.Time][m.Name] = m.Value
	}
	return out
}

// TestThroughRealMkrThrow: the printed lines piped into the real
// `mkr throw --service web` (pinned in tools/go.mod) reach the fake API
// exactly as printed.
func TestThroughRealMkrThrow(t *testing.T) {
	srv := fleettest.StartRedis(t)
	st := openStore(t, srv.URL(), false)
	ws := recentWindows(2)
	deliver(t, st, "a1", "a", ws[0], 20)
	deliver(t, st, "b1", "b", ws[1], 7)
	api := newFakeMackerel(t)
	bin := testenv.BuildBinary(t, "mackerel-service-accesslog")
	mkr := testenv.Tool(t, "mkr")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	agg := exec.CommandContext(ctx, bin, "--redis", srv.URL(), "--service", "web", "--grace", "0s")
	printed, err := agg.Output()
	if err != nil {
		t.Fatalf("aggregator: %v", err)
	}
	throw := exec.CommandContext(ctx, mkr, "--apibase", api.srv.URL, "throw", "--service", "web")
	throw.Env = append(os.Environ(), "MACKEREL_APIKEY=test-key-not-printed")
	throw.Stdin = bytes.NewReader(printed)
	if out, err := throw.CombinedOutput(); err != nil {
		t.Fatalf("mkr throw: %v\n%s", err, out)
	}
	want := windowsOf(t, string(printed))
	got := api.got("web")
	if len(want) != 2 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("the API received\n%v\nbut the aggregator printed\n%v", got, want)
	}
}

// TestPostRetriesAndNeverPrintsTheKey: --post retries a 503, sends the key
// from --apikey-file, prints a summary without it; a window whose post
// keeps failing is kept and posted by the next run.
func TestPostRetriesAndNeverPrintsTheKey(t *testing.T) {
	srv := fleettest.StartRedis(t)
	st := openStore(t, srv.URL(), false)
	ws := recentWindows(1)
	deliver(t, st, "a1", "a", ws[0], 6)
	api := newFakeMackerel(t)
	keyFile := filepath.Join(t.TempDir(), "apikey")
	os.WriteFile(keyFile, []byte("secret-key-123\n"), 0o600)
	args := []string{"--redis", srv.URL(), "--service", "web", "--grace", "0s", "--post", "--verbose", "--apibase", api.srv.URL, "--apikey-file", keyFile, "--agent-conf", "/nonexistent"}

	api.fail = 5 // more than --retries 3
	code, out, errs := runAgg(t, args...)
	if code != 1 || !strings.Contains(errs, "HTTP 503") || !strings.Contains(errs, "kept for the next run") {
		t.Fatalf("failing API: exit %d, stdout %q, stderr %q; want 1 naming HTTP 503", code, out, errs)
	}
	if len(api.got("web")) != 0 {
		t.Fatal("failing API recorded metrics")
	}
	api.fail = 1
	code, out, errs = runAgg(t, args...)
	if code != 0 || !strings.Contains(out, "posted ") || !strings.Contains(out, "from 1 hosts") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	got := api.got("web")[ws[0].Start]
	if got["accesslog.access_num.total_count"] != 6 || got["accesslog.access_num.503_count"] != 3 {
		t.Errorf("posted %v", got)
	}
	for _, k := range api.keys {
		if k != "secret-key-123" {
			t.Errorf("X-Api-Key %q, want the file's key", k)
		}
	}
	if strings.Contains(out+errs, "secret-key-123") {
		t.Error("the API key was printed")
	}
	api.mu.Lock()
	requests := len(api.keys)
	api.mu.Unlock()
	code, out, errs = runAgg(t, args...)
	api.mu.Lock()
	requests = len(api.keys) - requests
	api.mu.Unlock()
	if code != 0 || out != "" || errs != "" || requests != 0 {
		t.Errorf("third run: exit %d, %q %q, %d requests to the API; want nothing posted, nothing written", code, out, errs, requests)
	}
	// The key from mackerel-agent.conf, the base from the environment.
	conf := filepath.Join(t.TempDir(), "mackerel-agent.conf")
	os.WriteFile(conf, []byte("apikey = \"conf-key\"\napibase = \""+api.srv.URL+"\"\n"), 0o600)
	deliver(t, st, "a2", "a", fleet.Window{Start: ws[0].Start - 10, Len: 10}, 2)
	code, out, errs = runAgg(t, "--redis", srv.URL(), "--service", "web", "--grace", "0s", "--post", "--agent-conf", conf)
	if code != 0 || api.keys[len(api.keys)-1] != "conf-key" || out != "" || errs != "" {
		t.Errorf("conf key, without --verbose: exit %d %q %q, key %q; want it posted and nothing written", code, out, errs, api.keys[len(api.keys)-1])
	}
}

// TestKilledWhilePostingThenRestarted: an aggregator killed (SIGKILL) while
// its post hangs leaves the window frozen but not posted; the next one
// posts it, with the values the first one would have posted.
func TestKilledWhilePostingThenRestarted(t *testing.T) {
	srv := fleettest.StartRedis(t)
	st := openStore(t, srv.URL(), false)
	ws := recentWindows(1)
	deliver(t, st, "a1", "a", ws[0], 9)
	api := newFakeMackerel(t)
	api.hang = make(chan struct{})
	bin := testenv.BuildBinary(t, "mackerel-service-accesslog")
	cmd := exec.Command(bin, "--redis", srv.URL(), "--service", "web", "--grace", "0s", "--post", "--apibase", api.srv.URL)
	cmd.Env = append(os.Environ(), "MACKEREL_APIKEY=k")
	p := testenv.Start(t, cmd)
	deadline := time.Now().Add(30 * time.Second)
	for {
		api.mu.Lock()
		n := len(api.keys)
		api.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) || p.Exited() {
			t.Fatal("the aggregator never posted")
		}
		time.Sleep(20 * time.Millisecond)
	}
	syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
	<-p.Done()
	// A host delivering now is not counted in the frozen window.
	c := &fleet.Contribution{ID: "late", Service: "web", Host: "b", Window: ws[0]}
	c.All.Total, c.All.Class[2] = 100, 100
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := st.Deliver(ctx, c, func(*fleet.Contribution) error { return nil }); err != nil || c.Window == ws[0] {
		t.Fatalf("late contribution: %v, window %v", err, c.Window)
	}
	api.mu.Lock()
	api.hang = nil
	api.mu.Unlock()
	r := testenv.Run(t, bin, []string{"MACKEREL_APIKEY=k"}, "--redis", srv.URL(), "--service", "web", "--grace", "0s", "--post", "--apibase", api.srv.URL)
	if r.Code != 0 {
		t.Fatalf("restarted aggregator: exit %d: %s", r.Code, r.Stderr)
	}
	got := api.got("web")[ws[0].Start]
	if got["accesslog.access_num.total_count"] != 9 || got["accesslog.fleet.hosts_count"] != 1 {
		t.Errorf("posted after restart: %v", got)
	}
}

// TestRedisDownIsAnErrorNamingIt: exit 1 within the deadline, naming Redis.
func TestRedisDownIsAnErrorNamingIt(t *testing.T) {
	port := testenv.FreePort(t)
	url := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	start := time.Now()
	code, out, errs := runAgg(t, "--redis", url, "--service", "web", "--timeout", "5s")
	if code != 1 || out != "" || !strings.Contains(errs, "redis") || strings.Count(errs, "\n") != 1 {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("took %v with --timeout 5s", took)
	}
}

func TestFlagErrorsAreOneLineExit2(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--service", "web"}, "--redis URL is required"},
		{[]string{"--redis", "redis://127.0.0.1:1/0"}, "--service NAME is required"},
		{[]string{"--redis", "redis://127.0.0.1:1/0", "--service", "no spaces"}, `--service: service name "no spaces"`},
		{[]string{"--redis", "redis://127.0.0.1:1/0", "--service", "web", "--grace", "-1s"}, `--grace: "-1s" is negative`},
		{[]string{"--redis", "redis://127.0.0.1:1/0", "--service", "web", "--redis-timeout", "0"}, "--redis-timeout 0s: want more than 0s"},
		{[]string{"--redis", "redis://127.0.0.1:1/0", "--service", "web", "--bogus"}, "unknown flag --bogus"},
		{[]string{"--redis", "http://127.0.0.1:1/0", "--service", "web"}, "redis URL http://127.0.0.1:1/0"},
		{[]string{"--redis", "redis://u:s3cret@127.0.0.1:1/0", "--service", "web", "--redis-ca-file", "ca.pem"}, "is not rediss://"},
		{[]string{"--redis-password", "s3cret"}, "never from the command line"},
		// Issue 20's URLs that go-redis cannot read: refused before anything runs, no password shown.
		{[]string{"--redis", "redis://:s3cret-abc@127.0.0.1:6x79/0", "--service", "web"}, `port "6x79"`},
		{[]string{"--redis", "redis://:s3cret%zz@127.0.0.1:6379/0", "--service", "web"}, "not a %XX escape"},
		{[]string{"--redis", "redis://:s3cret abc@127.0.0.1:6379/0", "--service", "web"}, "a space"},
		{[]string{"--redis", "redis://:s3cret@[::1:6379/0", "--service", "web"}, "closing ']'"},
		{[]string{"--redis", "redis//:s3cret@127.0.0.1:6379/0", "--service", "web"}, "redis URL REDACTED@127.0.0.1:6379/0: not a URL"},
	} {
		code, out, errs := runAgg(t, c.args...)
		if code != 2 || out != "" || strings.Count(errs, "\n") != 1 || !strings.HasPrefix(errs, binaryName+": ") || !strings.Contains(errs, c.want) || strings.Contains(errs, "s3cret") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and one line on stderr with %q", c.args, code, out, errs, c.want)
		}
	}
}

// TestHelpAndVersion: --help is the manual on stdout (every flag, the exit
// codes, an example), --version alone works; both exit 0.
func TestHelpAndVersion(t *testing.T) {
	code, out, errs := runAgg(t, "--help")
	for _, want := range []string{"--redis-ca-file", "--grace", "Exit codes:", "accesslog.latency.95_percentile", "mkr throw --service"} {
		if code != 0 || errs != "" || !strings.Contains(out, want) {
			t.Errorf("--help: exit %d, stderr %q, no %q in %s", code, errs, want, out)
		}
	}
	if code, out, errs = runAgg(t, "--version"); code != 0 || out != binaryName+" dev\n" || errs != "" {
		t.Errorf("--version: exit %d, %q %q", code, out, errs)
	}
}

// TestOnRedisCluster: hosts deliver to a three-node Redis Cluster (windows
// land on different nodes) and the aggregator, given one node, prints every
// window once.
func TestOnRedisCluster(t *testing.T) {
	nodes := fleettest.StartCluster(t)
	st := openStore(t, nodes[0].URL(), true)
	ws := recentWindows(5)
	for i, w := range ws {
		deliver(t, st, fmt.Sprintf("a%d", i), "a", w, 10+i)
		deliver(t, st, fmt.Sprintf("b%d", i), "b", w, 3)
	}
	code, out, errs := runAgg(t, "--redis", nodes[2].URL(), "--redis-cluster", "--service", "web", "--grace", "0s")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	got := windowsOf(t, out)
	for i, w := range ws {
		if got[w.Start]["accesslog.access_num.total_count"] != float64(13+i) || got[w.Start]["accesslog.fleet.hosts_count"] != 2 {
			t.Errorf("window %d: %v", w.Start, got[w.Start])
		}
	}
	if code, out, _ = runAgg(t, "--redis", nodes[1].URL(), "--redis-cluster", "--service", "web", "--grace", "0s"); code != 0 || out != "" {
		t.Errorf("second run: exit %d, %q", code, out)
	}
}

// TestRedisPassword: a Redis with requirepass is read with the password from
// $FLEET_REDIS_PASSWORD or --redis-password-file; a wrong one is an error
// that does not print it.
func TestRedisPassword(t *testing.T) {
	srv := fleettest.StartRedis(t, "--requirepass", "s3cret-pw")
	t.Setenv("FLEET_REDIS_PASSWORD", "s3cret-pw")
	st := openStore(t, srv.URL(), false)
	ws := recentWindows(1)
	deliver(t, st, "a1", "a", ws[0], 4)
	t.Setenv("FLEET_REDIS_PASSWORD", "wrong-pw")
	code, out, errs := runAgg(t, "--redis", srv.URL(), "--service", "web", "--grace", "0s")
	if code != 1 || out != "" || strings.Contains(errs, "wrong-pw") || !strings.Contains(strings.ToLower(errs), "pass") {
		t.Fatalf("wrong password: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("s3cret-pw\n"), 0o600)
	code, out, errs = runAgg(t, "--redis", srv.URL(), "--service", "web", "--grace", "0s", "--redis-password-file", pw)
	if code != 0 || windowsOf(t, out)[ws[0].Start]["accesslog.access_num.total_count"] != 4 || strings.Contains(out+errs, "s3cret") {
		t.Fatalf("password file: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

// TestOverTLS: windows in a redis-server listening with TLS only are read
// through rediss:// with --redis-ca-file; another CA is exit 1 with one line
// saying the certificate's authority is unknown, nothing printed on stdout;
// a CA file with redis:// is a flag error.
func TestOverTLS(t *testing.T) {
	srv := fleettest.StartRedisTLS(t)
	st, err := redisstore.Open(redisstore.Config{URL: srv.URL(), CAFile: srv.CA.File, Timeout: 10 * time.Second}, "web")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.SetGen(context.Background(), time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	st.Grace = time.Hour
	ws := recentWindows(2)
	for i, w := range ws {
		deliver(t, st, fmt.Sprintf("a%d", i), "a", w, 5+i)
	}
	code, out, errs := runAgg(t, "--redis", srv.URL(), "--service", "web", "--grace", "0s", "--redis-ca-file", fleettest.NewCA(t, "other").File)
	if code != 1 || out != "" || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "certificate signed by unknown authority") {
		t.Fatalf("other CA: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	code, out, errs = runAgg(t, "--redis", srv.URL(), "--service", "web", "--grace", "0s", "--redis-ca-file", srv.CA.File)
	got := windowsOf(t, out)
	if code != 0 || len(got) != 2 || got[ws[0].Start]["accesslog.access_num.total_count"] != 5 || got[ws[1].Start]["accesslog.access_num.total_count"] != 6 {
		t.Fatalf("right CA: exit %d, printed %v, stderr %q", code, got, errs)
	}
	code, out, errs = runAgg(t, "--redis", "redis://"+srv.Addr()+"/0", "--service", "web", "--redis-ca-file", srv.CA.File)
	if code != 2 || out != "" || !strings.Contains(errs, "not rediss://") {
		t.Errorf("CA file with redis://: exit %d, stderr %q", code, errs)
	}
}
