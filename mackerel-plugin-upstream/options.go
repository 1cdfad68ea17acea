package main

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/sre-suite/mackerel-plugins/lib/balancer"
	"github.com/sre-suite/mackerel-plugins/lib/cli"
	"github.com/sre-suite/mackerel-plugins/lib/metricname"
)

// options are the command-line flags; README.md documents each.
type options struct {
	Config    string   `short:"c" long:"config" value-name:"FILE" description:"TOML file with [[balancer]] tables (the file deploy-tool reads); other keys are ignored"`
	Balancers []string `short:"b" long:"balancer" value-name:"NAME" description:"with --config: report only this balancer; repeatable (default: all)"`

	NginxURL          string   `long:"nginx-url" value-name:"URL" description:"base URL of an ngx_dynamic_upstream (or nginx/ Lua drop-in) location, e.g. http://127.0.0.1:6000/dynamic (no user or password in it: see --nginx-user)"`
	NginxZones        []string `long:"nginx-zone" value-name:"ZONE" description:"zone name of an upstream to read there (upstream= in the API); repeatable"`
	NginxName         string   `long:"nginx-name" default:"nginx" value-name:"NAME" description:"balancer name for --nginx-url, used in metric names"`
	NginxUser         string   `long:"nginx-user" value-name:"USER" description:"basic auth user for --nginx-url; the password comes from --nginx-password-file or $UPSTREAM_NGINX_PASSWORD"`
	NginxPasswordFile string   `long:"nginx-password-file" value-name:"FILE" description:"file holding the basic auth password for --nginx-url (one line); else $UPSTREAM_NGINX_PASSWORD"`

	HAProxySocket   string   `long:"haproxy-socket" value-name:"PATH|HOST:PORT" description:"HAProxy stats socket (runtime API) to read"`
	HAProxyBackends []string `long:"haproxy-backend" value-name:"BACKEND" description:"backend to read there; repeatable"`
	HAProxyName     string   `long:"haproxy-name" default:"haproxy" value-name:"NAME" description:"balancer name for --haproxy-socket, used in metric names"`

	Timeout cli.Duration `long:"timeout" default:"5s" value-name:"DURATION" description:"per call to a balancer given by flags, more than 0 and at most 20s: seconds (5) or with a unit (5s, 1500ms); a --config balancer uses its own timeout; every balancer is read at once, and the whole run gives up after 20s"`
	Prefix  string       `long:"metric-key-prefix" default:"upstream" value-name:"PREFIX" description:"first part of every metric name"`
	cli.Version
}

// maxConfigSize bounds what is read of --config.
const maxConfigSize = 1 << 20

// passwordEnv holds the basic auth password for --nginx-url when no
// --nginx-password-file is given.
const passwordEnv = "UPSTREAM_NGINX_PASSWORD"

// Validate checks the values that need no file, at parse time.
func (o *options) Validate() error {
	if o.Timeout <= 0 || o.Timeout.D() > runTimeout {
		return fmt.Errorf("--timeout %s: want more than 0 and at most %s", o.Timeout, cli.Duration(runTimeout))
	}
	if o.Config == "" && len(o.Balancers) > 0 {
		return fmt.Errorf("--balancer needs --config")
	}
	if (o.NginxURL == "") != (len(o.NginxZones) == 0) {
		return fmt.Errorf("--nginx-url and --nginx-zone go together")
	}
	if (o.HAProxySocket == "") != (len(o.HAProxyBackends) == 0) {
		return fmt.Errorf("--haproxy-socket and --haproxy-backend go together")
	}
	if o.NginxPasswordFile != "" && o.NginxURL == "" {
		return fmt.Errorf("--nginx-password-file needs --nginx-url")
	}
	return validPrefix(o.Prefix)
}

// password is the basic auth password for --nginx-url: from
// --nginx-password-file, else from the environment.
func (o *options) password(getenv func(string) string) (string, error) {
	if o.NginxPasswordFile != "" {
		return cli.ReadSecretFile("--nginx-password-file", o.NginxPasswordFile)
	}
	return getenv(passwordEnv), nil
}

// configs builds the balancers to read from the flags and --config.
func (o *options) configs(getenv func(string) string) ([]balancer.Config, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	var out []balancer.Config
	if o.Config != "" {
		// Read here rather than by balancer.LoadFile: a FIFO is refused, not
		// waited on.
		text, err := cli.ReadRegular(o.Config, maxConfigSize)
		if err != nil {
			return nil, fmt.Errorf("--config: %v", err)
		}
		cfgs, err := balancer.Load(string(text), o.Config)
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
	}
	if o.NginxURL != "" {
		if u, err := url.Parse(o.NginxURL); err == nil && u.User != nil {
			return nil, fmt.Errorf("--nginx-url: no user or password in the URL (ps and mackerel-agent.conf would show them): use --nginx-user, and --nginx-password-file or $%s", passwordEnv)
		}
		pw, err := o.password(getenv)
		if err != nil {
			return nil, err
		}
		if o.NginxUser != "" && pw == "" {
			return nil, fmt.Errorf("--nginx-user %s without a password: give --nginx-password-file, or set $%s in mackerel-agent's environment", o.NginxUser, passwordEnv)
		}
		out = append(out, balancer.Config{
			Name: o.NginxName, Driver: balancer.DriverNginx, URL: o.NginxURL, Upstreams: o.NginxZones,
			User: o.NginxUser, Password: pw, Timeout: balancer.Duration(o.Timeout),
		})
	}
	if o.HAProxySocket != "" {
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
		// Building a driver touches nothing yet checks every value (a URL
		// that is not http(s), an upstream name a query cannot carry): a
		// bad value is exit 2 now, not a balancer left out at each run.
		if _, err := balancer.New(c); err != nil {
			return nil, err
		}
		if seen[c.Name] {
			return nil, fmt.Errorf("balancer name %q is used twice (see --nginx-name, --haproxy-name)", c.Name)
		}
		seen[c.Name] = true
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
