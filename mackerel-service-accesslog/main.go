// mackerel-service-accesslog turns the closed one-minute windows that
// mackerel-plugin-accesslog --fleet-redis adds to Redis into Mackerel service
// metrics: exact counts and percentiles over every host of a service. It
// prints them for `mkr throw --service NAME`, or posts them itself (--post).
// See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jessevdk/go-flags"
)

const binaryName = "mackerel-service-accesslog"

var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program: 0 when every closed window was handed over (or
// there was none), 1 when something failed (what was handed over stays
// handed over), 2 on bad flags.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var opts options
	parser := flags.NewParser(&opts, flags.HelpFlag|flags.PassDoubleDash)
	if _, err := parser.ParseArgs(args); err != nil {
		var ferr *flags.Error
		if errors.As(err, &ferr) && ferr.Type == flags.ErrHelp {
			fmt.Fprintln(stdout, ferr.Message)
			return 0
		}
		fmt.Fprintf(stdout, "%s: %v (see --help)\n", binaryName, err)
		return 2
	}
	if opts.Version {
		fmt.Fprintf(stdout, "%s %s\n", binaryName, version)
		return 0
	}
	if err := opts.validate(); err != nil {
		fmt.Fprintf(stdout, "%s: %v\n", binaryName, err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	a, err := newAggregator(&opts, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stdout, "%s: %v\n", binaryName, err)
		return 2
	}
	defer a.close()
	if err := a.run(ctx, time.Now()); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", binaryName, err)
		return 1
	}
	return 0
}
