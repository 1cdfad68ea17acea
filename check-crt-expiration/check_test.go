package main

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/check"
	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type result struct {
	code int
	out  string
	took time.Duration
}

// runCheck runs the real binary, as mackerel-agent would.
func runCheck(t *testing.T, args ...string) result {
	t.Helper()
	r := testenv.Run(t, testenv.BuildBinary(t, "check-crt-expiration"), nil, args...)
	return result{code: r.Code, out: r.Stdout + r.Stderr, took: r.Took}
}

func expect(t *testing.T, r result, code int, wants ...string) {
	t.Helper()
	t.Logf("exit %d after %v:\n%s", r.code, r.took.Round(time.Millisecond), r.out)
	if r.code != code {
		t.Errorf("exit code %d, want %d; output:\n%s", r.code, code, r.out)
	}
	for _, w := range wants {
		if !strings.Contains(r.out, w) {
			t.Errorf("output lacks %q:\n%s", w, r.out)
		}
	}
}

// TestEndpointsOnNginx serves every case from one Debian nginx, each on its
// own port, and checks them one by one and all together.
func TestEndpointsOnNginx(t *testing.T) {
	dir := t.TempDir()
	pki := newPKI(t)
	rootFile := filepath.Join(dir, "root.pem")
	os.WriteFile(rootFile, pemCert(pki.root.cert), 0o644)

	shortInter := issue(t, pki.root, "Suite Test Short Intermediate", true, left(10))
	soonRoot := issue(t, nil, "Suite Test Expiring Root", true, left(7))
	soonRootInter := issue(t, soonRoot, "Suite Test Intermediate 2", true, left(365))
	type site struct {
		name  string
		leaf  *issued
		chain []*issued
	}
	sites := []site{
		{"ok60", pki.leaf(t, "localhost", left(60)), []*issued{pki.inter}},
		{"warn20", pki.leaf(t, "localhost", left(20)), []*issued{pki.inter}},
		{"crit5", pki.leaf(t, "localhost", left(5)), []*issued{pki.inter}},
		{"expired", pki.leaf(t, "localhost", validity{-days(30), -days(3) - time.Hour}), []*issued{pki.inter}},
		{"shortinter", issue(t, shortInter, "localhost", false, left(60)), []*issued{shortInter}},
		{"notyet", pki.leaf(t, "localhost", validity{days(2), days(90)}), []*issued{pki.inter}},
		{"wronghost", pki.leaf(t, "other.test", left(60)), []*issued{pki.inter}},
		{"withroot", issue(t, soonRootInter, "localhost", false, left(60)), []*issued{soonRootInter, soonRoot}},
	}
	port := map[string]string{}
	var ngx []nginxSite
	for _, s := range sites {
		crt, key := writeChain(t, dir, s.name, s.leaf, s.chain...)
		p := testenv.FreePort(t)
		port[s.name] = fmt.Sprintf("127.0.0.1:%d", p)
		ngx = append(ngx, nginxSite{port: p, crt: crt, key: key})
	}
	plain := testenv.FreePort(t)
	port["plain"] = fmt.Sprintf("127.0.0.1:%d", plain)
	ngx = append(ngx, nginxSite{port: plain})
	startNginx(t, ngx)

	cases := []struct {
		name  string
		args  []string
		code  int
		wants []string
	}{
		{"60 days left is OK", []string{"-H", port["ok60"]}, 0,
			[]string{"Certificate OK: " + port["ok60"] + ": leaf CN=localhost expires in 60 days (NotAfter ", "issuer CN=Suite Test Intermediate,O=Suite Test, serial ", "2 certs checked"}},
		{"20 days left is WARNING", []string{"-H", port["warn20"]}, 1,
			[]string{"Certificate WARNING: ", "leaf CN=localhost expires in 20 days < 30 days"}},
		{"5 days left is CRITICAL", []string{"-H", port["crit5"]}, 2,
			[]string{"Certificate CRITICAL: ", "leaf CN=localhost expires in 5 days < 14 days"}},
		{"thresholds are flags", []string{"-H", port["crit5"], "-w", "6", "-c", "4"}, 1,
			[]string{"expires in 5 days < 6 days"}},
		{"expired", []string{"-H", port["expired"]}, 2,
			[]string{"leaf CN=localhost expired 3 days ago"}},
		{"intermediate expiring before the leaf", []string{"-H", port["shortinter"]}, 2,
			[]string{"intermediate CN=Suite Test Short Intermediate expires in 10 days < 14 days", "issuer CN=Suite Test Root"}},
		{"not yet valid", []string{"-H", port["notyet"]}, 2,
			[]string{"leaf CN=localhost not valid before ", "(in 1 day)"}},
		{"verify against the CA file", []string{"-H", port["ok60"], "--sni", "localhost", "--ca-file", rootFile}, 0,
			[]string{"leaf CN=localhost expires in 60 days"}},
		{"verify an IP with no SNI", []string{"-H", port["ok60"], "--verify", "--ca-file", rootFile}, 0,
			[]string{"leaf CN=localhost expires in 60 days"}},
		{"a host name is the SNI and the name verified", []string{"-H", strings.Replace(port["ok60"], "127.0.0.1", "localhost", 1), "--ca-file", rootFile}, 0,
			[]string{"Certificate OK: localhost:", ": leaf CN=localhost expires in 60 days"}},
		{"wrong host name", []string{"-H", port["wronghost"], "--sni", "localhost", "--verify", "--ca-file", rootFile}, 2,
			[]string{"verify failed: x509: certificate is valid for other.test, not localhost"}},
		{"unknown authority", []string{"-H", port["ok60"], "--sni", "localhost", "--verify"}, 2,
			[]string{"verify failed: x509: certificate signed by unknown authority"}},
		{"root sent by the server is checked", []string{"-H", port["withroot"]}, 2,
			[]string{"root CN=Suite Test Expiring Root expires in 7 days < 14 days", "3 certs checked"}},
		{"--skip-root", []string{"-H", port["withroot"], "--skip-root"}, 0,
			[]string{"leaf CN=localhost expires in 60 days", "2 certs checked"}},
		{"check-ssl-cert's -H -p -w -c", []string{"-H", "127.0.0.1", "-p", portOf(port["warn20"]), "-w", "30", "-c", "14"}, 1,
			[]string{"Certificate WARNING: " + port["warn20"] + ": leaf CN=localhost expires in 20 days < 30 days"}},
		{"--host --port --warning --critical", []string{"--host", "localhost", "--port", portOf(port["warn20"]), "--warning", "21", "--critical", "20"}, 1,
			[]string{"Certificate WARNING: localhost:" + portOf(port["warn20"]) + ": leaf CN=localhost expires in 20 days < 21 days"}},
		{"--port for the hosts that name none", []string{"-H", port["crit5"], "-H", "127.0.0.1", "-p", portOf(port["ok60"])}, 2,
			[]string{"2 targets (1 critical, 1 ok)", "\nOK " + port["ok60"] + ": leaf CN=localhost expires in 60 days"}},
		{"plain HTTP port", []string{"-H", port["plain"]}, 2,
			[]string{port["plain"] + ": TLS handshake: the server does not speak TLS on this port"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			expect(t, runCheck(t, c.args...), c.code, c.wants...)
		})
	}

	t.Run("all at once, worst first then soonest", func(t *testing.T) {
		var args []string
		for _, s := range []string{"ok60", "warn20", "crit5", "expired", "shortinter", "notyet", "withroot", "plain"} {
			args = append(args, "--host", port[s])
		}
		r := runCheck(t, args...)
		expect(t, r, 2, "Certificate CRITICAL: 8 targets (6 critical, 1 warning, 1 ok); first: "+port["plain"])
		lines := strings.Split(strings.TrimSpace(r.out), "\n")
		order := []string{"plain", "expired", "crit5", "withroot", "shortinter", "notyet", "warn20", "ok60"}
		if len(lines) != 1+len(order) {
			t.Fatalf("want %d lines:\n%s", 1+len(order), r.out)
		}
		for i, name := range order {
			if !strings.Contains(lines[i+1], " "+port[name]+": ") {
				t.Errorf("line %d is not %s: %s", i+1, name, lines[i+1])
			}
		}
		if !strings.HasPrefix(lines[8], "OK ") || !strings.HasPrefix(lines[7], "WARNING ") || !strings.HasPrefix(lines[2], "CRITICAL ") {
			t.Errorf("statuses not in order:\n%s", r.out)
		}
		// What Mackerel keeps (1024 characters) still holds the summary and the worst lines.
		if cut := r.out[:min(1024, len(r.out))]; !strings.Contains(cut, port["crit5"]) {
			t.Errorf("the 5-day certificate is not within the first 1024 characters:\n%s", cut)
		}
	})
}

