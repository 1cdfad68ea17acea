package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/sre-suite/mackerel-plugins/lib/cli"
)

// maxResolvConfSize bounds what is read of --resolv-conf.
const maxResolvConfSize = 1 << 20

// maxChain bounds CNAME hops, within one answer and across follow-up queries.
const maxChain = 8

// answer is what one server said about the name.
type answer struct {
	server    string
	addrs     []netip.Addr // normalised, sorted, without duplicates
	ttl       uint32       // the lowest TTL of the records used
	chain     []string     // CNAME targets followed, in order
	transport string       // "udp", "tcp", or "udp, truncated, tcp"
	err       error        // no usable answer
	rcodeErr  bool         // err is the server's definite answer (NXDOMAIN, empty…), not a failure to ask
}

// resolver asks one server with retries within the context's deadline.
type resolver struct {
	tcp     bool
	attempt time.Duration
}

// rcodeError is a definite answer without addresses.
type rcodeError struct{ msg string }

func (e rcodeError) Error() string { return e.msg }

// exchange sends one question, retrying on timeouts and network errors until
// ctx ends, and switching to TCP when a UDP answer is truncated.
func (r resolver) exchange(ctx context.Context, server, name string, qtype uint16) (*dns.Msg, string, error) {
	proto := "udp"
	if r.tcp {
		proto = "tcp"
	}
	transport := proto
	var lastErr error
	for tries := 1; ; tries++ {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		m.RecursionDesired = true
		c := &dns.Client{Net: proto, Timeout: r.attempt}
		actx, cancel := context.WithTimeout(ctx, r.attempt)
		resp, _, err := c.ExchangeContext(actx, m, server)
		cancel()
		if err == nil && resp.Truncated && proto == "udp" {
			proto, transport = "tcp", "udp, truncated, tcp"
			continue
		}
		if err == nil {
			if err := notTheReply(resp, name, qtype); err != nil {
				return nil, transport, err
			}
			return resp, transport, nil
		}
		if ctx.Err() != nil {
			// The last attempt was cut short by the deadline: an earlier
			// error (connection refused) says more than its timeout.
			if lastErr == nil {
				lastErr = err
			}
			return nil, transport, fmt.Errorf("no answer in %s (%v)", plural(tries, "attempt"), lastErr)
		}
		lastErr = err
		if !isRetryable(err) {
			return nil, transport, err
		}
		// A refused port answers at once: pace the retries.
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// notTheReply refuses a message that is not the answer to the question
// asked: a query (QR=0) sent back, or a reply about another name or type (a
// confused or spoofing server). Its records would otherwise read as "no such
// record", a definite answer, where the truth is that the server could not
// be asked.
func notTheReply(resp *dns.Msg, name string, qtype uint16) error {
	if !resp.Response {
		return errors.New("the server sent a query back, not a reply (QR=0)")
	}
	if len(resp.Question) != 1 {
		return fmt.Errorf("the reply carries %d questions, not the one asked", len(resp.Question))
	}
	q := resp.Question[0]
	if !strings.EqualFold(q.Name, name) || q.Qtype != qtype || q.Qclass != dns.ClassINET {
		return fmt.Errorf("the reply is about %s %s, not the question asked", q.Name, dns.TypeToString[q.Qtype])
	}
	return nil
}

func isRetryable(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		strings.Contains(err.Error(), "connection refused") || errors.Is(err, dns.ErrId)
}

// lookup resolves name for one record type, following CNAMEs: those inside
// the answer, and, when a server stops at a CNAME, by asking for its target.
func (r resolver) lookup(ctx context.Context, server, name string, qtype uint16) answer {
	a := answer{server: server}
	owner := dns.Fqdn(name)
	haveTTL := false
	visited := map[string]bool{}
	for hop := 0; hop <= maxChain; hop++ {
		resp, transport, err := r.exchange(ctx, server, owner, qtype)
		a.transport = transport
		if err != nil {
			a.err = err
			return a
		}
		if resp.Rcode != dns.RcodeSuccess {
			a.err, a.rcodeErr = rcodeError{rcodeName(resp.Rcode) + forName(owner, name)}, true
			return a
		}
		addrs, ttl, chain, end := extract(resp, owner, qtype)
		a.chain = append(a.chain, chain...)
		if len(chain) > 0 || len(addrs) > 0 {
			a.ttl = minTTL(a.ttl, ttl, !haveTTL)
			haveTTL = true
		}
		if len(addrs) > 0 {
			a.addrs = addrs
			return a
		}
		visited[strings.ToLower(owner)] = true
		if end != owner && visited[end] {
			a.err, a.rcodeErr = rcodeError{"CNAME loop: " + strings.Join(append([]string{dns.Fqdn(name)}, a.chain...), " → ")}, true
			return a
		}
		if end == strings.ToLower(owner) || len(a.chain) > maxChain {
			a.err, a.rcodeErr = rcodeError{fmt.Sprintf("NOERROR but no %s record%s (empty answer)", dns.TypeToString[qtype], forName(end, name))}, true
			return a
		}
		owner = end
	}
	a.err, a.rcodeErr = rcodeError{"CNAME chain longer than " + strconv.Itoa(maxChain)}, true
	return a
}

func minTTL(cur, ttl uint32, first bool) uint32 {
	if first || ttl < cur {
		return ttl
	}
	return cur
}

func forName(owner, asked string) string {
	if strings.EqualFold(owner, dns.Fqdn(asked)) {
		return ""
	}
	return " for " + owner
}

func rcodeName(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return "rcode " + strconv.Itoa(rc)
}

// extract follows the CNAME chain from owner inside one response and returns
// the addresses of its end (normalised and de-duplicated), the lowest TTL of
// the records used, the CNAME targets and the name the chain ends at.
func extract(resp *dns.Msg, owner string, qtype uint16) (addrs []netip.Addr, ttl uint32, chain []string, end string) {
	end = strings.ToLower(dns.Fqdn(owner))
	first := true
	use := func(h *dns.RR_Header) {
		if first || h.Ttl < ttl {
			ttl = h.Ttl
		}
		first = false
	}
	seen := map[string]bool{end: true}
	for hops := 0; hops < maxChain; hops++ {
		next := ""
		for _, rr := range resp.Answer {
			if c, ok := rr.(*dns.CNAME); ok && strings.EqualFold(c.Hdr.Name, end) {
				next = strings.ToLower(dns.Fqdn(c.Target))
				use(&c.Hdr)
				break
			}
		}
		if next == "" || seen[next] {
			break
		}
		seen[next] = true
		chain = append(chain, next)
		end = next
	}
	set := map[netip.Addr]bool{}
	for _, rr := range resp.Answer {
		if !strings.EqualFold(rr.Header().Name, end) || rr.Header().Rrtype != qtype {
			continue
		}
		var ip net.IP
		switch v := rr.(type) {
		case *dns.A:
			ip = v.A
		case *dns.AAAA:
			ip = v.AAAA
		}
		if a, ok := netip.AddrFromSlice(ip); ok {
			set[a.Unmap()] = true
			use(rr.Header())
		}
	}
	return sortedAddrs(set), ttl, chain, end
}

func sortedAddrs(set map[netip.Addr]bool) []netip.Addr {
	out := make([]netip.Addr, 0, len(set))
	for a := range set {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out
}

// lookupTypes asks for each type and merges the answers (ANY-IP is A and AAAA).
func (r resolver) lookupTypes(ctx context.Context, server, name string, qtypes []uint16) answer {
	if len(qtypes) == 1 {
		return r.lookup(ctx, server, name, qtypes[0])
	}
	merged := answer{server: server}
	set := map[netip.Addr]bool{}
	first := true
	for _, qt := range qtypes {
		a := r.lookup(ctx, server, name, qt)
		merged.transport = a.transport
		if a.err != nil && (!a.rcodeErr || !strings.HasPrefix(a.err.Error(), "NOERROR")) {
			a.server = server
			return a
		}
		if a.err != nil {
			continue // no records of this type: the other type may have some
		}
		for _, x := range a.addrs {
			set[x] = true
		}
		merged.ttl = minTTL(merged.ttl, a.ttl, first)
		first = false
		if len(merged.chain) == 0 {
			merged.chain = a.chain
		}
	}
	merged.addrs = sortedAddrs(set)
	if len(merged.addrs) == 0 {
		merged.err, merged.rcodeErr = rcodeError{"NOERROR but no A or AAAA record (empty answer)"}, true
	}
	return merged
}

// parseServer turns IP, IP:PORT, [IPv6]:PORT or HOST[:PORT] into an address
// to dial, port 53 by default.
func parseServer(s string) (string, error) {
	s = strings.TrimSpace(s)
	if ap, err := netip.ParseAddrPort(s); err == nil {
		if ap.Port() == 0 {
			return "", fmt.Errorf("bad port in %q", s)
		}
		return ap.String(), nil
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil {
		return netip.AddrPortFrom(a, 53).String(), nil
	}
	host, port := s, "53"
	if strings.Contains(s, ":") {
		var err error
		if host, port, err = net.SplitHostPort(s); err != nil {
			return "", err
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("bad port in %q", s)
	}
	if host == "" || strings.ContainsAny(host, "[]/ @") {
		return "", fmt.Errorf("bad server %q", s)
	}
	return net.JoinHostPort(host, port), nil
}

// resolvConfServers reads the nameservers of a resolv.conf.
// A FIFO or device is refused rather than read (it could block).
func resolvConfServers(path string) ([]string, error) {
	data, err := cli.ReadRegular(path, maxResolvConfSize)
	if err != nil {
		return nil, err
	}
	cc, err := dns.ClientConfigFromReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if len(cc.Servers) == 0 {
		return nil, fmt.Errorf("%s: no nameserver line", path)
	}
	var out []string
	for _, s := range cc.Servers {
		out = append(out, net.JoinHostPort(s, cc.Port))
	}
	return out, nil
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
