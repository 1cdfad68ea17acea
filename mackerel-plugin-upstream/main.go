// mackerel-plugin-upstream is a mackerel-agent metrics plugin: how many
// servers of each nginx (ngx_dynamic_upstream or the nginx/ Lua drop-in) or
// HAProxy upstream are up, draining or down, and how many requests are in
// flight where the balancer reports it. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jessevdk/go-flags"
	mp "github.com/mackerelio/go-mackerel-plugin"
)

const binaryName = "mackerel-plugin-upstream"

var version = "dev"

// runTimeout bounds a whole run, well under mackerel-agent's 30 s.
const runTimeout = 20 * time.Second

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	var opts options
	parser := flags.NewParser(&opts, flags.HelpFlag|flags.PassDoubleDash)
	if _, err := parser.ParseArgs(args); err != nil {
		var ferr *flags.Error
		if errors.As(err, &ferr) && ferr.Type == flags.ErrHelp {
			fmt.Fprintln(stdout, ferr.Message)
			return 0
		}
		fmt.Fprintf(stderr, "%s: %v (see --help)\n", binaryName, err)
		return 2
	}
	if opts.Version {
		fmt.Fprintf(stdout, "%s %s\n", binaryName, version)
		return 0
	}
	cfgs, err := opts.configs()
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", binaryName, err)
		return 2
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
