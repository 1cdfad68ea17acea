// check-error-log is a mackerel-agent check that reads error logs
// incrementally, keeps the lines matching --pattern, groups them by message
// (what varies per occurrence taken out), reports the count to Mackerel and
// posts the groups to Slack. See README.md.
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/check"
	"github.com/sre-suite/mackerel-plugins/lib/cli"
)

var version = "dev"

const binaryName = "check-error-log"

type options struct {
	Files         []string       `long:"file" short:"f" value-name:"PATH" description:"error log to read (repeatable); a glob (quoted) is expanded at every run"`
	Patterns      []string       `long:"pattern" short:"p" value-name:"REGEX" description:"an entry whose first line matches counts as an error (repeatable, any may match; required)"`
	Excludes      []string       `long:"exclude" short:"x" value-name:"REGEX" description:"an entry whose first line matches is ignored, even when --pattern matches (repeatable)"`
	Masks         []string       `long:"mask" value-name:"REGEX" description:"also replace what REGEX matches by <*> before grouping (repeatable), for ids the built-in rules miss"`
	MaskNumbers   bool           `long:"mask-numbers" description:"also replace every number by <n> before grouping (line numbers included)"`
	Warning       int            `long:"warning" short:"w" default:"0" value-name:"N" description:"WARNING when at least N errors were found in this run (0: never)"`
	Critical      int            `long:"critical" short:"c" default:"1" value-name:"N" description:"--status when at least N errors were found in this run (0: never)"`
	Status        statusName     `long:"status" default:"critical" value-name:"critical|warning|unknown|ok" description:"the status --critical raises"`
	HostName      string         `long:"host-name" value-name:"NAME" description:"the host named in messages and posts (default: this machine's host name)"`
	SlackWebhook  string         `long:"slack-webhook" value-name:"URL" description:"post the groups to this Slack incoming webhook; prefer --slack-webhook-file or SLACK_WEBHOOK_URL, as a flag is visible in ps"`
	SlackFile     string         `long:"slack-webhook-file" value-name:"FILE" description:"read the Slack webhook URL from this file (its first line)"`
	SlackTimeout  check.Duration `long:"slack-timeout" default:"5s" value-name:"DURATION" description:"bound on one post to Slack; failed posts are retried while --timeout allows, then kept for the next run"`
	MaxPosts      int            `long:"max-posts-per-hour" default:"30" value-name:"N" description:"post at most N messages to Slack per hour; what is held back is posted as a summary once posts are allowed again"`
	MaxGroups     int            `long:"max-groups" default:"1000" value-name:"N" description:"groups kept in memory per run; further messages are counted in one 'other' group"`
	MaxTraceLines int            `long:"max-trace-lines" default:"50" value-name:"N" description:"lines of a stack trace kept with a group's example (the rest are counted)"`
	MaxReadBytes  int64          `long:"max-read-bytes" default:"268435456" value-name:"BYTES" description:"read at most this much per run; an older backlog is skipped and reported"`
	MaxLineBytes  int            `long:"max-line-bytes" default:"65536" value-name:"BYTES" description:"longer lines are skipped and reported"`
	FromStart     bool           `long:"from-start" description:"on the first run (no state yet), read the logs from their start instead of their end"`
	StateDir      string         `long:"state-dir" value-name:"DIR" description:"where the state (offsets, undelivered posts) is kept (default: $MACKEREL_PLUGIN_WORKDIR, else mackerel-plugins-UID under the temp dir, 0700)"`
	fleetOptions
	check.Common
}

// statusName is the --status value, checked when parsed so that a wrong one
// is a flag error (UNKNOWN).
type statusName string

var statusNames = map[string]check.Status{"critical": check.Critical, "warning": check.Warning, "unknown": check.Unknown, "ok": check.OK}

// UnmarshalFlag implements go-flags' Unmarshaler.
func (s *statusName) UnmarshalFlag(v string) error {
	if _, ok := statusNames[v]; !ok {
		return fmt.Errorf("%q: want critical, warning, unknown or ok", v)
	}
	*s = statusName(v)
	return nil
}

var program = cli.Program{
	Summary: "Reads error logs incrementally, keeps the entries matching --pattern, groups them by message with what varies per occurrence taken out, reports the count as a check and posts the groups to Slack.",
	Descriptions: map[string]string{
		"error-status": "status when a log cannot be read (missing, not a regular file, unreadable, a glob that matches nothing); the other logs are read all the same and the worst status is reported",
	},
	Manual: `Statuses:
  OK              fewer than --warning (and --critical) errors in this run
  WARNING         at least --warning errors in this run
  CRITICAL        at least --critical errors in this run (or the --status chosen)
  --error-status  a log cannot be read (CRITICAL unless --error-status says otherwise)
  UNKNOWN         a bad flag or value; another run of the same check still running;
                  the state cannot be saved; --timeout passed

Across a fleet (see the README): --fleet-redis URL --fleet-service NAME on every host
adds each run's groups to the service's minute in Redis; --fleet-post on one host posts
each closed minute to Slack once, each group with its total and its hosts.

Example:
  check-error-log --file /var/log/php/error.log --pattern 'PHP Fatal error' --critical 1
  ErrorLog CRITICAL: 120 errors in 1 group on web1 ...`,
}

func main() {
	var o options
	check.New("ErrorLog", binaryName, version).Main(program, &o, func() check.Result {
		cfg, err := newConfig(o, os.Getenv)
		if err != nil {
			return check.Resultf(check.Unknown, "%v", err)
		}
		return cfg.run(time.Now())
	})
}
