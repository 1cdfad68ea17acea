package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/sre-suite/mackerel-plugins/lib/check"
)

// config is the validated form of the options.
type config struct {
	name       string
	typeName   string
	qtypes     []uint16
	servers    []string
	expect     []netip.Addr
	unexpected check.Status
	min        int
	probe      *prober
	minAlive   int
	timeout    time.Duration
	tcp        bool
	common     check.Common
	resolvConf string // read for servers when no --server is given
}

// Validate checks the flags at parse time.
func (o *options) Validate() error {
	_, err := newConfig(*o)
	return err
}

// newConfig builds the config from the options; it reads no file (the
// resolv.conf is read under the deadline, in run).
func newConfig(o options) (*config, error) {
	if strings.TrimSpace(o.Name) == "" {
		return nil, errors.New("--name is required")
	}
	if _, ok := dns.IsDomainName(o.Name); !ok {
		return nil, fmt.Errorf("--name %q is not a domain name", o.Name)
	}
	cfg := &config{name: dns.Fqdn(o.Name), min: o.Min, minAlive: o.MinAlive, timeout: o.Timeout.D(), tcp: o.TCP, common: o.Common}
	switch strings.ToUpper(o.Type) {
	case "A":
		cfg.typeName, cfg.qtypes = "A", []uint16{dns.TypeA}
	case "AAAA":
		cfg.typeName, cfg.qtypes = "AAAA", []uint16{dns.TypeAAAA}
	case "ANY-IP":
		cfg.typeName, cfg.qtypes = "ANY-IP", []uint16{dns.TypeA, dns.TypeAAAA}
	default:
		return nil, fmt.Errorf("--type %q: want A, AAAA or ANY-IP", o.Type)
	}
	switch strings.ToLower(o.UnexpectedStatus) {
	case "ok":
		cfg.unexpected = check.OK
	case "warning":
		cfg.unexpected = check.Warning
	case "critical":
		cfg.unexpected = check.Critical
	default:
		return nil, fmt.Errorf("--unexpected-status %q: want ok, warning or critical", o.UnexpectedStatus)
	}
	if err := o.Common.Validate(); err != nil {
		return nil, err
	}
	if o.Min < 0 || o.MinAlive < 0 {
		return nil, errors.New("--min and --min-alive take a number >= 0")
	}
	seen := map[netip.Addr]bool{}
	for _, e := range o.Expect {
		a, err := netip.ParseAddr(strings.TrimSpace(e))
		if err != nil {
			return nil, fmt.Errorf("--expect %q is not an IP address", e)
		}
		if a = a.Unmap(); !seen[a] {
			seen[a] = true
			cfg.expect = append(cfg.expect, a)
		}
	}
	for _, s := range o.Servers {
		addr, err := parseServer(s)
		if err != nil {
			return nil, fmt.Errorf("--server: %v", err)
		}
		cfg.servers = append(cfg.servers, addr)
	}
	cfg.resolvConf = o.ResolvConf
	if o.ProbeHTTP != "" && o.ProbePort == 0 {
		return nil, errors.New("--probe-http needs --probe-port")
	}
	if o.MinAlive > 0 && o.ProbePort == 0 {
		return nil, errors.New("--min-alive needs --probe-port: it counts the members that pass the probe")
	}
	if o.ProbeHTTP != "" && !strings.HasPrefix(o.ProbeHTTP, "/") {
		return nil, fmt.Errorf("--probe-http %q must start with /", o.ProbeHTTP)
	}
	if o.ProbePort < 0 || o.ProbePort > 65535 {
		return nil, fmt.Errorf("--probe-port %d is not a port", o.ProbePort)
	}
	if o.ProbePort > 0 {
		cfg.probe = &prober{port: o.ProbePort, path: o.ProbeHTTP, host: cfg.name}
	}
	return cfg, nil
}

// finding is one problem with its status.
type finding struct {
	status check.Status
	text   string
}

