package window

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func TestSectionTOML(t *testing.T) {
	t.Parallel()
	var cfg struct {
		Window Section `toml:"window"`
	}
	_, err := toml.Decode(`
[window]
calendar = "https://calendar.google.com/calendar/ical/x/private-y/basic.ics"
allow = "^deploy"
deny = "freeze|maintenance"
max_age = "6h"
finish_after_window = true
fetch_timeout = 5
`, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	o, err := cfg.Window.Options("/etc/deploy-tool.toml")
	if err != nil {
		t.Fatal(err)
	}
	if o.MaxAge != 6*time.Hour || o.FetchTimeout != 5*time.Second || !o.FinishAfterWindow ||
		!o.Allow.MatchString("deploy slot") || !o.Deny.MatchString("DB maintenance") {
		t.Errorf("Options = %+v", o)
	}
	if !cfg.Window.Configured() || (Section{}).Configured() {
		t.Error("Configured")
	}
	d, err := Section{Calendar: "cal.ics", Allow: "x"}.Options("/etc/deploy/deploy-tool.toml")
	if err != nil || d.Source != "/etc/deploy/cal.ics" || d.MaxAge != DefaultMaxAge || d.FetchTimeout != DefaultFetchTimeout {
		t.Errorf("defaults and a path beside the config: %+v %v", d, err)
	}
}

func TestSectionErrors(t *testing.T) {
	t.Parallel()
	secret := "https://calendar.google.com/calendar/ical/a%40b/private-s3cr3t/basic.ics"
	for _, c := range []struct {
		s    Section
		want string
	}{
		{Section{Allow: "^deploy"}, "window.calendar: missing"},
		{Section{Calendar: secret}, "window.allow: neither allow nor deny is set"},
		{Section{Calendar: secret, Allow: "deploy("}, `window.allow: "deploy(" is not a regular expression: missing closing )`},
		{Section{Calendar: secret, Deny: "[freeze"}, `window.deny: "[freeze" is not a regular expression`},
		{Section{Calendar: "ftp://calendar.example/private-s3cr3t/x.ics", Deny: "x"}, "window.calendar: ftp://calendar.example/…: want an http:// or https:// URL"},
		{Section{Calendar: "https://user:private-s3cr3t@calendar.example/x.ics", Deny: "x"}, "window.calendar: https://calendar.example/…: user info"},
		{Section{Calendar: secret, Deny: "x", FetchTimeout: 1e12}, "window.fetch_timeout: 16m40s: at most 2m0s"},
	} {
		err := c.s.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: %v\nwant %q…", c.s, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("the secret leaks: %v", err)
		}
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://calendar.google.com/calendar/ical/a%40b/private-s3cr3t/basic.ics": "https://calendar.google.com/…",
		"HTTPS://cal.example?token=s3cr3t":                                         "https://cal.example/…",
		"http://u:p@cal.example:8080/x#frag":                                       "http://cal.example:8080/…",
		"/etc/deploy/cal.ics":                                                      "/etc/deploy/cal.ics",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUpcomingAndRender(t *testing.T) {
	t.Parallel()
	jst := zone(t, "Asia/Tokyo")
	s := parseFixture(t, "tokyo.ics", testOptions())
	s.Source, s.Fetched = "https://calendar.google.com/calendar/ical/x/private-s3cr3t/basic.ics", time.Date(2026, 12, 7, 9, 0, 0, 0, jst)
	s.Warning = "calendar https://calendar.google.com/…: fetch answered HTTP 500 Internal Server Error; using the last good copy"
	now := time.Date(2026, 12, 7, 9, 30, 0, 0, jst)
	entries, err := s.Upcoming(now, 3)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := s.Render(&b, now, s.Decide(now), entries); err != nil {
		t.Fatal(err)
	}
	want := `now Mon 2026-12-07 09:30 JST: rollouts refused: outside any deploy window: next "deploy slot" starts Mon 2026-12-07 10:00 JST
calendar https://calendar.google.com/…, fetched Mon 2026-12-07 09:00 JST
warning: calendar https://calendar.google.com/…: fetch answered HTTP 500 Internal Server Error; using the last good copy
window  Mon 2026-12-07 10:00 JST – 12:00 JST  deploy slot
  freeze  Mon 2026-12-07 11:00 JST – 11:30 JST  DB maintenance
window  Tue 2026-12-15 14:00 JST – 16:00 JST  deploy slot
window  Wed 2026-12-23 10:00 JST – 12:00 JST  deploy slot
`
	if b.String() != want {
		t.Errorf("Render:\n%s\nwant:\n%s", b.String(), want)
	}
	// Inside a window, the current one comes first; a window inside a
	// freeze is listed with it.
	entries, _ = s.Upcoming(time.Date(2026, 12, 23, 11, 0, 0, 0, jst), 2)
	if len(entries) != 2 || entries[0].Window.Start.Day() != 23 || len(entries[0].Denies) != 0 ||
		entries[1].Window.Start.Day() != 28 || len(entries[1].Denies) != 1 || entries[1].Denies[0].Summary != "year-end freeze" {
		t.Errorf("Upcoming inside a window: %+v", entries)
	}
}

func TestStopStartingAt(t *testing.T) {
	t.Parallel()
	jst := zone(t, "Asia/Tokyo")
	s := parseFixture(t, "tokyo.ics", testOptions())
	if s.Location().String() != "Asia/Tokyo" {
		t.Errorf("Location = %v, want the calendar's X-WR-TIMEZONE", s.Location())
	}
	d := s.Decide(time.Date(2026, 12, 7, 11, 40, 0, 0, jst))
	o := testOptions()
	if got := o.StopStartingAt(d); !got.Equal(time.Date(2026, 12, 7, 12, 0, 0, 0, jst)) {
		t.Errorf("StopStartingAt = %v, want the window's end", got)
	}
	o.FinishAfterWindow = true
	if got := o.StopStartingAt(d); !got.IsZero() {
		t.Errorf("finish_after_window: StopStartingAt = %v, want none", got)
	}
	o.FinishAfterWindow = false
	if got := o.StopStartingAt(s.Decide(time.Date(2026, 12, 7, 9, 0, 0, 0, jst))); !got.IsZero() {
		t.Errorf("a refused decision: StopStartingAt = %v", got)
	}
}
