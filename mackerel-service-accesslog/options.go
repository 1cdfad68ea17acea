package main

import (
	"fmt"
	"regexp"

	"github.com/sre-suite/mackerel-plugins/lib/cli"
	"github.com/sre-suite/mackerel-plugins/lib/fleet"
)

// options are the command-line flags; README.md documents each.
type options struct {
	Redis             string       `long:"redis" value-name:"URL" description:"Redis holding the windows: redis://host:port/db, or rediss:// for TLS (required)"`
	RedisPasswordFile string       `long:"redis-password-file" value-name:"FILE" description:"file holding the Redis password (else $FLEET_REDIS_PASSWORD, else the URL's)"`
	RedisCAFile       string       `long:"redis-ca-file" value-name:"FILE" description:"with rediss://: PEM CA certificates to verify Redis's certificate with, instead of the system's"`
	RedisCluster      bool         `long:"redis-cluster" description:"the URL names one node of a Redis Cluster"`
	Service           string       `long:"service" value-name:"NAME" description:"the Mackerel service, as the hosts' --fleet-service (required)"`
	Grace             cli.Duration `long:"grace" default:"90s" value-name:"DURATION" description:"a window is closed this long after its end (late hosts still count); 0s closes every window that has ended: seconds (90) or with a unit (90s, 2m)"`
	Prefix            string       `long:"metric-key-prefix" default:"accesslog" value-name:"PREFIX" description:"first part of every service metric name"`
	MaxGroups         int          `long:"max-groups" default:"20" value-name:"N" description:"report at most N groups, the busiest over the whole service; the rest are summed as \"other\""`
	MaxWindows        int64        `long:"max-windows" default:"120" value-name:"N" description:"hand over at most N windows per run, oldest first"`
	Timeout           cli.Duration `long:"timeout" default:"50s" value-name:"DURATION" description:"the whole run's deadline"`
	RedisTimeout      cli.Duration `long:"redis-timeout" default:"5s" value-name:"DURATION" description:"deadline of each Redis dial, read and write"`
	Post              bool         `long:"post" description:"post to the Mackerel API instead of printing lines for mkr throw"`
	AgentConf         string       `long:"agent-conf" default:"/etc/mackerel-agent/mackerel-agent.conf" value-name:"FILE" description:"with --post: mackerel-agent.conf to read apikey and apibase from when neither flags nor environment give them"`
	APIKeyFile        string       `long:"apikey-file" value-name:"FILE" description:"with --post: file holding the Mackerel API key (else $MACKEREL_APIKEY, else --agent-conf)"`
	APIBase           string       `long:"apibase" value-name:"URL" description:"with --post: Mackerel API base (else $MACKEREL_APIBASE, else --agent-conf, else https://api.mackerelio.com)"`
	Retries           int          `long:"retries" default:"3" value-name:"N" description:"with --post: attempts per window before giving up until the next run"`
	Verbose           bool         `short:"v" long:"verbose" description:"with --post: one line per window posted on stdout (else nothing on success)"`
	StateDir          string       `long:"state-dir" value-name:"DIR" description:"where the ledger of windows handed over is kept (default: $MACKEREL_PLUGIN_WORKDIR, else a per-user directory under the temp dir)"`
	cli.Version
}

var metricPrefix = regexp.MustCompile(`^[a-zA-Z0-9_-]+(\.[a-zA-Z0-9_-]+)*$`)

// Validate is asked by cli.Program.Parse: a bad value is one line, exit 2.
// --redis and --service are checked here rather than tagged required, so
// that --version alone works.
func (o *options) Validate() error {
	switch {
	case o.Redis == "" && o.Service == "":
		return fmt.Errorf("--redis URL and --service NAME are required")
	case o.Redis == "":
		return fmt.Errorf("--redis URL is required: the Redis the hosts' --fleet-redis names")
	case o.Service == "":
		return fmt.Errorf("--service NAME is required: the hosts' --fleet-service")
	}
	if err := fleet.CheckService(o.Service); err != nil {
		return fmt.Errorf("--service: %v", err)
	}
	if err := fleet.CheckRedisURL(o.Redis); err != nil {
		return fmt.Errorf("--redis: %v", err)
	}
	switch {
	case !metricPrefix.MatchString(o.Prefix):
		return fmt.Errorf("--metric-key-prefix %q: only [-a-zA-Z0-9_.] may be used", o.Prefix)
	case o.MaxGroups < 1:
		return fmt.Errorf("--max-groups %d: want at least 1", o.MaxGroups)
	case o.MaxWindows < 1:
		return fmt.Errorf("--max-windows %d: want at least 1", o.MaxWindows)
	case o.Timeout <= 0:
		return fmt.Errorf("--timeout %s: want more than 0s", o.Timeout)
	case o.RedisTimeout <= 0:
		return fmt.Errorf("--redis-timeout %s: want more than 0s", o.RedisTimeout)
	case o.Retries < 1:
		return fmt.Errorf("--retries %d: want at least 1", o.Retries)
	}
	return nil
}
