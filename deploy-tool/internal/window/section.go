// Package window decides whether a rollout may start now, from an
// iCalendar calendar (a file, or a URL such as Google Calendar's secret
// iCal address): events whose SUMMARY matches allow are the windows in
// which rollouts may start, events whose SUMMARY matches deny forbid them,
// inside allow windows too.
//
// Parsing and recurrence expansion use maintained libraries from the Go
// module proxy rather than hand-written code: github.com/emersion/go-ical
// (the content-line parser: folding, escapes, parameters, components) and
// github.com/teambition/rrule-go (RRULE expansion, a port of python-dateutil's
// rrule: UNTIL, COUNT, INTERVAL, BYDAY, BYSETPOS…, wall-clock times kept
// across daylight-saving changes). The proxy serves go-ical only as
// v0.0.0-20250329121855-f41e73efc392 and rrule-go up to v1.8.2, the version
// go-ical itself requires. The other parsers it serves either expand no
// recurrences (github.com/arran4/golang-ical) or expand them with their own
// partial RRULE code (github.com/apognu/gocal). go-ical's own
// Component.RecurrenceSet is not used: it reads UNTIL in UTC even for
// all-day events, adds every EXDATE again as an RDATE, and takes one value
// per EXDATE line, so this package builds the rrule.Set itself from the
// properties go-ical parsed (see expand.go).
//
// Time zones: a TZID is looked up as an IANA name (Google Calendar writes
// those), else through the X-LIC-LOCATION of the calendar's VTIMEZONE of that
// TZID. The zone database is compiled in (time/tzdata), so a deploy host
// without /usr/share/zoneinfo computes the same windows. All-day events and
// floating times are in the calendar's X-WR-TIMEZONE, else in
// Options.Location (the rollout's local zone).
package window

import (
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	_ "time/tzdata" // the same windows on a host without a zone database

	"github.com/sre-suite/mackerel-plugins/lib/cli"
)

// Defaults of the [window] section.
const (
	DefaultMaxAge       = 24 * time.Hour
	DefaultFetchTimeout = 10 * time.Second
	maxFetchTimeout     = 2 * time.Minute
)

// Section is the [window] table of a deploy-tool config. Without a
// calendar there is no window check.
type Section struct {
	// Calendar is an http(s) URL of an iCalendar file, or a file path
	// (relative to the config file).
	Calendar string `toml:"calendar"`
	// Allow matches the SUMMARY of the events in which rollouts may start.
	Allow string `toml:"allow"`
	// Deny matches the SUMMARY of the events that forbid rollouts.
	Deny string `toml:"deny"`
	// MaxAge is how long the last good copy of a URL is used when the URL
	// fails. Default 24h.
	MaxAge cli.Duration `toml:"max_age"`
	// FinishAfterWindow lets a rollout that reaches the window's end start
	// its remaining batches.
	FinishAfterWindow bool `toml:"finish_after_window"`
	// FetchTimeout bounds the whole fetch of a URL. Default 10s.
	FetchTimeout cli.Duration `toml:"fetch_timeout"`
}

// Configured reports whether the section asks for a window check.
func (s Section) Configured() bool { return s != Section{} }

// Options are a validated Section.
type Options struct {
	// Source is the calendar's URL, or its path made absolute.
	Source string
	// Allow and Deny match event summaries; either may be nil, not both.
	Allow, Deny       *regexp.Regexp
	MaxAge            time.Duration
	FetchTimeout      time.Duration
	FinishAfterWindow bool
	// Location holds all-day events and floating times of a calendar
	// without X-WR-TIMEZONE. Nil means time.Local.
	Location *time.Location
}

// Validate checks the section; the error names the key.
func (s Section) Validate() error {
	_, err := s.Options("")
	return err
}

// Options validates the section. configPath is the config file: a
// relative calendar path is read beside it. Errors are one line naming the
// key, and never show a URL's path or query (a secret address).
func (s Section) Options(configPath string) (Options, error) {
	o := Options{FinishAfterWindow: s.FinishAfterWindow, MaxAge: DefaultMaxAge, FetchTimeout: DefaultFetchTimeout}
	var err error
	if o.Source, err = s.source(configPath); err != nil {
		return Options{}, err
	}
	if s.Allow == "" && s.Deny == "" {
		return Options{}, bad("allow", `neither allow nor deny is set: set allow (e.g. "^deploy") to the summaries of deploy windows, and/or deny (e.g. "freeze")`)
	}
	if o.Allow, err = compile("allow", s.Allow); err != nil {
		return Options{}, err
	}
	if o.Deny, err = compile("deny", s.Deny); err != nil {
		return Options{}, err
	}
	if s.MaxAge > 0 {
		o.MaxAge = s.MaxAge.D()
	}
	if s.FetchTimeout > 0 {
		o.FetchTimeout = s.FetchTimeout.D()
	}
	if o.FetchTimeout > maxFetchTimeout {
		return Options{}, bad("fetch_timeout", "%v: at most %v (a rollout waits for it)", s.FetchTimeout, maxFetchTimeout)
	}
	return o, nil
}

func bad(key, format string, args ...any) error {
	return fmt.Errorf("window.%s: %s", key, fmt.Sprintf(format, args...))
}

func compile(key, expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, nil
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, bad(key, "%q is not a regular expression: %v", expr, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	return re, nil
}

func (s Section) source(configPath string) (string, error) {
	c := strings.TrimSpace(s.Calendar)
	switch {
	case c == "":
		return "", bad("calendar", "missing: an iCalendar URL (https://…/basic.ics) or file")
	case isURL(c):
		u, err := url.Parse(c)
		if err != nil || u.Host == "" {
			return "", bad("calendar", "%s is not a valid URL: want https://HOST/…", Redact(c))
		}
		if u.User != nil {
			return "", bad("calendar", "%s: user info in the URL is refused", Redact(c))
		}
		return c, nil
	case strings.Contains(c, "://"):
		return "", bad("calendar", "%s: want an http:// or https:// URL, or a file path", Redact(c))
	}
	if !filepath.IsAbs(c) && configPath != "" {
		c = filepath.Join(filepath.Dir(configPath), c)
	}
	return c, nil
}

func isURL(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "https://") || strings.HasPrefix(l, "http://")
}

// Redact shows a calendar source without its secret: a URL as its scheme
// and host only (Google Calendar's secret address has the secret in its
// path), a file path as it is.
func Redact(source string) string {
	scheme, rest, ok := strings.Cut(source, "://")
	if !ok {
		return source
	}
	host, _, _ := strings.Cut(rest, "/")
	host, _, _ = strings.Cut(host, "?")
	host, _, _ = strings.Cut(host, "#")
	if at := strings.LastIndex(host, "@"); at >= 0 {
		host = host[at+1:]
	}
	return strings.ToLower(scheme) + "://" + host + "/…"
}
