package balancertest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

func TestStartNginxServesAPIAndTraffic(t *testing.T) {
	bs := StartBackends(t, 2)
	n := StartNginx(t, Addrs(bs), 2)
	ctx := context.Background()
	code, body, err := Get(ctx, n.APIURL+"?upstream="+Zone, 2*time.Second)
	want := "server " + bs[0].Addr + ";\nserver " + bs[1].Addr + ";\n"
	if err != nil || code != 200 || body != want {
		t.Fatalf("list: %d %v %q, want %q", code, err, body, want)
	}
	seen := map[string]bool{}
	for range 4 {
		code, body, err := Get(ctx, n.Frontend+"/", 2*time.Second)
		if err != nil || code != 200 {
			t.Fatalf("frontend: %d %v", code, err)
		}
		seen[strings.TrimSpace(body)] = true
	}
	if len(seen) != 2 {
		t.Errorf("round-robin reached %v, want both backends", seen)
	}
	n.Reload()
	if code, _, err := Get(ctx, n.Frontend+"/", 2*time.Second); err != nil || code != 200 {
		t.Fatalf("frontend after reload: %d %v", code, err)
	}
}

func TestStartHAProxyServesTraffic(t *testing.T) {
	bs := StartBackends(t, 2)
	h := StartHAProxy(t, Addrs(bs))
	code, body, err := Get(context.Background(), h.Frontend+"/", 2*time.Second)
	if err != nil || code != 200 || !strings.HasPrefix(body, "127.0.0.1:") {
		t.Fatalf("frontend: %d %v %q", code, err, body)
	}
	if len(h.Servers) != 2 || h.Servers[0] != "app1" {
		t.Errorf("servers %v", h.Servers)
	}
}

func TestStartModuleNginxServesAPIAndTraffic(t *testing.T) {
	bs := StartBackends(t, 4)
	n := StartNginxWith(t, NginxOptions{
		Backends: Addrs(bs[:2]), Workers: 2, Module: true,
		ServerParams:  map[string]string{bs[1].Addr: "weight = 2, max_fails = 3, fail_timeout = 7"},
		Backup:        []string{bs[2].Addr},
		SecondServers: []string{bs[3].Addr},
	})
	ctx := context.Background()
	code, body, err := Get(ctx, n.APIURL+"?upstream="+Zone+"&verbose=", 2*time.Second)
	// Only the first block's primary servers: no backup, no second block.
	want := "server " + bs[0].Addr + " weight=1 max_fails=1 fail_timeout=10;\n" +
		"server " + bs[1].Addr + " weight=2 max_fails=3 fail_timeout=7;\n"
	if err != nil || code != 200 || body != want {
		t.Fatalf("list: %d %v %q, want %q", code, err, body, want)
	}
	seen := map[string]bool{}
	for range 6 {
		code, body, err := Get(ctx, n.Frontend+"/", 2*time.Second)
		if err != nil || code != 200 {
			t.Fatalf("frontend: %d %v", code, err)
		}
		seen[strings.TrimSpace(body)] = true
	}
	if len(seen) != 2 || !seen[bs[0].Addr] || !seen[bs[1].Addr] {
		t.Errorf("round-robin reached %v, want the two primary backends", seen)
	}
	if code, body, err := Get(ctx, n.Frontend+"/second/", 2*time.Second); err != nil || code != 200 || strings.TrimSpace(body) != bs[3].Addr {
		t.Errorf("second block: %d %v %q", code, err, body)
	}
	n.Reload()
	if code, _, err := Get(ctx, n.Frontend+"/", 2*time.Second); err != nil || code != 200 {
		t.Fatalf("frontend after reload: %d %v", code, err)
	}
	if len(n.WorkerPIDs()) < 2 {
		t.Errorf("workers %v", n.WorkerPIDs())
	}
}

// The build is cached: a second call (as from another test binary, which
// starts with an empty memo) finds the file and does not build again.
func TestDynamicUpstreamModuleIsCached(t *testing.T) {
	p := DynamicUpstreamModule(t)
	st, err := os.Stat(p)
	if err != nil || st.Size() == 0 {
		t.Fatalf("%s: %v", p, err)
	}
	moduleMu.Lock()
	modulePath = ""
	moduleMu.Unlock()
	if q := DynamicUpstreamModule(t); q != p {
		t.Errorf("second call %s, first %s", q, p)
	}
	st2, _ := os.Stat(p)
	if !st2.ModTime().Equal(st.ModTime()) {
		t.Errorf("the module was rebuilt: %v then %v", st.ModTime(), st2.ModTime())
	}
}

// Test binaries build the module at the same moment (go test runs packages
// in parallel): each waits on the lock file, and one build serves all.
// Each caller here opens the lock file itself, as another process would.
func TestModuleBuiltOnceByConcurrentCallers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the module (about 10 s)")
	}
	DynamicUpstreamModule(t) // the checks and skips
	tarball := filepath.Join(testenv.RepoRoot(), "..", "shared", ModuleTarball)
	sum, err := fileSHA256(tarball)
	if err != nil {
		t.Fatal(err)
	}
	version, err := nginxVersion(testenv.RequireCommand(t, "nginx"))
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	before := builds.Load()
	paths := make([]string, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			paths[i], errs[i] = cachedModule(cache, tarball, sum, version)
		}()
	}
	wg.Wait()
	for i := range paths {
		if errs[i] != nil || paths[i] != paths[0] {
			t.Fatalf("caller %d: %q %v (caller 0: %q)", i, paths[i], errs[i], paths[0])
		}
	}
	if n := builds.Load() - before; n != 1 {
		t.Errorf("%d builds for 3 concurrent callers, want 1", n)
	}
	if st, err := os.Stat(paths[0]); err != nil || st.Size() == 0 {
		t.Errorf("%s: %v", paths[0], err)
	}
	// Only the lock file and the finished module stay: no build dirs.
	left, _ := filepath.Glob(filepath.Join(cache, "*"))
	if len(left) != 2 {
		t.Errorf("left in the cache: %v", left)
	}
}
