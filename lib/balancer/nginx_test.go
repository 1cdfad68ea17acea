package balancer_test

// These tests run Debian's nginx 1.22 in front of Go backends on loopback
// ports, all started by lib/balancer/balancertest under a private prefix,
// with the API served by each of the two kinds: the Lua drop-in from nginx/
// and the real ngx_dynamic_upstream module built from ../shared/third_party.
// What both do alike runs table-driven over both; where they differ
// (active=, reloads, passive failures) each kind has its own test.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/balancer"
	"github.com/sre-suite/mackerel-plugins/lib/balancer/balancertest"
	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// nginxKind is one way of serving the ngx_dynamic_upstream API.
type nginxKind struct {
	name   string
	module bool // the real C module; else the Lua drop-in
}

var nginxKinds = []nginxKind{{"lua-drop-in", false}, {"c-module", true}}

// eachKind runs f as a subtest for the drop-in and for the real module.
func eachKind(t *testing.T, f func(t *testing.T, k nginxKind)) {
	for _, k := range nginxKinds {
		t.Run(k.name, func(t *testing.T) { f(t, k) })
	}
}

func (k nginxKind) start(t *testing.T, o balancertest.NginxOptions) *balancertest.Nginx {
	t.Helper()
	o.Module = k.module
	return balancertest.StartNginxWith(t, o)
}

// active is what the kind reports for a server with nothing in flight.
func (k nginxKind) idle() int {
	if k.module {
		return -1
	}
	return 0
}

