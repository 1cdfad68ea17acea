// check-dns-rr checks that a DNS round-robin record holds the members it
// should, that every name server gives the same set, and optionally that
// every member answers on a TCP port or over HTTP.
package main

import (
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/check"
	"github.com/sre-suite/mackerel-plugins/lib/cli"
)

var version = "dev"

type options struct {
	Name             string   `long:"name" short:"n" value-name:"NAME" description:"the name to resolve (required)"`
	Type             string   `long:"type" short:"t" default:"A" value-name:"A|AAAA|ANY-IP" description:"record type; ANY-IP asks for A and AAAA and checks their union"`
	Servers          []string `long:"server" short:"s" value-name:"IP[:PORT]" description:"name server to ask (repeatable; port 53 by default); default: the nameservers of --resolv-conf"`
	ResolvConf       string   `long:"resolv-conf" default:"/etc/resolv.conf" value-name:"PATH" description:"where the default name servers are read from"`
	TCP              bool     `long:"tcp" description:"ask over TCP only (by default UDP, falling back to TCP when the answer is truncated)"`
	Expect           []string `long:"expect" short:"e" value-name:"IP" description:"an address that must be in the set (repeatable); a missing one is CRITICAL"`
	UnexpectedStatus string   `long:"unexpected-status" default:"warning" value-name:"ok|warning|critical" description:"status for an address in the answer that --expect does not list"`
	Min              int      `long:"min" value-name:"N" description:"CRITICAL when a server answers fewer than N addresses"`
	ProbePort        int      `long:"probe-port" value-name:"PORT" description:"connect to every member on this TCP port, concurrently"`
	ProbeHTTP        string   `long:"probe-http" value-name:"PATH" description:"with --probe-port: GET this path (Host: the --name) and expect 2xx or 3xx"`
	MinAlive         int      `long:"min-alive" value-name:"N" description:"with --probe-port: CRITICAL when fewer than N members pass the probe (or the set holds fewer), WARNING when some fail (default 0: all members must pass)"`
	check.Common
}

var program = cli.Program{
	Summary: "Checks that a DNS round-robin record holds the members it should, that every name server gives the same set, and optionally that every member answers on a TCP port or over HTTP.",
	Descriptions: map[string]string{
		"error-status": "status when a name server cannot be asked: no answer within --timeout, a refused port, a reply that is not the answer to the question (a definite answer such as NXDOMAIN is always CRITICAL)",
	},
	Manual: `Statuses (the worst finding wins; every finding is named):
  OK        every server answered the same set, holding every --expect'ed
            address and at least --min members; every probed member is alive
  WARNING   servers disagree; an address that --expect does not list (the
            default --unexpected-status); some members fail the probe but at
            least --min-alive pass
  CRITICAL  an --expect'ed address is missing; fewer than --min members or
            --min-alive alive; NXDOMAIN, SERVFAIL, REFUSED or an empty answer;
            a CNAME loop; a server could not be asked (with the default
            --error-status)
  UNKNOWN   a bad flag or value; no server given and none in --resolv-conf
  A probe never counts 0.0.0.0, ::, multicast or broadcast members as alive.

Example:
  check-dns-rr --name www.example.com --server 192.0.2.53 -e 192.0.2.11 -e 192.0.2.12 --probe-port 443
  DNS-RR OK: www.example.com. A: 2 members 192.0.2.11 192.0.2.12, TTL 60s, all alive on TCP :443`,
}

func main() {
	var o options
	check.New("DNS-RR", "check-dns-rr", version).Main(program, &o, func() check.Result {
		cfg, err := newConfig(o)
		if err != nil {
			return check.Resultf(check.Unknown, "%v", err)
		}
		return cfg.run()
	})
}

// attemptTimeout is how long one query waits before it is sent again: short
// enough for several tries within --timeout, as resolv.conf's "timeout" does.
func attemptTimeout(total time.Duration) time.Duration {
	return min(2*time.Second, max(total/4, 250*time.Millisecond))
}
