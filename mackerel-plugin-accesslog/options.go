package main

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/sre-suite/mackerel-plugins/lib/cli"
	"github.com/sre-suite/mackerel-plugins/lib/metricname"
)

// options are the command-line flags; README.md documents each.
type options struct {
	Files           []string `short:"f" long:"file" value-name:"PATH" description:"access log to read; repeatable; a glob (quote it) is expanded at every run. Positional arguments are taken as files too"`
	Format          string   `long:"format" default:"auto" value-name:"FORMAT" description:"auto (guess each file's from its first lines: ltsv, json or combined), ltsv, json, combined, common (apache: the same; both accept a trailing request-time field), or nginx, with --nginx-log-format"`
	NginxLogFormat  string   `long:"nginx-log-format" value-name:"FORMAT" description:"the log_format string pasted from nginx.conf ($remote_addr … $status … $request_time …); implies --format nginx"`
	StatusKey       string   `long:"status-key" default:"status" value-name:"NAME" description:"field holding the HTTP status (LTSV label, JSON key, nginx variable)"`
	TimeKeys        []string `long:"time-key" value-name:"NAME" description:"field holding the request time; repeatable, the first present wins (default: reqtime, request_time, ptime, taken_sec)"`
	UpstreamTimeKey string   `long:"upstream-time-key" default:"upstream_response_time" value-name:"NAME" description:"field holding the upstream time (with the default, apptime is tried next); several values (0.01, 0.02 or 0.1 : 0.2) are summed"`
	TimeUnit        string   `long:"time-unit" default:"s" value-name:"UNIT" description:"unit of the time fields: s (nginx $request_time), ms, us (Apache %D)"`
	Prefix          string   `long:"metric-key-prefix" default:"accesslog" value-name:"PREFIX" description:"first part of every metric name"`
	GroupBy         string   `long:"group-by" value-name:"NAME" description:"also report per value of this field (e.g. vhost, host)"`
	Groups          []string `long:"group" value-name:"NAME=REGEX" description:"also report per group of request paths: the first REGEX that matches the path names the group; repeatable"`
	MaxGroups       int      `long:"max-groups" default:"20" value-name:"N" description:"report at most N groups (at least 1), the busiest; the rest are summed as \"other\""`
	FromStart       bool     `long:"from-start" description:"on the first run (no state yet), read files from their start instead of their end"`
	MaxReadBytes    int64    `long:"max-read-bytes" default:"1073741824" value-name:"BYTES" description:"read at most this many bytes of each file per run; an older backlog is skipped, said on stderr and reported as skipped.bytes"`
	MaxLineBytes    int      `long:"max-line-bytes" default:"262144" value-name:"BYTES" description:"longer lines are skipped and counted in lines.overlong_count; 64 to 67108864"`
	Workers         int      `long:"workers" value-name:"N" description:"parsing goroutines (default: one per CPU when a run has 16 MiB or more to read, else the reading goroutine alone)"`
	StateDir        string   `long:"state-dir" value-name:"DIR" description:"where state files are kept (default: $MACKEREL_PLUGIN_WORKDIR, else mackerel-plugins-UID under the temp dir, 0700)"`
	Posfile         string   `long:"posfile" value-name:"PATH" description:"mackerelio's flag: the state file of the one log file (relative: in mackerel-plugin-accesslog.d under $MACKEREL_PLUGIN_WORKDIR)"`
	NoPosfile       bool     `long:"no-posfile" description:"mackerelio's flag: keep no state, read every file whole at each run (rates are left out)"`
	Verbose         bool     `short:"v" long:"verbose" description:"say on stderr which byte ranges of which files are read, and why"`
	cli.Version
	fleetOptions // --fleet-*: fleet.go

	groups []pathGroup // --group, compiled by Validate
}

// The values of --format and --time-unit.
var (
	formats   = []string{"auto", formatLTSV, formatJSON, formatCombined, "common", "apache", "nginx"}
	timeUnits = []string{"s", "ms", "us"}
)

type pathGroup struct {
	name string
	re   *regexp.Regexp
}

func (o *options) fields() Fields {
	return Fields{
		Status:       o.StatusKey,
		Times:        o.TimeKeys,
		UpstreamTime: o.UpstreamTimeKey,
		GroupBy:      o.GroupBy,
		TimeUnit:     o.TimeUnit,
		SkipPath:     len(o.Groups) == 0,
	}
}