func nginxDriver(t *testing.T, apiURL string, upstreams ...string) *balancer.Nginx {
	t.Helper()
	if len(upstreams) == 0 {
		upstreams = []string{balancertest.Zone}
	}
	b, err := balancer.New(balancer.Config{
		Name: "lb1", Driver: balancer.DriverNginx, URL: apiURL, Upstreams: upstreams,
		Timeout: balancer.Duration(3 * time.Second),
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.(*balancer.Nginx)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func byAddr(t *testing.T, servers []balancer.Server) map[string]balancer.Server {
	t.Helper()
	m := map[string]balancer.Server{}
	for _, s := range servers {
		m[s.Addr] = s
	}
	return m
}

// traffic sends n requests to the frontend, each on a new connection, and
// fails the test on any non-200.
func traffic(t *testing.T, frontend string, n int) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := 0; i < n; i++ {
		resp, err := client.Get(frontend + "/")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: HTTP %d", i, resp.StatusCode)
		}
	}
}

func TestNginxListDownUpWeight(t *testing.T) { eachKind(t, testNginxListDownUpWeight) }

func testNginxListDownUpWeight(t *testing.T, k nginxKind) {
	bs := balancertest.StartBackends(t, 3)
	ng := k.start(t, balancertest.NginxOptions{Backends: balancertest.Addrs(bs)})
	d := nginxDriver(t, ng.APIURL)
	ctx := ctxT(t)

	servers, err := d.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(servers) != 3 {
		t.Fatalf("List: %d servers, want 3: %+v", len(servers), servers)
	}
	for i, s := range servers {
		if s.Addr != bs[i].Addr || s.State != balancer.Up || s.Weight != 1 || s.Active != k.idle() || s.Upstream != balancertest.Zone ||
			s.MaxFails != 1 || s.FailTimeout != 10*time.Second {
			t.Errorf("server %d: %+v", i, s)
		}
	}
	if d.ReportsActive() != !k.module {
		t.Errorf("ReportsActive is %v", d.ReportsActive())
	}

	if err := d.Down(ctx, balancertest.Zone, bs[0].Addr); err != nil {
		t.Fatal(err)
	}
	servers, _ = d.List(ctx)
	// Without an in-flight count a down server is never "drained".
	if s := byAddr(t, servers)[bs[0].Addr]; s.State != balancer.Down || s.Drained() != !k.module {
		t.Errorf("after Down: %+v", s)
	}
	hits := bs[0].Hits()
	traffic(t, ng.Frontend, 12)
	if bs[0].Hits() != hits {
		t.Errorf("a down server got %d requests", bs[0].Hits()-hits)
	}

	// A hostname is resolved and matched.
	if err := d.Up(ctx, balancertest.Zone, "localhost:"+strings.Split(bs[0].Addr, ":")[1]); err != nil {
		t.Fatal(err)
	}
	servers, _ = d.List(ctx)
	if s := byAddr(t, servers)[bs[0].Addr]; s.State != balancer.Up {
		t.Errorf("after Up: %+v", s)
	}

	if err := d.SetWeight(ctx, balancertest.Zone, bs[1].Addr, 4); err != nil {
		t.Fatal(err)
	}
	servers, _ = d.List(ctx)
	if s := byAddr(t, servers)[bs[1].Addr]; s.Weight != 4 {
		t.Errorf("after SetWeight: %+v", s)
	}
	before := [3]int64{bs[0].Hits(), bs[1].Hits(), bs[2].Hits()}
	traffic(t, ng.Frontend, 60)
	got := [3]int64{bs[0].Hits() - before[0], bs[1].Hits() - before[1], bs[2].Hits() - before[2]}
	// weights 1:4:1 → 10, 40, 10 with smooth weighted round-robin, give or
	// take the rotation's phase when the weight changed
	if got[1] < 38 || got[1] > 42 || got[0] < 8 || got[0] > 12 || got[2] < 8 || got[2] > 12 {
		t.Errorf("hits with weights 1:4:1 over 60 requests: %v", got)
	}
}

func TestNginxErrors(t *testing.T) { eachKind(t, testNginxErrors) }

func testNginxErrors(t *testing.T, k nginxKind) {
	bs := balancertest.StartBackends(t, 2)
	ng := k.start(t, balancertest.NginxOptions{Backends: balancertest.Addrs(bs)})
	ctx := ctxT(t)

	// The module's statuses, which the drop-in imitates.
	z := "?upstream=" + balancertest.Zone
	for _, c := range []struct {
		query string
		code  int
	}{
		{"", 404},
		{"?upstream=nope", 404},
		{z + "&server=127.0.0.1:1&down=", 400},
		{z + "&server=localhost:" + strings.Split(bs[0].Addr, ":")[1] + "&down=", 400},
		{z + "&down=", 400},
		{z + "&server=" + bs[0].Addr + "&down=&up=", 400},
		{z + "&server=" + bs[0].Addr + "&weight=x", 400},
		{z + "&server=" + bs[0].Addr + "&weight=-1", 400},
		{z + "&server=" + bs[0].Addr + "&max_fails=", 400},
		{z + "&server=" + bs[0].Addr + "&add=&remove=", 400},
		{z + "&server=" + bs[0].Addr + "&down", 200},
		{z + "&verbose", 200},
	} {
		code, body, err := balancertest.Get(ctx, ng.APIURL+c.query, 3*time.Second)
		if err != nil || code != c.code {
			t.Errorf("GET %s: %d %v, want %d\n%s", c.query, code, err, c.code, body)
		}
	}
	if !k.module {
		// The drop-in refuses add= (the module's races with the balancer).
		if code, _, err := balancertest.Get(ctx, ng.APIURL+z+"&server=127.0.0.1:1&add=", 3*time.Second); err != nil || code != 501 {
			t.Errorf("add=: %d %v, want 501", code, err)
		}
	}
	// `&down` and `&verbose` without "=" do not count: the plain listing, unchanged.
	_, body, _ := balancertest.Get(ctx, ng.APIURL+z+"&server="+bs[0].Addr+"&down", 3*time.Second)
	if want := "server " + bs[0].Addr + ";\nserver " + bs[1].Addr + ";\n"; body != want {
		t.Errorf("&down without '=': %q, want %q", body, want)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ng.APIURL+z, nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 405 {
		t.Errorf("POST: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	req, _ = http.NewRequestWithContext(ctx, http.MethodHead, ng.APIURL+z+"&server="+bs[0].Addr+"&down=", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("HEAD: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// The driver's errors name the balancer, upstream and server.
	d := nginxDriver(t, ng.APIURL, balancertest.Zone, "nope")
	if _, err := d.List(ctx); err == nil || !strings.Contains(err.Error(), "balancer lb1: upstream nope not found (HTTP 404") {
		t.Errorf("unknown upstream: %v", err)
	}
	for _, addr := range []string{"127.0.0.1:1", "localhost:1", "no-such-host.invalid:80", "justaname"} {
		err := d.Down(ctx, balancertest.Zone, addr)
		if err == nil || !strings.Contains(err.Error(), "balancer lb1 upstream "+balancertest.Zone) || !strings.Contains(err.Error(), addr) {
			t.Errorf("Down(%s): %v", addr, err)
		}
	}
	if err := d.Down(ctx, "other", bs[0].Addr); err == nil || !strings.Contains(err.Error(), "upstream other is not configured") {
		t.Errorf("unconfigured upstream: %v", err)
	}

	// A server the driver sends is refused (HTTP 400): a fake that answers
	// the listing, then 400 to the change.
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.RawQuery, "down=") {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		w.Write([]byte("server 10.0.0.1:80 weight=1 max_fails=1 fail_timeout=10;\n"))
	}))
	defer fake.Close()
	fd := nginxDriver(t, fake.URL+"/dynamic", "z")
	if err := fd.Down(ctx, "z", "10.0.0.1:80"); err == nil || !strings.Contains(err.Error(), "balancer lb1 upstream z: server 10.0.0.1:80 or a parameter was refused (HTTP 400") {
		t.Errorf("400: %v", err)
	}
	if fd.ReportsActive() {
		t.Error("ReportsActive without active=")
	}

	// Timeout: a server that never answers.
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	defer hang.Close()
	hb, _ := balancer.New(balancer.Config{Name: "slow", Driver: balancer.DriverNginx, URL: hang.URL, Upstreams: []string{"z"}, Timeout: balancer.Duration(300 * time.Millisecond)})
	start := time.Now()
	if _, err := hb.List(ctx); err == nil || time.Since(start) > 3*time.Second {
		t.Errorf("List against a hanging server: %v after %v", err, time.Since(start))
	}
}

// `&down` without "=" is a 200 with the plain listing: a driver that trusted
// the status would report success. A proxy in front of the real nginx
// drops the "=" and the driver must notice.
func TestNginxDownWithoutEqualsIsCaught(t *testing.T) {
	eachKind(t, testNginxDownWithoutEqualsIsCaught)
}

func testNginxDownWithoutEqualsIsCaught(t *testing.T, k nginxKind) {
	bs := balancertest.StartBackends(t, 2)
	ng := k.start(t, balancertest.NginxOptions{Backends: balancertest.Addrs(bs)})
	target, _ := url.Parse(ng.APIURL)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := *target
		u.RawQuery = strings.ReplaceAll(r.URL.RawQuery, "down=", "down")
		code, body, err := balancertest.Get(r.Context(), u.String(), 3*time.Second)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.WriteHeader(code)
		w.Write([]byte(body))
	}))
	defer proxy.Close()
	d := nginxDriver(t, proxy.URL+"/dynamic")
	err := d.Down(ctxT(t), balancertest.Zone, bs[0].Addr)
	if err == nil || !strings.Contains(err.Error(), "server "+bs[0].Addr+": down was not applied") {
		t.Fatalf("Down through a proxy that drops '=': %v", err)
	}
	servers, _ := nginxDriver(t, ng.APIURL).List(ctxT(t))
	if byAddr(t, servers)[bs[0].Addr].State != balancer.Up {
		t.Errorf("server changed anyway: %+v", servers)
	}
}

