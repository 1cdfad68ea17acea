package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/sre-suite/mackerel-plugins/lib/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type result struct {
	code int
	out  string
	took time.Duration
}

// runCheck runs the real binary, as mackerel-agent would (with a proxy
// that does not exist, to prove probes never use one).
func runCheck(t *testing.T, args ...string) result {
	t.Helper()
	r := testenv.Run(t, testenv.BuildBinary(t, "check-dns-rr"), []string{"HTTP_PROXY=http://127.0.0.1:9", "http_proxy=http://127.0.0.1:9"}, args...)
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

// zone is the local data served by the test's unbound: www is the
// round-robin set of three, reached directly or through CNAMEs.
func zone(www ...string) []string {
	z := []string{
		`local-zone: "rr.test." static`,
		`local-data: "alias.rr.test. 120 IN CNAME www.rr.test."`,
		`local-data: "alias2.rr.test. 60 IN CNAME alias.rr.test."`,
		`local-data: "empty.rr.test. 300 IN TXT \"no address here\""`,
		`local-data: "dual.rr.test. 300 IN A 127.0.0.11"`,
		`local-data: "dual.rr.test. 200 IN AAAA ::1"`,
		`local-data: "lb.rr.test. 30 IN A 127.0.0.11"`,
		`local-data: "lb.rr.test. 30 IN A 127.0.0.12"`,
		`local-data: "lb.rr.test. 30 IN A 127.0.0.13"`,
		`local-zone: "refused.test." refuse`,
	}
	for _, ip := range www {
		z = append(z, fmt.Sprintf(`local-data: "www.rr.test. 300 IN A %s"`, ip))
	}
	// More than fits in 512 bytes of UDP without EDNS: unbound truncates.
	for i := 1; i <= 40; i++ {
		z = append(z, fmt.Sprintf(`local-data: "big.rr.test. 60 IN A 10.0.0.%d"`, i))
	}
	return z
}

var three = []string{"-e", "127.0.0.11", "-e", "127.0.0.12", "-e", "127.0.0.13"}

func args(a ...any) []string {
	var out []string
	for _, x := range a {
		switch v := x.(type) {
		case string:
			out = append(out, v)
		case []string:
			out = append(out, v...)
		}
	}
	return out
}

func TestUnbound(t *testing.T) {
	ns1 := startUnbound(t, zone("127.0.0.11", "127.0.0.12", "127.0.0.13"))
	s1 := ns1.addr
	cases := []struct {
		name  string
		args  []string
		code  int
		wants []string
	}{
		{"the expected set", args("-n", "www.rr.test", "-s", s1, three), 0,
			[]string{"DNS-RR OK: www.rr.test. A: 3 members 127.0.0.11 127.0.0.12 127.0.0.13, TTL 300s\n" + s1 + " (udp): 127.0.0.11 127.0.0.12 127.0.0.13, TTL 300s"}},
		{"--expect is compared as a set of normalised IPs", args("-n", "www.rr.test.", "-s", s1, "-e", "127.0.0.13", "-e", "::ffff:127.0.0.11", "-e", "127.0.0.12", "-e", "127.0.0.11"), 0,
			[]string{"DNS-RR OK: "}},
		{"a CNAME chain to the set", args("-n", "alias2.rr.test", "-s", s1, three), 0,
			[]string{"3 members 127.0.0.11 127.0.0.12 127.0.0.13, TTL 60s", "via CNAME alias.rr.test. → www.rr.test."}},
		{"a missing member is CRITICAL", args("-n", "www.rr.test", "-s", s1, three, "-e", "127.0.0.14"), 2,
			[]string{"DNS-RR CRITICAL: www.rr.test. A: missing 127.0.0.14 (expected 4)"}},
		{"an unexpected member is WARNING", args("-n", "www.rr.test", "-s", s1, "-e", "127.0.0.11", "-e", "127.0.0.12"), 1,
			[]string{"DNS-RR WARNING: www.rr.test. A: unexpected 127.0.0.13"}},
		{"--unexpected-status critical", args("-n", "www.rr.test", "-s", s1, "-e", "127.0.0.11", "-e", "127.0.0.12", "--unexpected-status", "critical"), 2,
			[]string{"DNS-RR CRITICAL: www.rr.test. A: unexpected 127.0.0.13"}},
		{"--unexpected-status ok", args("-n", "www.rr.test", "-s", s1, "-e", "127.0.0.11", "-e", "127.0.0.12", "--unexpected-status", "ok"), 0,
			[]string{"DNS-RR OK: "}},
		{"--min", args("-n", "www.rr.test", "-s", s1, "--min", "4"), 2,
			[]string{"DNS-RR CRITICAL: www.rr.test. A: 3 members < --min 4"}},
		{"NXDOMAIN", args("-n", "nosuch.rr.test", "-s", s1), 2,
			[]string{"DNS-RR CRITICAL: nosuch.rr.test. A: NXDOMAIN\n" + s1 + " (udp): NXDOMAIN"}},
		{"a name with no address", args("-n", "empty.rr.test", "-s", s1), 2,
			[]string{"DNS-RR CRITICAL: empty.rr.test. A: NOERROR but no A record (empty answer)"}},
		{"REFUSED", args("-n", "www.refused.test", "-s", s1), 2,
			[]string{"DNS-RR CRITICAL: www.refused.test. A: REFUSED"}},
		{"AAAA", args("-n", "dual.rr.test", "-s", s1, "-t", "AAAA"), 0,
			[]string{"dual.rr.test. AAAA: 1 member ::1, TTL 200s"}},
		{"ANY-IP is the union of A and AAAA", args("-n", "dual.rr.test", "-s", s1, "-t", "ANY-IP", "-e", "127.0.0.11", "-e", "::1"), 0,
			[]string{"dual.rr.test. ANY-IP: 2 members 127.0.0.11 ::1, TTL 200s"}},
		{"ANY-IP with A records only", args("-n", "www.rr.test", "-s", s1, "-t", "any-ip", three), 0,
			[]string{"www.rr.test. ANY-IP: 3 members"}},
		{"--tcp", args("-n", "www.rr.test", "-s", s1, "--tcp", three), 0,
			[]string{s1 + " (tcp): 127.0.0.11 127.0.0.12 127.0.0.13"}},
		{"a truncated UDP answer is asked again over TCP", args("-n", "big.rr.test", "-s", s1, "--min", "40"), 0,
			[]string{"big.rr.test. A: 40 members 10.0.0.1 10.0.0.2 ", s1 + " (udp, truncated, tcp): "}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { expect(t, runCheck(t, c.args...), c.code, c.wants...) })
	}

	t.Run("servers that disagree", func(t *testing.T) {
		ns2 := startUnbound(t, zone("127.0.0.11", "127.0.0.12", "127.0.0.14"))
		expect(t, runCheck(t, "-n", "www.rr.test", "-s", s1, "-s", ns2.addr), 1,
			"DNS-RR WARNING: www.rr.test. A: servers disagree: "+s1+" lacks 127.0.0.14, "+ns2.addr+" lacks 127.0.0.13\n",
			s1+" (udp): 127.0.0.11 127.0.0.12 127.0.0.13, TTL 300s\n"+ns2.addr+" (udp): 127.0.0.11 127.0.0.12 127.0.0.14, TTL 300s")
		expect(t, runCheck(t, append([]string{"-n", "www.rr.test", "-s", s1, "-s", ns2.addr}, three...)...), 2,
			"DNS-RR CRITICAL: www.rr.test. A: missing 127.0.0.13 (expected 3) at "+ns2.addr+"; servers disagree: ",
			"; unexpected 127.0.0.14")
		expect(t, runCheck(t, "-n", "nosuch.rr.test", "-s", s1, "-s", ns2.addr), 2,
			"NXDOMAIN at "+s1+"; NXDOMAIN at "+ns2.addr)
	})

	t.Run("one server does not answer", func(t *testing.T) {
		silent := silentUDP(t)
		r := runCheck(t, append([]string{"-n", "www.rr.test", "-s", s1, "-s", silent, "--timeout", "2"}, three...)...)
		expect(t, r, 2, "DNS-RR CRITICAL: www.rr.test. A: "+silent+": no answer in ", " attempts (", "i/o timeout")
		if r.took > 3*time.Second {
			t.Errorf("took %v with --timeout 2", r.took)
		}
		expect(t, runCheck(t, "-n", "www.rr.test", "-s", silent, "--timeout", "1", "--error-status", "unknown"), 3, "DNS-RR UNKNOWN: ")
		refused := fmt.Sprintf("127.0.0.1:%d", freeUDPAndTCPPort(t))
		expect(t, runCheck(t, "-n", "www.rr.test", "-s", refused, "--tcp", "--timeout", "1"), 2, refused+": no answer in ", "connection refused")
	})
}

// TestDrift proves that a changed set is seen: the same unbound, reloaded
// with SIGHUP after its config changed.
func TestDrift(t *testing.T) {
	ns := startUnbound(t, zone("127.0.0.11", "127.0.0.12", "127.0.0.13"))
	base := append([]string{"-n", "www.rr.test", "-s", ns.addr}, three...)
	expect(t, runCheck(t, base...), 0, "DNS-RR OK: www.rr.test. A: 3 members 127.0.0.11 127.0.0.12 127.0.0.13")
	ns.reload(t, zone("127.0.0.11", "127.0.0.12", "127.0.0.15"), "www.rr.test.", "127.0.0.15")
	expect(t, runCheck(t, base...), 2, "DNS-RR CRITICAL: www.rr.test. A: missing 127.0.0.13 (expected 3); unexpected 127.0.0.15")
	ns.reload(t, zone("127.0.0.11", "127.0.0.12"), "www.rr.test.", "127.0.0.12")
	expect(t, runCheck(t, append(base, "--min", "3")...), 2, "missing 127.0.0.13 (expected 3); 2 members < --min 3")
}

// TestProbes resolves lb.rr.test to 127.0.0.11-13: .11 and .12 listen
// (.12 answers HTTP 503), nothing listens on .13.
func TestProbes(t *testing.T) {
	ns := startUnbound(t, zone("127.0.0.11"))
	port := testenv.FreePort(t)
	member(t, "127.0.0.11", port, 200)
	member(t, "127.0.0.12", port, 503)
	p := fmt.Sprint(port)
	base := []string{"-n", "lb.rr.test", "-s", ns.addr, "--probe-port", p}
	expect(t, runCheck(t, base...), 2,
		"DNS-RR CRITICAL: lb.rr.test. A: 2 of 3 alive < 3 on TCP :"+p+", dead: 127.0.0.13 (connection refused)",
		"\nprobe TCP :"+p+": 2 of 3 alive; dead: 127.0.0.13 (connection refused)")
	expect(t, runCheck(t, append(base, "--min-alive", "2")...), 1,
		"DNS-RR WARNING: lb.rr.test. A: 2 of 3 alive (>= 2) on TCP :"+p+", dead: 127.0.0.13 (connection refused)")
	expect(t, runCheck(t, append(base, "--probe-http", "/health")...), 2,
		"DNS-RR CRITICAL: lb.rr.test. A: 1 of 3 alive < 3 on HTTP GET :"+p+"/health, dead: 127.0.0.12 (HTTP 503), 127.0.0.13 (connection refused)")
	expect(t, runCheck(t, append(base, "--probe-http", "/health", "--min-alive", "1")...), 1, "DNS-RR WARNING: ")

	ok := []string{"-n", "www.rr.test", "-s", ns.addr, "--probe-port", p, "--probe-http", "/"}
	expect(t, runCheck(t, ok...), 0, "DNS-RR OK: www.rr.test. A: 1 member 127.0.0.11, TTL 300s, all alive on HTTP GET :"+p+"/")
}

// TestGoServer covers answers unbound does not give on its own: SERVFAIL
// (unbound sends it only after failing to reach upstream servers), a server
// that stops at a CNAME (the check asks again for the target), and a loop.
func TestGoServer(t *testing.T) {
	rr := func(s string) dns.RR {
		r, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	var flakyAsked atomic.Int32
	addr := goDNS(t, func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		switch q := r.Question[0]; q.Name {
		case "flaky.go.test.":
			if flakyAsked.Add(1) == 1 {
				return // the first query is lost, as a UDP packet may be
			}
			m.Answer = []dns.RR{rr("flaky.go.test. 30 IN A 192.0.2.7")}
		case "fail.go.test.":
			m.SetRcode(r, dns.RcodeServerFailure)
		case "alias.go.test.":
			m.Answer = []dns.RR{rr("alias.go.test. 600 IN CNAME pool.go.test.")}
		case "pool.go.test.":
			m.Answer = []dns.RR{rr("pool.go.test. 45 IN A 192.0.2.2"), rr("pool.go.test. 45 IN A 192.0.2.1"), rr("pool.go.test. 45 IN A 192.0.2.2")}
		case "loop.go.test.":
			m.Answer = []dns.RR{rr("loop.go.test. 60 IN CNAME loop2.go.test."), rr("loop2.go.test. 60 IN CNAME loop.go.test.")}
		case "loop2.go.test.":
			m.Answer = []dns.RR{rr("loop2.go.test. 60 IN CNAME loop.go.test."), rr("loop.go.test. 60 IN CNAME loop2.go.test.")}
		default:
			m.SetRcode(r, dns.RcodeNameError)
		}
		w.WriteMsg(m)
	})
	expect(t, runCheck(t, "-n", "fail.go.test", "-s", addr), 2, "DNS-RR CRITICAL: fail.go.test. A: SERVFAIL")
	expect(t, runCheck(t, "-n", "alias.go.test", "-s", addr, "-e", "192.0.2.1", "-e", "192.0.2.2"), 0,
		"DNS-RR OK: alias.go.test. A: 2 members 192.0.2.1 192.0.2.2, TTL 45s", "via CNAME pool.go.test.")
	// Attempts of 1 s within --timeout 4: the second one is answered.
	r := runCheck(t, "-n", "flaky.go.test", "-s", addr, "--timeout", "4")
	expect(t, r, 0, "DNS-RR OK: flaky.go.test. A: 1 member 192.0.2.7, TTL 30s")
	if n := flakyAsked.Load(); n != 2 || r.took < time.Second {
		t.Errorf("asked %d times in %v, want 2 queries, the first waited out", n, r.took)
	}
	// The loop is found in the answer, not by waiting out the timeout.
	expect(t, runCheck(t, "-n", "loop.go.test", "-s", addr, "--timeout", "20"), 2,
		"DNS-RR CRITICAL: loop.go.test. A: CNAME loop: loop.go.test. → loop2.go.test. → loop.go.test.\n")
}

func TestBadFlagsAreUnknown(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "resolv.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for want, args := range map[string][]string{
		"--name is required":                         {"-s", "127.0.0.1"},
		`--type "MX": want A, AAAA or ANY-IP`:        {"-n", "x.test", "-s", "127.0.0.1", "-t", "MX"},
		`--expect "10.0.0.300" is not an IP address`: {"-n", "x.test", "-s", "127.0.0.1", "-e", "10.0.0.300"},
		`--server: bad port in "127.0.0.1:0"`:        {"-n", "x.test", "-s", "127.0.0.1:0"},
		"--probe-http needs --probe-port":            {"-n", "x.test", "-s", "127.0.0.1", "--probe-http", "/"},
		"--min-alive needs --probe-port":             {"-n", "x.test", "-s", "127.0.0.1", "--min-alive", "2"},
		`--min "abc": want a whole number (N)`:       {"-n", "x.test", "--min", "abc"},
		"--timeout 0s: want more than 0":             {"-n", "x.test", "-s", "127.0.0.1", "--timeout", "0"},
		`unexpected argument "x.test"`:               {"-s", "127.0.0.1", "x.test"},
		"no --server given and open ":                {"-n", "x.test", "--resolv-conf", filepath.Join(t.TempDir(), "none")},
		"is a named pipe (FIFO), not a regular file": {"-n", "x.test", "--resolv-conf", fifo, "--timeout", "30"},
	} {
		r := runCheck(t, args...)
		expect(t, r, 3, "DNS-RR UNKNOWN: ", want)
		if strings.Count(r.out, "\n") != 1 {
			t.Errorf("%q: not one line: %q", args, r.out)
		}
	}
	expect(t, runCheck(t, "--version"), 0, "check-dns-rr dev")
	expect(t, runCheck(t, "--help"), 0, "--probe-port", "--min-alive", "--unexpected-status", "Statuses", "Exit codes")
}

