package main

// Two deploy hosts end to end: two deploy-tool processes, each with its own
// state directory (its own lock and journal), started at the same moment
// over the same three balancers (nginx with the Lua drop-in, nginx with the
// real ngx_dynamic_upstream module, HAProxy) in front of the same 3
// backends, max_unavailable = 1, round after round.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/balancer"
	"github.com/sre-suite/mackerel-plugins/lib/balancer/balancertest"
)

// twoHostsConfig writes host's config: every balancer, the backends, and a
// deploy command that appends "HOST ADDR start|end" to log.
func twoHostsConfig(t *testing.T, host, balancersTOML, log string, addrs []string) string {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "state_dir = %q\nmax_unavailable = 1\nmax_request_time = %q\ndrain_wait = %[2]q\ndrain_timeout = \"5s\"\nsettle = \"100ms\"\nup_timeout = \"10s\"\n\n",
		filepath.Join(dir, "state"), twoHostsMaxRequest)
	cmd := fmt.Sprintf("echo '%s {addr} start' >> %s; sleep 0.1; echo '%s {addr} end' >> %s", host, log, host, log)
	fmt.Fprintf(&b, "[deploy]\ncommand = %q\ntimeout = \"30s\"\n\n[claim]\nwait = \"2m\"\n\n%s\n", cmd, balancersTOML)
	for _, a := range addrs {
		fmt.Fprintf(&b, "[[server]]\naddr = %q\n\n", a)
	}
	path := filepath.Join(dir, "deploy.toml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// outSampler reads each balancer every 20 ms and records the most servers
// out of rotation (not serving) on it at one reading. Each balancer's
// listing is one moment; readings of two balancers are not, so the count
// is per balancer.
type outSampler struct {
	mu     sync.Mutex
	worst  map[string]int
	sample map[string]string
	reads  int
	stop   chan struct{}
	done   chan struct{}
}

func sampleOut(t *testing.T, cfgs []balancer.Config) *outSampler {
	s := &outSampler{worst: map[string]int{}, sample: map[string]string{}, stop: make(chan struct{}), done: make(chan struct{})}
	var bals []balancer.Balancer
	for _, c := range cfgs {
		b, err := balancer.New(c)
		if err != nil {
			t.Fatal(err)
		}
		bals = append(bals, b)
	}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
			for _, b := range bals {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				list, err := b.List(ctx)
				cancel()
				if err != nil {
					continue
				}
				var out []string
				for _, e := range list {
					if !balancer.Serving(e) {
						out = append(out, e.Addr+" "+string(e.State)+" "+e.Health)
					}
				}
				s.mu.Lock()
				s.reads++
				if len(out) > s.worst[b.Name()] {
					s.worst[b.Name()] = len(out)
					s.sample[b.Name()] = strings.Join(out, ", ")
				}
				s.mu.Unlock()
			}
		}
	}()
	return s
}

func (s *outSampler) Stop() {
	close(s.stop)
	<-s.done
}

// deployLog parses the deploy commands' log: per host and server, the
// number of runs; and the most commands running at once (all hosts).
func deployLog(t *testing.T, path string) (runs map[string]int, maxAtOnce int, err error) {
	b, rerr := os.ReadFile(path)
	if rerr != nil && !os.IsNotExist(rerr) {
		t.Fatal(rerr)
	}
	runs = map[string]int{}
	open := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, 0, fmt.Errorf("bad line %q", line)
		}
		key := f[0] + " " + f[1]
		switch f[2] {
		case "start":
			if open[f[1]] {
				return nil, 0, fmt.Errorf("%s started while another deploy of %s ran", key, f[1])
			}
			open[f[1]] = true
			runs[key]++
			maxAtOnce = max(maxAtOnce, len(open))
		case "end":
			delete(open, f[1])
		}
	}
	return runs, maxAtOnce, nil
}

func TestTwoDeployHostsAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	backs := balancertest.StartBackends(t, 3)
	addrs := balancertest.Addrs(backs)
	lua := balancertest.StartNginx(t, addrs, 2)
	mod := startTwoHostsModule(t, addrs)
	h := balancertest.StartHAProxy(t, addrs)
	cfgs := []balancer.Config{luaCfg(lua), moduleCfg(mod), haproxyConfig(h)}
	bals := balancersTOML(cfgs[:2]) + haproxyTOML(h)
	twoHosts(t, cfgs, bals, addrs, 10, true)
}

