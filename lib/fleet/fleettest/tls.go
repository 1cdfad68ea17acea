package fleettest

import (
	"strconv"
	"testing"

	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// CA is a certificate authority made by a test (lib/testenv).
type CA = testenv.CA

// NewCA makes a self-signed CA valid for a day, in a temp dir.
func NewCA(t testing.TB, name string) *CA { return testenv.NewCA(t, name) }

// StartRedisTLS starts a redis-server that listens with TLS only (its plain
// port is 0), with a server certificate for 127.0.0.1 signed by a new CA,
// and does not ask clients for certificates. URL is rediss://, CA the CA
// that verifies it. Debian's redis-server 7.0 is built with TLS.
func StartRedisTLS(t testing.TB, extra ...string) *Redis {
	t.Helper()
	return startTLS(t, NewCA(t, "fleettest CA"), extra...)
}

func startTLS(t testing.TB, ca *CA, extra ...string) *Redis {
	t.Helper()
	r := &Redis{Port: testenv.FreePort(t), Dir: t.TempDir(), t: t, CA: ca}
	cert, key := r.CA.ServerCert(t, r.Dir)
	r.args = append([]string{"--port", "0", "--tls-port", strconv.Itoa(r.Port), "--bind", "127.0.0.1",
		"--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-cert-file", r.CA.File, "--tls-auth-clients", "no",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", r.Dir}, extra...)
	r.Start()
	return r
}

// StartClusterTLS is StartCluster with TLS only, between the nodes too
// (tls-cluster), their certificates signed by one new CA.
func StartClusterTLS(t testing.TB) []*Redis {
	t.Helper()
	ca := NewCA(t, "fleettest cluster CA")
	return startCluster(t, func(extra ...string) *Redis {
		return startTLS(t, ca, append([]string{"--tls-cluster", "yes", "--tls-replication", "yes"}, extra...)...)
	}, "--tls", "--cacert", ca.File)
}