// Both kinds share a change across every worker. Over a reload the drop-in
// keeps it; the C module forgets it (the file's state comes back).
func TestNginxStateSharedByWorkersAndOverReload(t *testing.T) {
	eachKind(t, testNginxStateSharedByWorkersAndOverReload)
}

func testNginxStateSharedByWorkersAndOverReload(t *testing.T, k nginxKind) {
	bs := balancertest.StartBackends(t, 3)
	ng := k.start(t, balancertest.NginxOptions{Backends: balancertest.Addrs(bs), Workers: 4})
	d := nginxDriver(t, ng.APIURL)
	ctx := ctxT(t)
	if err := d.Down(ctx, balancertest.Zone, bs[0].Addr); err != nil {
		t.Fatal(err)
	}
	hits := bs[0].Hits()
	traffic(t, ng.Frontend, 80)
	if got := bs[0].Hits() - hits; got != 0 {
		t.Errorf("down server got %d requests", got)
	}
	if pids := workersServing(t, ng.AccessLog); len(pids) < 2 {
		t.Errorf("only workers %v served requests; the test needs several", pids)
	}

	if k.module {
		// The master lets old and new workers run side by side for 100 ms
		// before it tells the old ones to quit; until then an old worker
		// may answer, with the state from before the reload.
		ng.ReloadSettled()
		servers, err := d.List(ctx)
		if s := byAddr(t, servers)[bs[0].Addr]; err != nil || s.State != balancer.Up {
			t.Errorf("after the reload the module lists %+v (%v); it should have forgotten the down flag", s, err)
		}
		traffic(t, ng.Frontend, 30)
		if bs[0].Hits() == hits {
			t.Error("the server put back by the reload got no requests")
		}
		return
	}
	ng.Reload()
	servers, err := d.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s := byAddr(t, servers)[bs[0].Addr]; s.State != balancer.Down {
		t.Errorf("after reload: %+v", s)
	}
	traffic(t, ng.Frontend, 40)
	if got := bs[0].Hits() - hits; got != 0 {
		t.Errorf("down server got %d requests after reload", got)
	}
	if err := d.Up(ctx, balancertest.Zone, bs[0].Addr); err != nil {
		t.Fatal(err)
	}
	traffic(t, ng.Frontend, 30)
	if bs[0].Hits() == hits {
		t.Error("server put back up got no requests")
	}
}

func workersServing(t *testing.T, accessLog string) map[string]int {
	t.Helper()
	b, err := os.ReadFile(accessLog)
	if err != nil {
		t.Fatal(err)
	}
	pids := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			pids[f[0]]++
		}
	}
	return pids
}

