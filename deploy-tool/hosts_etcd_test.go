package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/config"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/coord"
	"github.com/sre-suite/mackerel-plugins/lib/balancer"
	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// Two rollouts at once from two deploy hosts (two state directories) over
// the same balancers, coordinated through a real etcd: never more than
// max_unavailable servers out, and each host deploys each server once.
func TestTwoRunsShareTheBudgetThroughEtcd(t *testing.T) {
	etcd := testenv.StartEtcd(t)
	r := newRig(t, 3)
	r.command = "sleep 0.1; echo {port} >> " + filepath.Join(r.dir, "deployed")
	r.write()
	base := r.config() + fmt.Sprintf("\n[coordination]\netcd_endpoints = [%q]\nprefix = \"/deploy-tool/two-runs\"\nlease_ttl = \"3s\"\n", etcd.Endpoints()[0])
	var maxOut atomic.Int32
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			for _, f := range r.fakes {
				n := int32(0)
				for _, a := range r.addrs {
					if f.state(a) != balancer.Up {
						n++
					}
				}
				if n > maxOut.Load() {
					maxOut.Store(n)
				}
			}
		}
	}()
	var wg sync.WaitGroup
	codes := make([]int, 2)
	outs := make([]bytes.Buffer, 2)
	for h := range 2 {
		state := filepath.Join(r.dir, fmt.Sprintf("state-host%d", h))
		doc := strings.Replace(base, filepath.Join(r.dir, "state"), state, 1)
		path := filepath.Join(r.dir, fmt.Sprintf("host%d.toml", h))
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[h] = run([]string{"rollout", "--config", path}, strings.NewReader(""), &outs[h], &outs[h])
		}()
	}
	wg.Wait()
	close(stop)
	<-sampled
	for h := range 2 {
		if codes[h] != exitOK {
			t.Errorf("host %d: exit %d:\n%s", h, codes[h], outs[h].String())
		}
	}
	if n := maxOut.Load(); n > 1 {
		t.Errorf("%d servers out at once on one balancer, want at most max_unavailable 1", n)
	}
	count := map[string]int{}
	for _, p := range r.deployed() {
		count[p]++
	}
	for _, a := range r.addrs {
		if count[port(a)] != 2 {
			t.Errorf("%s deployed %d times, want once per host: %v", a, count[port(a)], count)
		}
	}
	r.wantStates(nil)
}

// status shows the deploy hosts' lock and every registered server, with
// its host and whether its lease is alive.
func TestStatusShowsTheDeployHosts(t *testing.T) {
	etcd := testenv.StartEtcd(t)
	r := newRig(t, 2)
	r.write()
	path := filepath.Join(r.dir, "hosts.toml")
	doc := r.config() + fmt.Sprintf("\n[coordination]\netcd_endpoints = [%q]\nprefix = \"/deploy-tool/status\"\nlease_ttl = \"3s\"\n", etcd.Endpoints()[0])
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	opts, _ := cfg.CoordinationOptions()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	other, err := coord.NewEtcd(ctx, opts, "deploy2", "run-b")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.Take(ctx, []string{r.addrs[1]}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if code := run([]string{"status", "--config", path}, strings.NewReader(""), &out, &out); code != exitOK {
		t.Fatalf("status: exit %d\n%s", code, out.String())
	}
	want := r.addrs[1] + " taken by deploy2 (run run-b)"
	if !strings.Contains(out.String(), "deploy hosts' lock (/deploy-tool/status): free") || !strings.Contains(out.String(), want) || !strings.Contains(out.String(), "lease alive") {
		t.Errorf("status does not show the lock and %q:\n%s", want, out.String())
	}
}
