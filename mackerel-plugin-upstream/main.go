// mackerel-plugin-upstream is a mackerel-agent metrics plugin: how many
// servers of each nginx (ngx_dynamic_upstream or the nginx/ Lua drop-in) or
// HAProxy upstream are up, draining or down, and how many requests are in
// flight where the balancer reports it. See README.md.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	mp "github.com/mackerelio/go-mackerel-plugin"
	"github.com/sre-suite/mackerel-plugins/lib/cli"
)

const binaryName = "mackerel-plugin-upstream"

var version = "dev"

// runTimeout bounds a whole run, well under mackerel-agent's 30 s.
const runTimeout = 20 * time.Second

const noPasswordFlag = "the password comes from --nginx-password-file or $" + passwordEnv + ", never from the command line (ps and mackerel-agent.conf would show it)"

var program = cli.Program{
	Name:    binaryName,
	Version: version,
	Summary: "A mackerel-agent metrics plugin: how many servers of each nginx (ngx_dynamic_upstream or the nginx/ Lua drop-in) or HAProxy upstream are up, draining or down, and how many requests are in flight where the balancer reports it.",
	Hints:   map[string]string{"nginx-password": noPasswordFlag},
	Manual: `Metrics (BALANCER and UPSTREAM with every character outside [-a-zA-Z0-9_]
turned into _; PREFIX is --metric-key-prefix):
  PREFIX.BALANCER.servers.UPSTREAM.up        integer  servers taking new requests
  PREFIX.BALANCER.servers.UPSTREAM.draining  integer  servers finishing in-flight
                                                      requests, taking no new ones
  PREFIX.BALANCER.servers.UPSTREAM.down      integer  servers marked down (nginx
                                                      down, HAProxy maint)
  PREFIX.BALANCER.servers.UPSTREAM.total     integer  servers in the upstream
  PREFIX.BALANCER.active.UPSTREAM            integer  requests in flight (HAProxy
                                                      scur+qcur, the Lua drop-in's
                                                      active=; absent for the C module)

A balancer that cannot be read is left out (no data in Mackerel) with one line
on stderr naming it and the reason.

Exit codes: 0 when at least one balancer was read, 1 when none was, 2 for a
bad flag, value or file (one line on stderr); --help and --version exit 0.

Environment:
  ` + passwordEnv + `  basic auth password for --nginx-url, when no
                           --nginx-password-file is given

Example:
  mackerel-plugin-upstream --nginx-url http://127.0.0.1:6000/dynamic --nginx-zone backend_zone
  upstream.nginx.servers.backend_zone.up	2	1795610484
  upstream.nginx.servers.backend_zone.down	1	1795610484`,
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	var opts options
	_, out := program.Parse(&opts, args)
	out.Print(stdout, stderr)
	if out.Done {
		return out.Code
	}
	cfgs, err := opts.configs(os.Getenv)
	if err != nil {
		program.PlainBadInput(err.Error()).Print(stdout, stderr)
		return cli.ExitCodeBadInput
	}
	p := &plugin{prefix: opts.Prefix, balancers: cfgs}
	helper := mp.NewMackerelPlugin(p)
	if os.Getenv("MACKEREL_AGENT_PLUGIN_META") != "" {
		helper.OutputDefinitions()
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	values, read := collect(ctx, cfgs, stderr)
	if read == 0 {
		fmt.Fprintf(stderr, "%s: no balancer could be read\n", binaryName)
		return 1
	}
	p.values = values
	helper.OutputValues()
	return 0
}
