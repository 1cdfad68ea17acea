// Package check holds the conventions every check-* binary of the suite follows:
// one output line "<Name> <STATUS>: message", exit codes 0/1/2/3, flag errors
// reported as UNKNOWN (never 1, which Mackerel would show as WARNING), a deadline
// that bounds the whole check, and a configurable status for "could not ask".
package check

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mackerelio/checkers"
	"github.com/sre-suite/mackerel-plugins/lib/cli"
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

// Duration is the suite's one duration type (lib/cli): a bare number is
// seconds ("10"), or a Go duration ("10s", "1500ms", "2m").
type Duration = cli.Duration

// AgentTimeout is mackerel-agent's default timeout_seconds for a check: a
// longer --timeout is accepted, with a warning, since the agent kills the
// check first unless its timeout_seconds is raised too.
const AgentTimeout = 30 * time.Second

// Common are the flags every check takes. Embed it in a check's options
// struct; Parse validates it.
type Common struct {
	Timeout     Duration    `long:"timeout" default:"10s" value-name:"DURATION" description:"bound on the whole check, from the first file read to the last answer: seconds (10) or with a unit (10s, 1500ms)"`
	ErrorStatus ErrorStatus `long:"error-status" default:"critical" value-name:"unknown|warning|critical" description:"status when the target cannot be asked (no answer within --timeout, connection refused, an unusable reply)"`
	Version     bool        `long:"version" description:"print the version and exit"`
}

// VersionWanted reports --version, for cli.Program.Parse.
func (c Common) VersionWanted() bool { return c.Version }

// ErrorStatus is the --error-status value, checked when parsed (by any
// go-flags parser, so also where lib/cli is not used yet). go-flags' choice
// tags would do it, but a repeated struct tag is what staticcheck refuses.
type ErrorStatus string

// UnmarshalFlag implements go-flags' Unmarshaler.
func (e *ErrorStatus) UnmarshalFlag(s string) error {
	switch s {
	case "unknown", "warning", "critical":
		*e = ErrorStatus(s)
		return nil
	}
	return fmt.Errorf("%q: want unknown, warning or critical", s)
}

// Validate refuses a timeout of 0: it would fail every check as "no answer".
func (c *Common) Validate() error {
	if c.Timeout <= 0 {
		return fmt.Errorf("--timeout %s: want more than 0 (10, 10s, 1500ms)", c.Timeout)
	}
	return nil
}

// Warnings says when --timeout is above mackerel-agent's default.
func (c *Common) Warnings() []string {
	if c.Timeout.D() > AgentTimeout {
		return []string{fmt.Sprintf("--timeout %s is above mackerel-agent's default timeout_seconds (30): raise timeout_seconds in mackerel-agent.conf too, or the agent kills the check first", c.Timeout)}
	}
	return nil
}

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
}

// New returns a Check named name (as its lines begin) for the binary of that
// version, which writes to the process's stdout and stderr.
func New(name, binary, version string) *Check {
	return &Check{Name: name, Binary: binary, Version: version, Stdout: os.Stdout, Stderr: os.Stderr}
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
	os.Exit(int(r.Status))
}

// ExitCodes is the end of every check's --help.
const ExitCodes = `Exit codes (mackerel-agent's check statuses):
  0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. A bad flag or value is UNKNOWN, in
  one line that names the flag and what to use instead; --help and
  --version exit 0. The message is the one line on stdout ("<Name> <STATUS>:
  ..."); Mackerel shows its first 1024 characters.`

// Command completes p for this check: its name and version, its manual
// ending with the exit codes, and bad input reported as one UNKNOWN line
// on stdout, exit 3, so that Mackerel never shows a usage text (or a go-flags
// exit 1, which it would take for WARNING).
func (c *Check) Command(p cli.Program) cli.Program {
	if p.Name == "" {
		p.Name = c.Binary
	}
	p.Version = c.Version
	p.Manual = strings.TrimRight(p.Manual, "\n") + "\n\n" + ExitCodes
	p.BadInput = func(msg string) cli.Outcome {
		return cli.Outcome{Stdout: c.Line(Result{Status: Unknown, Message: msg + " (see --help)"}) + "\n", Code: int(Unknown), Done: true}
	}
	return p
}

// Execute is a check's whole run without exiting: parse args into opts with
// p (see Command), and unless that ends the run (--help, --version, a bad
// flag), call run and print its one line. It returns the exit code.
func (c *Check) Execute(p cli.Program, opts any, args []string, run func() Result) int {
	_, out := c.Command(p).Parse(opts, args)
	out.Print(c.Stdout, c.Stderr)
	if out.Done {
		return out.Code
	}
	r := run()
	fmt.Fprintln(c.Stdout, c.Line(r))
	return int(r.Status)
}

// Main is Execute on the process's arguments, then exit.
func (c *Check) Main(p cli.Program, opts any, run func() Result) {
	os.Exit(c.Execute(p, opts, os.Args[1:], run))
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
