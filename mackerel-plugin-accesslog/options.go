package main

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"github.com/sre-suite/mackerel-plugins/lib/metricname"
)

// options are the command-line flags; README.md documents each.
type options struct {
	Files           []string `short:"f" long:"file" value-name:"PATH" description:"access log to read; repeatable; a glob (quote it) is expanded at every run. Positional arguments are taken as files too"`
	Format          string   `long:"format" default:"auto" choice:"auto" choice:"ltsv" choice:"json" choice:"combined" choice:"common" choice:"apache" choice:"nginx" description:"log format; auto guesses each file's from its first lines (ltsv, json or combined); combined/common (apache: the same) accept a trailing request-time field"`
	NginxLogFormat  string   `long:"nginx-log-format" value-name:"FORMAT" description:"the log_format string pasted from nginx.conf ($remote_addr … $status … $request_time …); implies --format nginx"`
	StatusKey       string   `long:"status-key" default:"status" value-name:"NAME" description:"field holding the HTTP status (LTSV label, JSON key, nginx variable)"`
	TimeKeys        []string `long:"time-key" value-name:"NAME" description:"field holding the request time; repeatable, the first present wins (default: reqtime, request_time, ptime, taken_sec)"`
	UpstreamTimeKey string   `long:"upstream-time-key" default:"upstream_response_time" value-name:"NAME" description:"field holding the upstream time; several values (0.01, 0.02 or 0.1 : 0.2) are summed"`
	TimeUnit        string   `long:"time-unit" default:"s" choice:"s" choice:"ms" choice:"us" description:"unit of the time fields: s (nginx $request_time), ms, us (Apache %D)"`
	Prefix          string   `long:"metric-key-prefix" default:"accesslog" value-name:"PREFIX" description:"first part of every metric name"`
	GroupBy         string   `long:"group-by" value-name:"NAME" description:"also report per value of this field (e.g. vhost, host)"`
	Groups          []string `long:"group" value-name:"NAME=REGEX" description:"also report per group of request paths: the first REGEX that matches the path names the group; repeatable"`
	MaxGroups       int      `long:"max-groups" default:"20" value-name:"N" description:"report at most N groups, the busiest; the rest are summed as \"other\""`
	FromStart       bool     `long:"from-start" description:"on the first run (no state yet), read files from their start instead of their end"`
	MaxReadBytes    int64    `long:"max-read-bytes" default:"1073741824" value-name:"BYTES" description:"read at most this much per run; an older backlog is skipped and reported as skipped_bytes"`
	MaxLineBytes    int      `long:"max-line-bytes" default:"262144" value-name:"BYTES" description:"longer lines are skipped and counted as overlong"`
	Workers         int      `long:"workers" default:"0" value-name:"N" description:"parsing goroutines (default: one per CPU when a run has 16 MiB or more to read, else the reading goroutine alone)"`
	StateDir        string   `long:"state-dir" value-name:"DIR" description:"where state files are kept (default: $MACKEREL_PLUGIN_WORKDIR, else the temp dir)"`
	Posfile         string   `long:"posfile" value-name:"PATH" description:"mackerelio's flag: the state file of the one log file (relative: under $MACKEREL_PLUGIN_WORKDIR/mackerel-plugin-accesslog.d)"`
	NoPosfile       bool     `long:"no-posfile" description:"mackerelio's flag: keep no state, read every file whole at each run (rates are left out)"`
	Verbose         bool     `short:"v" long:"verbose" description:"say on stderr which byte ranges of which files are read, and why"`
	Version         bool     `long:"version" description:"print the version and exit"`
	fleetOptions             // --fleet-*: fleet.go
}

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
	t := reflect.TypeOf(options{})
	for i := range t.NumField() {
		if l := t.Field(i).Tag.Get("long"); l != "" {
			long[l] = true
		}
	}
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
				return nil, fmt.Errorf("unknown flag -%s", name)
			}
		}
		out = append(out, a)
	}
	return out, nil
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

func (o *options) validate() ([]pathGroup, error) {
	if o.MaxGroups < 1 {
		return nil, fmt.Errorf("--max-groups %d: want at least 1", o.MaxGroups)
	}
	if o.MaxReadBytes < 1 {
		return nil, fmt.Errorf("--max-read-bytes %d: want at least 1", o.MaxReadBytes)
	}
	if o.MaxLineBytes < 64 || o.MaxLineBytes > 64<<20 {
		return nil, fmt.Errorf("--max-line-bytes %d: want 64 to 67108864", o.MaxLineBytes)
	}
	if strings.ContainsAny(o.Prefix, "*#") {
		return nil, fmt.Errorf("--metric-key-prefix %q: want a plain metric name, without * or #", o.Prefix)
	}
	if err := metricname.Valid(o.Prefix); err != nil {
		return nil, fmt.Errorf("--metric-key-prefix %q: %v", o.Prefix, err)
	}
	if o.Posfile != "" && (o.NoPosfile || o.StateDir != "") {
		return nil, fmt.Errorf("--posfile excludes --no-posfile and --state-dir")
	}
	if o.Posfile != "" && (len(o.Files) != 1 || strings.ContainsAny(o.Files[0], "*?[")) {
		return nil, fmt.Errorf("--posfile takes exactly one log file; for several, use --state-dir DIR (one state file per log)")
	}
	if o.GroupBy != "" && len(o.Groups) > 0 {
		return nil, fmt.Errorf("--group-by and --group exclude each other")
	}
	var groups []pathGroup
	for _, g := range o.Groups {
		name, expr, ok := strings.Cut(g, "=")
		if !ok || name == "" || expr == "" {
			return nil, fmt.Errorf("--group %q: want NAME=REGEX", g)
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			return nil, fmt.Errorf("--group %q: %v", g, err)
		}
		groups = append(groups, pathGroup{name: name, re: re})
	}
	return groups, nil
}
