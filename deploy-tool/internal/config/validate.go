package config

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"

	"github.com/sre-suite/mackerel-plugins/lib/balancer"
)

// knownDrivers are the balancer drivers lib/balancer provides.
var knownDrivers = []string{"ngx_dynamic_upstream", "haproxy"}

// Characters allowed in a server's addr and host: no quote, $ or backslash,
// so that ExpandCommand's quoting holds and nothing can be injected through
// a server's name.
var safeHost = regexp.MustCompile(`^[A-Za-z0-9._:\[\]-]+$`)

// complaint builds an error that names a key and its line in the file.
type complaint struct{ data []byte }

// at names key, on the line whose value contains hint if there is one.
func (c complaint) at(key, hint, format string, args ...any) error {
	return fmt.Errorf("%s%s: %s", key, at(c.data, strings.Split(key, "."), hint), fmt.Sprintf(format, args...))
}

func (c complaint) bad(key, format string, args ...any) error { return c.at(key, "", format, args...) }

func (c *Config) validate(data []byte) error {
	cp := complaint{data}
	for _, check := range []func(complaint) error{
		c.validateBudget, c.validateDrain, c.validateCommands, c.validateHealth,
		func(cp complaint) error { return c.Gate.validate(cp.bad) },
		c.validateBalancers, c.validateServers,
	} {
		if err := check(cp); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) validateBudget(cp complaint) error {
	switch {
	case c.MaxUnavailable < 1:
		return cp.bad("max_unavailable", "%d: want 1 or more", c.MaxUnavailable)
	case c.MinUp < 0:
		return cp.bad("min_up", "%d: want 0 or more", c.MinUp)
	case c.Canary < 0:
		return cp.bad("canary", "%d: want 0 (no canary) or more", c.Canary)
	case c.Canary > c.MaxUnavailable:
		return cp.bad("canary", "%d is more than max_unavailable %d", c.Canary, c.MaxUnavailable)
	case c.Batch.Percent == 0 && c.Batch.N > c.MaxUnavailable:
		return cp.bad("batch", "%d is more than max_unavailable %d", c.Batch.N, c.MaxUnavailable)
	}
	return nil
}

func (c *Config) validateDrain(cp complaint) error {
	if c.DrainTimeout.D() < c.DrainWait.D() {
		return cp.bad("drain_timeout", "%v is shorter than drain_wait %v", c.DrainTimeout.D(), c.DrainWait.D())
	}
	if c.DrainTimeout.D() < c.MaxRequestTime.D() {
		return cp.bad("drain_timeout", "%v is shorter than max_request_time %v: a drain could end with requests still running", c.DrainTimeout.D(), c.MaxRequestTime.D())
	}
	if c.OnDrainTimeout != DrainTimeoutStop && c.OnDrainTimeout != DrainTimeoutDeploy {
		return cp.at("on_drain_timeout", c.OnDrainTimeout, "%q: want %q (the default: put the server back and stop) or %q (deploy it anyway, reported NOT drained)", c.OnDrainTimeout, DrainTimeoutStop, DrainTimeoutDeploy)
	}
	if c.Drain.Timeout.D() > c.DrainTimeout.D() {
		return cp.bad("drain.timeout", "%v is longer than drain_timeout %v: one read of the app's figure could outlast the whole drain", c.Drain.Timeout.D(), c.DrainTimeout.D())
	}
	return c.Drain.validate(cp.bad)
}

func (c *Config) validateCommands(cp complaint) error {
	if c.NotifyWebhook != "" && !strings.HasPrefix(c.NotifyWebhook, "http://") && !strings.HasPrefix(c.NotifyWebhook, "https://") {
		// The value is not printed: a webhook URL is a secret.
		return cp.bad("notify_webhook", "want an http:// or https:// URL")
	}
	if err := checkPlaceholders(c.Deploy.Command, true); err != nil {
		return cp.bad("deploy.command", "%v", err)
	}
	if c.Deploy.Timeout.D() <= 0 {
		return cp.bad("deploy.timeout", "want a positive duration")
	}
	return nil
}

func (c *Config) validateHealth(cp complaint) error {
	h := c.Health
	if err := checkPlaceholders(h.URL, false); err != nil {
		return cp.bad("health.url", "%v", err)
	}
	switch {
	case h.URL != "" && !strings.HasPrefix(h.URL, "http://") && !strings.HasPrefix(h.URL, "https://"):
		return cp.bad("health.url", "%q: want http://{addr}/path or https://…", h.URL)
	case h.Status < 100 || h.Status > 599:
		return cp.bad("health.status", "%d is not an HTTP status", h.Status)
	case h.Retries < 1:
		return cp.bad("health.retries", "%d: want 1 or more", h.Retries)
	case h.Timeout.D() <= 0:
		return cp.bad("health.timeout", "want a positive duration")
	}
	return nil
}

func (c *Config) validateBalancers(cp complaint) error {
	if len(c.Balancers) == 0 {
		return fmt.Errorf("no [[balancer]]: at least one is needed")
	}
	names := map[string]bool{}
	for i, b := range c.Balancers {
		if b.Name == "" {
			return cp.bad("balancer.name", "[[balancer]] #%d has no name", i+1)
		}
		if names[b.Name] {
			return cp.at("balancer.name", b.Name, "%q is used twice", b.Name)
		}
		names[b.Name] = true
		if err := validateBalancer(cp, b); err != nil {
			return err
		}
	}
	return nil
}

func validateBalancer(cp complaint, b balancer.Config) error {
	switch b.Driver {
	case "ngx_dynamic_upstream":
		if !strings.HasPrefix(b.URL, "http://") && !strings.HasPrefix(b.URL, "https://") {
			return cp.at("balancer.url", b.URL, "balancer %q: want the http(s) URL of the dynamic_upstream location, got %q", b.Name, b.URL)
		}
	case "haproxy":
		if b.Socket == "" {
			return cp.bad("balancer.socket", "balancer %q: want the stats socket path or host:port", b.Name)
		}
	default:
		return cp.at("balancer.driver", b.Driver, "balancer %q: driver %q: want one of %s", b.Name, b.Driver, strings.Join(knownDrivers, ", "))
	}
	if len(b.Upstreams) == 0 {
		return cp.bad("balancer.upstreams", "balancer %q lists no upstreams", b.Name)
	}
	if b.Timeout <= 0 {
		return cp.bad("balancer.timeout", "balancer %q: want a positive duration", b.Name)
	}
	if err := b.Validate(); err != nil {
		return cp.at("balancer.name", b.Name, "%v", err)
	}
	return nil
}

// validateServers checks each server, and refuses one listed twice,
// however its address is written ([::1]:80 and [0:0::1]:80 are one).
func (c *Config) validateServers(cp complaint) error {
	seen := map[string]string{}
	for _, s := range c.Servers {
		if _, _, err := net.SplitHostPort(s.Addr); err != nil || !safeHost.MatchString(s.Addr) {
			return cp.at("server.addr", s.Addr, "%q: want IP:port as the balancers know it", s.Addr)
		}
		key := addrKey(s.Addr)
		if first, dup := seen[key]; dup {
			line := atLast(cp.data, []string{"server", "addr"}, s.Addr)
			if first == s.Addr {
				return fmt.Errorf("server.addr%s: %q is listed twice", line, s.Addr)
			}
			return fmt.Errorf("server.addr%s: %q is the same server as %q, listed before", line, s.Addr, first)
		}
		seen[key] = s.Addr
		if !safeHost.MatchString(s.Host) {
			return cp.at("server.host", s.Host, "%q: only letters, digits and . _ : - [ ] are allowed", s.Host)
		}
		if s.Port < 1 || s.Port > 65535 {
			return cp.at("server.port", strconv.Itoa(s.Port), "%d is not a TCP port", s.Port)
		}
	}
	return nil
}

// addrKey is the canonical form of an IP:port (as balancer.SameAddr
// compares), or a host name:port in lower case.
func addrKey(addr string) string {
	if c, ok := balancer.CanonicalAddr(addr); ok {
		return c
	}
	return strings.ToLower(addr)
}

var placeholder = regexp.MustCompile(`(^|[^$])\{([A-Za-z_]*)\}`)

// checkPlaceholders refuses a placeholder Expand does not fill, which would
// otherwise reach the shell or the health URL as it is. In a URL any brace
// is refused; in a command only {word} (braces are shell syntax too).
func checkPlaceholders(tmpl string, shell bool) error {
	for _, m := range placeholder.FindAllStringSubmatch(tmpl, -1) {
		switch m[2] {
		case "host", "addr", "port":
		default:
			return fmt.Errorf("unknown placeholder {%s}: want {host}, {addr} or {port}", m[2])
		}
	}
	if !shell && strings.ContainsAny(expand(tmpl, Server{}, nil), "{}") {
		return fmt.Errorf("%q has a brace that is not {host}, {addr} or {port}", tmpl)
	}
	return nil
}
