package main

// Several deploy hosts end to end, coordinated through a real etcd: three
// deploy-tool processes, each with its own state directory (its own local
// lock and journal), started at the same moment over the same three
// balancers (nginx with the Lua drop-in, nginx with the real
// ngx_dynamic_upstream module, HAProxy) in front of the same backends.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/coord"
	"github.com/sre-suite/mackerel-plugins/lib/balancer"
	"github.com/sre-suite/mackerel-plugins/lib/balancer/balancertest"
	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// hostsMaxRequest is the longest request of these tests: the module
// nginx's proxy_read_timeout, the configs' max_request_time and drain_wait.
const hostsMaxRequest = "200ms"

// hostsTTL is the lease_ttl of these tests: short, yet above the pauses of
// a loaded 2-core machine (2 s leases were lost there under load 15).
const hostsTTL = 4 * time.Second

// hostsRig is the balancers, backends and etcd the deploy hosts share.
type hostsRig struct {
	t       *testing.T
	cfgs    []balancer.Config
	bals    string // their [[balancer]] tables
	addrs   []string
	etcd    *testenv.EtcdCluster
	prefix  string
	log     string // the deploy commands' log: "HOST ADDR start|end"
	maxUnav int
}

func newHostsRig(t *testing.T, etcd *testenv.EtcdCluster, servers, maxUnav int) *hostsRig {
	t.Helper()
	addrs := balancertest.Addrs(balancertest.StartBackends(t, servers))
	lua := balancertest.StartNginx(t, addrs, 2)
	mod := balancertest.StartNginxWith(t, balancertest.NginxOptions{Backends: addrs, Workers: 2, Module: true, ReadTimeout: hostsMaxRequest})
	h := balancertest.StartHAProxy(t, addrs)
	r := &hostsRig{t: t, addrs: addrs, etcd: etcd, prefix: "/deploy-tool/e2e", maxUnav: maxUnav,
		log: filepath.Join(t.TempDir(), "deploys.log")}
	r.cfgs = []balancer.Config{
		{Name: "nginx-lua", Driver: balancer.DriverNginx, URL: lua.APIURL, Upstreams: []string{lua.Zone}},
		{Name: "nginx-module", Driver: balancer.DriverNginx, URL: mod.APIURL, Upstreams: []string{mod.Zone}},
		haproxyConfig(h),
	}
	var b strings.Builder
	for _, c := range r.cfgs[:2] {
		fmt.Fprintf(&b, "[[balancer]]\nname = %q\ndriver = \"ngx_dynamic_upstream\"\nurl = %q\nupstreams = [%q]\n\n", c.Name, c.URL, c.Upstreams[0])
	}
	r.bals = b.String() + haproxyTOML(h)
	return r
}

// config writes host's config; command is the deploy command, by default
// one that logs its start and end around a short sleep.
func (r *hostsRig) config(host, command string) string {
	r.t.Helper()
	dir := r.t.TempDir()
	if command == "" {
		command = fmt.Sprintf("echo '%s {addr} start' >> %s; sleep 0.1; echo '%s {addr} end' >> %s", host, r.log, host, r.log)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "state_dir = %q\nmax_unavailable = %d\nmax_request_time = %q\ndrain_wait = %[3]q\ndrain_timeout = \"5s\"\nsettle = \"100ms\"\nup_timeout = \"10s\"\n\n",
		filepath.Join(dir, "state"), r.maxUnav, hostsMaxRequest)
	fmt.Fprintf(&b, "[coordination]\netcd_endpoints = [%s]\nprefix = %q\nlease_ttl = %q\n\n", quoteAll(r.etcd.Endpoints()), r.prefix, hostsTTL)
	fmt.Fprintf(&b, "[deploy]\ncommand = %q\ntimeout = \"30s\"\n\n%s\n", command, r.bals)
	for _, a := range r.addrs {
		fmt.Fprintf(&b, "[[server]]\naddr = %q\n\n", a)
	}
	path := filepath.Join(dir, "deploy.toml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		r.t.Fatal(err)
	}
	return path
}

func quoteAll(ss []string) string {
	var q []string
	for _, s := range ss {
		q = append(q, fmt.Sprintf("%q", s))
	}
	return strings.Join(q, ", ")
}

// hostRun is one deploy-tool process of a round.
type hostRun struct {
	name  string
	cmd   *exec.Cmd
	out   *testenv.Buffer
	code  int
	ended time.Time
	done  chan struct{}
}

