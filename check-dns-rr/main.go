// check-dns-rr checks that a DNS round-robin record holds the members it
// should, that every name server gives the same set, and optionally that
// every member answers on a TCP port or over HTTP.
package main

import (
	"os"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/check"
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
	MinAlive         int      `long:"min-alive" value-name:"N" description:"CRITICAL when fewer than N members pass the probe, WARNING when some fail (default 0: all members must pass)"`
	check.Common
}

func main() {
	c := check.New("DNS-RR", "check-dns-rr", version)
	var o options
	rest := c.ParseFlags(&o, os.Args[1:])
	if len(rest) > 0 {
		c.Exit(check.Resultf(check.Unknown, "unexpected argument %q", rest[0]))
	}
	cfg, err := newConfig(o)
	if err != nil {
		c.Exit(check.Resultf(check.Unknown, "%v", err))
	}
	c.Exit(cfg.run())
}

// attemptTimeout is how long one query waits before it is sent again: short
// enough for several tries within --timeout, as resolv.conf's "timeout" does.
func attemptTimeout(total time.Duration) time.Duration {
	return min(2*time.Second, max(total/4, 250*time.Millisecond))
}
