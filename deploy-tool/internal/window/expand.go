package window

import (
	"fmt"
	"sort"
	"strings"
	"time"

	ical "github.com/emersion/go-ical"
	"github.com/teambition/rrule-go"
)

// maxSteps bounds the occurrences walked per event and call: the rule is
// walked from DTSTART, so a weekly window since 2015 takes some 600 steps.
const maxSteps = 100_000

// Occurrence is one instance of a window or freeze.
type Occurrence struct {
	Summary    string
	Kind       Kind
	Start, End time.Time
	AllDay     bool
}

// recurrence reads RRULE, RDATE and EXDATE into the event's rule set.
func (p *parser) recurrence(c *ical.Component, ev *event) error {
	rr := c.Props.Values(ical.PropRecurrenceRule)
	rd := c.Props.Values(ical.PropRecurrenceDates)
	if len(rr) == 0 && len(rd) == 0 {
		return nil
	}
	if len(rr) > 1 {
		return fmt.Errorf("%d RRULE lines: one is supported", len(rr))
	}
	set := &rrule.Set{}
	set.DTStart(ev.start)
	if len(rr) == 1 {
		// UNTIL without Z (an all-day event's date) is in DTSTART's zone.
		opt, err := rrule.StrToROptionInLocation(rr[0].Value, ev.start.Location())
		if err != nil {
			return fmt.Errorf("RRULE %q: %v", rr[0].Value, err)
		}
		if opt.Freq > rrule.DAILY { // HOURLY, MINUTELY, SECONDLY
			return fmt.Errorf("RRULE %q: a window or freeze that recurs more often than DAILY is not supported", rr[0].Value)
		}
		opt.Dtstart = ev.start
		r, err := rrule.NewRRule(*opt)
		if err != nil {
			return fmt.Errorf("RRULE %q: %v", rr[0].Value, err)
		}
		set.RRule(r)
	} else {
		set.RDate(ev.start) // RDATE without RRULE: DTSTART is the first
	}
	for _, prop := range rd {
		if err := p.eachTime(prop, set.RDate); err != nil {
			return fmt.Errorf("RDATE: %v", err)
		}
	}
	for _, prop := range c.Props.Values(ical.PropExceptionDates) {
		if err := p.eachTime(prop, set.ExDate); err != nil {
			return fmt.Errorf("EXDATE: %v", err)
		}
	}
	ev.rules = set
	return nil
}

// eachTime calls f with each time of a property that may hold a list
// ("EXDATE;TZID=Europe/London:20261207T100000,20261214T100000").
func (p *parser) eachTime(prop ical.Prop, f func(time.Time)) error {
	for v := range strings.SplitSeq(prop.Value, ",") {
		one := prop
		one.Value = strings.TrimSpace(v)
		t, _, err := p.time(&one)
		if err != nil {
			return err
		}
		f(t)
	}
	return nil
}

// applyOverrides removes each RECURRENCE-ID from its recurring event, and
// adds the moved occurrence in its place unless it is cancelled or no
// longer matches allow or deny.
func (p *parser) applyOverrides(overrides []*ical.Component, masters map[string]*event) error {
	for _, c := range overrides {
		uid, _ := c.Props.Text(ical.PropUID)
		kind, summary := p.classify(c)
		master := masters[uid]
		if master == nil && kind == 0 {
			continue // an instance of an event that is neither window nor freeze
		}
		rid, _, err := p.time(c.Props.Get(ical.PropRecurrenceID))
		if err != nil {
			return fmt.Errorf("event %q (UID %s): RECURRENCE-ID: %v", summary, uid, err)
		}
		if master != nil {
			master.rules.ExDate(rid)
		}
		if kind == 0 || cancelled(c) {
			continue
		}
		c.Props.Del(ical.PropRecurrenceRule) // an instance does not recur
		c.Props.Del(ical.PropRecurrenceDates)
		ev, err := p.event(c, kind, summary)
		if err != nil {
			return err
		}
		if ev != nil {
			p.events = append(p.events, *ev)
		}
	}
	return nil
}

// between lists the occurrences of the schedule that overlap [from, to),
// sorted by start.
func (s *Schedule) between(from, to time.Time) (out []Occurrence, err error) {
	defer func() {
		// rrule-go panics on some rules Parse did not foresee: a calendar
		// that cannot be expanded, not a crash of the rollout.
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("recurrences not understood: %v", r)
		}
	}()
	for i := range s.events {
		ev := &s.events[i]
		add := func(start time.Time) {
			if end := ev.end(start); end.After(from) && start.Before(to) {
				out = append(out, Occurrence{Summary: ev.summary, Kind: ev.kind, Start: start, End: end, AllDay: ev.allDay})
			}
		}
		if ev.rules == nil {
			add(ev.start)
			continue
		}
		next := ev.rules.Iterator()
		for steps := 0; ; steps++ {
			t, ok := next()
			if !ok || !t.Before(to) {
				break
			}
			if steps == maxSteps {
				return nil, fmt.Errorf("event %q (UID %s) recurs more than %d times before %s: too often to expand", ev.summary, ev.uid, maxSteps, to.Format(time.DateOnly))
			}
			add(t)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out, nil
}