func (cfg *config) run() check.Result {
	onTimeout := func() check.Result {
		return check.Result{Status: cfg.common.ErrStatus(), Message: fmt.Sprintf("%s %s: no result within --timeout %v", cfg.name, cfg.typeName, cfg.timeout)}
	}
	return check.Run(cfg.timeout, onTimeout, func(ctx context.Context) check.Result {
		if len(cfg.servers) == 0 {
			servers, err := resolvConfServers(cfg.resolvConf)
			if err != nil {
				return check.Resultf(check.Unknown, "no --server given and %v", err)
			}
			cfg.servers = servers
		}
		margin := min(cfg.timeout/10, 300*time.Millisecond)
		ctx, cancel := context.WithTimeout(ctx, cfg.timeout-margin)
		defer cancel()
		answers := cfg.askAll(ctx)
		var probes []probeResult
		if cfg.probe != nil {
			if members := union(answers); len(members) > 0 {
				probes = cfg.probe.probeAll(ctx, members)
			}
		}
		return cfg.judge(answers, probes)
	})
}

// askAll asks every server concurrently; answers keep the servers' order.
func (cfg *config) askAll(ctx context.Context) []answer {
	r := resolver{tcp: cfg.tcp, attempt: attemptTimeout(cfg.timeout)}
	out := make([]answer, len(cfg.servers))
	var wg sync.WaitGroup
	for i, s := range cfg.servers {
		wg.Go(func() { out[i] = r.lookupTypes(ctx, s, cfg.name, cfg.qtypes) })
	}
	wg.Wait()
	return out
}

// union is every address any server gave.
func union(answers []answer) []netip.Addr {
	set := map[netip.Addr]bool{}
	for _, a := range answers {
		for _, x := range a.addrs {
			set[x] = true
		}
	}
	return sortedAddrs(set)
}

func has(list []netip.Addr, a netip.Addr) bool {
	for _, x := range list {
		if x == a {
			return true
		}
	}
	return false
}

func joinAddrs(list []netip.Addr) string {
	s := make([]string, len(list))
	for i, a := range list {
		s[i] = a.String()
	}
	return strings.Join(s, " ")
}

// judge turns the answers and probes into the result: a first line naming
// every problem (the worst first), then one line per server and the probes.
func (cfg *config) judge(answers []answer, probes []probeResult) check.Result {
	var fs []finding
	add := func(st check.Status, format string, args ...any) {
		fs = append(fs, finding{st, fmt.Sprintf(format, args...)})
	}
	many := len(answers) > 1
	at := func(a answer) string {
		if many {
			return " at " + a.server
		}
		return ""
	}
	var ok []answer
	for _, a := range answers {
		switch {
		case a.err == nil:
			ok = append(ok, a)
		case a.rcodeErr:
			add(check.Critical, "%v%s", a.err, at(a))
		default:
			add(cfg.common.ErrStatus(), "%s: %v", a.server, a.err)
		}
	}
	all := union(ok)
	// Servers that disagree: name what each lacks of the union.
	var lacks []string
	for _, a := range ok {
		var l []netip.Addr
		for _, x := range all {
			if !has(a.addrs, x) {
				l = append(l, x)
			}
		}
		if len(l) > 0 {
			lacks = append(lacks, a.server+" lacks "+joinAddrs(l))
		}
	}
	if len(lacks) > 0 {
		add(check.Warning, "servers disagree: %s", strings.Join(lacks, ", "))
	}
	if len(cfg.expect) > 0 {
		for _, a := range ok {
			var missing []netip.Addr
			for _, e := range cfg.expect {
				if !has(a.addrs, e) {
					missing = append(missing, e)
				}
			}
			if len(missing) > 0 {
				add(check.Critical, "missing %s (expected %d)%s", joinAddrs(missing), len(cfg.expect), at(a))
			}
		}
		var extra []netip.Addr
		for _, x := range all {
			if !has(cfg.expect, x) {
				extra = append(extra, x)
			}
		}
		if len(extra) > 0 && cfg.unexpected != check.OK {
			add(cfg.unexpected, "unexpected %s", joinAddrs(extra))
		}
	}
	for _, a := range ok {
		if len(a.addrs) < cfg.min {
			add(check.Critical, "%d %s < --min %d%s", len(a.addrs), members(len(a.addrs)), cfg.min, at(a))
		}
	}
	probeLine := ""
	if cfg.probe != nil && len(probes) > 0 {
		probeLine = cfg.judgeProbes(probes, add)
	}
	return cfg.render(fs, answers, all, probeLine)
}