// Without HAProxy there is no turn: the claim marks (nginx weights) and the
// check after the mark-down are the only guard. Two hosts never deploy the
// same server at once, nor more than one server at once; for up to
// claim.delay both may have a server out (the README says so).
func TestTwoDeployHostsAtOnceNginxOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	backs := balancertest.StartBackends(t, 3)
	addrs := balancertest.Addrs(backs)
	lua := balancertest.StartNginx(t, addrs, 2)
	mod := startTwoHostsModule(t, addrs)
	cfgs := []balancer.Config{luaCfg(lua), moduleCfg(mod)}
	twoHosts(t, cfgs, balancersTOML(cfgs), addrs, 5, false)
}

// startTwoHostsModule starts nginx with the C module whose
// proxy_read_timeout is the configs' max_request_time (the test apps answer
// at once): the configuration the README recommends, with short times.
func startTwoHostsModule(t *testing.T, addrs []string) *balancertest.Nginx {
	t.Helper()
	return balancertest.StartNginxWith(t, balancertest.NginxOptions{Backends: addrs, Workers: 2, Module: true, ReadTimeout: twoHostsMaxRequest})
}

// twoHostsMaxRequest is the longest request of the two-hosts tests: the
// module nginx's proxy_read_timeout, their max_request_time and drain_wait.
const twoHostsMaxRequest = "200ms"

func luaCfg(n *balancertest.Nginx) balancer.Config {
	return balancer.Config{Name: "nginx-lua", Driver: balancer.DriverNginx, URL: n.APIURL, Upstreams: []string{n.Zone}}
}

func moduleCfg(n *balancertest.Nginx) balancer.Config {
	return balancer.Config{Name: "nginx-module", Driver: balancer.DriverNginx, URL: n.APIURL, Upstreams: []string{n.Zone}}
}

func balancersTOML(cfgs []balancer.Config) string {
	var b strings.Builder
	for _, c := range cfgs {
		fmt.Fprintf(&b, "[[balancer]]\nname = %q\ndriver = \"ngx_dynamic_upstream\"\nurl = %q\nupstreams = [%q]\n\n", c.Name, c.URL, c.Upstreams[0])
	}
	return b.String()
}

// twoHosts runs rounds of two rollouts started at once; strict asserts
// that no balancer ever had more than one server out.
func twoHosts(t *testing.T, cfgs []balancer.Config, bals string, addrs []string, rounds int, strict bool) {
	log := filepath.Join(t.TempDir(), "deploys.log")
	hosts := []string{"hostA", "hostB"}
	paths := map[string]string{}
	for _, host := range hosts {
		paths[host] = twoHostsConfig(t, host, bals, log, addrs)
	}
	lost, waited, over := 0, 0, 0
	for round := 1; round <= rounds && !t.Failed(); round++ {
		os.Remove(log)
		sampler := sampleOut(t, cfgs)
		outs := map[string]*syncBuffer{}
		codes := make([]int, len(hosts))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for k, host := range hosts {
			cmd, out := toolCmd(t, "rollout", "--config", paths[host], "--yes")
			outs[host] = out
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				codes[k] = processExit(t, cmd.Run())
			}()
		}
		close(start)
		wg.Wait()
		sampler.Stop()

		for k, host := range hosts {
			out := outs[host].String()
			lost += strings.Count(out, "claim lost")
			waited += strings.Count(out, "waiting")
			if codes[k] != 0 {
				t.Errorf("round %d: %s exit %d, want 0", round, host, codes[k])
			}
		}
		for name, n := range sampler.worst {
			if n > 1 {
				over++
				if strict {
					t.Errorf("round %d: %d servers out of rotation at once on %s (%s), more than max_unavailable 1", round, n, name, sampler.sample[name])
				}
			}
		}
		if sampler.reads < 10 {
			t.Errorf("round %d: the balancers were read only %d times", round, sampler.reads)
		}
		runs, atOnce, err := deployLog(t, log)
		if err != nil {
			t.Errorf("round %d: %v", round, err)
		}
		if atOnce > 1 {
			t.Errorf("round %d: %d deploy commands ran at once, want 1 at most", round, atOnce)
		}
		for _, host := range hosts {
			for _, a := range addrs {
				if n := runs[host+" "+a]; n != 1 {
					t.Errorf("round %d: %s deployed %s %d times, want once", round, host, a, n)
				}
			}
		}
		if both := outs["hostA"].String() + outs["hostB"].String(); !strings.Contains(both, "waiting") && !strings.Contains(both, "claim lost") {
			t.Errorf("round %d: neither host waited for the other: the rollouts did not overlap, the test proves nothing", round)
		}
		wantUnmarked(t, cfgs, addrs)
		if t.Failed() {
			for _, host := range hosts {
				t.Logf("round %d %s:\n%s", round, host, outs[host].String())
			}
		}
	}
	t.Logf("%d rounds: %d claims lost and retried, %d waits for the other host, %d balancer readings with 2 servers out", rounds, lost, waited, over)
}

