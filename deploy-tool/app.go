package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/config"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/outage"
	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/report"
)

// App is one run of deploy-tool: its standard streams, and once a
// subcommand has started, its progress log, config and balancers.
type App struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// kill ends on a second signal: a running command is killed.
	kill context.Context

	log *report.Progress
	cfg *config.Config
	cl  *outage.Cluster
}

// ConfigFlag is the flag every subcommand takes.
type ConfigFlag struct {
	Config string `short:"c" long:"config" default:"/etc/deploy-tool.toml" value-name:"FILE" description:"deploy-tool's TOML config"`
}

// signals makes the contexts a subcommand runs under, given its log.
type signals func(log *report.Progress) (stop, kill context.Context, release func())

// dispatch runs the subcommand args name.
func (app *App) dispatch(args []string, sig signals) error {
	if len(args) == 0 {
		return app.topBadInput("want a subcommand: " + strings.Join(subcommands, ", ") + " or version")
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "rollout":
		var o RolloutOptions
		return app.start(sub, &o, rest, app.stdout, sig, func(ctx context.Context, _ []string) error { return app.Rollout(ctx, o) })
	case "down":
		var o DownOptions
		return app.start(sub, &o, rest, app.stdout, sig, func(ctx context.Context, args []string) error {
			o.Server = args[0]
			return app.Down(ctx, o)
		})
	case "up":
		var o UpOptions
		return app.start(sub, &o, rest, app.stdout, sig, func(ctx context.Context, args []string) error {
			o.Server = args[0]
			return app.Up(ctx, o)
		})
	case "wrapper":
		var o WrapperOptions
		// Its stdout is rsync's protocol: every message goes to stderr.
		return app.start(sub, &o, rest, app.stderr, sig, func(ctx context.Context, args []string) error {
			o.Command = args
			return app.Wrapper(ctx, o)
		})
	case "status":
		var o StatusOptions
		return app.start(sub, &o, rest, app.stderr, sig, func(ctx context.Context, _ []string) error { return app.Status(ctx, o) })
	case "check":
		return app.Check(rest)
	case "window":
		var o WindowOptions
		return app.start(sub, &o, rest, app.stderr, sig, func(ctx context.Context, _ []string) error { return app.Window(ctx, o) })
	}
	return app.topLevel(sub, rest)
}

// start parses a subcommand's flags and arguments (printing --help or one
// line naming a bad one), starts its log and signal handling, and runs it.
func (app *App) start(name string, opts any, args []string, logTo io.Writer, sig signals, body func(context.Context, []string) error) error {
	helpTo := app.stdout
	if name == "wrapper" {
		helpTo = app.stderr
	}
	rest, err := app.parseFlags(name, opts, args, helpTo)
	if err != nil {
		return err
	}
	if err := app.checkArgs(name, rest); err != nil {
		return err
	}
	app.log = report.NewProgress(logTo)
	stop, kill, release := sig(app.log)
	defer release()
	app.kill = kill
	return body(stop, rest)
}

// checkArgs refuses missing or extra positional arguments.
func (app *App) checkArgs(name string, rest []string) error {
	switch {
	case (name == "down" || name == "up") && len(rest) != 1:
		return app.badArgs(name, "want one SERVER (its address, IP:port, or its host in the config), got %d arguments", len(rest))
	case name == "wrapper" && len(rest) == 0:
		return app.badArgs(name, "want the command after --, e.g. -- rsync ARGS...")
	}
	return nil
}

// setup loads the config and builds the balancers.
func (app *App) setup(path string) error {
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintf(app.stderr, "deploy-tool: %v\n", err)
		return usageError{msg: err.Error(), reported: true}
	}
	app.log.Redact(cfg.Secrets())
	cl, err := outage.NewCluster(cfg, app.log)
	if err != nil {
		msg := fmt.Sprintf("config %s: %v", path, cfg.Redact(err.Error()))
		fmt.Fprintf(app.stderr, "deploy-tool: %s\n", msg)
		return usageError{msg: msg, reported: true}
	}
	app.cfg, app.cl = cfg, cl
	return nil
}

// topLevel is everything that is not a subcommand: version, help, and
// mistakes before the subcommand.
func (app *App) topLevel(sub string, rest []string) error {
	switch sub {
	case "version", "--version", "-v":
		if len(rest) > 0 {
			return app.topBadInput(fmt.Sprintf("unexpected argument %s: %s goes alone", shownArg(rest[0]), sub))
		}
		fmt.Fprintln(app.stdout, "deploy-tool", version)
		return nil
	case "help", "--help", "-h":
		switch {
		case len(rest) == 0:
			fmt.Fprint(app.stdout, topManual())
			return nil
		case sub == "help" && len(rest) == 1 && slices.Contains(subcommands, rest[0]):
			fmt.Fprint(app.stdout, subcommandManual(rest[0]))
			return nil
		case sub == "help":
			return app.topBadInput(fmt.Sprintf("help %s: want one of %s", shownArg(rest[0]), strings.Join(subcommands, ", ")))
		}
		return app.topBadInput("-h/--help shows the manual and goes alone (deploy-tool SUBCOMMAND --help shows one subcommand's)")
	}
	if strings.HasPrefix(sub, "-") && sub != "-" {
		return app.topFlag(sub)
	}
	return app.topBadInput(fmt.Sprintf("unexpected argument %s: want a subcommand (%s or version)", shownArg(sub), strings.Join(subcommands, ", ")))
}
