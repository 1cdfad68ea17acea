// Package check holds the conventions every check-* binary of the suite follows:
// one output line "<Name> <STATUS>: message", exit codes 0/1/2/3, flag errors
// reported as UNKNOWN (never 1, which Mackerel would show as WARNING), a deadline
// that bounds the whole check, and a configurable status for "could not ask".
package check

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jessevdk/go-flags"
	"github.com/mackerelio/checkers"
)

// Statuses, re-exported so that binaries need not import checkers for them.
const (
	OK       = checkers.OK
	Warning  = checkers.WARNING
	Critical = checkers.CRITICAL
	Unknown  = checkers.UNKNOWN
)

// Status is a check outcome; its int value is the exit code.
type Status = checkers.Status

// Result is what a check found.
type Result struct {
	Status  Status
	Message string
}

// Resultf builds a Result with a formatted message.
func Resultf(st Status, format string, args ...any) Result {
	return Result{Status: st, Message: fmt.Sprintf(format, args...)}
}

// severity ranks statuses: CRITICAL > WARNING > UNKNOWN > OK. UNKNOWN ranks
// below WARNING and CRITICAL because a definite problem found elsewhere
// matters more than a target that could not be judged.
func severity(s Status) int {
	switch s {
	case Critical:
		return 3
	case Warning:
		return 2
	case Unknown:
		return 1
	}
	return 0
}

// Worst returns the most severe of the statuses (OK for none).
func Worst(sts ...Status) Status {
	w := OK
	for _, s := range sts {
		if severity(s) > severity(w) {
			w = s
		}
	}
	return w
}

// Worse reports whether a is more severe than b, for sorting results.
func Worse(a, b Status) bool { return severity(a) > severity(b) }

// Duration is a flag value that takes "10" (seconds, as kazeburo's checks do)
// as well as Go durations such as "10s", "1500ms" or "2m".
type Duration time.Duration

// UnmarshalFlag implements flags.Unmarshaler.
func (d *Duration) UnmarshalFlag(s string) error {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		if n < 0 {
			return fmt.Errorf("duration %q is negative", s)
		}
		*d = Duration(n * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: want seconds (10) or a Go duration (10s, 1500ms)", s)
	}
	if v < 0 {
		return fmt.Errorf("duration %q is negative", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalFlag implements flags.Marshaler.
func (d Duration) MarshalFlag() (string, error) { return time.Duration(d).String(), nil }

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Common are the flags every check takes. Embed it in a check's options struct
// with `group:"Common"` or inline.
type Common struct {
	Timeout     Duration `long:"timeout" default:"10s" value-name:"DURATION" description:"bound on the whole check: connect, handshake, query (seconds or 10s/1500ms)"`
	ErrorStatus string   `long:"error-status" default:"critical" choice:"unknown" choice:"warning" choice:"critical" description:"status when the target cannot be asked: connection refused, authentication failed, timeout"`
	Version     bool     `long:"version" description:"print the version and exit"`
}

func (c Common) versionWanted() bool { return c.Version }

// ErrStatus maps --error-status to a Status.
func (c Common) ErrStatus() Status {
	switch c.ErrorStatus {
	case "unknown":
		return Unknown
	case "warning":
		return Warning
	}
	return Critical
}

// Failure is the Result for a target that could not be asked.
func (c Common) Failure(err error) Result {
	return Result{Status: c.ErrStatus(), Message: err.Error()}
}

// Check is one binary's identity and output.
type Check struct {
	Name string // e.g. "MySQL"; printed first on the line
	// Binary and Version are what --version prints.
	Binary, Version string
	Stdout          io.Writer
	Stderr          io.Writer
	// exit is os.Exit unless a test replaces it.
	exit func(int)
}

// New returns a Check named name (as its lines begin) for the binary of that
// version, which writes to stdout and exits the process.
func New(name, binary, version string) *Check {
	return &Check{Name: name, Binary: binary, Version: version, Stdout: os.Stdout, Stderr: os.Stderr, exit: os.Exit}
}

// Line formats a result as the single line Mackerel shows.
func (c *Check) Line(r Result) string {
	ck := checkers.NewChecker(r.Status, r.Message)
	ck.Name = c.Name
	return ck.String()
}

// Exit prints the result and exits with its status.
func (c *Check) Exit(r Result) {
	fmt.Fprintln(c.Stdout, c.Line(r))
	c.exit(int(r.Status))
}

// ParseFlags parses args into opts (a go-flags options struct, normally
// embedding Common). --help prints the usage to stdout and exits 0, and so
// does --version with the version; any other flag error prints the error and
// the usage as an UNKNOWN result and exits 3.
func (c *Check) ParseFlags(opts any, args []string) []string {
	p := flags.NewParser(opts, flags.HelpFlag|flags.PassDoubleDash)
	rest, err := p.ParseArgs(args)
	if err == nil {
		if v, ok := opts.(interface{ versionWanted() bool }); ok && v.versionWanted() {
			fmt.Fprintln(c.Stdout, c.Binary, c.Version)
			c.exit(0)
			return nil
		}
		return rest
	}
	var ferr *flags.Error
	if errors.As(err, &ferr) && ferr.Type == flags.ErrHelp {
		fmt.Fprintln(c.Stdout, ferr.Message)
		c.exit(0)
		return nil
	}
	var usage strings.Builder
	p.WriteHelp(&usage)
	c.Exit(Result{Status: Unknown, Message: err.Error() + "\n" + usage.String()})
	return nil
}

// Run calls fn with a context that expires after timeout, and returns its
// result. If fn has not returned shortly after the deadline (a driver that
// ignores its context), Run gives up on it and returns an UNKNOWN-or-worse
// result built by onTimeout, so the process always ends within timeout plus
// a fraction of a second.
func Run(timeout time.Duration, onTimeout func() Result, fn func(ctx context.Context) Result) Result {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := make(chan Result, 1)
	go func() { done <- fn(ctx) }()
	grace := timeout/20 + 200*time.Millisecond
	timer := time.NewTimer(timeout + grace)
	defer timer.Stop()
	select {
	case r := <-done:
		return r
	case <-timer.C:
		return onTimeout()
	}
}

// BelowThreshold judges a value that is bad when low (an uptime): CRITICAL
// when value < crit, WARNING when value < warn; a threshold of 0 is disabled.
// It returns the status and the threshold that was crossed (0 when OK).
func BelowThreshold(value, warn, crit float64) (Status, float64) {
	if crit > 0 && value < crit {
		return Critical, crit
	}
	if warn > 0 && value < warn {
		return Warning, warn
	}
	return OK, 0
}
