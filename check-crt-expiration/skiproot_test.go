package main

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

// opensslSelfSigned makes a certificate as `openssl req -x509` does (OpenSSL
// 3 marks it CA:TRUE) in dir/name.crt with its key in dir/name.key, valid
// for days; with key set, it reuses that key (a renewal that kept the key).
func opensslSelfSigned(t *testing.T, dir, name, cn string, days int, key string) (crt, keyFile string) {
	t.Helper()
	openssl := testenv.RequireCommand(t, "openssl")
	crt = filepath.Join(dir, name+".crt")
	args := []string{"req", "-x509", "-nodes", "-out", crt, "-days", strconv.Itoa(days), "-subj", "/CN=" + cn}
	if key == "" {
		keyFile = filepath.Join(dir, name+".key")
		args = append(args, "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-keyout", keyFile)
	} else {
		keyFile = key
		args = append(args, "-key", key)
	}
	if out, err := exec.Command(openssl, args...).CombinedOutput(); err != nil {
		t.Fatalf("openssl %v: %v\n%s", args, err, out)
	}
	certs, err := readCertFile(crt)
	if err != nil || len(certs) != 1 || !certs[0].IsCA || !selfSigned(certs[0]) {
		t.Fatalf("%s: want one self-signed CA:TRUE certificate, as openssl makes it: %v", crt, err)
	}
	return crt, keyFile
}

// TestSkipRootKeepsSelfSignedCertificates: --skip-root leaves out only the
// root of a chain, never a certificate that issued nothing beside it.
func TestSkipRootKeepsSelfSignedCertificates(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	api, _ := opensslSelfSigned(t, dir, "api", "api.example.com", 9, "")
	for _, args := range [][]string{{"-f", api}, {"-f", api, "--skip-root"}} {
		expect(t, runCheck(t, args...), 2,
			"Certificate CRITICAL: "+api+": self-signed CN=api.example.com expires in 8 days < 14 days", "1 cert checked)")
	}

	// Renewed with the same key: two self-signed certificates with one name
	// and one key are not each other's roots.
	renewed := filepath.Join(dir, "renewed")
	os.Mkdir(renewed, 0o755)
	old, key := opensslSelfSigned(t, renewed, "old", "api.example.com", 9, "")
	fresh, _ := opensslSelfSigned(t, renewed, "new", "api.example.com", 200, key)
	r := runCheck(t, "-f", renewed, "--skip-root")
	expect(t, r, 2, "Certificate CRITICAL: 2 targets (1 critical, 1 ok); first: "+old+": self-signed CN=api.example.com expires in 8 days",
		"\nOK "+fresh+": self-signed CN=api.example.com expires in 199 days")
	if strings.Contains(r.out, "skipped") {
		t.Errorf("nothing should be skipped:\n%s", r.out)
	}
}

// TestSkipRootInAMixedDirectory is the issue's case: api.crt (openssl req
// -x509) expiring in 9 days beside a chain and its root, with the README's
// --file DIR --skip-root.
func TestSkipRootInAMixedDirectory(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "tls")
	os.Mkdir(dir, 0o755)
	pki := newPKI(t)
	api, _ := opensslSelfSigned(t, dir, "api", "api.example.com", 9, "")
	ok, _ := opensslSelfSigned(t, dir, "static", "static.example.com", 200, "")
	www, _ := writeChain(t, dir, "www", pki.leaf(t, "www.example.com", left(20)), pki.inter)
	root := filepath.Join(dir, "root.der")
	os.WriteFile(root, pki.root.cert.Raw, 0o644)

	r := runCheck(t, "-f", dir, "--skip-root")
	expect(t, r, 2,
		"Certificate CRITICAL: 3 targets (1 critical, 1 warning, 1 ok), 1 root skipped by --skip-root; first: "+api+": self-signed CN=api.example.com expires in 8 days < 14 days",
		"\nCRITICAL "+api+": ", "\nWARNING "+www+": leaf CN=www.example.com expires in 20 days < 30 days",
		"\nOK "+ok+": self-signed CN=static.example.com",
		"\nSKIPPED "+root+": skipped by --skip-root: root CN=Suite Test Root (NotAfter ", "issuer of CN=Suite Test Intermediate)")
	// Without --skip-root the root is one more target, and api.crt the same.
	expect(t, runCheck(t, "-f", dir), 2,
		"Certificate CRITICAL: 4 targets (1 critical, 1 warning, 2 ok); first: "+api, "\nOK "+root+": root CN=Suite Test Root")
	// The thresholds decide, as for any leaf: api.crt is WARNING at -c 7.
	expect(t, runCheck(t, "-f", dir, "--skip-root", "-c", "7"), 1, "2 warning, 1 ok), 1 root skipped", "\nWARNING "+api+": self-signed")
	// A glob that leaves the chain out: the root issued nothing it matched.
	expect(t, runCheck(t, "-f", filepath.Join(dir, "*.der"), "-f", api, "--skip-root"), 2,
		"2 targets (1 critical, 1 ok); first: "+api, "\nOK "+root+": self-signed CN=Suite Test Root")
}