// startHosts starts one rollout per config at the same moment.
func (r *hostsRig) startHosts(paths map[string]string) map[string]*hostRun {
	runs := map[string]*hostRun{}
	start := make(chan struct{})
	for name, p := range paths {
		cmd, out := toolCmd(r.t, "rollout", "--config", p, "--yes")
		h := &hostRun{name: name, cmd: cmd, out: out, done: make(chan struct{})}
		runs[name] = h
		if err := cmd.Start(); err != nil {
			r.t.Fatal(err)
		}
		go func() {
			<-start
			defer close(h.done)
			h.code = processExit(r.t, cmd.Wait())
			h.ended = time.Now()
		}()
	}
	close(start)
	return runs
}

func waitHosts(t *testing.T, runs map[string]*hostRun, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for name, h := range runs {
		select {
		case <-h.done:
		case <-deadline:
			t.Fatalf("%s did not end within %v:\n%s", name, timeout, h.out.String())
		}
	}
}

// checkRound asserts what every round of several hosts must hold: no
// balancer ever had more than max_unavailable servers out, no two
// deploys of one server ran at once, and every server is up at the end.
func (r *hostsRig) checkRound(round int, sampler *outSampler) map[string]int {
	t := r.t
	t.Helper()
	for name, n := range sampler.worst {
		if n > r.maxUnav {
			t.Errorf("round %d: %d servers out of rotation at once on %s (%s), more than max_unavailable %d", round, n, name, sampler.sample[name], r.maxUnav)
		}
	}
	if sampler.reads < 10 {
		t.Errorf("round %d: the balancers were read only %d times", round, sampler.reads)
	}
	runs, atOnce, err := deployLog(t, r.log)
	if err != nil {
		t.Errorf("round %d: %v", round, err)
	}
	if atOnce > r.maxUnav {
		t.Errorf("round %d: %d deploy commands ran at once, want %d at most", round, atOnce, r.maxUnav)
	}
	return runs
}

// etcdStatus reads what etcd knows of the deploy hosts.
func (r *hostsRig) etcdStatus() *coord.Status {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := coord.ReadStatus(ctx, coord.Options{Endpoints: r.etcd.Endpoints(), Prefix: r.prefix, DialTimeout: 2 * time.Second})
	if err != nil {
		r.t.Fatalf("etcd status: %v", err)
	}
	return st
}

func TestThreeDeployHostsEtcd(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	r := newHostsRig(t, testenv.StartEtcd(t), 3, 1)
	hosts := []string{"hostA", "hostB", "hostC"}
	paths := map[string]string{}
	for _, h := range hosts {
		paths[h] = r.config(h, "")
	}
	waits := 0
	const rounds = 4
	for round := 1; round <= rounds && !t.Failed(); round++ {
		os.Remove(r.log)
		sampler := sampleOut(t, r.cfgs)
		runs := r.startHosts(paths)
		waitHosts(t, runs, 2*time.Minute)
		sampler.Stop()
		deployed := r.checkRound(round, sampler)
		all := ""
		for _, h := range hosts {
			out := runs[h].out.String()
			all += out
			if runs[h].code != 0 {
				t.Errorf("round %d: %s exit %d, want 0", round, h, runs[h].code)
			}
			for _, a := range r.addrs {
				if n := deployed[h+" "+a]; n != 1 {
					t.Errorf("round %d: %s deployed %s %d times, want once", round, h, a, n)
				}
			}
		}
		waits += strings.Count(all, "waiting")
		if !strings.Contains(all, "waiting") {
			t.Errorf("round %d: no host waited for another: the rollouts did not overlap, the test proves nothing", round)
		}
		for _, c := range r.cfgs {
			wantAllUp(t, c, r.addrs)
		}
		if st := r.etcdStatus(); st.Holder != nil || len(st.Servers) != 0 {
			t.Errorf("round %d: etcd after the rollouts: holder %v, registered %v", round, st.Holder, st.Servers)
		}
		if t.Failed() {
			for _, h := range hosts {
				t.Logf("round %d %s:\n%s", round, h, runs[h].out.String())
			}
		}
	}
	t.Logf("%d rounds of 3 hosts: %d waits for another host", rounds, waits)
}

