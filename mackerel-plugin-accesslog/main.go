// mackerel-plugin-accesslog is a mackerel-agent metrics plugin: request
// rates, exact counts by status class and code, and exact latency
// percentiles from nginx/Apache access logs, read incrementally and safely
// through log rotation. See README.md.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jessevdk/go-flags"
	mp "github.com/mackerelio/go-mackerel-plugin"
)

var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	var opts options
	parser := flags.NewParser(&opts, flags.HelpFlag|flags.PassDoubleDash)
	parser.Usage = "[OPTIONS] [LOGFILE...]"
	args, err := normalizeArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v (see --help)\n", binaryName, err)
		return 2
	}
	rest, err := parser.ParseArgs(args)
	if err != nil {
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
	opts.Files = append(opts.Files, rest...)
	groups, err := opts.validate()
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", binaryName, err)
		return 2
	}
	lineParser, guess, err := opts.formatParsers()
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", binaryName, err)
		return 2
	}
	now := time.Now()
	fleetSide, err := newFleetSide(&opts, stderr, now)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", binaryName, err)
		return 2
	}
	p := &plugin{prefix: opts.Prefix, grouped: opts.GroupBy != "" || len(groups) > 0}
	helper := mp.NewMackerelPlugin(fleetSide.wrap(p))
	if os.Getenv("MACKEREL_AGENT_PLUGIN_META") != "" {
		helper.OutputDefinitions()
		return 0
	}
	rn := &runner{opts: &opts, parser: lineParser, guess: guess, groups: groups, stderr: stderr, now: now, clock: readClock(), fleet: fleetSide}
	res, err := rn.Run()
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", binaryName, err)
		return 1
	}
	vals := values(res, opts.MaxGroups)
	fleetSide.deliver(vals)
	if err := writeValues(stdout, opts.Prefix, vals, rn.now); err != nil {
		fmt.Fprintf(stderr, "%s: write the metrics: %v\n", binaryName, err)
		return 1
	}
	return 0
}
