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
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/coord"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/journal"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/report"
	"github.com/sre-suite/mackerel-plugins/lib/balancer"
)

// rig is a rollout over fake balancers in front of real HTTP health
// endpoints, with a deploy command that records which ports it ran for.
type rig struct {
	t       *testing.T
	dir     string
	addrs   []string
	healthy []*atomic.Bool
	fakes   []*fakeBalancer
	top     string // extra top-level config lines
	command string
	path    string
}

func newRig(t *testing.T, n int) *rig {
	r := &rig{t: t, dir: t.TempDir()}
	for range n {
		ok := &atomic.Bool{}
		ok.Store(true)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if !ok.Load() {
				http.Error(w, "sick", http.StatusServiceUnavailable)
				return
			}
			io.WriteString(w, "ok\n")
		}))
		t.Cleanup(srv.Close)
		r.addrs = append(r.addrs, strings.TrimPrefix(srv.URL, "http://"))
		r.healthy = append(r.healthy, ok)
	}
	r.fakes = []*fakeBalancer{newFake("nginx1", false, r.addrs...), newFake("haproxy1", true, r.addrs...)}
	r.command = "echo deploying {host} {port} && echo {port} >> " + filepath.Join(r.dir, "deployed")
	return r
}

func (r *rig) config() string {
	var b strings.Builder
	fmt.Fprintf(&b, "state_dir = %q\n%s\n", filepath.Join(r.dir, "state"), r.top)
	for _, d := range []string{`drain_wait = "50ms"`, `max_request_time = "50ms"`, `drain_timeout = "10s"`, `settle = "10ms"`, `up_timeout = "2s"`} {
		if key, _, _ := strings.Cut(d, " "); !strings.Contains(r.top, key+" =") {
			b.WriteString(d + "\n")
		}
	}
	fmt.Fprintf(&b, "[deploy]\ncommand = %q\ntimeout = \"10s\"\n\n", r.command)
	b.WriteString("[health]\nurl = \"http://{addr}/healthz\"\ninterval = \"20ms\"\nretries = 3\ntimeout = \"1s\"\n\n")
	for _, f := range r.fakes {
		if f.active {
			fmt.Fprintf(&b, "[[balancer]]\nname = %q\ndriver = \"haproxy\"\nsocket = \"/nonexistent.sock\"\nupstreams = [%q]\n\n", f.name, f.upstream)
		} else {
			fmt.Fprintf(&b, "[[balancer]]\nname = %q\ndriver = \"ngx_dynamic_upstream\"\nurl = \"http://127.0.0.1:1/dynamic\"\nupstreams = [%q]\n\n", f.name, f.upstream)
		}
	}
	for _, a := range r.addrs {
		fmt.Fprintf(&b, "[[server]]\naddr = %q\n\n", a)
	}
	return b.String()
}

func (r *rig) write() string {
	r.t.Helper()
	r.path = filepath.Join(r.dir, "deploy.toml")
	if err := os.WriteFile(r.path, []byte(r.config()), 0o644); err != nil {
		r.t.Fatal(err)
	}
	useFakes(r.t, r.fakes...)
	return r.path
}

// rollout runs `deploy-tool rollout` in process and returns its exit code and output.
func (r *rig) rollout(args ...string) (int, string) {
	r.t.Helper()
	path := r.write()
	var out bytes.Buffer
	code := run(append([]string{"rollout", "--config", path}, args...), strings.NewReader(""), &out, &out)
	r.t.Logf("rollout %v: exit %d\n%s", args, code, out.String())
	return code, out.String()
}

