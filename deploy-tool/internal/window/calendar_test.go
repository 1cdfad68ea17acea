package window

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

func zone(t testing.TB, name string) *time.Location {
	t.Helper()
	l, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func testOptions() Options {
	return Options{
		Allow:    regexp.MustCompile(`^deploy`),
		Deny:     regexp.MustCompile(`freeze|maintenance`),
		Location: time.UTC, // the fixtures' X-WR-TIMEZONE must win over it
	}
}

func parseFixture(t testing.TB, name string, o Options) *Schedule {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse(data, o)
	if err != nil {
		t.Fatalf("Parse %s: %v", name, err)
	}
	return s
}

// The Tokyo fixture: weekly Mon/Wed 10:00–12:00 slots with an EXDATE, a
// moved, a cancelled and a renamed occurrence, a freeze inside a slot, an
// all-day year-end freeze, and UNTIL.
func TestDecideTokyo(t *testing.T) {
	t.Parallel()
	jst := zone(t, "Asia/Tokyo")
	s := parseFixture(t, "tokyo.ics", testOptions())
	at := func(day, hm string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", day+" "+hm, jst)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		name    string
		now     time.Time
		allowed bool
		reason  string
	}{
		{"before a slot", at("2026-12-06", "22:00"), false, `outside any deploy window: next "deploy slot" starts Mon 2026-12-07 10:00 JST`},
		{"slot start is inside", at("2026-12-07", "10:00"), true, `inside deploy window "deploy slot" (until Mon 2026-12-07 11:00 JST)`},
		{"maintenance inside a slot", at("2026-12-07", "11:10"), false, `inside freeze "DB maintenance" (until Mon 2026-12-07 11:30 JST); rollouts may start again Mon 2026-12-07 11:30 JST (inside "deploy slot")`},
		{"after maintenance", at("2026-12-07", "11:30"), true, `inside deploy window "deploy slot" (until Mon 2026-12-07 12:00 JST)`},
		{"slot end is outside", at("2026-12-07", "12:00"), false, `outside any deploy window: next "deploy slot" starts Tue 2026-12-15 14:00 JST`},
		{"EXDATE", at("2026-12-09", "10:30"), false, `outside any deploy window: next "deploy slot" starts Tue 2026-12-15 14:00 JST`},
		{"moved away", at("2026-12-14", "10:30"), false, `outside any deploy window: next "deploy slot" starts Tue 2026-12-15 14:00 JST`},
		{"moved here", at("2026-12-15", "15:59"), true, `inside deploy window "deploy slot" (until Tue 2026-12-15 16:00 JST)`},
		{"cancelled", at("2026-12-16", "10:30"), false, `outside any deploy window: next "deploy slot" starts Wed 2026-12-23 10:00 JST`},
		{"renamed to lunch", at("2026-12-21", "10:30"), false, `outside any deploy window: next "deploy slot" starts Wed 2026-12-23 10:00 JST`},
		{"all-day freeze", at("2026-12-28", "10:30"), false, `inside freeze "year-end freeze" (until Mon 2027-01-04 00:00 JST); next "deploy slot" starts Mon 2027-01-04 10:00 JST`},
		{"slot on the freeze's first day", at("2026-12-23", "11:00"), true, `inside deploy window "deploy slot" (until Wed 2026-12-23 12:00 JST)`},
		{"last before UNTIL", at("2027-03-31", "11:00"), true, `inside deploy window "deploy slot" (until Wed 2027-03-31 12:00 JST)`},
		{"after UNTIL", at("2027-04-05", "10:30"), false, `outside any deploy window, and none in the next 400 days`},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := s.Decide(c.now)
			if d.Allowed != c.allowed || d.Reason != c.reason {
				t.Errorf("Decide(%s) = %v %q\nwant %v %q", c.now.Format(TimeLayout), d.Allowed, d.Reason, c.allowed, c.reason)
			}
		})
	}
}

