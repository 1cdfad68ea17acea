package balancer

import (
	"context"
	"net"
	"strings"
	"sync"
	"time"
)

// This file is the balancers' shared view of a server, used by every
// binary that reads balancers (deploy-tool, the upstream plugin), so that
// they agree on which entry is which server and on what serving means.

// SameAddr reports whether an address as a balancer prints it and an
// address as a config gives it name the same server: the same IP:port in any
// textual form (an IPv6 address written long or short, in brackets), or a
// host name:port that resolves to that IP. Names are resolved once per
// process, each lookup bounded by a 3 s deadline.
func SameAddr(balAddr, cfgAddr string) bool {
	if balAddr == cfgAddr {
		return true
	}
	b, ok := CanonicalAddr(balAddr)
	if !ok {
		return false
	}
	if c, ok := CanonicalAddr(cfgAddr); ok {
		return b == c
	}
	host, port, err := net.SplitHostPort(cfgAddr)
	if err != nil || host == "" {
		return false
	}
	for _, ip := range lookup(host) {
		if net.JoinHostPort(ip, port) == b {
			return true
		}
	}
	return false
}

var (
	lookupMu    sync.Mutex
	lookedUp    = map[string][]string{}
	lookupLimit = 3 * time.Second
)

// lookup resolves a host name to canonical IP strings, once per process.
func lookup(host string) []string {
	lookupMu.Lock()
	defer lookupMu.Unlock()
	if ips, ok := lookedUp[host]; ok {
		return ips
	}
	ctx, cancel := context.WithTimeout(context.Background(), lookupLimit)
	defer cancel()
	addrs, _ := net.DefaultResolver.LookupIPAddr(ctx, host)
	var ips []string
	for _, a := range addrs {
		ips = append(ips, a.IP.String())
	}
	lookedUp[host] = ips
	return ips
}

// Serving reports whether an entry takes traffic: in rotation and, where
// the balancer health-checks its servers (HAProxy), passing those checks.
func Serving(s Server) bool {
	if s.State != Up {
		return false
	}
	h := strings.ToUpper(s.Health)
	return h == "" || strings.HasPrefix(h, "UP") || h == "NO CHECK" || h == "OPEN"
}
