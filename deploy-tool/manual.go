package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/jessevdk/go-flags"

	"github.com/sre-suite/mackerel-plugins/lib/check"
	"github.com/sre-suite/mackerel-plugins/lib/cli"
)

// The command line: each subcommand is a lib/cli Program (its --help is its
// manual, a flag or value error is one line on stderr with exit 2), and
// `deploy-tool --help` is every subcommand's manual in turn.

// subcommands in the order the manual lists them.
var subcommands = []string{"rollout", "down", "up", "wrapper", "status", "check", "window"}

// newOptions returns a subcommand's empty options struct.
func newOptions(name string) any {
	switch name {
	case "rollout":
		return &RolloutOptions{}
	case "down":
		return &DownOptions{}
	case "up":
		return &UpOptions{}
	case "wrapper":
		return &WrapperOptions{}
	case "status":
		return &StatusOptions{}
	case "check":
		return &CheckOptions{}
	case "window":
		return &WindowOptions{}
	}
	panic("unknown subcommand " + name)
}

const exitCodesManual = `Exit codes:
  0 done; 1 a step failed (what is left down is listed); 2 bad flags or
  config (one line on stderr naming the flag or the key and its line);
  3 refused before touching anything (preflight, lock, budget, journal,
  state directory); 130 interrupted (SIGINT/SIGTERM).`

// integrationsManual is what [window] and [mackerel] do to a rollout
// (window.go, annotate.go).
const integrationsManual = `Deploy windows ([window]): outside every window of the calendar, or
inside a freeze, a rollout (and --resume) is refused before anything is
touched (exit 3), naming the event and the next window's start in local
time; --outside-window REASON starts anyway. No batch starts at or after
the window's end (exit 1, the journal kept) unless finish_after_window.

Mackerel ([mackerel]): each run is a graph annotation on the service (and
roles), created when the first server goes out and updated when the run
ends. With stop_on_alert, alerts already open at the start refuse the
rollout (exit 3) unless --ignore-open-alerts; an alert opened since the
start stops it before the next batch (exit 1, servers left as they are,
the journal kept). A Mackerel that fails or hangs costs one bounded call
and a warning line; what was not posted is posted later (status posts it).`

// rolloutGuardsManual is what a rollout does besides the take-out step:
// several deploy hosts (internal/coord), the gate (gate.go), and the watch
// during the command (watch.go).
const rolloutGuardsManual = `Several deploy hosts: the budget check and the mark-down of a batch run
under the deploy hosts' lock, and the batch's servers are registered as
this run's until they are back up. Another host never picks a registered
server and counts it as unavailable; while a live host's registration
explains why a batch cannot go, the batch waits. With one deploy host (no
[coordination]) the local lock is all there is.

Front-end gate: after each batch is back up (and settle), and before the
next is taken out, gate.url is probed through the service's front end;
every probe must answer gate.status, else the rollout stops with the
servers as they are (the batch just done stays up) and prints each probe.
  [gate]
  url = "http://lb.example/health"   # default: no gate
  status = 200
  probes = 3
  interval = "1s"
  timeout = "2s"

During the deploy command the balancers are read every 200 ms: a server of
the batch found back in rotation (an nginx reload) is taken out again at
once with a WARNING line; if it cannot be, the rollout stops after the
command and says so.`

const durationsManual = `Durations in the config: a bare number is seconds (timeout = 5), or a
string with a unit ("1500ms", "2m").`

