package main

import (
	"fmt"
	"regexp"
	"strings"
)

// options are the command-line flags; README.md documents each.
type options struct {
	Files           []string `short:"f" long:"file" value-name:"PATH" description:"access log to read; repeatable; a glob (quote it) is expanded at every run. Positional arguments are taken as files too"`
	Format          string   `long:"format" default:"ltsv" choice:"ltsv" choice:"json" choice:"combined" choice:"common" choice:"nginx" description:"log format; combined/common accept a trailing request-time field"`
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
	Workers         int      `long:"workers" default:"0" value-name:"N" description:"parsing goroutines (default: one per CPU)"`
	StateDir        string   `long:"state-dir" value-name:"DIR" description:"where state files are kept (default: $MACKEREL_PLUGIN_WORKDIR, else the temp dir)"`
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
	}
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
	if o.Prefix == "" || strings.ContainsAny(o.Prefix, "*#") {
		return nil, fmt.Errorf("--metric-key-prefix %q: want a plain metric name", o.Prefix)
	}
	for _, c := range o.Prefix {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return nil, fmt.Errorf("--metric-key-prefix %q: only [-a-zA-Z0-9_.] may be used", o.Prefix)
		}
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