// portOf is the port of a HOST:PORT address.
func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

func TestUnreachableTargets(t *testing.T) {
	refused := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	expect(t, runCheck(t, "-H", refused), 2, "Certificate CRITICAL: "+refused+": dial tcp "+refused+": connect: connection refused")
	expect(t, runCheck(t, "-H", refused, "--error-status", "unknown"), 3, "Certificate UNKNOWN: ")

	// A port that accepts and never says anything.
	silent := serve(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	r := runCheck(t, "-H", silent, "--timeout", "2")
	expect(t, r, 2, silent+": no answer within --timeout 2s")
	if r.took > 3*time.Second {
		t.Errorf("took %v with --timeout 2", r.took)
	}

	r = runCheck(t, "-H", "nosuch.invalid", "--timeout", "3")
	expect(t, r, 2, "nosuch.invalid:443: dial tcp: lookup nosuch.invalid")
}

func TestStartTLS(t *testing.T) {
	pki := newPKI(t)
	cert := tlsCert(pki.leaf(t, "mail.test", left(20)), pki.inter)
	for _, proto := range []string{"smtp", "imap", "pop3"} {
		t.Run(proto, func(t *testing.T) {
			addr := mailServer(t, proto, cert, true)
			expect(t, runCheck(t, "-H", addr, "--starttls", proto), 1,
				"Certificate WARNING: "+addr+": leaf CN=mail.test expires in 20 days < 30 days")
			bare := mailServer(t, proto, cert, false)
			word := map[string]string{"smtp": "STARTTLS", "imap": "STARTTLS", "pop3": "STLS"}[proto]
			expect(t, runCheck(t, "-H", bare, "--starttls", proto), 2,
				bare+": "+proto+" STARTTLS: the server does not offer "+word)
		})
	}
	t.Run("TLS port is not plain SMTP", func(t *testing.T) {
		addr := serve(t, func(c net.Conn) { c.Read(make([]byte, 1)) })
		expect(t, runCheck(t, "-H", addr, "--starttls", "smtp", "--timeout", "1"), 2, "smtp STARTTLS: greeting: ")
	})
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	pki := newPKI(t)
	leaf := pki.leaf(t, "files.test", left(60))
	shortInter := issue(t, pki.root, "Short Intermediate", true, left(10))
	leafShort := issue(t, shortInter, "bundle.test", false, left(60))

	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A bundle with the key first, a parameter block, then leaf and intermediate.
	bundle := write("bundle.pem", bytes.Join([][]byte{
		pemKey(t, leafShort.key), []byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"),
		pemCert(leafShort.cert), pemCert(shortInter.cert)}, nil))
	der := write("leaf.der", pki.leaf(t, "der.test", left(20)).cert.Raw)
	notCert := write("notes.txt", []byte("this is not a certificate\n"))

	expect(t, runCheck(t, "-f", bundle), 2,
		bundle+": intermediate CN=Short Intermediate expires in 10 days < 14 days", "2 certs checked")
	expect(t, runCheck(t, "-f", der), 1, der+": leaf CN=der.test expires in 20 days < 30 days")
	expect(t, runCheck(t, "-f", notCert), 2, notCert+": no certificate found (neither a PEM CERTIFICATE block nor DER)")
	expect(t, runCheck(t, "-f", filepath.Join(dir, "missing.pem")), 2, "missing.pem: stat ")

	// A directory: the text file is skipped quietly, every certificate file is a target.
	sub := filepath.Join(dir, "certs")
	os.Mkdir(sub, 0o755)
	crt, _ := writeChain(t, sub, "site", leaf, pki.inter)
	os.WriteFile(filepath.Join(sub, "README"), []byte("certificates of the site\n"), 0o644)
	os.WriteFile(filepath.Join(sub, "root.der"), pki.root.cert.Raw, 0o644)
	expect(t, runCheck(t, "-f", sub), 0, "2 targets (2 ok)", "OK "+crt+": leaf CN=files.test expires in 60 days", "root.der: root CN=Suite Test Root")
	expect(t, runCheck(t, "-f", sub, "--skip-root"), 0, crt+": leaf CN=files.test expires in 60 days")
	// A damaged certificate is reported even when found in a directory.
	broken := filepath.Join(sub, "broken.pem")
	os.WriteFile(broken, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not DER")}), 0o644)
	expect(t, runCheck(t, "-f", sub, "--skip-root"), 2, "2 targets (1 critical, 1 ok), 1 root skipped by --skip-root; first: "+broken+": PEM block 1: x509: malformed certificate",
		"\nSKIPPED "+filepath.Join(sub, "root.der")+": skipped by --skip-root: root CN=Suite Test Root")
	os.Remove(broken)
	expect(t, runCheck(t, "-f", filepath.Join(sub, "*.crt"), "-f", der), 1,
		"2 targets (1 warning, 1 ok); first: "+der, "\nOK "+crt)
	expect(t, runCheck(t, "-f", filepath.Join(dir, "*.nothing")), 2, "*.nothing: no file matches")

	rootFile := write("root.pem", pemCert(pki.root.cert))
	expect(t, runCheck(t, "-f", crt, "--ca-file", rootFile), 0, "leaf CN=files.test")
	expect(t, runCheck(t, "-f", crt, "--ca-file", rootFile, "--sni", "other.test"), 2, "verify failed: x509: certificate is valid for files.test, not other.test")

	// A FIFO is refused at once (opening it would wait for a writer), and
	// the expired certificate beside it keeps its CRITICAL.
	fifo := filepath.Join(dir, "fifo.pem")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	expired := write("expired.pem", pemCert(pki.leaf(t, "expired.test", validity{-days(30), -days(3) - time.Hour}).cert))
	expect(t, runCheck(t, "-f", expired, "-f", fifo, "--error-status", "unknown", "--timeout", "30"), 2,
		"2 targets (1 critical, 1 unknown)", "CRITICAL "+expired+": leaf CN=expired.test expired 3 days ago",
		"UNKNOWN "+fifo+": "+fifo+" is a named pipe (FIFO), not a regular file")
	expect(t, runCheck(t, "-f", crt, "--ca-file", fifo, "--timeout", "30"), 3, "Certificate UNKNOWN: --ca-file "+fifo+": "+fifo+" is a named pipe (FIFO)")
}

func TestBadFlagsAreUnknown(t *testing.T) {
	for want, args := range map[string][]string{
		`--warning "abc": want a whole number (DAYS)`:                {"--warning", "abc", "-H", "localhost"},
		"nothing to check: give --host or --file":                    {},
		"--critical 10 is above --warning 5":                         {"-H", "x", "-w", "5", "-c", "10"},
		`--host: bad port in "x:99999": want 1 to 65535`:             {"-H", "x:99999"},
		`--starttls "ftp": want smtp, imap or pop3`:                  {"--starttls", "ftp", "-H", "x"},
		`unexpected argument "extra": this command takes flags only`: {"-H", "x", "extra"},
		"--timeout 0s: want more than 0":                             {"-H", "x", "--timeout", "0"},
		"unknown flag --days":                                        {"-H", "x", "--days", "3"},
		"--port 70000: want 1 to 65535":                              {"-H", "x", "-p", "70000"},
		`--port "https": want a whole number (PORT)`:                 {"-H", "x", "--port", "https"},
		"--port applies to --host: give a --host":                    {"-f", "x.pem", "-p", "443"},
		"--servername a.test and --sni b.test differ: give one":      {"-H", "x", "--servername", "a.test", "--sni", "b.test"},
		"--no-check-certificate contradicts --verify and --ca-file":  {"-H", "x", "--no-check-certificate", "--verify"},
	} {
		r := runCheck(t, args...)
		expect(t, r, 3, "Certificate UNKNOWN: "+want)
		if strings.Count(r.out, "\n") != 1 {
			t.Errorf("%q: not one line: %q", args, r.out)
		}
	}
	expect(t, runCheck(t, "--version"), 0, "check-crt-expiration dev")
	expect(t, runCheck(t, "--help"), 0, "--skip-root", "--starttls", "--error-status", "Statuses", "Exit codes")
}

// TestFinishedResultsSurviveATimeout: a target that ignores the deadline (a
// file on a hung mount) is reported as timed out, and the finished targets
// keep their statuses: the worst finished one wins.
func TestFinishedResultsSurviveATimeout(t *testing.T) {
	dir := t.TempDir()
	pki := newPKI(t)
	expired := filepath.Join(dir, "expired.pem")
	os.WriteFile(expired, pemCert(pki.leaf(t, "expired.test", validity{-days(30), -days(3) - time.Hour}).cert), 0o644)
	hung := filepath.Join(dir, "hung.pem")
	os.WriteFile(hung, []byte("never read"), 0o644)
	release := make(chan struct{})
	defer close(release)
	readCertFileHook = func(path string) ([]*x509.Certificate, error) {
		if path == hung {
			<-release
		}
		return readCertFile(path)
	}
	defer func() { readCertFileHook = readCertFile }()
	var o options
	if _, out := check.New("Certificate", "check-crt-expiration", "").Command(program).Parse(&o, []string{"-f", expired, "-f", hung, "--error-status", "unknown", "--timeout", "1"}); out.Done {
		t.Fatal(out)
	}
	cfg, err := newConfig(o)
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.run(time.Now)
	if r.Status != check.Critical || !strings.Contains(r.Message, "CRITICAL "+expired+": leaf CN=expired.test expired 3 days ago") ||
		!strings.Contains(r.Message, "UNKNOWN "+hung+": no result within --timeout 1s") {
		t.Errorf("%v %s", r.Status, r.Message)
	}
}

// TestJudgeCountsDaysExactly pins the day arithmetic at its edges.
func TestJudgeCountsDaysExactly(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cert := func(after time.Duration) *x509.Certificate {
		return &x509.Certificate{NotBefore: now.Add(-day), NotAfter: now.Add(after)}
	}
	cases := []struct {
		after time.Duration
		st    check.Status
		note  string
	}{
		{14 * day, check.Warning, "expires in 14 days < 30 days"},
		{14*day - time.Second, check.Critical, "expires in 13 days < 14 days"},
		{30 * day, check.OK, "expires in 30 days"},
		{30*day - time.Nanosecond, check.Warning, "expires in 29 days < 30 days"},
		{day, check.Critical, "expires in 1 day < 14 days"},
		{90 * time.Minute, check.Critical, "expires in 1h30m < 14 days"},
		{0, check.Critical, "expires in 0h00m < 14 days"}, // NotAfter itself is still valid (RFC 5280)
		{-time.Second, check.Critical, "expired 0h00m ago"},
		{-2*day - time.Hour, check.Critical, "expired 2 days ago"},
	}
	for _, c := range cases {
		st, note := judge(cert(c.after), now, 30, 14)
		if st != c.st || note != c.note {
			t.Errorf("NotAfter now%+v: %v %q, want %v %q", c.after, st, note, c.st, c.note)
		}
	}
	// NotAfter is compared in absolute time whatever zone it was written in.
	tokyo := time.FixedZone("JST", 9*3600)
	st, note := judge(&x509.Certificate{NotBefore: now.Add(-day), NotAfter: now.Add(14 * day).In(tokyo)}, now.In(tokyo), 30, 14)
	if st != check.Warning || note != "expires in 14 days < 30 days" {
		t.Errorf("time zones: %v %q", st, note)
	}
	st, note = judge(&x509.Certificate{NotBefore: now.Add(36 * time.Hour), NotAfter: now.Add(60 * day)}, now, 30, 14)
	if st != check.Critical || note != "not valid before 2026-03-03T00:00:00Z (in 1 day)" {
		t.Errorf("not yet valid: %v %q", st, note)
	}
}
