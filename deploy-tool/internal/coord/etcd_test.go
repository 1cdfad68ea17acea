package coord

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

const testTTL = 2 * time.Second

// TestMain runs the holder process of TestKilledHolder when asked to.
func TestMain(m *testing.M) {
	if os.Getenv("COORD_TEST_HOLDER") != "" {
		os.Exit(runHolder())
	}
	os.Exit(m.Run())
}

func testOptions(t *testing.T, c *testenv.EtcdCluster, ttl time.Duration) Options {
	return Options{
		Endpoints: c.Endpoints(), Prefix: "/test/" + strings.ReplaceAll(t.Name(), "/", "_"), LeaseTTL: ttl,
		DialTimeout: 2 * time.Second, CallTimeout: 2 * time.Second, LockWait: 20 * time.Second,
	}
}

func newEtcd(t *testing.T, o Options, host, run string) *Etcd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := NewEtcd(ctx, o, host, run)
	if err != nil {
		t.Fatalf("NewEtcd %s/%s: %v", host, run, err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func lock(t *testing.T, e *Etcd) func(context.Context) error {
	t.Helper()
	unlock, err := e.Lock(ctxT(t, 20*time.Second))
	if err != nil {
		t.Fatalf("Lock %s: %v", e.runID, err)
	}
	return unlock
}

// waitFor polls cond (an etcd read) until it holds.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestLockExcludes(t *testing.T) {
	t.Parallel()
	c := testenv.StartEtcd(t)
	o := testOptions(t, c, testTTL)
	a, b := newEtcd(t, o, "ha", "ra"), newEtcd(t, o, "hb", "rb")

	unlockA := lock(t, a)
	got := make(chan error, 1)
	go func() {
		u, err := b.Lock(ctxT(t, 20*time.Second))
		if err == nil {
			defer u(context.Background())
		}
		got <- err
	}()
	waitFor(t, 5*time.Second, "b waits for the lock", func() bool {
		st, err := ReadStatus(ctxT(t, 5*time.Second), o)
		return err == nil && st.Waiting == 1 && st.Holder != nil && st.Holder.RunID == "ra"
	})
	select {
	case err := <-got:
		t.Fatalf("b took the lock while a held it (err %v)", err)
	default:
	}
	if err := unlockA(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("b after a's unlock: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("b did not get the lock within 5s of a's unlock")
	}

	// Many rounds from both clients: never two inside at once.
	var inside, most atomic.Int32
	var wg sync.WaitGroup
	for i := range 6 {
		e := []*Etcd{a, b}[i%2]
		wg.Go(func() {
			u, err := e.Lock(ctxT(t, 20*time.Second))
			if err != nil {
				t.Error(err)
				return
			}
			n := inside.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(30 * time.Millisecond)
			inside.Add(-1)
			u(ctxT(t, 5*time.Second))
		})
	}
	wg.Wait()
	if most.Load() != 1 {
		t.Fatalf("%d holders at once", most.Load())
	}
}

func TestTakeRelease(t *testing.T) {
	t.Parallel()
	c := testenv.StartEtcd(t)
	o := testOptions(t, c, testTTL)
	a, b := newEtcd(t, o, "ha", "ra"), newEtcd(t, o, "hb", "rb")
	ctx := ctxT(t, 20*time.Second)

	u := lock(t, a)
	if err := a.Take(ctx, []string{"127.0.0.1:8001", "[0:0::1]:8002"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Take(ctx, []string{"127.0.0.1:8001"}); err != nil {
		t.Fatalf("taking again what the run holds: %v", err)
	}
	u(ctx)

	err := b.Take(ctx, []string{"127.0.0.1:8003", "[::1]:8002"})
	var te *TakenError
	if !errors.As(err, &te) || te.Addr != "[::1]:8002" || !te.Alive || te.Host != "ha" || te.RunID != "ra" {
		t.Fatalf("b took a server a holds: %v", err)
	}
	regs, err := b.Taken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(regs2str(regs)); got != "[127.0.0.1:8001=ha/ra/alive [::1]:8002=ha/ra/alive]" {
		t.Fatalf("after a refused Take (all or none): %s", got)
	}

	if err := b.Release(ctx, []string{"127.0.0.1:8001"}); err != nil {
		t.Fatal(err)
	}
	if err := b.Forget(ctx, []string{"127.0.0.1:8001"}); !errors.As(err, &te) {
		t.Fatalf("Forget of a server an alive run holds: %v", err)
	}
	if err := a.Release(ctx, []string{"127.0.0.1:8001"}); err != nil {
		t.Fatal(err)
	}
	regs, _ = b.Taken(ctx)
	if got := fmt.Sprint(regs2str(regs)); got != "[[::1]:8002=ha/ra/alive]" {
		t.Fatalf("after b's Release (not its own) and a's: %s", got)
	}
	if err := b.Take(ctx, []string{"127.0.0.1:8001"}); err != nil {
		t.Fatalf("b takes the server a released: %v", err)
	}
}

func regs2str(regs []Registration) []string {
	var out []string
	for _, r := range regs {
		alive := "dead"
		if r.Alive {
			alive = "alive"
		}
		out = append(out, fmt.Sprintf("%s=%s/%s/%s", r.Addr, r.Host, r.RunID, alive))
	}
	return out
}

// runHolder is the process TestKilledHolder kills: it takes the lock and
// registers a server, says "ready", and waits to be killed.
func runHolder() int {
	o := Options{Endpoints: strings.Split(os.Getenv("COORD_TEST_ENDPOINTS"), ","), Prefix: os.Getenv("COORD_TEST_PREFIX"), LeaseTTL: testTTL}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := NewEtcd(ctx, o, "hk", "rk")
	if err != nil {
		fmt.Println(err)
		return 1
	}
	if _, err := e.Lock(ctx); err != nil {
		fmt.Println(err)
		return 1
	}
	if err := e.Take(ctx, []string{"127.0.0.1:9001"}); err != nil {
		fmt.Println(err)
		return 1
	}
	fmt.Println("ready")
	time.Sleep(time.Minute)
	return 0
}

func startHolder(t *testing.T, o Options) *testenv.Process {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "COORD_TEST_HOLDER=1", "COORD_TEST_ENDPOINTS="+strings.Join(o.Endpoints, ","), "COORD_TEST_PREFIX="+o.Prefix)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := testenv.Start(t, cmd)
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "ready\n" {
		t.Fatalf("holder process: %q", line)
	}
	return p
}

func kill(t *testing.T, p *testenv.Process) time.Time {
	t.Helper()
	if err := syscall.Kill(p.Cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	return time.Now()
}

func TestKilledHolder(t *testing.T) {
	t.Parallel()
	c := testenv.StartEtcd(t)
	o := testOptions(t, c, testTTL)
	b := newEtcd(t, o, "hb", "rb")
	holder := startHolder(t, o)
	killed := kill(t, holder)

	u := lock(t, b)
	if waited := time.Since(killed); waited > testTTL+time.Second {
		t.Fatalf("the lock of a killed holder was freed after %v, lease_ttl %v", waited, testTTL)
	}
	defer u(context.Background())
	ctx := ctxT(t, 10*time.Second)
	regs, err := b.Taken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(regs2str(regs)); got != "[127.0.0.1:9001=hk/rk/dead]" {
		t.Fatalf("the killed holder's servers: %s", got)
	}
	var te *TakenError
	if err := b.Take(ctx, []string{"127.0.0.1:9001"}); !errors.As(err, &te) || te.Alive || !strings.Contains(err.Error(), "--resume") {
		t.Fatalf("another host takes a dead run's server: %v", err)
	}
	other := newEtcd(t, o, "hb", "rb2")
	if got, err := other.Adopt(ctx, "rk"); err != nil || len(got) != 0 {
		t.Fatalf("another host's run adopts hk's servers: %v %v", got, err)
	}
	resumed := newEtcd(t, o, "hk", "rk2")
	if got, err := resumed.Adopt(ctx, "rk"); err != nil || fmt.Sprint(got) != "[127.0.0.1:9001]" {
		t.Fatalf("the resumed run adopts: %v %v", got, err)
	}
	regs, _ = b.Taken(ctx)
	if got := fmt.Sprint(regs2str(regs)); got != "[127.0.0.1:9001=hk/rk2/alive]" {
		t.Fatalf("after Adopt: %s", got)
	}
	if err := resumed.Release(ctx, []string{"127.0.0.1:9001"}); err != nil {
		t.Fatal(err)
	}
}

// A run resumed at once after a kill revokes the dead run's lease: the
// lock is free without waiting for lease_ttl.
func TestAdoptRevokes(t *testing.T) {
	t.Parallel()
	c := testenv.StartEtcd(t)
	o := testOptions(t, c, 5*time.Second)
	holder := startHolder(t, o)
	killed := kill(t, holder)
	resumed := newEtcd(t, o, "hk", "rk2")
	if got, err := resumed.Adopt(ctxT(t, 5*time.Second), "rk"); err != nil || fmt.Sprint(got) != "[127.0.0.1:9001]" {
		t.Fatalf("Adopt: %v %v", got, err)
	}
	lock(t, resumed)
	if waited := time.Since(killed); waited > 3*time.Second {
		t.Fatalf("lock after Adopt took %v (lease_ttl 5s)", waited)
	}
}

func TestLostWhenEtcdStops(t *testing.T) {
	t.Parallel()
	c := testenv.StartEtcd(t)
	o := testOptions(t, c, testTTL)
	a := newEtcd(t, o, "ha", "ra")
	c.Members[0].Stop()
	stopped := time.Now()
	select {
	case <-a.Lost():
	case <-time.After(testTTL + 3*time.Second):
		t.Fatalf("Lost not closed %v after etcd stopped", time.Since(stopped))
	}
	if _, err := a.Lock(ctxT(t, 5*time.Second)); !errors.Is(err, ErrLost) {
		t.Fatalf("Lock after Lost: %v", err)
	}
	if err := a.Take(ctxT(t, 5*time.Second), []string{"127.0.0.1:1"}); !errors.Is(err, ErrLost) {
		t.Fatalf("Take after Lost: %v", err)
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	port := testenv.FreePort(t)
	o := Options{Endpoints: []string{fmt.Sprintf("http://127.0.0.1:%d", port)}, Prefix: "/x", DialTimeout: time.Second}
	start := time.Now()
	_, err := NewEtcd(context.Background(), o, "h", "r")
	if err == nil || !strings.Contains(err.Error(), fmt.Sprint(port)) || !strings.Contains(err.Error(), "did not answer within 1s") ||
		!strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("NewEtcd on a closed port: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("NewEtcd on a closed port took %v", d)
	}
	if _, err := ReadStatus(context.Background(), o); err == nil {
		t.Fatal("ReadStatus on a closed port: no error")
	}
}

func TestStatus(t *testing.T) {
	t.Parallel()
	c := testenv.StartEtcd(t)
	o := testOptions(t, c, testTTL)
	st, err := ReadStatus(ctxT(t, 5*time.Second), o)
	if err != nil || st.Holder != nil || len(st.Servers) != 0 {
		t.Fatalf("empty: %+v %v", st, err)
	}
	a := newEtcd(t, o, "ha", "ra")
	lock(t, a)
	if err := a.Take(ctxT(t, 5*time.Second), []string{"127.0.0.1:8001"}); err != nil {
		t.Fatal(err)
	}
	st, err = ReadStatus(ctxT(t, 5*time.Second), o)
	if err != nil {
		t.Fatal(err)
	}
	h := st.Holder
	if h == nil || h.Host != "ha" || h.RunID != "ra" || time.Since(h.Since) > 10*time.Second || !strings.HasPrefix(h.String(), "host ha (run ra, since ") {
		t.Fatalf("holder: %+v", h)
	}
	if len(st.Servers) != 1 || !st.Servers[0].Alive || st.Servers[0].Age < 0 || st.Servers[0].Age > 10*time.Second {
		t.Fatalf("servers: %+v", st.Servers)
	}
	a.Close()
	st, err = ReadStatus(ctxT(t, 5*time.Second), o)
	if err != nil || st.Holder != nil || len(st.Servers) != 1 || st.Servers[0].Alive {
		t.Fatalf("after Close: %+v %v", st, err)
	}
}