// killWhenStarted SIGKILLs the host's process as soon as its deploy
// command has logged its start, and returns when.
func (r *hostsRig) killWhenStarted(h *hostRun, timeout time.Duration) time.Time {
	r.t.Helper()
	r.waitStarted(h, timeout)
	syscall.Kill(h.cmd.Process.Pid, syscall.SIGKILL)
	<-h.done
	return time.Now()
}

// waitStarted waits until the host's deploy command has logged its start.
func (r *hostsRig) waitStarted(h *hostRun, timeout time.Duration) {
	r.t.Helper()
	for deadline := time.Now().Add(timeout); ; time.Sleep(5 * time.Millisecond) {
		b, _ := os.ReadFile(r.log)
		if strings.Contains(string(b), h.name+" ") {
			break
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s started no deploy within %v:\n%s", h.name, timeout, h.out.String())
		}
	}
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

// A deploy host killed with SIGKILL during its deploy command: its lease
// ends within lease_ttl and its server stays out of rotation and
// registered (nobody knows its state). The other hosts, whose next batch
// is that server, wait for it no longer than that: they stop, refused,
// without touching it. --resume on the killed host takes that server
// again and finishes the rollout.
func TestDeployHostKilledEtcd(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	r := newHostsRig(t, testenv.StartEtcd(t), 4, 2)
	slow := fmt.Sprintf("echo 'hostC {addr} start' >> %s; sleep 1; echo 'hostC {addr} end' >> %s", r.log, r.log)
	paths := map[string]string{"hostA": r.config("hostA", ""), "hostB": r.config("hostB", ""), "hostC": r.config("hostC", slow)}
	// hostC takes the first server; the others, started then, wait for it.
	c := r.startHosts(map[string]string{"hostC": paths["hostC"]})["hostC"]
	r.waitStarted(c, time.Minute)
	runs := r.startHosts(map[string]string{"hostA": paths["hostA"], "hostB": paths["hostB"]})
	for _, h := range runs {
		waitFor(t, h.out, "waiting: held by another deploy host: ", time.Minute)
	}
	killed := r.killWhenStarted(c, time.Minute)
	victim := r.deadServer(killed)
	if victim != r.addrs[0] {
		t.Fatalf("the killed host's server is %s, want the first, %s", victim, r.addrs[0])
	}
	waitHosts(t, runs, 2*time.Minute)
	deployed, _, err := deployLog(t, r.log)
	if err != nil {
		t.Error(err)
	}
	for _, h := range []string{"hostA", "hostB"} {
		out := runs[h].out.String()
		t.Logf("%s exit %d:\n%s", h, runs[h].code, out)
		if deployed[h+" "+victim] != 0 {
			t.Errorf("%s deployed the killed host's server %s", h, victim)
		}
		if runs[h].code != exitRefused || !strings.Contains(out, "refused: "+victim+" is out of rotation") {
			t.Errorf("%s: exit %d, want %d refused at the killed host's server", h, runs[h].code, exitRefused)
		}
		// The others waited for the killed host at most lease_ttl, plus one
		// back-off between attempts (under a second) and a balancer read.
		if waited := runs[h].ended.Sub(killed); waited > hostsTTL+2*time.Second {
			t.Errorf("%s ended %v after the kill, lease_ttl %v", h, waited.Round(time.Millisecond), hostsTTL)
		} else {
			t.Logf("%s ended %v after the kill", h, waited.Round(time.Millisecond))
		}
	}
	for _, c := range r.cfgs {
		wantAllUp(t, c, r.addrs, victim)
	}
	if st := r.etcdStatus(); st.Holder != nil || len(st.Servers) != 1 || st.Servers[0].Addr != victim || st.Servers[0].Alive {
		t.Errorf("etcd after the other hosts ended: holder %v, registered %+v", st.Holder, st.Servers)
	}
	code, out := tool(t, "status", "--config", paths["hostA"])
	wantExit(t, code, out, exitOK, "deploy hosts' lock (/deploy-tool/e2e): free")
	if !strings.Contains(out, "  "+victim+" taken by ") || !strings.Contains(out, "lease DEAD: state unknown") {
		t.Errorf("status does not show the killed host's server:\n%s", out)
	}

	// --resume on the killed host: its server again, then the rest.
	os.Remove(r.log)
	code, out = tool(t, "rollout", "--config", paths["hostC"], "--resume", "--yes")
	wantExit(t, code, out, exitOK, "the servers the interrupted run registered are this run's now: "+victim)
	for _, c := range r.cfgs {
		wantAllUp(t, c, r.addrs)
	}
	if st := r.etcdStatus(); st.Holder != nil || len(st.Servers) != 0 {
		t.Errorf("etcd after --resume: holder %v, registered %v", st.Holder, st.Servers)
	}
}

// deadServer waits (at most lease_ttl + 1 s after the kill) until etcd has
// the killed run's lease dead, and returns its one registered server.
func (r *hostsRig) deadServer(killed time.Time) string {
	r.t.Helper()
	for deadline := killed.Add(hostsTTL + time.Second); ; time.Sleep(20 * time.Millisecond) {
		st := r.etcdStatus()
		var dead []string
		for _, s := range st.Servers {
			if !s.Alive {
				dead = append(dead, s.Addr)
			}
		}
		if len(dead) == 1 {
			r.t.Logf("the killed host's lease ended %v after the kill; its server %s", time.Since(killed).Round(time.Millisecond), dead[0])
			return dead[0]
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%v after the kill, etcd has: %+v", time.Since(killed), st.Servers)
		}
	}
}

// etcd unreachable at preflight: refused, exit 3, nothing touched. etcd
// stopped during a batch's deploy command: the run's lease is lost, the
// batch is finished (the command ran: the server is deployed and put back
// up), and the rollout stops there with exit 1 and says why.
func TestEtcdUnreachableAndStoppedMidBatch(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	etcd := testenv.StartEtcd(t)
	r := newHostsRig(t, etcd, 3, 1)
	slow := fmt.Sprintf("echo 'host {addr} start' >> %s; sleep %d; echo 'host {addr} end' >> %s", r.log, int(hostsTTL/time.Second)+3, r.log)
	path := r.config("host", slow)

	closed := fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	b, _ := os.ReadFile(path)
	unreachable := filepath.Join(t.TempDir(), "deploy.toml")
	os.WriteFile(unreachable, []byte(strings.Replace(string(b), quoteAll(etcd.Endpoints()), quoteAll([]string{closed}), 1)), 0o644)
	code, out := tool(t, "rollout", "--config", unreachable, "--yes")
	wantExit(t, code, out, exitRefused, "deploy hosts' coordination: etcd "+closed+" did not answer within 3s")
	if _, err := os.Stat(r.log); err == nil {
		t.Error("a deploy command ran although etcd did not answer")
	}
	for _, c := range r.cfgs {
		wantAllUp(t, c, r.addrs)
	}

	runs := r.startHosts(map[string]string{"host": path})
	r.waitStarted(runs["host"], time.Minute)
	etcd.Members[0].Stop()
	waitHosts(t, runs, time.Minute)
	h := runs["host"]
	wantExit(t, h.code, h.out.String(), exitFailed, "the deploy hosts' coordination lease was lost: batch 1 finished, stopping")
	deployed, _, _ := deployLog(t, r.log)
	if len(deployed) != 1 || deployed["host "+r.addrs[0]] != 1 {
		t.Errorf("deployed %v, want %s once and nothing else", deployed, r.addrs[0])
	}
	for _, c := range r.cfgs {
		wantAllUp(t, c, r.addrs)
	}
}

// The leader of a 3-member etcd cluster is stopped while three deploy
// hosts roll out: they go on through the other members, and every round's
// guarantees hold.
func TestDeployHostsEtcdLeaderStopped(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	etcd := testenv.StartEtcdCluster(t, 3)
	r := newHostsRig(t, etcd, 3, 1)
	paths := map[string]string{}
	for _, h := range []string{"hostA", "hostB", "hostC"} {
		paths[h] = r.config(h, "")
	}
	sampler := sampleOut(t, r.cfgs)
	runs := r.startHosts(paths)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		if b, _ := os.ReadFile(r.log); len(b) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no deploy started within a minute")
		}
	}
	leader := etcd.Leader(t)
	leader.Stop()
	t.Logf("stopped the etcd leader %s", leader.Name)
	waitHosts(t, runs, 2*time.Minute)
	sampler.Stop()
	deployed := r.checkRound(1, sampler)
	for name, h := range runs {
		if h.code != 0 {
			t.Errorf("%s exit %d, want 0:\n%s", name, h.code, h.out.String())
		}
		for _, a := range r.addrs {
			if n := deployed[name+" "+a]; n != 1 {
				t.Errorf("%s deployed %s %d times, want once", name, a, n)
			}
		}
	}
	for _, c := range r.cfgs {
		wantAllUp(t, c, r.addrs)
	}
}