// engine builds an Engine with contexts the test cancels in place of signals.
func (r *rig) engine(opts RolloutOptions, out io.Writer) (e *Engine, stop, kill context.CancelFunc) {
	r.t.Helper()
	path := r.write()
	app := &App{stdout: out, stderr: out, log: report.NewProgress(out)}
	if err := app.setup(path); err != nil {
		r.t.Fatalf("setup: %v", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	killCtx, kill := context.WithCancel(context.Background())
	r.t.Cleanup(stop)
	r.t.Cleanup(kill)
	opts.Config = path
	return &Engine{cfg: app.cfg, opts: opts, cl: app.cl, log: app.log, out: out, in: strings.NewReader(""),
		notify: &report.Notifier{URL: app.cfg.NotifyWebhook, Log: app.log}, ctx: ctx, kill: killCtx}, stop, kill
}

func (r *rig) deployed() []string {
	b, _ := os.ReadFile(filepath.Join(r.dir, "deployed"))
	return strings.Fields(string(b))
}

func port(addr string) string { return addr[strings.LastIndex(addr, ":")+1:] }

// wantStates checks every server's state on every fake balancer.
func (r *rig) wantStates(want map[string]balancer.State) {
	r.t.Helper()
	for _, f := range r.fakes {
		for _, a := range r.addrs {
			w, ok := want[a]
			if !ok {
				w = balancer.Up
			}
			got := f.state(a)
			if w == balancer.Down && got != balancer.Up {
				continue // down, draining or maint: out of rotation
			}
			if got != w {
				r.t.Errorf("%s on %s is %s, want %s", a, f.name, got, w)
			}
		}
	}
}

func (r *rig) journal() *journal.Journal {
	r.t.Helper()
	j, err := journal.Load(filepath.Join(r.dir, "state", "deploy-tool.journal.json"))
	if err != nil {
		r.t.Fatal(err)
	}
	return j
}

func TestRolloutAllServersOneAtATime(t *testing.T) {
	r := newRig(t, 4)
	code, out := r.rollout()
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	r.wantStates(nil)
	if got := r.deployed(); len(got) != 4 {
		t.Errorf("deployed %v, want 4 servers", got)
	}
	for _, f := range r.fakes {
		if f.maxNotUp != 1 {
			t.Errorf("%s: at most %d servers down at once, want 1", f.name, f.maxNotUp)
		}
	}
	// HAProxy-like: drain, then maint once drained, then up.
	calls := r.fakes[1].callLog()
	if len(calls) != 12 || calls[0] != "drain "+r.addrs[0] || calls[1] != "down "+r.addrs[0] || calls[2] != "up "+r.addrs[0] {
		t.Errorf("haproxy calls %v", calls)
	}
	for _, want := range []string{"SERVER", "DRAIN", "RESULT", "rollout done: 4 servers", "127.0.0.1 | deploying 127.0.0.1 " + port(r.addrs[0])} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if r.journal() != nil {
		t.Error("journal left behind after a finished rollout")
	}
}

func TestRolloutBatchPercent(t *testing.T) {
	r := newRig(t, 4)
	r.top = "batch = \"50%\"\nmax_unavailable = 2"
	if code, _ := r.rollout(); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	for _, f := range r.fakes {
		if f.maxNotUp != 2 {
			t.Errorf("%s: at most %d down at once, want 2", f.name, f.maxNotUp)
		}
	}
}

func TestRolloutBatchOverMaxUnavailableRefused(t *testing.T) {
	r := newRig(t, 4)
	r.top = "batch = \"75%\"\nmax_unavailable = 2"
	code, out := r.rollout()
	if code != exitUsage || !strings.Contains(out, "more than max_unavailable 2") {
		t.Fatalf("exit %d, want %d with a reason", code, exitUsage)
	}
	if len(r.fakes[0].callLog()) != 0 {
		t.Error("balancer touched")
	}
}

func TestRolloutCanaryWithPause(t *testing.T) {
	r := newRig(t, 4)
	r.top = "canary = 1\ncanary_pause = \"100ms\"\nbatch = 3\nmax_unavailable = 3\nmin_up = 1"
	code, out := r.rollout()
	if code != exitOK || !strings.Contains(out, "batch 1 (canary)") || !strings.Contains(out, "pausing 100ms") {
		t.Fatalf("exit %d", code)
	}
	if r.fakes[0].maxNotUp != 3 {
		t.Errorf("max down %d, want 3 (batch after the canary)", r.fakes[0].maxNotUp)
	}
}

func TestRolloutCanaryPromptRefusedStops(t *testing.T) {
	r := newRig(t, 3)
	r.top = "canary = 1"
	var out bytes.Buffer
	e, _, _ := r.engine(RolloutOptions{}, &out)
	e.in = strings.NewReader("n\n")
	if code := exitCode(e.Run()); code != exitFailed {
		t.Fatalf("exit %d\n%s", code, out.String())
	}
	if got := r.deployed(); len(got) != 1 {
		t.Errorf("deployed %v, want the canary only", got)
	}
	r.wantStates(nil)
}

func TestPreflightRefusals(t *testing.T) {
	cases := []struct {
		name  string
		setup func(r *rig)
		want  string
	}{
		{"unreachable balancer", func(r *rig) { r.fakes[1].unreachable = true }, "balancer haproxy1: connection refused"},
		{"unknown server", func(r *rig) { r.fakes[0].servers = r.fakes[0].servers[:3] }, "is not known to balancer nginx1"},
		{"already down", func(r *rig) { r.fakes[0].servers[2].State = balancer.Down }, "is already down on nginx1/backend (down)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, 4)
			c.setup(r)
			code, out := r.rollout()
			if code != exitRefused || !strings.Contains(out, c.want) || !strings.Contains(out, "nothing was touched") {
				t.Fatalf("exit %d, want %d and %q", code, exitRefused, c.want)
			}
			for _, f := range r.fakes {
				if calls := f.callLog(); len(calls) != 0 {
					t.Errorf("%s changed: %v", f.name, calls)
				}
			}
			if len(r.deployed()) != 0 {
				t.Error("a command ran")
			}
		})
	}
}

func TestAllowDownSkipsDownServerAndCountsIt(t *testing.T) {
	r := newRig(t, 4)
	r.top = "max_unavailable = 2"
	r.fakes[0].servers[3].State = balancer.Down
	code, out := r.rollout("--allow-down")
	if code != exitOK || !strings.Contains(out, "skipped: "+r.addrs[3]) {
		t.Fatalf("exit %d", code)
	}
	if got := r.deployed(); len(got) != 3 {
		t.Errorf("deployed %v, want the 3 that were up", got)
	}
	if st := r.fakes[0].state(r.addrs[3]); st != balancer.Down {
		t.Errorf("the server that was down is %s now, want it left down", st)
	}
	if r.fakes[0].maxNotUp != 2 {
		t.Errorf("max down on nginx1 %d, want 2 (the skipped one + one at a time)", r.fakes[0].maxNotUp)
	}
}

// A server skipped as down before the rollout is reported as such when the
// rollout stops, not as left down by it, and --resume does not take it.
func TestAllowDownSkippedServerIsNotReportedAsOurs(t *testing.T) {
	r := newRig(t, 4)
	r.top = "max_unavailable = 2"
	r.fakes[0].servers[3].State = balancer.Down
	r.command = "test {port} != " + port(r.addrs[1])
	code, out := r.rollout("--allow-down")
	if code != exitFailed {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(out, "left down: "+r.addrs[1]+" (") || strings.Contains(out, "left down: "+r.addrs[1]+" (nginx1/backend (down), haproxy1/backend (down)); "+r.addrs[3]) {
		t.Error("the final lines do not name exactly the server this rollout left down")
	}
	if !strings.Contains(out, "down before this rollout and left as they were: "+r.addrs[3]) {
		t.Error("the skipped server is not reported as down before the rollout")
	}
	if j := r.journal(); j == nil || j.Progress[r.addrs[3]] != journal.StepUp || j.Progress[r.addrs[1]] != journal.StepFailed {
		t.Errorf("journal %+v: want the skipped server left out of --resume, server 2 failed", j)
	}
}

func TestMaxUnavailableCountsAlreadyDown(t *testing.T) {
	r := newRig(t, 4)
	for _, f := range r.fakes {
		f.servers[3].State = balancer.Down // max_unavailable 1 is used up
	}
	code, out := r.rollout("--allow-down")
	if code != exitRefused || !strings.Contains(out, "more than max_unavailable 1") {
		t.Fatalf("exit %d, want %d", code, exitRefused)
	}
	if len(r.deployed()) != 0 {
		t.Error("a command ran")
	}
	r.wantStates(map[string]balancer.State{r.addrs[3]: balancer.Down})
}

func TestMinUpCountsServersOutsideTheConfig(t *testing.T) {
	r := newRig(t, 2)
	r.top = "max_unavailable = 3\nmin_up = 2"
	// A third server the balancer knows, down for maintenance: only 2 are up.
	for _, f := range r.fakes {
		f.servers = append(f.servers, balancer.Server{Upstream: "backend", Addr: "127.0.0.9:80", State: balancer.Down, Active: -1})
	}
	code, out := r.rollout()
	if code != exitRefused || !strings.Contains(out, "fewer than min_up 2") {
		t.Fatalf("exit %d, want %d", code, exitRefused)
	}
}

func TestDeployFailsOnServer2(t *testing.T) {
	r := newRig(t, 4)
	r.command = "echo {port} >> " + filepath.Join(r.dir, "deployed") + "; test {port} != " + port(r.addrs[1])
	code, out := r.rollout()
	if code != exitFailed {
		t.Fatalf("exit %d, want %d", code, exitFailed)
	}
	r.wantStates(map[string]balancer.State{r.addrs[1]: balancer.Down})
	if got := r.deployed(); len(got) != 2 {
		t.Errorf("commands ran for %v, want servers 1 and 2 only", got)
	}
	for _, want := range []string{"LEFT DOWN: deploy command failed", "left down: " + r.addrs[1], "deploy-tool up --config", "--resume"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	j := r.journal()
	if j == nil || j.Progress[r.addrs[1]] != journal.StepFailed || j.Progress[r.addrs[0]] != journal.StepUp || j.Progress[r.addrs[2]] != journal.StepPending {
		t.Errorf("journal %+v", j)
	}
}

func TestHealthCheckNeverPasses(t *testing.T) {
	r := newRig(t, 4)
	// Healthy at preflight (which refuses a server that is not), broken
	// by its deploy.
	r.fakes[0].hook = func(op, addr string) {
		if op == "drain" && addr == r.addrs[0] {
			r.healthy[0].Store(false)
		}
	}
	code, out := r.rollout()
	if code != exitFailed || !strings.Contains(out, "status 503, want 200") {
		t.Fatalf("exit %d, want %d", code, exitFailed)
	}
	r.wantStates(map[string]balancer.State{r.addrs[0]: balancer.Down})
	if got := r.deployed(); len(got) != 1 {
		t.Errorf("commands ran for %v, want the first only", got)
	}
}

func TestPartialMarkDownIsRolledBack(t *testing.T) {
	r := newRig(t, 4)
	r.fakes[1].failDrain[r.addrs[0]] = true
	code, out := r.rollout()
	if code != exitFailed || !strings.Contains(out, "rolled back") {
		t.Fatalf("exit %d, want %d", code, exitFailed)
	}
	r.wantStates(nil)
	if calls := r.fakes[0].callLog(); len(calls) != 2 || calls[0] != "drain "+r.addrs[0] || calls[1] != "up "+r.addrs[0] {
		t.Errorf("nginx1 calls %v, want the mark-down undone", calls)
	}
	if len(r.deployed()) != 0 {
		t.Error("a command ran")
	}
}

func TestReloadBeforeDeployIsDetected(t *testing.T) {
	r := newRig(t, 2)
	var once sync.Once
	// nginx1 is "reloaded" right after the first server is parked (maint) on haproxy1.
	r.fakes[1].hook = func(op, addr string) {
		if op == "down" {
			once.Do(r.fakes[0].reload)
		}
	}
	code, out := r.rollout()
	if code != exitOK || !strings.Contains(out, "on nginx1 is up again (balancer reloaded?)") {
		t.Fatalf("exit %d", code)
	}
	calls := r.fakes[0].callLog()
	want := []string{"drain " + r.addrs[0], "down " + r.addrs[0], "drain " + r.addrs[0], "down " + r.addrs[0], "up " + r.addrs[0]}
	if len(calls) < len(want) || strings.Join(calls[:len(want)], ",") != strings.Join(want, ",") {
		t.Errorf("nginx1 calls %v, want it taken down again before the deploy: %v", calls, want)
	}
	r.wantStates(nil)
}

func TestBalancerDiesBetweenBatches(t *testing.T) {
	r := newRig(t, 4)
	r.fakes[1].hook = func(op, addr string) {
		if op == "up" && addr == r.addrs[0] {
			go func() { time.Sleep(5 * time.Millisecond); r.fakes[1].setUnreachable(true) }()
		}
	}
	r.top = "settle = \"100ms\""
	code, out := r.rollout()
	if code != exitFailed || !strings.Contains(out, "nothing of this batch was touched") {
		t.Fatalf("exit %d, want %d", code, exitFailed)
	}
	r.fakes[1].setUnreachable(false)
	r.wantStates(nil)
	if got := r.deployed(); len(got) != 1 {
		t.Errorf("commands ran for %v, want the first only", got)
	}
}

func TestBalancerDiesDuringCommand(t *testing.T) {
	r := newRig(t, 4)
	flag := filepath.Join(r.dir, "die")
	r.command = "echo {port} >> " + filepath.Join(r.dir, "deployed") + "; touch " + flag + "; sleep 0.3"
	go func() {
		for {
			if _, err := os.Stat(flag); err == nil {
				r.fakes[1].setUnreachable(true)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	code, out := r.rollout()
	if code != exitFailed || !strings.Contains(out, "DEPLOYED, not up everywhere") {
		t.Fatalf("exit %d, want %d", code, exitFailed)
	}
	// Brought up where it could be; the dead balancer keeps what it had.
	if st := r.fakes[0].state(r.addrs[0]); st != balancer.Up {
		t.Errorf("server 1 on the live balancer is %s, want up", st)
	}
	r.fakes[1].setUnreachable(false)
	if st := r.fakes[1].state(r.addrs[0]); st == balancer.Up {
		t.Errorf("server 1 on the dead balancer is up")
	}
	if got := r.deployed(); len(got) != 1 {
		t.Errorf("commands ran for %v, want the first only", got)
	}
}

func TestInterruptDuringDrainPutsServerBack(t *testing.T) {
	r := newRig(t, 4)
	r.top = "drain_timeout = \"10s\""
	r.fakes[1].setActive(r.addrs[0], 3) // requests that never finish
	var out bytes.Buffer
	e, stop, _ := r.engine(RolloutOptions{}, &out)
	go func() { time.Sleep(300 * time.Millisecond); stop() }()
	code := exitCode(e.Run())
	t.Log(out.String())
	if code != exitInterrupted || !strings.Contains(out.String(), "interrupted during drain") {
		t.Fatalf("exit %d, want %d", code, exitInterrupted)
	}
	r.wantStates(nil)
	if len(r.deployed()) != 0 {
		t.Error("a command ran")
	}
	// Nothing was deployed and nothing is left down: there is nothing to
	// resume, so no journal is left to suggest otherwise.
	if j := r.journal(); j != nil {
		t.Errorf("journal %+v left behind, want none", j)
	}
	if !strings.Contains(out.String(), "nothing to resume") {
		t.Error("the output does not say there is nothing to resume")
	}
}

func TestInterruptDuringCommandFinishesThatServer(t *testing.T) {
	r := newRig(t, 4)
	started := filepath.Join(r.dir, "started")
	r.command = "echo {port} >> " + filepath.Join(r.dir, "deployed") + "; touch " + started + "; sleep 0.4"
	var out bytes.Buffer
	e, stop, _ := r.engine(RolloutOptions{}, &out)
	go func() {
		for {
			if _, err := os.Stat(started); err == nil {
				stop()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	code := exitCode(e.Run())
	t.Log(out.String())
	if code != exitInterrupted {
		t.Fatalf("exit %d, want %d", code, exitInterrupted)
	}
	r.wantStates(nil)
	if got := r.deployed(); len(got) != 1 {
		t.Errorf("commands ran for %v, want the first only", got)
	}
	j := r.journal()
	if j == nil || j.Progress[r.addrs[0]] != journal.StepUp || j.Progress[r.addrs[1]] != journal.StepPending {
		t.Errorf("journal %+v", j)
	}
}

func TestSecondSignalKillsCommandAndLeavesServerDown(t *testing.T) {
	r := newRig(t, 2)
	started := filepath.Join(r.dir, "started")
	r.command = "touch " + started + "; sleep 20"
	var out bytes.Buffer
	e, stop, kill := r.engine(RolloutOptions{}, &out)
	go func() {
		for {
			if _, err := os.Stat(started); err == nil {
				stop()
				kill()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	t0 := time.Now()
	code := exitCode(e.Run())
	if code != exitFailed || time.Since(t0) > 10*time.Second {
		t.Fatalf("exit %d after %v\n%s", code, time.Since(t0), out.String())
	}
	r.wantStates(map[string]balancer.State{r.addrs[0]: balancer.Down})
}

func TestLockRefusesSecondRollout(t *testing.T) {
	r := newRig(t, 2)
	l, err := coord.AcquireLock(filepath.Join(r.dir, "state", "deploy-tool.lock"), "alice@deployhost pid 42: rollout")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	code, out := r.rollout()
	if code != exitRefused || !strings.Contains(out, "held by alice@deployhost pid 42: rollout") {
		t.Fatalf("exit %d, want %d naming the holder", code, exitRefused)
	}
}

func TestResumeContinuesFromJournal(t *testing.T) {
	r := newRig(t, 4)
	r.write()
	j := journal.New(filepath.Join(r.dir, "state", "deploy-tool.journal.json"), "bob", r.path, r.addrs[:4])
	j.Progress[r.addrs[0]] = journal.StepUp
	j.Progress[r.addrs[1]] = journal.StepDeploying // the tool was killed during its command
	if err := j.Save(); err != nil {
		t.Fatal(err)
	}
	for _, f := range r.fakes {
		f.servers[1].State = balancer.Down
	}
	// A fresh rollout is refused while the journal is unfinished.
	if code, out := r.rollout(); code != exitRefused || !strings.Contains(out, "--resume") {
		t.Fatalf("fresh rollout: exit %d, want %d", code, exitRefused)
	}
	code, out := r.rollout("--resume")
	if code != exitOK || !strings.Contains(out, "resuming the rollout started") {
		t.Fatalf("exit %d", code)
	}
	want := []string{port(r.addrs[1]), port(r.addrs[2]), port(r.addrs[3])}
	if got := r.deployed(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("deployed %v, want %v (the interrupted one first, not the finished one)", got, want)
	}
	r.wantStates(nil)
	if r.journal() != nil {
		t.Error("journal left after the resumed rollout finished")
	}
}

func TestResumeRefusedWhenRealStateDisagrees(t *testing.T) {
	r := newRig(t, 3)
	r.write()
	j := journal.New(filepath.Join(r.dir, "state", "deploy-tool.journal.json"), "bob", r.path, r.addrs[:3])
	j.Progress[r.addrs[0]] = journal.StepUp
	if err := j.Save(); err != nil {
		t.Fatal(err)
	}
	r.fakes[0].servers[0].State = balancer.Down // someone took the finished one down
	code, out := r.rollout("--resume")
	if code != exitRefused || !strings.Contains(out, "was rolled out by this rollout but is now down") {
		t.Fatalf("exit %d, want %d", code, exitRefused)
	}
	if code, out := newRig(t, 1).rollout("--resume"); code != exitRefused || !strings.Contains(out, "no unfinished rollout") {
		t.Fatalf("resume without journal: exit %d\n%s", code, out)
	}
}

func TestDryRunTouchesNothing(t *testing.T) {
	r := newRig(t, 4)
	code, out := r.rollout("--dry-run")
	if code != exitOK || !strings.Contains(out, "batch 4: ") || !strings.Contains(out, "nothing was touched") {
		t.Fatalf("exit %d", code)
	}
	for _, f := range r.fakes {
		if len(f.callLog()) != 0 {
			t.Errorf("%s changed", f.name)
		}
	}
	if len(r.deployed()) != 0 {
		t.Error("a command ran")
	}
}

func TestNotifyWebhook(t *testing.T) {
	var mu sync.Mutex
	var texts []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var m map[string]string
		if req.Header.Get("Content-Type") != "application/json" || json.NewDecoder(req.Body).Decode(&m) != nil || m["text"] == "" {
			http.Error(w, "bad", 400)
			return
		}
		mu.Lock()
		texts = append(texts, m["text"])
		mu.Unlock()
	}))
	defer hook.Close()
	r := newRig(t, 3)
	r.top = "notify_webhook = \"" + hook.URL + "\""
	r.command = "test {port} != " + port(r.addrs[1])
	if code, _ := r.rollout(); code != exitFailed {
		t.Fatalf("exit %d", code)
	}
	mu.Lock()
	defer mu.Unlock()
	all := strings.Join(texts, "\n")
	for _, want := range []string{"rollout of 3 servers in 3 batches started", "deploy command for " + r.addrs[1] + " failed", "rollout stopped; left down: " + r.addrs[1]} {
		if !strings.Contains(all, want) {
			t.Errorf("webhook messages lack %q:\n%s", want, all)
		}
	}
}

// A server that HAProxy's own checks see DOWN serves nothing, even though
// it is administratively up: it uses up max_unavailable.
func TestFailingHealthCountsAsUnavailable(t *testing.T) {
	r := newRig(t, 4)
	r.fakes[1].servers[3].Health = "DOWN"
	code, out := r.rollout()
	if code != exitRefused || !strings.Contains(out, "(1 already down), more than max_unavailable 1") {
		t.Fatalf("exit %d, want %d", code, exitRefused)
	}
	if len(r.deployed()) != 0 {
		t.Error("a command ran")
	}
}

// Interrupted while draining again after a reload: the whole batch is put
// back, not only the server that came back up.
func TestInterruptDuringRedrainPutsWholeBatchBack(t *testing.T) {
	r := newRig(t, 4)
	r.top = "batch = 2\nmax_unavailable = 2\ndrain_timeout = \"10s\""
	var out bytes.Buffer
	e, stop, _ := r.engine(RolloutOptions{}, &out)
	var once sync.Once
	r.fakes[1].hook = func(op, addr string) {
		if op == "down" {
			once.Do(func() {
				r.fakes[0].reload()
				r.fakes[1].setActive(r.addrs[0], 3) // the re-drain waits
				go func() { time.Sleep(300 * time.Millisecond); stop() }()
			})
		}
	}
	code := exitCode(e.Run())
	t.Log(out.String())
	if code != exitInterrupted || !strings.Contains(out.String(), "is up again (balancer reloaded?)") {
		t.Fatalf("exit %d, want %d", code, exitInterrupted)
	}
	r.wantStates(nil)
	if len(r.deployed()) != 0 {
		t.Error("a command ran")
	}
}

func TestRolloutNeedsServersAndCommand(t *testing.T) {
	r := newRig(t, 0)
	if code, out := r.rollout(); code != exitUsage || !strings.Contains(out, "no [[server]]") {
		t.Errorf("no servers: exit %d", code)
	}
	r = newRig(t, 1)
	r.command = ""
	if code, out := r.rollout(); code != exitUsage || !strings.Contains(out, "no deploy.command") {
		t.Errorf("no command: exit %d", code)
	}
}