func TestDropInActiveCountsRequestsInFlight(t *testing.T) {
	bs := balancertest.StartBackends(t, 2)
	ng := balancertest.StartNginx(t, balancertest.Addrs(bs), 2)
	d := nginxDriver(t, ng.APIURL)
	ctx := ctxT(t)

	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			balancertest.Get(ctx, ng.Frontend+"/?sleep=5s", 20*time.Second)
		}()
	}
	defer wg.Wait()
	waitFor(t, 20*time.Second, "4 requests in flight at nginx and at the backends", func() bool {
		servers, err := d.List(ctx)
		total := 0
		for _, s := range servers {
			total += s.Active
		}
		return err == nil && total == 4 && bs[0].InFlight()+bs[1].InFlight() == 4
	})
	servers, _ := d.List(ctx)
	for i, s := range servers {
		if int64(s.Active) != bs[i].InFlight() {
			t.Errorf("%s: active=%d, the backend has %d in flight", s.Addr, s.Active, bs[i].InFlight())
		}
	}

	// Drain one: not drained while its requests run, drained once they end.
	if err := d.Drain(ctx, balancertest.Zone, bs[0].Addr); err != nil {
		t.Fatal(err)
	}
	servers, _ = d.List(ctx)
	if s := byAddr(t, servers)[bs[0].Addr]; s.Drained() || s.Active == 0 {
		t.Errorf("drained with requests in flight: %+v", s)
	}
	waitFor(t, 30*time.Second, "every active count back to 0", func() bool {
		servers, err := d.List(ctx)
		if err != nil {
			return false
		}
		for _, s := range servers {
			if s.Active != 0 {
				return false
			}
		}
		return byAddr(t, servers)[bs[0].Addr].Drained()
	})

	// A request whose client gives up is uncounted too.
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	balancertest.Get(cctx, ng.Frontend+"/?sleep=2s", time.Second)
	cancel()
	waitFor(t, 20*time.Second, "active back to 0 after a client abort", func() bool {
		servers, err := d.List(ctx)
		return err == nil && servers[1].Active == 0
	})
}

