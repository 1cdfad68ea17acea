package fleettest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// CA is a certificate authority made by a test: its certificate in a PEM
// file, and its key to sign server certificates.
type CA struct {
	File string // the CA certificate, PEM
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// NewCA makes a self-signed CA valid for a day, in a temp dir.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &CA{File: filepath.Join(t.TempDir(), "ca.pem"), cert: cert, key: key}
	writePEM(t, ca.File, "CERTIFICATE", der)
	return ca
}

// ServerCert signs a certificate for 127.0.0.1 (server and client use) and writes it and its key
// into dir; it returns their paths.
func (ca *CA) ServerCert(t testing.TB, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, // a cluster node is its peers' client
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", kder)
	return certFile, keyFile
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

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
