package main

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// FuzzExtract unpacks arbitrary wire data as a response and follows its
// CNAME chain: no panic, no loop, and only addresses of the asked type.
func FuzzExtract(f *testing.F) {
	m := new(dns.Msg)
	m.SetQuestion("alias.rr.test.", dns.TypeA)
	for _, s := range []string{
		"alias.rr.test. 60 IN CNAME www.rr.test.",
		"www.rr.test. 300 IN A 127.0.0.11",
		"www.rr.test. 300 IN A 127.0.0.11",
		"www.rr.test. 300 IN AAAA ::ffff:127.0.0.12",
		"loop.rr.test. 60 IN CNAME alias.rr.test.",
	} {
		rr, err := dns.NewRR(s)
		if err != nil {
			f.Fatal(err)
		}
		m.Answer = append(m.Answer, rr)
	}
	wire, err := m.Pack()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(wire, "alias.rr.test.", true)
	f.Add(wire, "loop.rr.test.", false)
	f.Add([]byte{0, 1, 0x81, 0x80, 0, 0, 0, 0, 0, 0, 0, 0}, "x.", true)
	f.Fuzz(func(t *testing.T, data []byte, owner string, v4 bool) {
		resp := new(dns.Msg)
		if resp.Unpack(data) != nil {
			return
		}
		qtype := dns.TypeAAAA
		if v4 {
			qtype = dns.TypeA
		}
		addrs, _, chain, end := extract(resp, owner, qtype)
		if len(chain) > maxChain {
			t.Fatalf("chain of %d", len(chain))
		}
		if end != strings.ToLower(end) {
			t.Fatalf("end %q not lower case", end)
		}
		for i, a := range addrs {
			if !a.IsValid() || a != a.Unmap() || (i > 0 && !addrs[i-1].Less(a)) {
				t.Fatalf("addresses not normalised and sorted: %v", addrs)
			}
		}
	})
}

// FuzzParseServer: an accepted --server always has a port in range.
func FuzzParseServer(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "127.0.0.1:5353", "::1", "[::1]:53", "ns.example:53", "[fe80::1%eth0]:53", ":53"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		addr, err := parseServer(s)
		if err != nil {
			return
		}
		if ap, err := netip.ParseAddrPort(addr); err == nil && ap.Port() == 0 {
			t.Fatalf("%q → %q: port 0", s, addr)
		}
		if !strings.Contains(addr, ":") {
			t.Fatalf("%q → %q: no port", s, addr)
		}
	})
}