func waitFor(t *testing.T, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The drop-in's passive health check: a server that refuses is retried on
// another one, excluded after max_fails (1) failures, and up= forgets the
// failures (the C module does not). With every server down nginx answers 502.
func TestDropInPassiveFailuresAndNoLiveUpstreams(t *testing.T) {
	bs := balancertest.StartBackends(t, 3)
	ng := balancertest.StartNginx(t, balancertest.Addrs(bs), 1)
	d := nginxDriver(t, ng.APIURL)
	ctx := ctxT(t)
	bs[0].Close()
	traffic(t, ng.Frontend, 9)
	if n := attempts(t, ng.AccessLog, bs[0].Addr); n != 1 {
		t.Errorf("the dead server was tried %d times, want once (then excluded for fail_timeout)", n)
	}
	if err := d.Up(ctx, balancertest.Zone, bs[0].Addr); err != nil {
		t.Fatal(err)
	}
	// Smooth round-robin gives the server back its turn within a few
	// requests (its weight was charged for the failed try).
	traffic(t, ng.Frontend, 6)
	if n := attempts(t, ng.AccessLog, bs[0].Addr); n < 2 {
		t.Errorf("after up= the dead server was tried %d times in all, want it tried again\n%s", n, readLog(t, ng.AccessLog))
	}
	for _, b := range bs {
		if err := d.Down(ctx, balancertest.Zone, b.Addr); err != nil {
			t.Fatal(err)
		}
	}
	if code, _, err := balancertest.Get(ctx, ng.Frontend+"/", 3*time.Second); err != nil || code != http.StatusBadGateway {
		t.Errorf("every server down: %d %v, want 502", code, err)
	}
}

// attempts counts the tries of addr in the access log's $upstream_addr
// (the API's own lines, whose URIs name servers, are not counted).
func attempts(t *testing.T, accessLog, addr string) int {
	t.Helper()
	n := 0
	for _, line := range strings.Split(readLog(t, accessLog), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || strings.HasPrefix(f[len(f)-1], "/dynamic") {
			continue
		}
		// pid, upstream addresses ("a, b" for a retry), status, URI
		n += strings.Count(strings.Join(f[1:len(f)-2], " "), addr)
	}
	return n
}

// An internal redirect after the upstream answered (error_page with
// proxy_intercept_errors) clears ngx.ctx; the request must still be
// uncounted.
func TestDropInActiveAfterInternalRedirect(t *testing.T) {
	bs := balancertest.StartBackends(t, 2)
	ng := balancertest.StartNginxWith(t, balancertest.NginxOptions{
		Backends:      balancertest.Addrs(bs),
		LocationExtra: "proxy_intercept_errors on; error_page 503 = @fallback;",
		ServerExtra:   "location @fallback { return 200 \"fallback\\n\"; }",
	})
	d := nginxDriver(t, ng.APIURL)
	ctx := ctxT(t)
	for range 4 {
		code, body, err := balancertest.Get(ctx, ng.Frontend+"/?status=503", 3*time.Second)
		if err != nil || code != 200 || body != "fallback\n" {
			t.Fatalf("%d %q %v", code, body, err)
		}
	}
	servers, err := d.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range servers {
		if s.Active != 0 {
			t.Errorf("%s: active=%d after every request ended", s.Addr, s.Active)
		}
	}
}

// The example config in nginx/ works as shipped, once its addresses are
// replaced by the test's.
func TestNginxExampleConfigServes(t *testing.T) {
	bin := testenv.RequireCommand(t, "nginx")
	bs := balancertest.StartBackends(t, 3)
	example, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "nginx", "dynamic_upstream.conf"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	apiPort, fePort := testenv.FreePort(t), testenv.FreePort(t)
	conf := strings.NewReplacer(
		"/usr/local/share/nginx/lua", filepath.Join(testenv.RepoRoot(), "nginx"),
		"listen 80;", fmt.Sprintf("listen 127.0.0.1:%d;", fePort),
		"127.0.0.1:6000", fmt.Sprintf("127.0.0.1:%d", apiPort),
		"10.0.0.11:8080", bs[0].Addr, "10.0.0.12:8080", bs[1].Addr, "10.0.0.13:8080", bs[2].Addr,
	).Replace(string(example))
	if err := os.WriteFile(filepath.Join(dir, "dynamic_upstream.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;"
	}
	main := fmt.Sprintf(`load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
%s
daemon off;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log;
events {}
http {
    access_log off;
    client_body_temp_path %[2]s/client; proxy_temp_path %[2]s/proxy; fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi; scgi_temp_path %[2]s/scgi;
    include %[2]s/dynamic_upstream.conf;
}
`, user, dir)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.Start(t, exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf")))
	testenv.WaitTCP(t, fmt.Sprintf("127.0.0.1:%d", apiPort), 10*time.Second)
	testenv.WaitTCP(t, fmt.Sprintf("127.0.0.1:%d", fePort), 10*time.Second)

	d := nginxDriver(t, fmt.Sprintf("http://127.0.0.1:%d/dynamic", apiPort))
	servers, err := d.List(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(servers) != 3 || servers[2].Addr != bs[2].Addr || servers[2].Weight != 2 {
		t.Fatalf("%+v", servers)
	}
	traffic(t, fmt.Sprintf("http://127.0.0.1:%d", fePort), 8)
	if bs[2].Hits() != 4 {
		t.Errorf("the weight-2 server got %d of 8 requests", bs[2].Hits())
	}
}

// A reload keeps run-time changes, except where the file itself changed.
func TestDropInReloadKeepsChangesUnlessTheFileChanged(t *testing.T) {
	bs := balancertest.StartBackends(t, 2)
	ng := balancertest.StartNginx(t, balancertest.Addrs(bs), 1)
	d := nginxDriver(t, ng.APIURL)
	ctx := ctxT(t)
	if err := d.Down(ctx, balancertest.Zone, bs[0].Addr); err != nil {
		t.Fatal(err)
	}
	if err := d.SetWeight(ctx, balancertest.Zone, bs[1].Addr, 5); err != nil {
		t.Fatal(err)
	}
	conf, err := os.ReadFile(ng.ConfPath)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(conf), strconv.Quote(bs[1].Addr), "{ "+strconv.Quote(bs[1].Addr)+", weight = 3 }", 1)
	if edited == string(conf) {
		t.Fatal("the generated config has no server line to edit")
	}
	if err := os.WriteFile(ng.ConfPath, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	ng.Reload()
	servers, err := d.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if servers[0].State != balancer.Down || servers[1].Weight != 3 {
		t.Errorf("after reload: %+v, want the first still down and the second at the file's new weight 3", servers)
	}
}

// SetFailures sets max_fails and fail_timeout, confirmed by read-back, and
// puts the original values back.
func TestNginxSetFailures(t *testing.T) { eachKind(t, testNginxSetFailures) }

func testNginxSetFailures(t *testing.T, k nginxKind) {
	bs := balancertest.StartBackends(t, 2)
	ng := k.start(t, balancertest.NginxOptions{Backends: balancertest.Addrs(bs),
		ServerParams: map[string]string{bs[1].Addr: "max_fails = 3, fail_timeout = 7"}})
	d := nginxDriver(t, ng.APIURL)
	ctx := ctxT(t)
	servers, err := d.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	orig := byAddr(t, servers)[bs[1].Addr]
	if orig.MaxFails != 3 || orig.FailTimeout != 7*time.Second {
		t.Fatalf("the config's values: %+v", orig)
	}
	if err := d.SetFailures(ctx, balancertest.Zone, bs[1].Addr, 0, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	servers, _ = d.List(ctx)
	if s := byAddr(t, servers)[bs[1].Addr]; s.MaxFails != 0 || s.FailTimeout != 30*time.Second || s.State != balancer.Up || s.Weight != 1 {
		t.Errorf("after SetFailures(0, 30s): %+v", s)
	}
	if s := byAddr(t, servers)[bs[0].Addr]; s.MaxFails != 1 || s.FailTimeout != 10*time.Second {
		t.Errorf("the other server changed: %+v", s)
	}
	if err := d.SetFailures(ctx, balancertest.Zone, bs[1].Addr, orig.MaxFails, orig.FailTimeout); err != nil {
		t.Fatal(err)
	}
	servers, _ = d.List(ctx)
	if s := byAddr(t, servers)[bs[1].Addr]; s.MaxFails != 3 || s.FailTimeout != 7*time.Second {
		t.Errorf("after restoring: %+v", s)
	}
	for _, c := range []struct {
		maxFails int
		timeout  time.Duration
		want     string
	}{
		{-1, time.Second, "max_fails -1 is negative"},
		{1, 1500 * time.Millisecond, "fail_timeout 1.5s is not a whole number of seconds"},
		{1, -time.Second, "fail_timeout -1s"},
	} {
		err := d.SetFailures(ctx, balancertest.Zone, bs[1].Addr, c.maxFails, c.timeout)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), bs[1].Addr) {
			t.Errorf("SetFailures(%d, %v): %v, want %q", c.maxFails, c.timeout, err, c.want)
		}
	}
}

// The C module lists neither backup servers nor the servers of a second
// upstream block sharing the zone, and refuses to change them (400). The
// driver says so, naming the server.
func TestModuleHidesBackupAndSecondBlock(t *testing.T) {
	bs := balancertest.StartBackends(t, 4)
	ng := balancertest.StartNginxWith(t, balancertest.NginxOptions{Module: true,
		Backends: balancertest.Addrs(bs[:2]), Backup: []string{bs[2].Addr}, SecondServers: []string{bs[3].Addr}})
	d := nginxDriver(t, ng.APIURL)
	ctx := ctxT(t)
	servers, err := d.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(servers) != 2 || servers[0].Addr != bs[0].Addr || servers[1].Addr != bs[1].Addr {
		t.Fatalf("List: %+v, want the two primary servers of the first block", servers)
	}
	for _, hidden := range []string{bs[2].Addr, bs[3].Addr} {
		code, _, err := balancertest.Get(ctx, ng.APIURL+"?upstream="+balancertest.Zone+"&server="+hidden+"&down=", 3*time.Second)
		if err != nil || code != 400 {
			t.Errorf("down= on hidden %s: %d %v, want 400", hidden, code, err)
		}
		err = d.Down(ctx, balancertest.Zone, hidden)
		if err == nil || !strings.Contains(err.Error(), "server "+hidden+" is not listed") ||
			!strings.Contains(err.Error(), "lists neither backup servers nor the servers of a second upstream block") {
			t.Errorf("Down(%s): %v", hidden, err)
		}
	}
	// The second block still serves, whatever the module says.
	if code, body, err := balancertest.Get(ctx, ng.Frontend+"/second/", 3*time.Second); err != nil || code != 200 || strings.TrimSpace(body) != bs[3].Addr {
		t.Errorf("second block: %d %v %q", code, err, body)
	}
}

// A reload puts back every value of the file in the C module: down flags,
// weights and max_fails/fail_timeout set at run time. A deploy tool that
// turned max_fails off must set it again after a reload.
func TestModuleReloadResetsRunTimeValues(t *testing.T) {
	bs := balancertest.StartBackends(t, 2)
	ng := balancertest.StartModuleNginx(t, balancertest.Addrs(bs), 2)
	d := nginxDriver(t, ng.APIURL)
	ctx := ctxT(t)
	if err := d.Down(ctx, balancertest.Zone, bs[0].Addr); err != nil {
		t.Fatal(err)
	}
	if err := d.SetWeight(ctx, balancertest.Zone, bs[1].Addr, 3); err != nil {
		t.Fatal(err)
	}
	if err := d.SetFailures(ctx, balancertest.Zone, bs[1].Addr, 0, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	ng.ReloadSettled()
	servers, err := d.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a, b := byAddr(t, servers)[bs[0].Addr], byAddr(t, servers)[bs[1].Addr]
	if a.State != balancer.Up || b.Weight != 1 || b.MaxFails != 1 || b.FailTimeout != 10*time.Second {
		t.Errorf("after the reload: %+v and %+v, want the file's values (up, weight 1, max_fails 1, fail_timeout 10s)", a, b)
	}
}

// The C module and nginx's passive health check, the basis of deploy-tool's
// design: a server whose request failed (its app restarting) is excluded
// for fail_timeout, `up=` does not clear that, and with the other servers
// down nginx answers 502 although the API lists the server up and its app
// serves again. max_fails=0 set at run time takes effect at once, and a
// server with max_fails=0 is never excluded. fail_timeout is 60 s here so
// that a busy machine cannot outlast it.
func TestModulePassiveFailureOutlivesUpAndMaxFailsZeroAvoidsIt(t *testing.T) {
	bs := balancertest.StartBackends(t, 3)
	params := map[string]string{}
	for _, b := range bs {
		params[b.Addr] = "fail_timeout = 60"
	}
	ng := balancertest.StartNginxWith(t, balancertest.NginxOptions{Module: true, Backends: balancertest.Addrs(bs), ServerParams: params})
	d := nginxDriver(t, ng.APIURL)
	ctx := ctxT(t)
	a := bs[0]

	// A's app stops: its first request fails (the GET is retried on another
	// server, so clients see 200), then A is skipped.
	a.Close()
	traffic(t, ng.Frontend, 9)
	if n := attempts(t, ng.AccessLog, a.Addr); n != 1 {
		t.Fatalf("the stopped server was tried %d times, want once (then excluded)", n)
	}
	// A's app is back and A goes through down= and up=, as in a deploy.
	a.Reopen(t)
	if err := d.Down(ctx, balancertest.Zone, a.Addr); err != nil {
		t.Fatal(err)
	}
	if err := d.Up(ctx, balancertest.Zone, a.Addr); err != nil {
		t.Fatal(err)
	}
	traffic(t, ng.Frontend, 9)
	if a.Hits() != 0 || attempts(t, ng.AccessLog, a.Addr) != 1 {
		t.Errorf("after up= the failed server got %d requests (%d attempts); nginx should still exclude it", a.Hits(), attempts(t, ng.AccessLog, a.Addr))
	}
	// The next server of the rollout goes down, and the last one too: the
	// API lists A up, A's app serves, and nginx has no live upstream.
	for _, b := range bs[1:] {
		if err := d.Down(ctx, balancertest.Zone, b.Addr); err != nil {
			t.Fatal(err)
		}
	}
	servers, _ := d.List(ctx)
	if s := byAddr(t, servers)[a.Addr]; s.State != balancer.Up {
		t.Fatalf("the API lists %+v", s)
	}
	if code, _, err := balancertest.Get(ctx, ng.Frontend+"/", 3*time.Second); err != nil || code != http.StatusBadGateway {
		t.Errorf("only the excluded server up: %d %v, want 502", code, err)
	}
	if !strings.Contains(readLog(t, ng.ErrorLog), "no live upstreams") {
		t.Errorf("the error log does not say \"no live upstreams\"")
	}

	// max_fails=0 at run time: A is taken at once, fail_timeout or not.
	if err := d.SetFailures(ctx, balancertest.Zone, a.Addr, 0, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	code, body, err := balancertest.Get(ctx, ng.Frontend+"/", 3*time.Second)
	if err != nil || code != 200 || strings.TrimSpace(body) != a.Addr {
		t.Errorf("after max_fails=0: %d %v %q, want 200 from %s", code, err, body, a.Addr)
	}
	// Putting max_fails=1 back brings the exclusion back: the failure is
	// still counted (a success does not reset it while the failure is
	// younger than fail_timeout). Restore the original values only after
	// fail_timeout has passed since the last failure.
	if err := d.SetFailures(ctx, balancertest.Zone, a.Addr, 1, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	if code, _, err := balancertest.Get(ctx, ng.Frontend+"/", 3*time.Second); err != nil || code != http.StatusBadGateway {
		t.Errorf("max_fails=1 put back within fail_timeout of the failure: %d %v, want 502 (excluded again)", code, err)
	}

	// With max_fails=0 a server whose app restarts is never excluded: it
	// is tried again after each failure and serves as soon as it is back.
	b := bs[1]
	if err := d.SetFailures(ctx, balancertest.Zone, a.Addr, 0, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := d.SetFailures(ctx, balancertest.Zone, b.Addr, 0, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := d.Up(ctx, balancertest.Zone, b.Addr); err != nil {
		t.Fatal(err)
	}
	b.Close()
	before := attempts(t, ng.AccessLog, b.Addr)
	traffic(t, ng.Frontend, 8)
	if n := attempts(t, ng.AccessLog, b.Addr) - before; n < 2 {
		t.Errorf("with max_fails=0 the stopped server was tried %d times in 8 requests, want it tried again and again", n)
	}
	b.Reopen(t)
	hits := b.Hits()
	traffic(t, ng.Frontend, 8)
	if b.Hits() == hits {
		t.Error("with max_fails=0 the server got no request once its app was back")
	}
}

func readLog(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The exclusion ends by itself: after fail_timeout (1 s here) nginx tries
// the server again. Only "eventually" is asserted, with a deadline far
// beyond fail_timeout; seen here: about fail_timeout after the failure.
func TestModuleExclusionEndsAfterFailTimeout(t *testing.T) {
	bs := balancertest.StartBackends(t, 2)
	ng := balancertest.StartNginxWith(t, balancertest.NginxOptions{Module: true, Backends: balancertest.Addrs(bs),
		ServerParams: map[string]string{bs[0].Addr: "fail_timeout = 1"}})
	d := nginxDriver(t, ng.APIURL)
	ctx := ctxT(t)
	bs[0].Close()
	traffic(t, ng.Frontend, 4)
	bs[0].Reopen(t)
	if err := d.Down(ctx, balancertest.Zone, bs[1].Addr); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the failed server to serve again after fail_timeout", func() bool {
		code, body, err := balancertest.Get(ctx, ng.Frontend+"/", 3*time.Second)
		return err == nil && code == 200 && strings.TrimSpace(body) == bs[0].Addr
	})
}

// A reload ends the exclusion too: the C module's servers are copied anew
// from the file, failure counts included.
func TestModuleReloadClearsPassiveFailures(t *testing.T) {
	bs := balancertest.StartBackends(t, 2)
	params := map[string]string{bs[0].Addr: "fail_timeout = 60", bs[1].Addr: "fail_timeout = 60"}
	ng := balancertest.StartNginxWith(t, balancertest.NginxOptions{Module: true, Backends: balancertest.Addrs(bs), ServerParams: params})
	d := nginxDriver(t, ng.APIURL)
	ctx := ctxT(t)
	bs[0].Close()
	traffic(t, ng.Frontend, 4)
	bs[0].Reopen(t)
	if err := d.Down(ctx, balancertest.Zone, bs[1].Addr); err != nil {
		t.Fatal(err)
	}
	if code, _, err := balancertest.Get(ctx, ng.Frontend+"/", 3*time.Second); err != nil || code != http.StatusBadGateway {
		t.Fatalf("before the reload: %d %v, want 502 (the failed server excluded)", code, err)
	}
	ng.ReloadSettled()
	// The reload also put the other server back up: down again.
	if err := d.Down(ctx, balancertest.Zone, bs[1].Addr); err != nil {
		t.Fatal(err)
	}
	code, body, err := balancertest.Get(ctx, ng.Frontend+"/", 3*time.Second)
	if err != nil || code != 200 || strings.TrimSpace(body) != bs[0].Addr {
		t.Errorf("after the reload: %d %v %q, want 200 from the once-failed server", code, err, body)
	}
}

// What puts a server in the passive-failure state during a deploy: its app
// restarting while requests are in flight. A cut GET is retried on another
// server (the client sees 200), a cut POST reaches the client as 502, and
// both count as failures: the server is then excluded for fail_timeout
// although no client may have seen an error.
func TestModuleRequestsCutByARestartExcludeTheServer(t *testing.T) {
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		t.Run(method, func(t *testing.T) {
			bs := balancertest.StartBackends(t, 2)
			params := map[string]string{bs[0].Addr: "fail_timeout = 60", bs[1].Addr: "fail_timeout = 60"}
			ng := balancertest.StartNginxWith(t, balancertest.NginxOptions{Module: true, Backends: balancertest.Addrs(bs), ServerParams: params})
			d := nginxDriver(t, ng.APIURL)
			ctx := ctxT(t)
			a, b := bs[0], bs[1]
			// The slow request goes to A: B is down while it is sent.
			if err := d.Down(ctx, balancertest.Zone, b.Addr); err != nil {
				t.Fatal(err)
			}
			type answer struct {
				code int
				body string
				err  error
			}
			done := make(chan answer, 1)
			go func() {
				req, _ := http.NewRequestWithContext(ctx, method, ng.Frontend+"/?sleep=2s", nil)
				resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
				if err != nil {
					done <- answer{err: err}
					return
				}
				defer resp.Body.Close()
				var sb strings.Builder
				_, err = io.Copy(&sb, resp.Body)
				done <- answer{resp.StatusCode, strings.TrimSpace(sb.String()), err}
			}()
			waitFor(t, 20*time.Second, "the slow request in flight at A", func() bool { return a.InFlight() == 1 })
			if err := d.Up(ctx, balancertest.Zone, b.Addr); err != nil {
				t.Fatal(err)
			}
			a.Close() // the app restarts: its connections are cut
			got := <-done
			want := answer{code: 200, body: b.Addr}
			if method == http.MethodPost {
				want = answer{code: http.StatusBadGateway}
			}
			if got.err != nil || got.code != want.code || (want.body != "" && got.body != want.body) {
				t.Errorf("the cut %s: %d %q %v, want %d %q", method, got.code, got.body, got.err, want.code, want.body)
			}
			a.Reopen(t)
			hits := a.Hits()
			traffic(t, ng.Frontend, 6)
			if a.Hits() != hits {
				t.Errorf("A got %d requests after the cut; it should be excluded for fail_timeout", a.Hits()-hits)
			}
		})
	}
}

// When putting max_fails back is safe: once fail_timeout has passed since
// the last failure and the server has then answered a request, nginx has
// forgotten the failures, and the restored max_fails excludes nothing.
// (Within fail_timeout it excludes the server again at once: see
// TestModulePassiveFailureOutlivesUpAndMaxFailsZeroAvoidsIt.)
func TestModuleMaxFailsRestoredAfterFailTimeoutAndASuccess(t *testing.T) {
	bs := balancertest.StartBackends(t, 2)
	a, b := bs[0], bs[1]
	ng := balancertest.StartNginxWith(t, balancertest.NginxOptions{Module: true, Backends: balancertest.Addrs(bs),
		ServerParams: map[string]string{a.Addr: "max_fails = 0, fail_timeout = 3"}})
	d := nginxDriver(t, ng.APIURL)
	ctx := ctxT(t)
	a.Close()
	traffic(t, ng.Frontend, 4) // A fails, and is tried again: max_fails=0
	if n := attempts(t, ng.AccessLog, a.Addr); n < 2 {
		t.Fatalf("with max_fails=0 the stopped server was tried %d times", n)
	}
	a.Reopen(t)
	time.Sleep(4 * time.Second) // past fail_timeout since the last failure
	hits := a.Hits()
	traffic(t, ng.Frontend, 4)
	if a.Hits() == hits {
		t.Fatal("A served nothing after its app came back")
	}
	if err := d.SetFailures(ctx, balancertest.Zone, a.Addr, 1, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := d.Down(ctx, balancertest.Zone, b.Addr); err != nil {
		t.Fatal(err)
	}
	code, body, err := balancertest.Get(ctx, ng.Frontend+"/", 3*time.Second)
	if err != nil || code != 200 || strings.TrimSpace(body) != a.Addr {
		t.Errorf("max_fails=1 put back after fail_timeout and a success: %d %v %q, want 200 from A", code, err, body)
	}
}
