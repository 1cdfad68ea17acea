package balancer_test

// These tests run Debian's nginx 1.22 with the Lua module serving the
// drop-in from nginx/, in front of Go backends on loopback ports, all
// started by lib/balancer/balancertest under a private prefix.

import (
	"context"
	"fmt"
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

func TestNginxListDownUpWeight(t *testing.T) {
	bs := balancertest.StartBackends(t, 3)
	ng := balancertest.StartNginx(t, balancertest.Addrs(bs), 1)
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
		if s.Addr != bs[i].Addr || s.State != balancer.Up || s.Weight != 1 || s.Active != 0 || s.Upstream != balancertest.Zone {
			t.Errorf("server %d: %+v", i, s)
		}
	}
	if !d.ReportsActive() {
		t.Error("ReportsActive is false for the drop-in")
	}

	if err := d.Down(ctx, balancertest.Zone, bs[0].Addr); err != nil {
		t.Fatal(err)
	}
	servers, _ = d.List(ctx)
	if s := byAddr(t, servers)[bs[0].Addr]; s.State != balancer.Down || !s.Drained() {
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

func TestNginxErrors(t *testing.T) {
	bs := balancertest.StartBackends(t, 2)
	ng := balancertest.StartNginx(t, balancertest.Addrs(bs), 1)
	ctx := ctxT(t)

	// The drop-in's statuses, as ngx_dynamic_upstream answers.
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
		{z + "&server=127.0.0.1:1&add=", 501},
		{z + "&server=" + bs[0].Addr + "&down", 200},
		{z + "&verbose", 200},
	} {
		code, body, err := balancertest.Get(ctx, ng.APIURL+c.query, 3*time.Second)
		if err != nil || code != c.code {
			t.Errorf("GET %s: %d %v, want %d\n%s", c.query, code, err, c.code, body)
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
	bs := balancertest.StartBackends(t, 2)
	ng := balancertest.StartNginx(t, balancertest.Addrs(bs), 1)
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

func TestNginxStateSharedByWorkersAndKeptOverReload(t *testing.T) {
	bs := balancertest.StartBackends(t, 3)
	ng := balancertest.StartNginx(t, balancertest.Addrs(bs), 4)
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

func TestNginxActiveCountsRequestsInFlight(t *testing.T) {
	bs := balancertest.StartBackends(t, 2)
	ng := balancertest.StartNginx(t, balancertest.Addrs(bs), 2)
	d := nginxDriver(t, ng.APIURL)
	ctx := ctxT(t)

	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			balancertest.Get(ctx, ng.Frontend+"/?sleep=1500ms", 10*time.Second)
		}()
	}
	defer wg.Wait()
	waitFor(t, 3*time.Second, "4 requests in flight at nginx and at the backends", func() bool {
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
	waitFor(t, 5*time.Second, "every active count back to 0", func() bool {
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
	waitFor(t, 5*time.Second, "active back to 0 after a client abort", func() bool {
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
func TestNginxPassiveFailuresAndNoLiveUpstreams(t *testing.T) {
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
	traffic(t, ng.Frontend, 3)
	if n := attempts(t, ng.AccessLog, bs[0].Addr); n != 2 {
		t.Errorf("after up= the dead server was tried %d times in all, want 2", n)
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

// attempts counts the tries of addr in the access log's $upstream_addr.
func attempts(t *testing.T, accessLog, addr string) int {
	t.Helper()
	b, err := os.ReadFile(accessLog)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), addr)
}

// An internal redirect after the upstream answered (error_page with
// proxy_intercept_errors) clears ngx.ctx; the request must still be
// uncounted.
func TestNginxActiveAfterInternalRedirect(t *testing.T) {
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
func TestNginxReloadKeepsChangesUnlessTheFileChanged(t *testing.T) {
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