// TestSkipRootInABundle: a root inside a bundle with what it issued is
// skipped and named, even when it expires first; alone it would be checked.
func TestSkipRootInABundle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	root := issue(t, nil, "Expiring Root", true, left(7))
	inter := issue(t, root, "Issuing CA", true, left(365))
	leaf := issue(t, inter, "bundle.test", false, left(60))
	bundle, _ := writeChain(t, dir, "bundle", leaf, inter, root)
	expect(t, runCheck(t, "-f", bundle), 2, bundle+": root CN=Expiring Root expires in 7 days < 14 days", "3 certs checked)")
	expect(t, runCheck(t, "-f", bundle, "--skip-root"), 0,
		"Certificate OK: "+bundle+": leaf CN=bundle.test expires in 60 days",
		"2 certs checked; skipped by --skip-root: root CN=Expiring Root (NotAfter ", "issuer of CN=Issuing CA))")
}

// TestSkipRootOnEndpoints: a server whose own certificate is self-signed
// (openssl req -x509) is checked; a root the server sends after the chain it
// issued is skipped and named.
func TestSkipRootOnEndpoints(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	crt, key := opensslSelfSigned(t, dir, "self", "localhost", 9, "")
	self, err := tls.LoadX509KeyPair(crt, key)
	if err != nil {
		t.Fatal(err)
	}
	root := issue(t, nil, "Sent Root", true, left(3650))
	inter := issue(t, root, "Sent Intermediate", true, left(365))
	chained := tlsCert(issue(t, inter, "localhost", false, left(60)), inter, root)
	selfAddr, chainAddr := tlsServer(t, self), tlsServer(t, chained)

	expect(t, runCheck(t, "-H", selfAddr, "--skip-root"), 2,
		"Certificate CRITICAL: "+selfAddr+": leaf CN=localhost expires in 8 days < 14 days", "1 cert checked)")
	expect(t, runCheck(t, "-H", chainAddr, "--skip-root"), 0,
		"Certificate OK: "+chainAddr+": leaf CN=localhost expires in 60 days",
		"2 certs checked; skipped by --skip-root: root CN=Sent Root (NotAfter ", "issuer of CN=Sent Intermediate))")
	expect(t, runCheck(t, "-H", selfAddr, "-H", chainAddr, "--skip-root"), 2,
		"Certificate CRITICAL: 2 targets (1 critical, 1 ok), 1 root skipped by --skip-root; first: "+selfAddr)
}

// tlsServer serves cert on a loopback port until the test ends.
func tlsServer(t *testing.T, cert tls.Certificate) string {
	return serve(t, func(c net.Conn) {
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
		if tc.Handshake() == nil {
			tc.Read(make([]byte, 1)) // until the client closes
		}
	})
}

func TestChainRoots(t *testing.T) {
	root := issue(t, nil, "Root", true, left(100))
	other := issue(t, nil, "Other Root", true, left(100))
	inter := issue(t, root, "Inter", true, left(100))
	leaf := issue(t, inter, "leaf.test", false, left(100))
	got := chainRoots([]*x509.Certificate{leaf.cert, inter.cert, root.cert, other.cert})
	if len(got) != 1 || got[string(root.cert.Raw)] != inter.cert {
		t.Errorf("roots: %v", got)
	}
	if len(chainRoots([]*x509.Certificate{root.cert, other.cert})) != 0 {
		t.Error("two self-signed certificates are not roots of a chain")
	}
}
