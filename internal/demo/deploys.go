package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/sre-suite/mackerel-plugins/lib/mackereltest"
)

// deploy-tool's [mackerel] and [window] in the demo: the rollout is drawn
// as a graph annotation on a local fake Mackerel API (lib/mackereltest),
// and a second rollout is refused by a freeze in the deploy calendar.

const demoAPIKey = "demo-key"

// integrations starts the fake Mackerel API, writes the deploy calendar
// (a deploy slot now), and returns deploy-tool's [mackerel] and [window]
// sections for it.
func (d *demo) integrations() (string, error) {
	d.mackerel = mackereltest.New(demoAPIKey)
	key := filepath.Join(d.dir, "mackerel.key")
	if err := os.WriteFile(key, []byte(demoAPIKey+"\n"), 0o600); err != nil {
		return "", err
	}
	d.calendar = filepath.Join(d.dir, "deploys.ics")
	now := time.Now()
	if err := writeCalendar(d.calendar, calEvent{"deploy slot", now.Add(-time.Hour), now.Add(2 * time.Hour)}); err != nil {
		return "", err
	}
	return fmt.Sprintf("[mackerel]\nservice = \"demo\"\nroles = [\"app\"]\napikey_file = %q\napibase = %q\nstop_on_alert = true\ntimeout = \"2s\"\n\n"+
		"[window]\ncalendar = %q\nallow = \"^deploy\"\ndeny = \"freeze\"\n\n", key, d.mackerel.URL, d.calendar), nil
}

type calEvent struct {
	summary    string
	start, end time.Time
}

// writeCalendar writes events as Google Calendar exports them.
func writeCalendar(path string, events ...calEvent) error {
	stamp := func(t time.Time) string { return t.UTC().Format("20060102T150405Z") }
	var b strings.Builder
	b.WriteString("BEGIN:VCALENDAR\r\nPRODID:-//Google Inc//Google Calendar 70.9054//EN\r\nVERSION:2.0\r\nCALSCALE:GREGORIAN\r\n")
	for i, e := range events {
		fmt.Fprintf(&b, "BEGIN:VEVENT\r\nDTSTART:%s\r\nDTEND:%s\r\nDTSTAMP:%s\r\nUID:demo-%d@google.com\r\nSUMMARY:%s\r\nEND:VEVENT\r\n",
			stamp(e.start), stamp(e.end), stamp(e.start), i, e.summary)
	}
	b.WriteString("END:VCALENDAR\r\n")
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// showAnnotation prints the graph annotation the rollout posted, as the
// fake Mackerel API received it.
func (d *demo) showAnnotation() error {
	step("6. the rollout as a graph annotation on service demo (what the fake Mackerel API received)")
	anns := d.mackerel.Annotations()
	if len(anns) != 1 {
		return fmt.Errorf("the fake Mackerel API holds %d annotations, want the rollout's one", len(anns))
	}
	a := anns[0]
	fmt.Printf("title: %s\nroles: %s; from %s to %s\n", a.Title, strings.Join(a.Roles, ","),
		time.Unix(a.From, 0).Format(time.TimeOnly), time.Unix(a.To, 0).Format(time.TimeOnly))
	for _, line := range strings.Split(a.Description, "\n") {
		fmt.Printf("  %s\n", line)
	}
	if !strings.Contains(a.Title, "done") {
		return fmt.Errorf("the annotation's title %q does not say done", a.Title)
	}
	return nil
}

// freeze declares a freeze in the calendar, and shows that `window` and a
// second rollout refuse (exit 3), touching nothing.
func (d *demo) freeze() error {
	step("7. a freeze is declared in the deploy calendar: a second rollout is refused, nothing touched")
	now := time.Now()
	if err := writeCalendar(d.calendar, calEvent{"deploy slot", now.Add(-time.Hour), now.Add(2 * time.Hour)},
		calEvent{"code freeze", now.Add(-time.Minute), now.Add(time.Hour)},
		calEvent{"deploy slot", now.Add(24 * time.Hour), now.Add(26 * time.Hour)}); err != nil {
		return err
	}
	for _, sub := range []string{"window", "rollout"} {
		fmt.Printf("$ deploy-tool %s --config %s\n", sub, filepath.Join(out, "deploy.toml"))
		err := d.deploy(sub)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 {
			return fmt.Errorf("deploy-tool %s in a freeze: %v, want exit 3", sub, err)
		}
		fmt.Println("(exit 3)")
	}
	return nil
}
