package window

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	ical "github.com/emersion/go-ical"
	"github.com/teambition/rrule-go"
)

// Kind tells a window from a freeze.
type Kind int

const (
	Allow Kind = iota + 1 // a deploy window
	Deny                  // a freeze
)

// event is one VEVENT whose summary matched allow or deny: a single event,
// a recurring one (rule set), or a moved occurrence of a recurring one.
type event struct {
	uid, summary string
	kind         Kind
	start        time.Time
	allDay       bool
	dur          time.Duration // timed events: exact duration
	days         int           // all-day events: nominal days
	rules        *rrule.Set    // nil for a single occurrence
}

// Schedule is a parsed calendar: the windows and freezes it holds.
type Schedule struct {
	events   []event
	loc      *time.Location // of all-day events and floating times
	hasAllow bool           // else rollouts may start outside freezes
	// Source and Fetched say where the copy came from and when (Load sets
	// them). Warning, when set, is a line to show: the last good copy is
	// used because the source failed, or could not be kept.
	Source  string
	Fetched time.Time
	Warning string
}

// Parse reads an iCalendar file. Only events whose SUMMARY matches o.Allow
// or o.Deny are kept (deny wins when both match); an error in one of them
// fails the whole parse, so that a freeze is never lost to a typo, while
// other events are not looked at.
func Parse(data []byte, o Options) (s *Schedule, err error) {
	defer func() {
		// A library panic on a hostile calendar is a bad calendar, not a crash.
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("calendar not understood: %v", r)
		}
	}()
	cal, err := ical.NewDecoder(bytes.NewReader(data)).Decode()
	if err != nil {
		return nil, fmt.Errorf("not an iCalendar file: %v", strings.TrimPrefix(err.Error(), "ical: "))
	}
	p := newParser(cal, o)
	masters := map[string]*event{}
	var overrides []*ical.Component
	for _, c := range cal.Children {
		if c.Name != ical.CompEvent {
			continue
		}
		if c.Props.Get(ical.PropRecurrenceID) != nil {
			// Looked at once the recurring events are known: a renamed
			// instance of a window no longer opens it.
			overrides = append(overrides, c)
			continue
		}
		kind, summary := p.classify(c)
		if kind == 0 {
			continue
		}
		ev, err := p.event(c, kind, summary)
		if err != nil {
			return nil, err
		}
		if ev != nil && ev.uid != "" && ev.rules != nil {
			masters[ev.uid] = ev
		}
		if ev != nil {
			p.events = append(p.events, *ev)
		}
	}
	// The copies in p.events share their masters' rule sets, which the
	// overrides' RECURRENCE-IDs are excluded from.
	if err := p.applyOverrides(overrides, masters); err != nil {
		return nil, err
	}
	return &Schedule{events: p.events, loc: p.loc, hasAllow: o.Allow != nil}, nil
}

// The years a window or freeze may be in.
const minYear, maxYear = 1900, 2999

type parser struct {
	o      Options
	loc    *time.Location
	zones  map[string]*time.Location // TZID → zone, from VTIMEZONE X-LIC-LOCATION
	events []event
}

func newParser(cal *ical.Calendar, o Options) *parser {
	p := &parser{o: o, loc: o.Location, zones: map[string]*time.Location{}}
	if p.loc == nil {
		p.loc = time.Local
	}
	if tz, err := cal.Props.Text("X-WR-TIMEZONE"); err == nil && tz != "" {
		if l, err := loadZone(tz); err == nil {
			p.loc = l
		}
	}
	for _, c := range cal.Children {
		if c.Name != ical.CompTimezone {
			continue
		}
		id, _ := c.Props.Text(ical.PropTimezoneID)
		lic, _ := c.Props.Text("X-LIC-LOCATION")
		if l, err := loadZone(lic); id != "" && lic != "" && err == nil {
			p.zones[id] = l
		}
	}
	return p
}

// loadZone loads an IANA zone name; "Local" (the machine's zone, not the
// calendar's) and path-like names are refused.
func loadZone(name string) (*time.Location, error) {
	if name == "" || name == "Local" || strings.HasPrefix(name, "/") {
		return nil, fmt.Errorf("unknown time zone %q", name)
	}
	return time.LoadLocation(name)
}

func (p *parser) classify(c *ical.Component) (Kind, string) {
	summary, _ := c.Props.Text(ical.PropSummary)
	switch {
	case p.o.Deny != nil && p.o.Deny.MatchString(summary):
		return Deny, summary
	case p.o.Allow != nil && p.o.Allow.MatchString(summary):
		return Allow, summary
	}
	return 0, summary
}

