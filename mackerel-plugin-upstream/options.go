package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/balancer"
	"github.com/sre-suite/mackerel-plugins/lib/metricname"
)

// options are the command-line flags; README.md documents each.
type options struct {
	Config    string   `short:"c" long:"config" value-name:"FILE" description:"TOML file with [[balancer]] tables (the file deploy-tool reads); other keys are ignored"`
	Balancers []string `short:"b" long:"balancer" value-name:"NAME" description:"with --config: report only this balancer; repeatable (default: all)"`

	NginxURL      string   `long:"nginx-url" value-name:"URL" description:"base URL of an ngx_dynamic_upstream (or nginx/ Lua drop-in) location, e.g. http://127.0.0.1:6000/dynamic"`
	NginxZones    []string `long:"nginx-zone" value-name:"ZONE" description:"zone name of an upstream to read there (upstream= in the API); repeatable"`
	NginxName     string   `long:"nginx-name" default:"nginx" value-name:"NAME" description:"balancer name for --nginx-url, used in metric names"`
	NginxUser     string   `long:"nginx-user" value-name:"USER" description:"basic auth user for --nginx-url"`
	NginxPassword string   `long:"nginx-password" value-name:"PASSWORD" description:"basic auth password for --nginx-url"`

	HAProxySocket   string   `long:"haproxy-socket" value-name:"PATH|HOST:PORT" description:"HAProxy stats socket (runtime API) to read"`
	HAProxyBackends []string `long:"haproxy-backend" value-name:"BACKEND" description:"backend to read there; repeatable"`
	HAProxyName     string   `long:"haproxy-name" default:"haproxy" value-name:"NAME" description:"balancer name for --haproxy-socket, used in metric names"`

	Timeout time.Duration `long:"timeout" default:"5s" value-name:"DURATION" description:"per call to a balancer given by flags (a --config balancer uses its own timeout, default 5s); every balancer is read at once, and the whole run gives up after 20s"`
	Prefix  string        `long:"metric-key-prefix" default:"upstream" value-name:"PREFIX" description:"first part of every metric name"`
	Version bool          `long:"version" description:"print the version and exit"`
}

// configs builds the balancers to read from the flags and --config.
func (o *options) configs() ([]balancer.Config, error) {
	var out []balancer.Config
	if o.Config != "" {
		cfgs, err := balancer.LoadFile(o.Config)
		if err != nil {
			return nil, err
		}
		for _, name := range o.Balancers {
			if !slices.ContainsFunc(cfgs, func(c balancer.Config) bool { return c.Name == name }) {
				return nil, fmt.Errorf("--balancer %s: not in %s", name, o.Config)
			}
		}
		for _, c := range cfgs {
			if len(o.Balancers) == 0 || slices.Contains(o.Balancers, c.Name) {
				out = append(out, c)
			}
		}
	} else if len(o.Balancers) > 0 {
		return nil, fmt.Errorf("--balancer needs --config")
	}
	if o.Timeout <= 0 || o.Timeout > 20*time.Second {
		return nil, fmt.Errorf("--timeout %v: want more than 0 and at most 20s", o.Timeout)
	}
	if o.NginxURL != "" || len(o.NginxZones) > 0 {
		if o.NginxURL == "" || len(o.NginxZones) == 0 {
			return nil, fmt.Errorf("--nginx-url and --nginx-zone go together")
		}
		out = append(out, balancer.Config{
			Name: o.NginxName, Driver: balancer.DriverNginx, URL: o.NginxURL, Upstreams: o.NginxZones,
			User: o.NginxUser, Password: o.NginxPassword, Timeout: balancer.Duration(o.Timeout),
		})
	}
	if o.HAProxySocket != "" || len(o.HAProxyBackends) > 0 {
		if o.HAProxySocket == "" || len(o.HAProxyBackends) == 0 {
			return nil, fmt.Errorf("--haproxy-socket and --haproxy-backend go together")
		}
		out = append(out, balancer.Config{
			Name: o.HAProxyName, Driver: balancer.DriverHAProxy, Socket: o.HAProxySocket,
			Upstreams: o.HAProxyBackends, Timeout: balancer.Duration(o.Timeout),
		})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no balancer to read: give --config, or --nginx-url with --nginx-zone, or --haproxy-socket with --haproxy-backend")
	}
	seen := map[string]bool{}
	for _, c := range out {
		if err := c.Validate(); err != nil {
			return nil, err
		}
		if seen[c.Name] {
			return nil, fmt.Errorf("balancer name %q is used twice (see --nginx-name, --haproxy-name)", c.Name)
		}
		seen[c.Name] = true
	}
	if err := validPrefix(o.Prefix); err != nil {
		return nil, err
	}
	return out, nil
}

func validPrefix(p string) error {
	if strings.ContainsAny(p, "*#") {
		return fmt.Errorf("--metric-key-prefix %q: want a plain metric name, without * or #", p)
	}
	if err := metricname.Valid(p); err != nil {
		return fmt.Errorf("--metric-key-prefix: %v", err)
	}
	return nil
}
