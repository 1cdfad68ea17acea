// mackerel-plugin-accesslog is a mackerel-agent metrics plugin: request
// rates, exact counts by status class and code, and exact latency
// percentiles from nginx/Apache access logs, read incrementally and safely
// through log rotation. See README.md.
package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/cli"
)

var version = "dev"

var program = cli.Program{
	Name:    binaryName,
	Version: version,
	Summary: "A mackerel-agent metrics plugin: request counts by status class and code, request rates, and exact latency percentiles from nginx/Apache access logs (LTSV, JSON, combined/common, or nginx's log_format), read incrementally from where the last run stopped, through log rotation.",
	Args:    "[LOGFILE...]",
	Manual: `Long flags may also be written with one dash, as mackerelio's plugin takes
them (-format=apache, -metric-key-prefix web, -posfile site.pos).

Metrics (PREFIX is --metric-key-prefix; per run = the lines this run read):
  PREFIX.access_num.total_count            integer     requests read
  PREFIX.access_num.{1xx..5xx}_count       integer     the same by status class
  PREFIX.access_num.{499,500,502,503,504}_count  integer  single codes
  PREFIX.rps.total, PREFIX.rps.{1xx..5xx}  requests/s  since the previous run
  PREFIX.rps_code.{499,500,502,503,504}    requests/s
  PREFIX.access_rate.{1xx..5xx}_percentage            %  share of the run's requests
  PREFIX.access_rate_code.{499,500,502,503,504}_percentage  %
  PREFIX.latency.{average,50,90,95,98,99_percentile,max}  seconds  request time,
                                           exact; absent when no line had one
  PREFIX.upstream_latency.{...the same...} seconds     upstream time
  PREFIX.bytes.sent                        bytes/s     response bytes
  PREFIX.lines.malformed_count             integer     lines not of the format
  PREFIX.lines.overlong_count              integer     lines over --max-line-bytes
  PREFIX.skipped.bytes                     bytes       backlog skipped (--max-read-bytes)
  PREFIX.files.skipped_count               integer     FIFOs, devices, directories
  PREFIX.group_access_num.GROUP.*, group_rps, group_access_rate, group_latency,
  group_upstream_latency                   the same per --group-by/--group group
  With --fleet-redis (integers): PREFIX.fleet.delivered_count (contributions
  delivered to Redis this run), PREFIX.fleet.pending_count (still spooled),
  PREFIX.fleet.pending_requests (requests in them), PREFIX.fleet.dropped_count
  (dropped over --fleet-spool-max: lost to the service's metrics)
The first run (no state) starts at the end of each file and reports zeros
(--from-start reads the whole file).

Exit codes: 0 when the metrics were printed; 1 when a file or state could not
be read or written (one line on stderr naming it; no state is changed, so the
next run reads the same lines); 2 for a bad flag or value (one line on
stderr); --help and --version exit 0.

Environment:
  MACKEREL_PLUGIN_WORKDIR  where state files are kept when --state-dir is not given
  FLEET_REDIS_PASSWORD     the Redis password when no --fleet-redis-password-file

Example (three lines of a combined log with the request time appended, read
whole by a first run; some of the metrics printed):
  mackerel-plugin-accesslog --format combined --metric-key-prefix www --from-start /var/log/nginx/access.log
  www.access_num.5xx_count	1	1796127874
  www.access_num.total_count	3	1796127874
  www.latency.99_percentile	0.350000	1796127874`,
}

// parseCommandLine turns the arguments into options: mackerelio's
// single-dash spellings first, then lib/cli's parse and validation, then
// what depends on the files, positional ones included. When the outcome is
// Done, the run stops there with its code; else its Stderr holds warnings.
func parseCommandLine(args []string) (*options, cli.Outcome) {
	args, err := normalizeArgs(args)
	if err != nil {
		return nil, refuse(err)
	}
	var opts options
	rest, out := program.Parse(&opts, args)
	if out.Done {
		return nil, out
	}
	opts.Files = append(opts.Files, rest...)
	if err := opts.validateFiles(); err != nil {
		return nil, refuse(err)
	}
	return &opts, out
}

// refuse reports a bad flag or value in lib/cli's one-line form; a value
// quoted in the message keeps it on one line, and the line is made sure of.
func refuse(err error) cli.Outcome {
	return program.PlainBadInput(strings.Join(strings.Fields(err.Error()), " "))
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	opts, out := parseCommandLine(args)
	out.Print(stdout, stderr)
	if out.Done {
		return out.Code
	}
	lineParser, guess, err := opts.formatParsers()
	if err != nil {
		refuse(err).Print(stdout, stderr)
		return cli.ExitCodeBadInput
	}
	now := time.Now()
	fleetSide, err := newFleetSide(opts, stderr, now)
	if err != nil {
		refuse(err).Print(stdout, stderr)
		return cli.ExitCodeBadInput
	}
	if os.Getenv("MACKEREL_AGENT_PLUGIN_META") != "" {
		p := &plugin{prefix: opts.Prefix, grouped: opts.GroupBy != "" || len(opts.groups) > 0, fleet: fleetSide != nil}
		if err := outputDefinitions(stdout, opts.Prefix, p.graphs()); err != nil {
			fmt.Fprintf(stderr, "%s: write the graph definitions: %v\n", binaryName, err)
			return 1
		}
		return 0
	}
	rn := &runner{opts: opts, parser: lineParser, guess: guess, groups: opts.groups, stderr: stderr, now: now, clock: readClock(), fleet: fleetSide}
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