func TestDecideFields(t *testing.T) {
	t.Parallel()
	jst := zone(t, "Asia/Tokyo")
	s := parseFixture(t, "tokyo.ics", testOptions())
	d := s.Decide(time.Date(2026, 12, 7, 10, 30, 0, 0, jst))
	if !d.Allowed || d.Event == nil || d.Event.Summary != "deploy slot" ||
		!d.Event.End.Equal(time.Date(2026, 12, 7, 12, 0, 0, 0, jst)) || !d.Until.Equal(time.Date(2026, 12, 7, 11, 0, 0, 0, jst)) {
		t.Errorf("inside a slot before a freeze: %+v", d)
	}
	d = s.Decide(time.Date(2026, 12, 6, 13, 0, 0, 0, time.UTC)) // 22:00 JST
	if d.Allowed || d.Next == nil || !d.NextStart.Equal(time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)) ||
		!strings.HasSuffix(d.Reason, "Mon 2026-12-07 01:00 UTC") {
		t.Errorf("the reason is in now's zone: %+v", d)
	}
}

// A weekly 10:00 window stays at 10:00 local across both daylight-saving
// changes, in London and in New York; EXDATE holds a list; an all-day
// two-day freeze over the change lasts 47 hours.
func TestDaylightSaving(t *testing.T) {
	t.Parallel()
	s := parseFixture(t, "london.ics", testOptions())
	occ, err := s.between(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	starts := map[string][]string{}
	for _, o := range occ {
		starts[o.Summary] = append(starts[o.Summary], o.Start.UTC().Format("01-02 15:04")+"/"+o.End.Sub(o.Start).String())
	}
	for _, c := range []struct {
		summary string
		want    []string // in UTC, with the duration
		absent  []string
	}{
		{"deploy window EU", []string{"03-24 10:00/1h0m0s", "03-31 09:00/1h0m0s", "10-20 09:00/1h0m0s", "10-27 10:00/1h0m0s", "12-01 10:00/1h0m0s"}, []string{"12-08 10:00/1h0m0s"}},
		{"deploy window US", []string{"03-05 15:00/1h30m0s", "03-12 14:00/1h30m0s", "04-02 14:00/1h30m0s", "10-29 14:00/1h30m0s", "11-05 15:00/1h30m0s"}, []string{"03-19 14:00/1h30m0s", "03-26 14:00/1h30m0s"}},
		{"weekend freeze", []string{"03-07 00:00/48h0m0s", "03-28 00:00/47h0m0s", "04-03 23:00/48h0m0s"}, []string{"04-10 23:00/48h0m0s"}},
	} {
		got := strings.Join(starts[c.summary], " ")
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: no occurrence %s in %s", c.summary, w, got)
			}
		}
		for _, a := range c.absent {
			if strings.Contains(got, a) {
				t.Errorf("%s: occurrence %s should not be there: %s", c.summary, a, got)
			}
		}
	}
	if n := len(starts["deploy window EU"]); n != 40 {
		t.Errorf("deploy window EU: %d occurrences, want COUNT=40", n)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	wrap := func(ev string) []byte {
		return []byte("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:x@google.com\r\n" + ev + "END:VEVENT\r\nEND:VCALENDAR\r\n")
	}
	for _, c := range []struct {
		name string
		data []byte
		want string // "" means no error
	}{
		{"not a calendar", []byte("<html>Sign in</html>"), "not an iCalendar file"},
		{"unknown TZID", wrap("SUMMARY:deploy\r\nDTSTART;TZID=Mars/Olympus:20261207T100000\r\n"), `TZID "Mars/Olympus" is neither`},
		{"no DTSTART", wrap("SUMMARY:deploy\r\n"), `event "deploy" (UID x@google.com): no DTSTART`},
		{"bad RRULE", wrap("SUMMARY:deploy\r\nDTSTART:20261207T100000Z\r\nRRULE:FREQ=SOMETIMES\r\n"), `RRULE "FREQ=SOMETIMES"`},
		{"hourly", wrap("SUMMARY:deploy\r\nDTSTART:20261207T100000Z\r\nRRULE:FREQ=HOURLY;INTERVAL=4\r\n"), "more often than DAILY is not supported"},
		{"end before start", wrap("SUMMARY:freeze\r\nDTSTART:20261207T100000Z\r\nDTEND:20261207T090000Z\r\n"), "is before DTSTART"},
		{"a bad unrelated event is ignored", wrap("SUMMARY:lunch\r\nRRULE:FREQ=SOMETIMES\r\n"), ""},
		{"Local is not a zone of the calendar", wrap("SUMMARY:deploy\r\nDTSTART;TZID=Local:20261207T100000\r\n"), `TZID "Local"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(c.data, testOptions())
			switch {
			case c.want == "" && err != nil:
				t.Errorf("Parse: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("Parse: %v, want an error with %q", err, c.want)
			}
		})
	}
}

// A TZID that is no IANA name is found through its VTIMEZONE's
// X-LIC-LOCATION; an all-day event of a calendar without X-WR-TIMEZONE is
// in Options.Location.
func TestZones(t *testing.T) {
	t.Parallel()
	data := []byte("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n" +
		"BEGIN:VTIMEZONE\r\nTZID:/citadel.org/20190914_1/Europe/Paris\r\nX-LIC-LOCATION:Europe/Paris\r\nEND:VTIMEZONE\r\n" +
		"BEGIN:VEVENT\r\nUID:a\r\nSUMMARY:deploy\r\nDTSTART;TZID=/citadel.org/20190914_1/Europe/Paris:20260330T100000\r\nDURATION:PT2H\r\nEND:VEVENT\r\n" +
		"BEGIN:VEVENT\r\nUID:b\r\nSUMMARY:freeze\r\nDTSTART;VALUE=DATE:20260401\r\nEND:VEVENT\r\n" +
		"END:VCALENDAR\r\n")
	o := testOptions()
	o.Location = zone(t, "America/New_York")
	s, err := Parse(data, o)
	if err != nil {
		t.Fatal(err)
	}
	occ, err := s.between(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
	if err != nil || len(occ) != 2 {
		t.Fatalf("between: %v %v", occ, err)
	}
	if got := occ[0].Start.UTC().Format(time.RFC3339) + " " + occ[0].End.UTC().Format("15:04"); got != "2026-03-30T08:00:00Z 10:00" {
		t.Errorf("Paris 10:00 CEST for 2h: got %s", got)
	}
	if got := occ[1].Start.UTC().Format(time.RFC3339) + " " + occ[1].End.UTC().Format(time.RFC3339); got != "2026-04-01T04:00:00Z 2026-04-02T04:00:00Z" {
		t.Errorf("an all-day freeze in New York: got %s", got)
	}
}

// Adjacent windows make one: a rollout started in the first may start
// batches until the second ends. A freeze that matches allow too is a freeze.
func TestAdjacentWindows(t *testing.T) {
	t.Parallel()
	ev := func(uid, summary, start, end string) string {
		return "BEGIN:VEVENT\r\nUID:" + uid + "\r\nSUMMARY:" + summary + "\r\nDTSTART:" + start + "\r\nDTEND:" + end + "\r\nEND:VEVENT\r\n"
	}
	data := []byte("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n" +
		ev("a", "deploy A", "20261207T010000Z", "20261207T030000Z") +
		ev("b", "deploy B", "20261207T030000Z", "20261207T050000Z") +
		ev("c", "deploy freeze", "20261208T010000Z", "20261208T050000Z") +
		"END:VCALENDAR\r\n")
	s, err := Parse(data, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	d := s.Decide(time.Date(2026, 12, 7, 2, 0, 0, 0, time.UTC))
	if !d.Allowed || !d.Until.Equal(time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC)) || d.Event.Summary != "deploy A" {
		t.Errorf("adjacent windows: %+v", d)
	}
	d = s.Decide(time.Date(2026, 12, 8, 2, 0, 0, 0, time.UTC))
	if d.Allowed || d.Event == nil || d.Event.Summary != "deploy freeze" {
		t.Errorf("an event matching allow and deny: %+v", d)
	}
	o := testOptions()
	o.Allow = nil
	s, _ = Parse(data, o)
	entries, err := s.Upcoming(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), 5)
	if err != nil || len(entries) != 1 || entries[0].Window.Summary != "deploy freeze" || entries[0].Window.Kind != Deny {
		t.Errorf("deny only: Upcoming lists the freezes: %+v %v", entries, err)
	}
}
