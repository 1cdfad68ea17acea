package balancertest

import (
	"context"
	"strings"
	"testing"
	"time"
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
