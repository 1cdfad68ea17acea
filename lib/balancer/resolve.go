package balancer

import (
	"context"
	"fmt"
	"net"
	"strings"
)

// CanonicalAddr writes an IP:port the way nginx and HAProxy print it
// (IPv6 in brackets, shortest form). ok is false when addr is not IP:port.
func CanonicalAddr(addr string) (string, bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return "", false
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return "", false
	}
	return net.JoinHostPort(ip.String(), port), true
}

// findServer returns the one server of an upstream's list that addr names:
// its IP:port, a hostname:port that resolves to it, or (HAProxy) its name.
func findServer(ctx context.Context, balancer, upstream string, servers []Server, addr string) (Server, error) {
	var wanted []string
	if c, ok := CanonicalAddr(addr); ok {
		wanted = []string{c}
	} else if host, port, err := net.SplitHostPort(addr); err == nil && host != "" && port != "" {
		ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
		if err != nil {
			return Server{}, fmt.Errorf("balancer %s upstream %s: server %s: cannot resolve %s: %v", balancer, upstream, addr, host, err)
		}
		for _, ip := range ips {
			wanted = append(wanted, net.JoinHostPort(ip.IP.String(), port))
		}
	}
	var found []Server
	for _, s := range servers {
		if s.Name != "" && s.Name == addr {
			return s, nil
		}
		for _, w := range wanted {
			if c, ok := CanonicalAddr(s.Addr); ok && c == w || s.Addr == w {
				found = append(found, s)
			}
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		var have []string
		for _, s := range servers {
			have = append(have, s.Addr)
		}
		resolved := ""
		if len(wanted) > 0 && wanted[0] != addr {
			resolved = " (resolved to " + strings.Join(wanted, ", ") + ")"
		}
		if len(wanted) == 0 {
			resolved = " (neither IP:port, hostname:port nor a server name)"
		}
		return Server{}, fmt.Errorf("balancer %s upstream %s: no server matches %s%s; servers are %s",
			balancer, upstream, addr, resolved, strings.Join(have, ", "))
	default:
		var have []string
		for _, s := range found {
			have = append(have, s.Addr)
		}
		return Server{}, fmt.Errorf("balancer %s upstream %s: %s matches several servers (%s): give one IP:port",
			balancer, upstream, addr, strings.Join(have, ", "))
	}
}
