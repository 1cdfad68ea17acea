// Command deploy-tool rolls a deploy over app servers without downtime: for
// each batch it takes the servers out of every load balancer (nginx with
// ngx_dynamic_upstream or the Lua drop-in, HAProxy), drains them, runs the
// deploy command, health-checks them and puts them back. See README.md.
//
// This file turns signals into context cancellation and errors into exit
// codes; each subcommand is a method of App in a file of its name, and the
// work is done by the packages under internal/.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/outage"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/report"
)

// version is stamped by the Makefile (-X main.version).
var version = "dev"

// Exit codes of rollout, down, up and wrapper (check uses Mackerel's 0–3
// instead, wrapper passes its command's on), chosen by exitCode only.
const (
	exitOK          = 0
	exitFailed      = 1   // a step failed; what was left down is listed
	exitUsage       = 2   // bad flags or config
	exitRefused     = 3   // refused before touching anything: preflight, lock, budget, journal
	exitInterrupted = 130 // stopped by SIGINT/SIGTERM
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is deploy-tool with its arguments and standard streams: tests drive it.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := &App{stdin: stdin, stdout: stdout, stderr: stderr}
	err := app.dispatch(args, signalContexts)
	return app.exitWith(err)
}

// signalContexts turns the first SIGINT/SIGTERM into the end of stop
// (finish or undo the current step, then stop) and the second into the end
// of kill (kill a running command, which leaves its server down).
func signalContexts(log *report.Progress) (stop, kill context.Context, release func()) {
	stop, stopNow := context.WithCancel(context.Background())
	kill, killNow := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		for n := 1; ; n++ {
			select {
			case sig := <-ch:
				if n == 1 {
					log.Printf("%v: finishing or undoing the current step, then stopping (again to kill a running command)", sig)
					stopNow()
				} else if n == 2 {
					log.Printf("%v again: killing the running command; its server stays down", sig)
					killNow()
				}
			case <-done:
				return
			}
		}
	}()
	return stop, kill, func() {
		signal.Stop(ch)
		close(done)
		stopNow()
		killNow()
	}
}

// exitCode is the one place an exit code is chosen from an error.
func exitCode(err error) int {
	var (
		ref refusal
		use usageError
		cmd commandExit
		chk checkStatus
	)
	switch {
	case err == nil, errors.Is(err, errHelped):
		return exitOK
	case errors.As(err, &chk):
		return chk.code
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
// exit code. Before a subcommand has its progress log, errors go to stderr.
func (app *App) exitWith(err error) int {
	log := app.log
	var (
		rep reportedError
		ref refusal
		use usageError
		chk checkStatus
	)
	switch {
	case err == nil, errors.As(err, &rep), errors.Is(err, errHelped), errors.As(err, &chk):
	case errors.As(err, &ref) && ref.reported, errors.As(err, &use) && use.reported:
	case log == nil:
		fmt.Fprintf(app.stderr, "deploy-tool: %v\n", err)
	case errors.As(err, &ref):
		log.Printf("refused: %v", err)
	case errors.Is(err, outage.ErrInterrupted):
		log.Printf("stopped: %v", err)
	default:
		log.Printf("ERROR: %v", err)
	}
	return exitCode(err)
}
