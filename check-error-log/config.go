package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/sre-suite/mackerel-plugins/lib/check"
	"github.com/sre-suite/mackerel-plugins/lib/cli"
	"github.com/sre-suite/mackerel-plugins/lib/state"
)

// webhookEnv is the environment variable the Slack webhook URL may come from.
const webhookEnv = "SLACK_WEBHOOK_URL"

// config is the validated options, ready to run.
type config struct {
	o         options
	patterns  []*regexp.Regexp
	excludes  []*regexp.Regexp
	norm      *normalizer
	host      string
	webhook   string // secret: never printed
	statePath string
	status    check.Status
}

func compileAll(flag string, exprs []string) ([]*regexp.Regexp, error) {
	var out []*regexp.Regexp
	for _, e := range exprs {
		re, err := regexp.Compile(e)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %v", flag, e, err)
		}
		out = append(out, re)
	}
	return out, nil
}

func newConfig(o options, getenv func(string) string) (*config, error) {
	c := &config{o: o}
	if err := checkFleet(&o.fleetOptions); err != nil {
		return nil, err
	}
	if o.FleetPost {
		return newFleetPostConfig(c, getenv)
	}
	if len(o.Files) == 0 {
		return nil, errors.New("no log file given: use --file PATH (see --help)")
	}
	if len(o.Patterns) == 0 {
		return nil, errors.New("no --pattern given: say which lines are errors, e.g. --pattern 'PHP (Fatal|Parse) error' (see --help)")
	}
	var err error
	if c.patterns, err = compileAll("--pattern", o.Patterns); err != nil {
		return nil, err
	}
	if c.excludes, err = compileAll("--exclude", o.Excludes); err != nil {
		return nil, err
	}
	if c.norm, err = newNormalizer(o.MaskNumbers, o.Masks); err != nil {
		return nil, err
	}
	switch {
	case o.Warning < 0:
		return nil, fmt.Errorf("--warning %d: want 0 (never) or more", o.Warning)
	case o.Critical < 0:
		return nil, fmt.Errorf("--critical %d: want 0 (never) or more", o.Critical)
	case o.MaxPosts < 1:
		return nil, fmt.Errorf("--max-posts-per-hour %d: want at least 1", o.MaxPosts)
	case o.MaxGroups < 1:
		return nil, fmt.Errorf("--max-groups %d: want at least 1", o.MaxGroups)
	case o.MaxTraceLines < 0:
		return nil, fmt.Errorf("--max-trace-lines %d: want 0 or more", o.MaxTraceLines)
	case o.MaxReadBytes < 1:
		return nil, fmt.Errorf("--max-read-bytes %d: want at least 1", o.MaxReadBytes)
	case o.MaxLineBytes < 256 || o.MaxLineBytes > 16<<20:
		return nil, fmt.Errorf("--max-line-bytes %d: want 256 to 16777216", o.MaxLineBytes)
	case o.Timeout.D() <= 0:
		return nil, errors.New("--timeout must be more than 0")
	case o.SlackTimeout.D() <= 0:
		return nil, errors.New("--slack-timeout must be more than 0")
	}
	c.status = statusNames[string(o.Status)]
	c.host = o.HostName
	if c.host == "" {
		if c.host, err = os.Hostname(); err != nil {
			return nil, fmt.Errorf("host name: %v (give --host-name)", err)
		}
	}
	if c.webhook, err = webhookURL(o, getenv); err != nil {
		return nil, err
	}
	files := make([]string, len(o.Files))
	for i, f := range o.Files {
		if files[i], err = filepath.Abs(f); err != nil {
			return nil, fmt.Errorf("--file %q: %v", f, err)
		}
	}
	// The state belongs to this set of logs and patterns: two checks with
	// different patterns on one log must not advance each other's offsets.
	sort.Strings(files)
	key := append([]string{strings.Join(files, "\x01")}, o.Patterns...)
	key = append(key, "\x02")
	key = append(key, o.Excludes...)
	dir := o.StateDir
	if dir == "" {
		dir = state.Dir()
	}
	c.statePath = state.PathIn(dir, binaryName, key...)
	return c, nil
}

// webhookURL takes the URL from --slack-webhook-file, else $SLACK_WEBHOOK_URL,
// else --slack-webhook. Errors never quote the URL.
func webhookURL(o options, getenv func(string) string) (string, error) {
	if o.SlackFile != "" && o.SlackWebhook != "" {
		return "", errors.New("give --slack-webhook-file or --slack-webhook, not both")
	}
	raw, from := o.SlackWebhook, "--slack-webhook"
	if o.SlackFile != "" {
		// A FIFO or device here would block the check past its timeout.
		b, err := cli.ReadRegular(o.SlackFile, 64<<10)
		if err != nil {
			return "", fmt.Errorf("--slack-webhook-file: %v", err)
		}
		raw, _, _ = strings.Cut(string(b), "\n")
		from = "--slack-webhook-file " + o.SlackFile
	} else if raw == "" {
		raw, from = getenv(webhookEnv), "$"+webhookEnv
	}
	raw = strings.TrimSpace(raw)
	if raw == "" {
		if o.SlackFile != "" {
			return "", fmt.Errorf("%s is empty", from)
		}
		return "", nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("the Slack webhook URL from %s is not an http(s) URL (not shown: it is a secret)", from)
	}
	return raw, nil
}

// newFleetPostConfig is --fleet-post's config: no logs, a webhook needed.
func newFleetPostConfig(c *config, getenv func(string) string) (*config, error) {
	o := &c.o
	switch {
	case len(o.Files) > 0 || len(o.Patterns) > 0:
		return nil, errors.New("--fleet-post reads no log: drop --file and --pattern (the hosts' checks read them)")
	case o.MaxPosts < 1:
		return nil, fmt.Errorf("--max-posts-per-hour %d: want at least 1", o.MaxPosts)
	case o.Timeout.D() <= 0:
		return nil, errors.New("--timeout must be more than 0")
	case o.SlackTimeout.D() <= 0:
		return nil, errors.New("--slack-timeout must be more than 0")
	}
	var err error
	if c.webhook, err = webhookURL(*o, getenv); err != nil {
		return nil, err
	}
	if c.webhook == "" {
		return nil, fmt.Errorf("--fleet-post posts to Slack: give --slack-webhook-file or $%s", webhookEnv)
	}
	c.status = statusNames[string(o.Status)]
	c.host = "service " + o.FleetService
	c.statePath = fleetPostPath(o)
	return c, nil
}