const drainManual = `Drain: where a balancer reports requests in flight (HAProxy, the Lua
drop-in) it lasts until they are 0. The ngx_dynamic_upstream C module
reports none: then the drain reads the app's own figure when [drain]
inflight_url (GET, {host} {addr} {port} filled in) or inflight_command
(/bin/sh -c) is set; the answer is one integer (requests in flight besides
this one), or php-fpm's plain status page ("active processes: N", of which
the one answering counts itself). Without it the drain is a timed wait of
drain_wait, printed as "waited Ns (no in-flight count)", and it is refused
before anything is touched unless max_request_time is set (the longest a
request may take: at least nginx's proxy_read_timeout for the upstream) and
drain_wait is at least as long. Every drain is bounded by drain_timeout, on
the monotonic clock (a stopped deploy-tool included). A drain that ends at
drain_timeout, or runs past it, prints "NOT drained" with the requests in
flight and where ("unknown (why)" for a figure that could not be read), and
by default puts the servers back and stops (exit 1); on_drain_timeout =
"deploy" deploys them anyway, reported "ok, NOT drained" and counted on the
final line. Balancers are re-read every 100 ms while draining: a server a
reload put back in rotation is taken down again at once and its drain
starts again.

Health: health.url is asked without following redirects (a 3xx fails
unless health.status names it). The preflight, --dry-run included, asks
every server in rotation that the rollout takes, and refuses, naming it,
one that does not answer, before anything is touched. To deploy a fix to a
broken server: --allow-unhealthy SERVER (it must pass after its deploy).

Placeholders: deploy.command and inflight_command get the server as
$DEPLOY_HOST, $DEPLOY_ADDR and $DEPLOY_PORT; {host} {addr} {port} written
in them are shell-quoted where they stand outside quotes ([::1]:80 would
be a glob pattern). In a URL an IPv6 {host} is bracketed.

max_fails: before taking a server out, nginx's max_fails is set to 0 where
it is above 0 (the requests cut by the restart would otherwise shut the
server out for fail_timeout), the old values saved in state_dir
(deploy-tool.failures.json); they are put back once the server is up again,
answers its health check and fail_timeout has passed since it came back
(at the next batch or at the end of the rollout; up after down). The final
report and status list any left changed.`

// manuals are the text after each subcommand's flags in its --help.
var manuals = map[string]struct{ summary, args, manual string }{
	"rollout": {
		summary: "Roll the deploy over every configured server, batch by batch: take the batch out of every balancer (read back), drain it, run deploy.command, health-check, put it back (read back). A failure stops with the failed server left down and everything else serving.",
		manual: exitCodesManual + `

` + durationsManual + `

` + drainManual + `

` + rolloutGuardsManual + `

` + integrationsManual + `

Example:
  deploy-tool rollout --config /etc/deploy-tool.toml --dry-run
  deploy-tool rollout --config /etc/deploy-tool.toml
  deploy-tool rollout --config /etc/deploy-tool.toml --resume`,
	},
	"down": {
		summary: "Take one server out of every balancer and drain it, with the rollout's own step (read back, put back on any failure; nginx's max_fails 0 until up puts it back; the drain rules of rollout --help). SERVER is its addr (IP:port), its host in the config, or an IP:port the balancers know. Takes the lock; checks max_unavailable and min_up.",
		args:    "SERVER",
		manual: exitCodesManual + `

Example:
  deploy-tool down --config /etc/deploy-tool.toml app2`,
	},
	"up": {
		summary: "Health-check one server and put it back in every balancer, then wait until every balancer serves it, and put back the max_fails that down saved once fail_timeout has passed. SERVER is its addr (IP:port), its host in the config, or an IP:port the balancers know. Takes the lock.",
		args:    "SERVER",
		manual: exitCodesManual + `

Example:
  deploy-tool up --config /etc/deploy-tool.toml app2`,
	},
	"wrapper": {
		summary: "Bracket a command (rsync, through rsync's --rsync-path on the receiving host) with down and up for this host: take --self out and drain it, run the command with its arguments and stdin/stdout untouched, settle, health-check, put it back. Every message goes to stderr (rsync's protocol runs over stdout). rsync -n is run without the bracket.",
		args:    "-- COMMAND [ARGS...]",
		manual: `Exit codes:
  the command's own exit code once it ran (the host is left down when it
  fails); otherwise as rollout: 1 a step failed, 2 bad flags or config,
  3 refused before touching anything, 130 interrupted.

Example:
  rsync -a --delete \
    --rsync-path='deploy-tool wrapper --config /etc/deploy-tool.toml --self 10.0.1.1:5000 -- rsync' \
    build/ app1:/srv/app/`,
	},
	"status": {
		summary: "Print every server of every upstream on every balancer (state, HAProxy health, requests in flight, nginx's max_fails/fail_timeout), the lock's holder, any unfinished rollout, and any max_fails that deploy-tool set to 0 and has not put back yet.",
		manual: `Exit codes:
  0 every balancer and the journal were read; 1 a balancer or the journal
  cannot be read (the rest is printed); 2 bad flags or config.

Example:
  deploy-tool status --config /etc/deploy-tool.toml --json`,
	},
	"window": {
		summary: "Print whether a rollout may start now under the [window] calendar, where the calendar came from (and a warning when its last good copy is used), and the current and next deploy windows with the freezes that overlap them, in local time.",
		manual: `Exit codes:
  0 a rollout may start now; 1 the calendar cannot be read (and no good
  copy younger than window.max_age is kept); 2 bad flags, or a config
  without [window]; 3 a rollout would be refused now.

Example:
  deploy-tool window --config /etc/deploy-tool.toml --count 3`,
	},
	"check": {
		summary: "A mackerel-agent check on the deploy host: CRITICAL when an upstream of a balancer has fewer than min_up servers serving, WARNING when a server has been out of rotation longer than --stuck-after while no rollout holds the lock. The first time each server was seen down is kept in $MACKEREL_PLUGIN_WORKDIR.",
		manual: `Statuses:
  OK        every upstream has at least min_up servers up (the line says how
            many entries are down, and the rollout running, if one is)
  WARNING   a server down longer than --stuck-after with no rollout running
  CRITICAL  an upstream with fewer than min_up servers up
  --error-status (default CRITICAL) a balancer cannot be read, or the
            whole check did not finish within --timeout
  UNKNOWN   a bad flag, a config that does not load, the check's state
            that cannot be loaded or saved, or a corrupt journal

Example (mackerel-agent.conf):
  [plugin.checks.deploy]
  command = ["deploy-tool", "check", "--config", "/etc/deploy-tool.toml", "--stuck-after", "15m"]
  check_interval = 1

  deploy-tool CRITICAL: lb1/app_zone: 1 of 3 servers up < min_up 2`,
	},
}

