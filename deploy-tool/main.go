// Command deploy-tool rolls a deploy over app servers without downtime: for
// each batch it takes the servers out of every load balancer (nginx with
// ngx_dynamic_upstream or the Lua drop-in, HAProxy), drains them, runs the
// deploy command, health-checks them and puts them back. See README.md.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/config"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/outage"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/report"
)

// version is stamped by the Makefile (-X main.version).
var version = "dev"

// ConfigFlag is the flag every subcommand takes.
type ConfigFlag struct {
	Config string `short:"c" long:"config" default:"/etc/deploy-tool.toml" value-name:"FILE" description:"deploy-tool's TOML config"`
}

// Exit codes of rollout, down, up and wrapper (the check subcommand uses
// Mackerel's 0–3 instead), chosen from the error by exitCode only.
const (
	exitOK          = 0
	exitFailed      = 1   // a step failed; what was left down is listed
	exitUsage       = 2   // bad flags or config
	exitRefused     = 3   // refused before touching anything: preflight, lock, budget, journal
	exitInterrupted = 130 // stopped by SIGINT/SIGTERM
)

// refusal is a run refused before it touched anything (exit 3). reported
// means the reasons were printed already.
type refusal struct {
	msg      string
	reported bool
}

func (r refusal) Error() string { return r.msg }

func refusedf(format string, args ...any) error {
	return refusal{msg: fmt.Sprintf(format, args...)}
}

// usageError is bad flags or config (exit 2).
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// commandExit is a wrapped command's own non-zero exit code (wrapper passes
// rsync's on).
type commandExit struct {
	name string
	code int
}

func (c commandExit) Error() string { return fmt.Sprintf("%s exited %d", c.name, c.code) }

// reportedError is an error that the run has shown already; it only
// carries the exit code.
type reportedError struct{ err error }

func (r reportedError) Error() string { return r.err.Error() }
func (r reportedError) Unwrap() error { return r.err }

func reported(err error) error {
	if err == nil {
		return nil
	}
	return reportedError{err}
}

// exitCode is the one place an exit code is chosen from an error.
func exitCode(err error) int {
	var (
		ref refusal
		use usageError
		cmd commandExit
	)
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &cmd):
		return cmd.code
	case errors.Is(err, outage.ErrInterrupted):
		return exitInterrupted
	case errors.As(err, &ref):
		return exitRefused
	case errors.As(err, &use):
		return exitUsage
	}
	return exitFailed
}

// exitWith prints an error that the run has not shown yet, and returns its
// exit code.
func exitWith(log *report.Progress, err error) int {
	var rep reportedError
	var ref refusal
	switch {
	case err == nil, errors.As(err, &rep):
	case errors.As(err, &ref) && ref.reported:
	case errors.As(err, &ref):
		log.Printf("refused: %v", err)
	case errors.Is(err, outage.ErrInterrupted):
		log.Printf("stopped: %v", err)
	default:
		log.Printf("ERROR: %v", err)
	}
	return exitCode(err)
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return topBadInput(stderr, "want a subcommand: "+strings.Join(subcommands, ", ")+" or version")
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "rollout":
		return cmdRollout(rest, stdin, stdout, stderr)
	case "down":
		return cmdDown(rest, stdout, stderr)
	case "up":
		return cmdUp(rest, stdout, stderr)
	case "wrapper":
		return cmdWrapper(rest, stdin, stdout, stderr)
	case "status":
		return cmdStatus(rest, stdout, stderr)
	case "check":
		return cmdCheck(rest, stdout, stderr)
	case "version", "--version", "-v":
		if len(rest) > 0 {
			return topBadInput(stderr, fmt.Sprintf("unexpected argument %s: %s goes alone", shownArg(rest[0]), sub))
		}
		fmt.Fprintln(stdout, "deploy-tool", version)
		return exitOK
	case "help", "--help", "-h":
		switch {
		case len(rest) == 0:
			fmt.Fprint(stdout, topManual())
			return exitOK
		case sub == "help" && len(rest) == 1 && slices.Contains(subcommands, rest[0]):
			fmt.Fprint(stdout, subcommandManual(rest[0]))
			return exitOK
		case sub == "help":
			return topBadInput(stderr, fmt.Sprintf("help %s: want one of %s", shownArg(rest[0]), strings.Join(subcommands, ", ")))
		}
		return topBadInput(stderr, "-h/--help shows the manual and goes alone (deploy-tool SUBCOMMAND --help shows one subcommand's)")
	}
	if strings.HasPrefix(sub, "-") && sub != "-" {
		return topFlag(stderr, sub)
	}
	return topBadInput(stderr, fmt.Sprintf("unexpected argument %s: want a subcommand (%s or version)", shownArg(sub), strings.Join(subcommands, ", ")))
}

// setup loads the config and builds the balancers.
func setup(path string, log *report.Progress, stderr io.Writer) (*config.Config, *outage.Cluster, int) {
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintf(stderr, "deploy-tool: %v\n", err)
		return nil, nil, exitUsage
	}
	log.Redact(cfg.Secrets())
	cl, err := outage.NewCluster(cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "deploy-tool: config %s: %v\n", path, cfg.Redact(err.Error()))
		return nil, nil, exitUsage
	}
	return cfg, cl, -1
}

// interrupts turns the first SIGINT/SIGTERM into stop (finish or undo the
// current step) and the second into kill (kill a running command).
func interrupts(log *report.Progress) (stop, kill <-chan struct{}, release func()) {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	s, k := make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() {
		n := 0
		for {
			select {
			case sig := <-ch:
				n++
				if n == 1 {
					log.Printf("%v: finishing or undoing the current step, then stopping (again to kill a running command)", sig)
					close(s)
				} else if n == 2 {
					log.Printf("%v again: killing the running command; its server stays down", sig)
					close(k)
				}
			case <-done:
				return
			}
		}
	}()
	return s, k, func() {
		signal.Stop(ch)
		close(done)
	}
}

func cmdRollout(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var opts RolloutOptions
	if _, code := parseFlags("rollout", &opts, args, stdout, stderr); code >= 0 {
		return code // positional arguments are refused there
	}
	log := report.NewProgress(stdout)
	cfg, cl, code := setup(opts.Config, log, stderr)
	if code >= 0 {
		return code
	}
	stop, kill, release := interrupts(log)
	defer release()
	e := &Engine{
		cfg: cfg, opts: opts, cl: cl, log: log, out: stdout, in: stdin,
		notify: &report.Notifier{URL: cfg.NotifyWebhook, Log: log},
		stop:   stop, kill: kill, runID: newRunID(),
	}
	return exitWith(log, e.Run())
}
