// mackerel-service-accesslog turns the closed one-minute windows that
// mackerel-plugin-accesslog --fleet-redis adds to Redis into Mackerel service
// metrics: exact counts and percentiles over every host of a service. It
// prints them for `mkr throw --service NAME`, or posts them itself (--post).
// See README.md.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/sre-suite/mackerel-plugins/lib/cli"
	"github.com/sre-suite/mackerel-plugins/lib/fleet"
	"github.com/sre-suite/mackerel-plugins/mackerel-service-accesslog/internal/push"
)

const binaryName = "mackerel-service-accesslog"

var version = "dev"

const noSecretFlag = "the %s comes from %s or $%s, never from the command line (ps and crontabs would show it)"

var program = cli.Program{
	Name:    binaryName,
	Version: version,
	Summary: "Turns the one-minute windows that mackerel-plugin-accesslog --fleet-redis adds to Redis into Mackerel service metrics (exact counts and percentiles over every host of a service), printed for mkr throw --service NAME or posted with --post.",
	Hints: map[string]string{
		"redis-password": fmt.Sprintf(noSecretFlag, "Redis password", "--redis-password-file", fleet.PasswordEnv),
		"apikey":         fmt.Sprintf(noSecretFlag, "API key", "--apikey-file", "MACKEREL_APIKEY"),
	},
	Manual: `Output: for each window closed (its end + --grace has passed) and not yet
handed over, oldest first, one line per metric on stdout, stamped with the
window's start (PREFIX is --metric-key-prefix):
  PREFIX.access_num.total_count, .{1xx..5xx}_count, .{499,500,502,503,504}_count  requests
  PREFIX.rps.total, .{1xx..5xx}; PREFIX.rps_code.{499..504}                       requests/s
  PREFIX.access_rate.{1xx..5xx}_percentage, access_rate_code.*_percentage        %
  PREFIX.latency.{average,50,90,95,98,99_percentile,max}, upstream_latency.*     seconds
  PREFIX.bytes.sent                                                              bytes/s
  PREFIX.group_*.GROUP.*       the same per group (the --max-groups busiest, then "other")
  PREFIX.fleet.hosts_count, fleet.contributions_count  hosts and runs in the window
  PREFIX.fleet.incomplete  1 when contributions may be missing (Redis restarted empty)
  PREFIX.fleet.moved_contributions_count, fleet.offclock_hosts_count  late runs; hosts
                               whose clock is off Redis's by more than --grace
With --post, nothing on success (--verbose: one line per window posted).

Exit codes: 0 when every closed window was handed over (or there was none),
1 when something failed (one line on stderr; what was handed over stays
handed over, the rest waits for the next run), 2 for a bad flag or value
(one line on stderr); --help and --version exit 0.

Environment:
  ` + fleet.PasswordEnv + `  Redis password, when no --redis-password-file is given
  MACKEREL_APIKEY, MACKEREL_APIBASE  with --post, when no flag gives them

Example (crontab, every minute; quiet when all went well):
  mackerel-service-accesslog --redis redis://redis.internal:6379/0 --service shop --post
or print for mkr throw --service shop:
  accesslog.access_num.total_count	42100	1796125020
  accesslog.latency.95_percentile	0.775	1796125020`,
}

func main() {
	// The hidden push command, as mackerel-plugin-accesslog-push's: earlier
	// set-ups copied this binary beside the plugin, which still finds it.
	if len(os.Args) == 2 && os.Args[1] == fleet.PushCommand {
		os.Exit(push.Main(os.Stdin, os.Stdout, os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program: 0 when every closed window was handed over (or
// there was none), 1 when something failed (what was handed over stays
// handed over), 2 on a bad flag or value. Errors go to stderr only: stdout is
// piped to mkr throw.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var opts options
	_, out := program.Parse(&opts, args)
	out.Print(stdout, stderr)
	if out.Done {
		return out.Code
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout.D())
	defer cancel()
	a, err := newAggregator(&opts, stdout, stderr)
	if err != nil {
		program.PlainBadInput(err.Error()).Print(stdout, stderr)
		return cli.ExitCodeBadInput
	}
	defer a.close()
	if err := a.run(ctx); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", binaryName, err)
		return 1
	}
	return 0
}