// hints answer flags that other binaries of the suite have.
var hints = map[string]string{
	"version": "deploy-tool --version (or deploy-tool version) prints it",
	"timeout": "the bounds are in the config: deploy.timeout, drain_timeout, up_timeout, health.timeout, and each [[balancer]]'s timeout",
}

// program is the lib/cli Program of one subcommand other than check.
func program(name string) cli.Program {
	m := manuals[name]
	p := cli.Program{
		Name: "deploy-tool " + name, Version: version,
		Summary: m.summary, Args: m.args, Manual: m.manual,
		Hints: hints,
	}
	if name == "wrapper" {
		// rsync appends its own flags (--server, --sender) to the command
		// in --rsync-path: without -- they are taken for the wrapper's.
		p.Hints = map[string]string{"version": hints["version"], "timeout": hints["timeout"],
			"server": "the command goes after --: --rsync-path='deploy-tool wrapper --self ADDR -- rsync'",
			"sender": "the command goes after --: --rsync-path='deploy-tool wrapper --self ADDR -- rsync'"}
	}
	p.BadInput = func(msg string) cli.Outcome { return badInput(p, msg) }
	return p
}

// badInput is a flag or value error of a subcommand: one line on stderr;
// parseFlags turns it into a usageError (exit 2, chosen in main.go).
func badInput(p cli.Program, msg string) cli.Outcome {
	return p.PlainBadInput(msg)
}

// checkCommand is `deploy-tool check` as a lib/check check: its lines begin
// "deploy-tool", a bad flag is one UNKNOWN line, exit 3.
func checkCommand(stdout, stderr io.Writer) (*check.Check, cli.Program) {
	c := check.New("deploy-tool", "deploy-tool", version)
	c.Stdout, c.Stderr = stdout, stderr
	m := manuals["check"]
	return c, cli.Program{Name: "deploy-tool check", Summary: m.summary, Manual: m.manual}
}

// parseFlags parses a subcommand's flags. It prints --help (errHelped), or
// a flag or value error (a usageError), and returns the positional
// arguments. wrapper passes stderr as stdout: its stdout is rsync's protocol.
func (app *App) parseFlags(name string, opts any, args []string, stdout io.Writer) ([]string, error) {
	rest, out := program(name).Parse(opts, args)
	out.Print(stdout, app.stderr)
	switch {
	case out.Done && out.Code == 0:
		return nil, errHelped
	case out.Done:
		return nil, usageError{msg: strings.TrimSpace(out.Stderr), reported: true}
	}
	return rest, nil
}

