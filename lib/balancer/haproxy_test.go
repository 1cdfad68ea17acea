package balancer_test

// These tests run Debian's HAProxy 2.6 with an admin stats socket (unix and
// TCP) in front of Go backends on loopback ports, started by
// lib/balancer/balancertest.

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/balancer"
	"github.com/sre-suite/mackerel-plugins/lib/balancer/balancertest"
)

func haproxyDriver(t *testing.T, socket string, backends ...string) *balancer.HAProxy {
	t.Helper()
	if len(backends) == 0 {
		backends = []string{balancertest.HAProxyBackend}
	}
	b, err := balancer.New(balancer.Config{
		Name: "hap", Driver: balancer.DriverHAProxy, Socket: socket, Upstreams: backends,
		Timeout: balancer.Duration(3 * time.Second),
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.(*balancer.HAProxy)
}

func TestHAProxyDrainMaintReady(t *testing.T) {
	bs := balancertest.StartBackends(t, 2)
	hp := balancertest.StartHAProxy(t, balancertest.Addrs(bs))
	ctx := ctxT(t)
	for _, socket := range []string{hp.Socket, hp.TCPSocket} {
		d := haproxyDriver(t, socket)
		servers, err := d.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(servers) != 2 {
			t.Fatalf("List via %s: %+v", socket, servers)
		}
		for i, s := range servers {
			if s.Name != hp.Servers[i] || s.Addr != bs[i].Addr || s.State != balancer.Up || s.Active != 0 || s.Weight != 1 {
				t.Errorf("server %d via %s: %+v", i, socket, s)
			}
		}
	}
	d := haproxyDriver(t, hp.Socket)
	steps := []struct {
		do     func() error
		state  balancer.State
		health string
	}{
		{func() error { return d.Drain(ctx, hp.Backend, bs[0].Addr) }, balancer.Draining, "DRAIN"},
		{func() error { return d.Down(ctx, hp.Backend, "app1") }, balancer.Down, "MAINT"},
		{func() error { return d.Drain(ctx, hp.Backend, "app1") }, balancer.Draining, ""},
		{func() error { return d.Down(ctx, hp.Backend, "app1") }, balancer.Down, "MAINT"},
		{func() error { return d.Up(ctx, hp.Backend, "localhost:"+strings.Split(bs[0].Addr, ":")[1]) }, balancer.Up, ""},
	}
	for i, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		servers, err := d.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		s := servers[0]
		if s.State != st.state || st.health != "" && s.Health != st.health {
			t.Errorf("step %d: %+v, want %s %s", i, s, st.state, st.health)
		}
		if st.state != balancer.Up {
			hits := bs[0].Hits()
			traffic(t, hp.Frontend, 6)
			if bs[0].Hits() != hits {
				t.Errorf("step %d: server in %s got requests", i, st.state)
			}
		}
	}
	// Up again: once its check passes it serves.
	waitFor(t, 5*time.Second, "app1 UP", func() bool {
		servers, err := d.List(ctx)
		return err == nil && servers[0].Health == "UP"
	})
	hits := bs[0].Hits()
	traffic(t, hp.Frontend, 6)
	if bs[0].Hits() == hits {
		t.Error("ready server got no requests")
	}
	if err := d.SetWeight(ctx, hp.Backend, "app2", 5); err != nil {
		t.Fatal(err)
	}
	servers, _ := d.List(ctx)
	if servers[1].Weight != 5 {
		t.Errorf("after SetWeight: %+v", servers[1])
	}
}

func TestHAProxyDrainedOnlyWhenRequestsFinish(t *testing.T) {
	bs := balancertest.StartBackends(t, 2)
	hp := balancertest.StartHAProxy(t, balancertest.Addrs(bs))
	d := haproxyDriver(t, hp.Socket)
	ctx := ctxT(t)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			balancertest.Get(ctx, hp.Frontend+"/?sleep=1500ms", 10*time.Second)
		}()
	}
	defer wg.Wait()
	waitFor(t, 3*time.Second, "2 requests in flight on app1", func() bool {
		servers, err := d.List(ctx)
		return err == nil && servers[0].Active == 2
	})
	start := time.Now()
	if err := d.Drain(ctx, hp.Backend, bs[0].Addr); err != nil {
		t.Fatal(err)
	}
	servers, _ := d.List(ctx)
	if servers[0].Drained() {
		t.Fatalf("drained with requests in flight: %+v", servers[0])
	}
	waitFor(t, 5*time.Second, "app1 drained", func() bool {
		servers, err := d.List(ctx)
		return err == nil && servers[0].Drained()
	})
	if bs[0].InFlight() != 0 {
		t.Errorf("drained while the backend still has %d requests", bs[0].InFlight())
	}
	t.Logf("drained after %v", time.Since(start))
}

func TestHAProxyErrors(t *testing.T) {
	bs := balancertest.StartBackends(t, 1)
	hp := balancertest.StartHAProxy(t, balancertest.Addrs(bs))
	ctx := ctxT(t)
	if _, err := haproxyDriver(t, hp.Socket, "nope").List(ctx); err == nil || !strings.Contains(err.Error(), "balancer hap: backend nope not found") {
		t.Errorf("unknown backend: %v", err)
	}
	d := haproxyDriver(t, hp.Socket)
	for _, addr := range []string{"app9", "127.0.0.1:1", "localhost:1"} {
		if err := d.Drain(ctx, hp.Backend, addr); err == nil || !strings.Contains(err.Error(), "balancer hap upstream app: no server matches "+addr) {
			t.Errorf("Drain(%s): %v", addr, err)
		}
	}
	if err := d.Drain(ctx, "other", "app1"); err == nil || !strings.Contains(err.Error(), "backend other is not configured") {
		t.Errorf("unconfigured backend: %v", err)
	}
	// A socket below level admin reads, but refuses changes.
	ud := haproxyDriver(t, hp.UserSocket)
	if _, err := ud.List(ctx); err != nil {
		t.Errorf("List on a user-level socket: %v", err)
	}
	if err := ud.Drain(ctx, hp.Backend, "app1"); err == nil || !strings.Contains(err.Error(), "balancer hap backend app server app1 ("+bs[0].Addr+`): "set server app/app1 state drain": Permission denied`) {
		t.Errorf("Drain on a user-level socket: %v", err)
	}
	if _, err := haproxyDriver(t, hp.Dir+"/missing.sock").List(ctx); err == nil || !strings.Contains(err.Error(), "balancer hap: runtime API") {
		t.Errorf("missing socket: %v", err)
	}
}