func members(n int) string {
	if n == 1 {
		return "member"
	}
	return "members"
}

// judgeProbes adds the findings of the probes and returns their detail line.
func (cfg *config) judgeProbes(probes []probeResult, add func(check.Status, string, ...any)) string {
	var alive []netip.Addr
	var dead []string
	for _, p := range probes {
		if p.err == nil {
			alive = append(alive, p.addr)
		} else {
			dead = append(dead, fmt.Sprintf("%s (%v)", p.addr, p.err))
		}
	}
	need := cfg.minAlive
	if need == 0 {
		need = len(probes)
	}
	switch {
	case len(alive) < need && len(dead) == 0:
		// Every member passed, but the set is smaller than --min-alive.
		add(check.Critical, "%d of %d alive < --min-alive %d on %s: the set has only %d %s", len(alive), len(probes), need, cfg.probe.describe(), len(probes), members(len(probes)))
	case len(alive) < need:
		add(check.Critical, "%d of %d alive < %d on %s, dead: %s", len(alive), len(probes), need, cfg.probe.describe(), strings.Join(dead, ", "))
	case len(dead) > 0:
		add(check.Warning, "%d of %d alive (>= %d) on %s, dead: %s", len(alive), len(probes), need, cfg.probe.describe(), strings.Join(dead, ", "))
	}
	line := fmt.Sprintf("probe %s: %d of %d alive", cfg.probe.describe(), len(alive), len(probes))
	if len(dead) > 0 {
		line += "; dead: " + strings.Join(dead, ", ")
	}
	return line
}

func (cfg *config) render(fs []finding, answers []answer, all []netip.Addr, probeLine string) check.Result {
	sort.SliceStable(fs, func(i, j int) bool { return check.Worse(fs[i].status, fs[j].status) })
	var sts []check.Status
	var texts []string
	for _, f := range fs {
		sts = append(sts, f.status)
		if f.status != check.OK {
			texts = append(texts, f.text)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: ", cfg.name, cfg.typeName)
	if len(texts) > 0 {
		b.WriteString(strings.Join(texts, "; "))
	} else {
		fmt.Fprintf(&b, "%d %s %s", len(all), members(len(all)), joinAddrs(all))
		if ttl, ok := lowestTTL(answers); ok {
			fmt.Fprintf(&b, ", TTL %ds", ttl)
		}
		if probeLine != "" {
			b.WriteString(", all alive on " + cfg.probe.describe())
		}
	}
	for _, a := range answers {
		fmt.Fprintf(&b, "\n%s", a.detail())
	}
	if probeLine != "" {
		b.WriteString("\n" + probeLine)
	}
	return check.Result{Status: check.Worst(sts...), Message: b.String()}
}

func lowestTTL(answers []answer) (uint32, bool) {
	var ttl uint32
	found := false
	for _, a := range answers {
		if a.err == nil && (!found || a.ttl < ttl) {
			ttl, found = a.ttl, true
		}
	}
	return ttl, found
}

// detail is one server's line: what it answered, the TTL and the path taken.
func (a answer) detail() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): ", a.server, a.transport)
	if a.err != nil {
		b.WriteString(a.err.Error())
	} else {
		fmt.Fprintf(&b, "%s, TTL %ds", joinAddrs(a.addrs), a.ttl)
	}
	if len(a.chain) > 0 && a.err == nil {
		fmt.Fprintf(&b, ", via CNAME %s", strings.Join(a.chain, " → "))
	}
	return b.String()
}

// worse reports whether a is a more severe status than b, in check.Worst's order.
