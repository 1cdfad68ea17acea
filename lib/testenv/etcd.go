package testenv

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// EtcdCluster is etcd (Debian's etcd-server) started by a test on loopback
// ports, each member in its own temp dir, stopped by PID at cleanup.
type EtcdCluster struct {
	Members []*EtcdMember
	// CA signed the members' certificates when started with TLS; clients
	// use CA.File and, since the members ask for one, a certificate of it.
	CA *CA
}

// EtcdMember is one etcd process of a cluster.
type EtcdMember struct {
	Name      string
	ClientURL string
	Dir       string
	bin       string
	args      []string
	proc      *Process
	client    *http.Client
}

// StartEtcd starts a single etcd member and waits until it is healthy. It
// skips the test (fails under CI=true) when etcd is not installed.
func StartEtcd(t testing.TB) *EtcdCluster { return startEtcd(t, 1, nil) }

// StartEtcdCluster starts an n-member cluster and waits until it has a
// leader.
func StartEtcdCluster(t testing.TB, n int) *EtcdCluster { return startEtcd(t, n, nil) }

// StartEtcdTLS starts a single member that serves https:// and asks
// clients for a certificate signed by ca.
func StartEtcdTLS(t testing.TB, ca *CA) *EtcdCluster { return startEtcd(t, 1, ca) }

func startEtcd(t testing.TB, n int, ca *CA) *EtcdCluster {
	t.Helper()
	bin := RequireCommand(t, "etcd")
	scheme := "http"
	if ca != nil {
		scheme = "https"
	}
	c := &EtcdCluster{CA: ca}
	var peers []string
	for i := range n {
		m := &EtcdMember{Name: fmt.Sprintf("m%d", i+1), Dir: t.TempDir(), bin: bin, client: &http.Client{Timeout: 2 * time.Second}}
		m.ClientURL = fmt.Sprintf("%s://127.0.0.1:%d", scheme, RestartablePort(t))
		peer := fmt.Sprintf("http://127.0.0.1:%d", RestartablePort(t))
		peers = append(peers, m.Name+"="+peer)
		m.args = []string{"--name", m.Name, "--data-dir", filepath.Join(m.Dir, "data"),
			"--listen-client-urls", m.ClientURL, "--advertise-client-urls", m.ClientURL,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster-state", "new", "--logger", "zap", "--log-outputs", filepath.Join(m.Dir, "etcd.log")}
		if ca != nil {
			cert, key := ca.ServerCert(t, m.Dir)
			m.args = append(m.args, "--cert-file", cert, "--key-file", key, "--trusted-ca-file", ca.File, "--client-cert-auth")
			m.client.Transport = &http.Transport{TLSClientConfig: clientTLS(t, ca, cert, key)}
		}
		c.Members = append(c.Members, m)
	}
	for _, m := range c.Members {
		m.args = append(m.args, "--initial-cluster", strings.Join(peers, ","))
		m.start(t)
	}
	for _, m := range c.Members {
		m.WaitHealthy(t, 20*time.Second)
	}
	return c
}

func clientTLS(t testing.TB, ca *CA, cert, key string) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(ca.File)
	if err != nil || !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("CA %s: %v", ca.File, err)
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
}

// Endpoints are the members' client URLs.
func (c *EtcdCluster) Endpoints() []string {
	var out []string
	for _, m := range c.Members {
		out = append(out, m.ClientURL)
	}
	return out
}

func (m *EtcdMember) start(t testing.TB) {
	t.Helper()
	cmd := exec.Command(m.bin, m.args...)
	out, err := os.OpenFile(filepath.Join(m.Dir, "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	cmd.Stdout, cmd.Stderr = out, out
	m.proc = Start(t, cmd)
}

// Stop stops the member (SIGTERM, by PID) and waits for it to end.
func (m *EtcdMember) Stop() { m.proc.Stop() }

// Restart starts a stopped member again on its data dir and ports; it does
// not wait for it to be healthy.
func (m *EtcdMember) Restart(t testing.TB) {
	t.Helper()
	if !m.proc.Exited() {
		t.Fatalf("etcd %s is still running", m.Name)
	}
	m.start(t)
}

// WaitHealthy waits until the member answers /health with true (it has a
// leader and serves).
func (m *EtcdMember) WaitHealthy(t testing.TB, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		if m.proc.Exited() {
			b, _ := os.ReadFile(filepath.Join(m.Dir, "etcd.log"))
			t.Fatalf("etcd %s ended at start: %s", m.Name, tail(b, 2000))
		}
		resp, err := m.client.Get(m.ClientURL + "/health")
		if err == nil {
			var h struct{ Health string }
			err = json.NewDecoder(resp.Body).Decode(&h)
			resp.Body.Close()
			if err == nil && h.Health == "true" {
				return
			}
			last = fmt.Sprintf("health %q", h.Health)
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("etcd %s not healthy within %v: %s", m.Name, timeout, last)
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// memberStatus is the part of etcd's /v3/maintenance/status answer that
// says who leads (uint64 ids, as JSON strings).
type memberStatus struct {
	Header struct {
		MemberID string `json:"member_id"`
	} `json:"header"`
	Leader string `json:"leader"`
}

// Leader returns the member that leads the cluster now, asking the running
// members through their JSON gateway.
func (c *EtcdCluster) Leader(t testing.TB) *EtcdMember {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		ids := map[string]*EtcdMember{}
		leader := ""
		for _, m := range c.Members {
			if m.proc.Exited() {
				continue
			}
			resp, err := m.client.Post(m.ClientURL+"/v3/maintenance/status", "application/json", bytes.NewReader([]byte("{}")))
			if err != nil {
				continue
			}
			var st memberStatus
			err = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if err == nil && st.Header.MemberID != "" {
				ids[st.Header.MemberID] = m
				if st.Leader != "" && st.Leader != "0" {
					leader = st.Leader
				}
			}
		}
		if m, ok := ids[leader]; ok {
			return m
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no etcd member leads the cluster within 10s")
	return nil
}
