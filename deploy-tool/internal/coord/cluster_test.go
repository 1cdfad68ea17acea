package coord

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// The leader of a 3-member cluster stops while a run holds the lock and a
// server: Lock, Take and Release go on through the other members, and no
// lease is lost.
func TestClusterLeaderStopped(t *testing.T) {
	t.Parallel()
	c := testenv.StartEtcdCluster(t, 3)
	o := testOptions(t, c, 5*time.Second)
	a, b := newEtcd(t, o, "ha", "ra"), newEtcd(t, o, "hb", "rb")
	ctx := ctxT(t, 60*time.Second)

	u := lock(t, a)
	if err := a.Take(ctx, []string{"127.0.0.1:8001"}); err != nil {
		t.Fatal(err)
	}
	leader := c.Leader(t)
	leader.Stop()
	if err := a.Take(ctx, []string{"127.0.0.1:8002"}); err != nil {
		t.Fatalf("Take after the leader %s stopped: %v", leader.Name, err)
	}
	got := make(chan error, 1)
	go func() {
		ub, err := b.Lock(ctx)
		if err == nil {
			err = b.Take(ctx, []string{"127.0.0.1:8003"})
			ub(ctx)
		}
		got <- err
	}()
	if err := a.Release(ctx, []string{"127.0.0.1:8001", "127.0.0.1:8002"}); err != nil {
		t.Fatal(err)
	}
	if err := u(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("b after the leader stopped: %v", err)
	}
	regs, err := a.Taken(ctx)
	if err != nil || fmt.Sprint(regs2str(regs)) != "[127.0.0.1:8003=hb/rb/alive]" {
		t.Fatalf("registrations: %v %v", regs2str(regs), err)
	}
	select {
	case <-a.Lost():
		t.Fatal("a's lease was lost")
	case <-b.Lost():
		t.Fatal("b's lease was lost")
	default:
	}
	leader.Restart(t)
	leader.WaitHealthy(t, 20*time.Second)
}

// https with a client certificate, through the section as a user writes it.
func TestTLS(t *testing.T) {
	t.Parallel()
	ca := testenv.NewCA(t, "etcd test CA")
	c := testenv.StartEtcdTLS(t, ca)
	dir := t.TempDir()
	cert, key := ca.ServerCert(t, dir)
	s := Section{EtcdEndpoints: c.Endpoints(), Prefix: "/tls", CAFile: ca.File, CertFile: cert, KeyFile: key, LeaseTTL: 0}
	o, err := s.Options(filepath.Join(dir, "shop.toml"), os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	o.DialTimeout = 2 * time.Second
	e := newEtcd(t, o, "h", "r")
	u := lock(t, e)
	if err := e.Take(ctxT(t, 5*time.Second), []string{"127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	u(context.Background())

	// Without a client certificate the server refuses, and says so at once.
	s.CertFile, s.KeyFile = "", ""
	o, err = s.Options("", os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	o.DialTimeout = 2 * time.Second
	if _, err := NewEtcd(context.Background(), o, "h", "r2"); err == nil || !strings.Contains(err.Error(), "TLS: remote error: tls: bad certificate") {
		t.Fatalf("NewEtcd without a client certificate: %v", err)
	}
	// Without the CA, the server's certificate is not trusted.
	s.CAFile, s.CertFile, s.KeyFile = "", cert, key
	o, _ = s.Options("", os.Getenv)
	o.DialTimeout = 2 * time.Second
	if _, err := NewEtcd(context.Background(), o, "h", "r3"); err == nil || !strings.Contains(err.Error(), "TLS: tls: failed to verify certificate") {
		t.Fatalf("NewEtcd without the CA: %v", err)
	}
}
