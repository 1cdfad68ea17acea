package balancer

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Driver names, as written in Config.Driver.
const (
	DriverNginx   = "ngx_dynamic_upstream"
	DriverHAProxy = "haproxy"
)

// DefaultTimeout bounds every call when Config.Timeout is not set.
const DefaultTimeout = 5 * time.Second

// New builds the driver named by cfg.Driver after checking cfg.
func New(cfg Config) (Balancer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch cfg.Driver {
	case DriverNginx:
		return NewNginx(cfg)
	case DriverHAProxy:
		return NewHAProxy(cfg)
	}
	panic("unreachable: Validate accepted driver " + cfg.Driver)
}

// Validate reports the first thing missing or wrong in cfg, naming the
// balancer.
func (c Config) Validate() error {
	name := c.Name
	if name == "" {
		return fmt.Errorf("balancer without a name (driver %q)", c.Driver)
	}
	if len(c.Upstreams) == 0 {
		return fmt.Errorf("balancer %s: no upstreams", name)
	}
	for _, u := range c.Upstreams {
		if strings.TrimSpace(u) == "" {
			return fmt.Errorf("balancer %s: an empty upstream name", name)
		}
	}
	if c.Timeout < 0 {
		return fmt.Errorf("balancer %s: negative timeout", name)
	}
	switch c.Driver {
	case DriverNginx:
		if c.URL == "" {
			return fmt.Errorf("balancer %s: driver %s needs url", name, c.Driver)
		}
		if c.Socket != "" {
			return fmt.Errorf("balancer %s: driver %s takes url, not socket", name, c.Driver)
		}
	case DriverHAProxy:
		if c.Socket == "" {
			return fmt.Errorf("balancer %s: driver %s needs socket (a unix socket path or host:port)", name, c.Driver)
		}
		if c.URL != "" || c.User != "" || c.Password != "" {
			return fmt.Errorf("balancer %s: driver %s takes socket, not url/user/password", name, c.Driver)
		}
	case "":
		return fmt.Errorf("balancer %s: no driver (%s or %s)", name, DriverNginx, DriverHAProxy)
	default:
		return fmt.Errorf("balancer %s: unknown driver %q (%s or %s)", name, c.Driver, DriverNginx, DriverHAProxy)
	}
	return nil
}

// CallTimeout is the configured per-call timeout, or DefaultTimeout.
func (c Config) CallTimeout() time.Duration {
	if c.Timeout > 0 {
		return time.Duration(c.Timeout)
	}
	return DefaultTimeout
}

// LoadFile reads the `[[balancer]]` tables of a TOML file (the format
// deploy-tool reads too), ignoring every other key, and checks each one.
func LoadFile(path string) ([]Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Load(string(b), path)
}

// Load is LoadFile on a string; source names it in errors.
func Load(text, source string) ([]Config, error) {
	var doc struct {
		Balancer []Config `toml:"balancer"`
	}
	if _, err := toml.Decode(text, &doc); err != nil {
		return nil, fmt.Errorf("%s: %v", source, err)
	}
	if len(doc.Balancer) == 0 {
		return nil, fmt.Errorf("%s: no [[balancer]] tables", source)
	}
	seen := map[string]bool{}
	for i, c := range doc.Balancer {
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("%s: [[balancer]] #%d: %v", source, i+1, err)
		}
		if seen[c.Name] {
			return nil, fmt.Errorf("%s: balancer name %q is used twice", source, c.Name)
		}
		seen[c.Name] = true
	}
	return doc.Balancer, nil
}