// TestHostileReplies: a reply that is not the answer to the question asked
// (QR=0, another name) is a server that could not be asked, subject to
// --error-status, never "NOERROR but no A record"; a member 0.0.0.0 is never
// alive (a connection to it reaches this host); --min-alive above the size
// of the set says so.
func TestHostileReplies(t *testing.T) {
	port := testenv.FreePort(t)
	member(t, "127.0.0.1", port, 200)
	p := fmt.Sprint(port)
	addr := goDNS(t, func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		switch r.Question[0].Name {
		case "qr0.go.test.":
			m = r.Copy() // the query sent back: QR=0
			a, _ := dns.NewRR("qr0.go.test. 30 IN A 192.0.2.9")
			m.Answer = []dns.RR{a}
		case "other.go.test.":
			m.Question[0].Name = "elsewhere.go.test."
			a, _ := dns.NewRR("elsewhere.go.test. 30 IN A 192.0.2.8")
			m.Answer = []dns.RR{a}
		case "zero.go.test.":
			a, _ := dns.NewRR("zero.go.test. 30 IN A 0.0.0.0")
			b, _ := dns.NewRR("zero.go.test. 30 IN A 127.0.0.1")
			m.Answer = []dns.RR{a, b}
		case "one.go.test.":
			a, _ := dns.NewRR("one.go.test. 30 IN A 127.0.0.1")
			m.Answer = []dns.RR{a}
		}
		w.WriteMsg(m)
	})
	expect(t, runCheck(t, "-n", "qr0.go.test", "-s", addr), 2, "DNS-RR CRITICAL: qr0.go.test. A: "+addr+": the server sent a query back, not a reply (QR=0)")
	expect(t, runCheck(t, "-n", "qr0.go.test", "-s", addr, "--error-status", "unknown"), 3, "DNS-RR UNKNOWN: qr0.go.test. A: "+addr+": the server sent a query back")
	expect(t, runCheck(t, "-n", "other.go.test", "-s", addr, "--error-status", "warning"), 1,
		"DNS-RR WARNING: other.go.test. A: "+addr+": the reply is about elsewhere.go.test. A, not the question asked")
	expect(t, runCheck(t, "-n", "zero.go.test", "-s", addr, "--probe-port", p, "--min-alive", "1"), 1,
		"DNS-RR WARNING: zero.go.test. A: 1 of 2 alive (>= 1) on TCP :"+p+", dead: 0.0.0.0 (not a member's address: a connection to it reaches this host)")
	expect(t, runCheck(t, "-n", "one.go.test", "-s", addr, "--probe-port", p, "--min-alive", "3"), 2,
		"DNS-RR CRITICAL: one.go.test. A: 1 of 1 alive < --min-alive 3 on TCP :"+p+": the set has only 1 member")
}