func cancelled(c *ical.Component) bool {
	s, _ := c.Props.Text(ical.PropStatus)
	return strings.EqualFold(s, string(ical.EventCancelled))
}

// event reads one VEVENT (nil when it is cancelled).
func (p *parser) event(c *ical.Component, kind Kind, summary string) (*event, error) {
	uid, _ := c.Props.Text(ical.PropUID)
	ev := &event{uid: uid, summary: summary, kind: kind}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("event %q (UID %s): %s", summary, uid, fmt.Sprintf(format, args...))
	}
	if cancelled(c) {
		return nil, nil
	}
	start := c.Props.Get(ical.PropDateTimeStart)
	if start == nil {
		return nil, fail("no DTSTART")
	}
	var err error
	if ev.start, ev.allDay, err = p.time(start); err != nil {
		return nil, fail("DTSTART: %v", err)
	}
	if err := p.length(c, ev); err != nil {
		return nil, fail("%v", err)
	}
	if err := p.recurrence(c, ev); err != nil {
		return nil, fail("%v", err)
	}
	return ev, nil
}

// time reads a DATE or DATE-TIME property: UTC, in its TZID, or floating
// (in the calendar's zone).
func (p *parser) time(prop *ical.Prop) (time.Time, bool, error) {
	loc := p.loc
	if tzid := prop.Params.Get(ical.PropTimezoneID); tzid != "" {
		l, err := p.zone(tzid)
		if err != nil {
			return time.Time{}, false, err
		}
		loc = l
	}
	bare := *prop
	bare.Params = ical.Params{}
	if v := prop.Params.Get(ical.ParamValue); v != "" {
		bare.Params.Set(ical.ParamValue, v)
	}
	t, err := bare.DateTime(loc)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("%q: %v", prop.Value, strings.TrimPrefix(err.Error(), "ical: "))
	}
	if y := t.Year(); y < minYear || y > maxYear {
		// rrule-go panics on year 0; no deploy window is that far.
		return time.Time{}, false, fmt.Errorf("%q: want a year from %d to %d", prop.Value, minYear, maxYear)
	}
	return t, len(prop.Value) == len("20060102"), nil
}

func (p *parser) zone(tzid string) (*time.Location, error) {
	if l, ok := p.zones[tzid]; ok {
		return l, nil
	}
	l, err := loadZone(tzid)
	if err != nil {
		return nil, fmt.Errorf("TZID %q is neither an IANA zone name nor a VTIMEZONE with X-LIC-LOCATION", tzid)
	}
	p.zones[tzid] = l
	return l, nil
}

// length sets the event's duration from DTEND or DURATION: nominal days for
// an all-day event (a day across a daylight-saving change is 23 or 25 h),
// exact for a timed one (RFC 5545 3.8.5.3).
func (p *parser) length(c *ical.Component, ev *event) error {
	switch end, durp := c.Props.Get(ical.PropDateTimeEnd), c.Props.Get(ical.PropDuration); {
	case end != nil:
		t, allDay, err := p.time(end)
		if err != nil {
			return fmt.Errorf("DTEND: %v", err)
		}
		if allDay != ev.allDay {
			return errors.New("DTSTART and DTEND mix a date and a date-time")
		}
		if t.Before(ev.start) {
			return fmt.Errorf("DTEND %s is before DTSTART %s", end.Value, c.Props.Get(ical.PropDateTimeStart).Value)
		}
		ev.dur = t.Sub(ev.start)
		if ev.allDay {
			ev.days = daysBetween(ev.start, t)
		}
	case durp != nil:
		d, err := durp.Duration()
		if err != nil || d < 0 {
			return fmt.Errorf("DURATION %q is not a positive duration", durp.Value)
		}
		ev.dur = d
		if ev.allDay {
			ev.days = int(d / (24 * time.Hour))
		}
	case ev.allDay:
		ev.days = 1 // RFC 5545 3.6.1: a DATE without DTEND lasts one day
	}
	return nil
}

func daysBetween(a, b time.Time) int {
	ua := time.Date(a.Year(), a.Month(), a.Day(), 0, 0, 0, 0, time.UTC)
	ub := time.Date(b.Year(), b.Month(), b.Day(), 0, 0, 0, 0, time.UTC)
	return int(ub.Sub(ua) / (24 * time.Hour))
}

// end is the end of an occurrence starting at start.
func (ev *event) end(start time.Time) time.Time {
	if ev.allDay {
		return start.AddDate(0, 0, ev.days)
	}
	return start.Add(ev.dur)
}