// badArgs reports a wrong positional argument of a subcommand (a SERVER
// that is missing or unknown) as its flag errors are: one line, exit 2.
func (app *App) badArgs(name string, format string, args ...any) error {
	o := badInput(program(name), fmt.Sprintf(format, args...))
	o.Print(io.Discard, app.stderr)
	return usageError{msg: fmt.Sprintf(format, args...), reported: true}
}

// subcommandManual is `deploy-tool NAME --help`.
func subcommandManual(name string) string {
	var out cli.Outcome
	if name == "check" {
		c, p := checkCommand(io.Discard, io.Discard)
		_, out = c.Command(p).Parse(newOptions(name), []string{"--help"})
	} else {
		_, out = program(name).Parse(newOptions(name), []string{"--help"})
	}
	return out.Stdout
}

const topSummary = `deploy-tool: zero-downtime rollouts over nginx (ngx_dynamic_upstream or the
Lua drop-in) and HAProxy. For each batch of servers it takes them out of
every load balancer, drains them, runs the deploy command, health-checks
them and puts them back; every change is read back from every balancer.

Usage:
  deploy-tool rollout [--config FILE] [--dry-run] [--resume] [--allow-down] [--allow-unhealthy SERVER] [--discard-journal] [--yes]
  deploy-tool down    [--config FILE] [--force] SERVER
  deploy-tool up      [--config FILE] [--skip-health] SERVER
  deploy-tool wrapper [--config FILE] --self ADDR -- rsync ARGS...
  deploy-tool status  [--config FILE] [--json]
  deploy-tool check   [--config FILE] [--stuck-after 15m] [--timeout 10s] [--error-status critical]
  deploy-tool version | --version
  deploy-tool --help | SUBCOMMAND --help | help SUBCOMMAND

` + exitCodesManual + `
  check uses Mackerel's statuses instead (0 OK, 1 WARNING, 2 CRITICAL,
  3 UNKNOWN, a bad flag included); wrapper exits with its command's code.

` + durationsManual + `

Example:
  deploy-tool rollout --config /etc/deploy-tool.toml --dry-run
  deploy-tool rollout --config /etc/deploy-tool.toml

Every subcommand's manual follows.
`

// topManual is `deploy-tool --help`: the summary, then every subcommand's
// --help.
func topManual() string {
	var b strings.Builder
	b.WriteString(topSummary)
	for _, name := range subcommands {
		b.WriteString("\n--- deploy-tool " + name + " ---\n\n")
		b.WriteString(subcommandManual(name))
	}
	return b.String()
}

// topBadInput is a mistake before the subcommand: one line on stderr, exit 2.
func (app *App) topBadInput(msg string) error {
	fmt.Fprintf(app.stderr, "deploy-tool: %s (see --help)\n", msg)
	return usageError{msg: msg, reported: true}
}

// topFlag answers a flag given before the subcommand (or to no subcommand),
// naming the subcommands that take it.
func (app *App) topFlag(arg string) error {
	name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
	typed := "--" + name
	if !strings.HasPrefix(arg, "--") {
		typed = "-" + name
	}
	var takers []string
	for _, sub := range subcommands {
		p := flags.NewParser(newOptions(sub), flags.None)
		if len([]rune(name)) == 1 && p.FindOptionByShortName([]rune(name)[0]) != nil ||
			len([]rune(name)) > 1 && p.FindOptionByLongName(name) != nil {
			takers = append(takers, "deploy-tool "+sub+" "+typed)
		}
	}
	if len(takers) == len(subcommands) {
		takers = []string{"deploy-tool SUBCOMMAND " + typed}
	}
	if len(takers) == 0 {
		return app.topBadInput("unknown flag " + typed + ": deploy-tool takes a subcommand first")
	}
	return app.topBadInput("unknown flag " + typed + " before the subcommand: flags go after it (" + strings.Join(takers, ", ") + ")")
}

// shownArg quotes a stray argument, except a URL, which may carry a secret
// (a webhook's path).
func shownArg(a string) string {
	if strings.Contains(a, "://") {
		return "(a URL, not shown: it may hold a secret)"
	}
	return strconv.Quote(a)
}