// wantUnmarked checks that every server is in rotation with weight 1 and
// no claim mark left, on every balancer.
func wantUnmarked(t *testing.T, cfgs []balancer.Config, addrs []string) {
	t.Helper()
	for _, c := range cfgs {
		wantAllUp(t, c, addrs)
		b, err := balancer.New(c)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		list, err := b.List(ctx)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		var marked []string
		for _, e := range list {
			if e.Weight != 1 {
				marked = append(marked, fmt.Sprintf("%s weight %d", e.Addr, e.Weight))
			}
			if m := markerOf(b); m != nil {
				if tok, err := m.mark(ctx, e); err != nil || tok != 0 {
					marked = append(marked, fmt.Sprintf("%s mark %d (%v)", e.Addr, tok, err))
				}
			}
		}
		cancel()
		sort.Strings(marked)
		if len(marked) > 0 {
			t.Errorf("%s after the rollouts: %s", c.Name, strings.Join(marked, "; "))
		}
	}
}

// A rollout killed during its command leaves its server out with its claim
// marks (the nginx weight, the HAProxy variable): `rollout --resume` and
// `up` take them off, and the weights are the original ones again.
func TestClaimMarksUndoneByResumeAndUp(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	addrs := balancertest.Addrs(balancertest.StartBackends(t, 3))
	lua := balancertest.StartNginxWith(t, balancertest.NginxOptions{Backends: addrs, Workers: 1, ServerParams: map[string]string{addrs[0]: "weight=5"}})
	h := balancertest.StartHAProxy(t, addrs)
	cfgs := []balancer.Config{luaCfg(lua), haproxyConfig(h)}
	dir := t.TempDir()
	started := filepath.Join(dir, "started")
	log := filepath.Join(dir, "deploys.log")
	path := twoHostsConfig(t, "host", balancersTOML(cfgs[:1])+haproxyTOML(h), log, addrs)
	b, _ := os.ReadFile(path)
	slow := fmt.Sprintf("if [ ! -e %s ]; then touch %s; sleep 1; fi; echo {addr} >> %s", started, started, log)
	os.WriteFile(path, []byte(strings.Replace(string(b), "[deploy]\ncommand = ", fmt.Sprintf("[deploy]\ncommand = %q\n#", slow), 1)), 0o644)

	cmd, out := toolCmd(t, "rollout", "--config", path)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(started); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no command started:\n%s", out.String())
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nb, _ := balancer.New(cfgs[0])
	list, _ := nb.List(ctx)
	if tok, orig, ok := parseMarkWeight(list[0].Weight); !ok || orig != 5 || list[0].State != balancer.Down {
		t.Fatalf("after the kill %s is %s with weight %d (token %d, orig %d), want down under a claim mark keeping weight 5", addrs[0], list[0].State, list[0].Weight, tok, orig)
	}
	hb, _ := balancer.New(cfgs[1])
	hl, _ := hb.List(ctx)
	if tok, err := markerOf(hb).mark(ctx, hl[0]); err != nil || tok == 0 {
		t.Fatalf("after the kill HAProxy has no claim mark on %s (%d, %v)", addrs[0], tok, err)
	}

	// --resume waits for the killed run's command, then takes the server again.
	var code int
	var text string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		code, text = tool(t, "rollout", "--config", path, "--resume")
		if !strings.Contains(text, "is still running") || time.Now().After(deadline) {
			break
		}
	}
	wantExit(t, code, text, exitOK, "rollout done")
	// --resume waited out fail_timeout before max_fails went back: a new
	// deadline for what follows.
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list = listOf(t, cfgs[0])
	if list[0].Weight != 5 || list[0].State != balancer.Up {
		t.Errorf("after --resume %s is %s with weight %d, want up with weight 5", addrs[0], list[0].State, list[0].Weight)
	}
	wantAllUp(t, cfgs[1], addrs)

	// `up` takes off a mark left behind (by a host that died before its
	// command): weight 5 again before the server is in rotation.
	lua5 := nb.(*balancer.Nginx)
	if err := lua5.Down(ctx, lua.Zone, addrs[0]); err != nil {
		t.Fatal(err)
	}
	if err := (nginxMarker{lua5}).setMark(ctx, balancer.Server{Upstream: lua.Zone, Addr: addrs[0], Weight: 5}, 4242); err != nil {
		t.Fatal(err)
	}
	code, text = tool(t, "up", "--config", path, addrs[0])
	wantExit(t, code, text, exitOK, "is up and serving on every balancer")
	list = listOf(t, cfgs[0])
	if list[0].Weight != 5 || list[0].State != balancer.Up {
		t.Errorf("after up %s is %s with weight %d, want up with weight 5", addrs[0], list[0].State, list[0].Weight)
	}
}