func TestResolvConfServers(t *testing.T) {
	p := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(p, []byte("# generated\nsearch example.com\nnameserver 127.0.0.53\nnameserver ::1\noptions edns0 trust-ad\n"), 0o644)
	got, err := resolvConfServers(p)
	if err != nil || strings.Join(got, ",") != "127.0.0.53:53,[::1]:53" {
		t.Fatalf("%v %v", got, err)
	}
	os.WriteFile(p, []byte("search example.com\n"), 0o644)
	if _, err := resolvConfServers(p); err == nil {
		t.Fatal("a resolv.conf without nameserver accepted")
	}
}

func TestParseServer(t *testing.T) {
	cases := map[string]string{
		"127.0.0.1": "127.0.0.1:53", "127.0.0.1:5353": "127.0.0.1:5353", "::1": "[::1]:53",
		"[::1]": "[::1]:53", "[::1]:5353": "[::1]:5353", "ns1.example.com": "ns1.example.com:53",
		"ns1.example.com:5353": "ns1.example.com:5353",
	}
	for in, want := range cases {
		if got, err := parseServer(in); err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "127.0.0.1:0", "host:99999", ":53", "a b", "[::1]:x"} {
		if got, err := parseServer(in); err == nil {
			t.Errorf("%q accepted as %q", in, got)
		}
	}
}
