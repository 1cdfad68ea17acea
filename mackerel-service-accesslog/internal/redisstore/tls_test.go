package redisstore_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/fleet"
	"github.com/sre-suite/mackerel-plugins/lib/fleet/fleettest"
	"github.com/sre-suite/mackerel-plugins/mackerel-service-accesslog/internal/redisstore"
)

// TestExactOverTLS: the same exactness through rediss:// to Debian's
// redis-server listening with TLS only, its certificate verified against
// the CA file.
func TestExactOverTLS(t *testing.T) {
	srv := fleettest.StartRedisTLS(t)
	st := openStore(t, redisstore.Config{URL: srv.URL(), CAFile: srv.CA.File})
	exactness(t, st)
}

// TestExactOnClusterOverTLS: the same on a three-node Redis Cluster with
// TLS only, between the nodes too (as managed services with in-transit
// encryption run it); the seed node's URL is rediss://.
func TestExactOnClusterOverTLS(t *testing.T) {
	nodes := fleettest.StartClusterTLS(t)
	st := openStore(t, redisstore.Config{URL: nodes[2].URL(), Cluster: true, CAFile: nodes[0].CA.File})
	exactness(t, st)
}

// TestTLSErrors: a server certificate from another CA is refused with a
// message that says so; the system's roots do not know a test CA; a CA file
// that is not PEM, missing, or given with redis:// is refused at Open.
func TestTLSErrors(t *testing.T) {
	srv := fleettest.StartRedisTLS(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := fleet.WindowOf(time.Now(), time.Minute)
	for name, ca := range map[string]string{"other CA": fleettest.NewCA(t, "other CA").File, "system roots": ""} {
		st, err := redisstore.Open(redisstore.Config{URL: srv.URL(), CAFile: ca, Timeout: 10 * time.Second}, "web")
		if err != nil {
			t.Fatal(err)
		}
		_, err = st.Deliver(ctx, contributionOf("x-1", "x", w, nil), nil)
		st.Close()
		if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: delivery error %v, want one line about the unknown authority", name, err)
		}
	}
	if out, _ := srv.Cli("dbsize"); strings.TrimSpace(out) != "0" {
		t.Errorf("refused deliveries wrote keys: dbsize %q", out)
	}
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		cfg  redisstore.Config
		want string
	}{
		{redisstore.Config{URL: srv.URL(), CAFile: notPEM}, "no PEM certificate"},
		{redisstore.Config{URL: srv.URL(), CAFile: notPEM + ".missing"}, "no such file"},
		{redisstore.Config{URL: "redis://127.0.0.1:1/0", CAFile: srv.CA.File}, "is not rediss://"},
	} {
		if _, err := redisstore.Open(c.cfg, "web"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
}