// normalizeArgs accepts the single-dash spelling of long flags that Go's
// flag package allows, as in mackerelio's plugin (-format=apache,
// -metric-key-prefix x): "-name" and "-name=value" become "--name…" when
// name is one of ours. "-name=value" with a name that is not ours is an
// error naming it (go-flags would read "-formt=x" as -f "ormt=x", a file).
// Anything else is left for the parser to judge.
func normalizeArgs(args []string) ([]string, error) {
	long := map[string]bool{}
	addLongNames(long, reflect.TypeOf(options{}))
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...), nil
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			name, _, hasValue := strings.Cut(a[1:], "=")
			switch {
			case long[name]:
				a = "-" + a
			case hasValue && len(name) > 1:
				if !plainName(name) {
					return nil, fmt.Errorf("unknown flag %q", "-"+name)
				}
				return nil, fmt.Errorf("unknown flag -%s", name)
			}
		}
		out = append(out, a)
	}
	return out, nil
}

// plainName says whether a flag name can be shown unquoted (a loop, not a
// regexp compiled at every run's start for an error path).
func plainName(name string) bool {
	for i, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || i > 0 && strings.ContainsRune("-_.", c)
		if !ok {
			return false
		}
	}
	return name != ""
}

// addLongNames collects the long flag names of t and of the structs it
// embeds (cli.Version, fleetOptions).
func addLongNames(long map[string]bool, t reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			addLongNames(long, f.Type)
		} else if l := f.Tag.Get("long"); l != "" {
			long[l] = true
		}
	}
}

// formatParsers returns the parser of --format, or, for auto, the parsers
// tried on each file (the first is the fallback when none fits).
func (o *options) formatParsers() (fixed namedParser, guess []namedParser, err error) {
	format := o.Format
	if format == "apache" {
		format = formatCombined
	}
	if format != "auto" || o.NginxLogFormat != "" {
		if format == "auto" {
			format = ""
		}
		p, err := NewParser(format, o.NginxLogFormat, o.fields())
		name := format
		if o.NginxLogFormat != "" {
			name = "the --nginx-log-format"
		}
		return namedParser{name, p}, nil, err
	}
	for _, f := range []string{formatLTSV, formatJSON, formatCombined} {
		p, err := NewParser(f, "", o.fields())
		if err != nil {
			if len(guess) == 0 {
				return namedParser{}, nil, err
			}
			continue // e.g. a --group-by that only LTSV and JSON lines have
		}
		guess = append(guess, namedParser{f, p})
	}
	return guess[0], guess, nil
}

// Validate checks the flags' values (lib/cli calls it after parsing) and
// compiles --group.
func (o *options) Validate() error {
	if !slices.Contains(formats, o.Format) {
		return fmt.Errorf("--format %q: want one of %s", o.Format, strings.Join(formats, ", "))
	}
	if !slices.Contains(timeUnits, o.TimeUnit) {
		return fmt.Errorf("--time-unit %q: want s (seconds, nginx's $request_time), ms or us (microseconds, Apache's %%D)", o.TimeUnit)
	}
	if o.MaxGroups < 1 {
		return fmt.Errorf("--max-groups %d: want at least 1", o.MaxGroups)
	}
	if o.MaxReadBytes < 1 {
		return fmt.Errorf("--max-read-bytes %d: want at least 1", o.MaxReadBytes)
	}
	if o.MaxLineBytes < 64 || o.MaxLineBytes > 64<<20 {
		return fmt.Errorf("--max-line-bytes %d: want 64 to 67108864", o.MaxLineBytes)
	}
	if o.Workers < 0 {
		return fmt.Errorf("--workers %d: want 0 (chosen by the run's size) or more", o.Workers)
	}
	if strings.ContainsAny(o.Prefix, "*#") {
		return fmt.Errorf("--metric-key-prefix %q: want a plain metric name, without * or #", o.Prefix)
	}
	if err := metricname.Valid(o.Prefix); err != nil {
		return fmt.Errorf("--metric-key-prefix %q: %v", o.Prefix, err)
	}
	if o.Posfile != "" && (o.NoPosfile || o.StateDir != "") {
		return fmt.Errorf("--posfile excludes --no-posfile and --state-dir")
	}
	if o.GroupBy != "" && len(o.Groups) > 0 {
		return fmt.Errorf("--group-by and --group exclude each other")
	}
	o.groups = nil
	for _, g := range o.Groups {
		name, expr, ok := strings.Cut(g, "=")
		if !ok || name == "" || expr == "" {
			return fmt.Errorf("--group %q: want NAME=REGEX", g)
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			return fmt.Errorf("--group %q: %v", g, err)
		}
		o.groups = append(o.groups, pathGroup{name: name, re: re})
	}
	return nil
}

// validateFiles checks what depends on the files, positional arguments
// included (lib/cli's Validate runs before they are added).
func (o *options) validateFiles() error {
	if len(o.Files) == 0 {
		return fmt.Errorf("no access log given: name it with --file PATH or as an argument")
	}
	if o.Posfile != "" && (len(o.Files) != 1 || strings.ContainsAny(o.Files[0], "*?[")) {
		return fmt.Errorf("--posfile takes exactly one log file; for several, use --state-dir DIR (one state file per log)")
	}
	return nil
}
