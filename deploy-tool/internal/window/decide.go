package window

import (
	"fmt"
	"io"
	"sort"
	"time"
)

// Horizon is how far ahead the next window is looked for.
const Horizon = 400 * 24 * time.Hour

// Decision is whether a rollout may start at a given time.
type Decision struct {
	Allowed bool
	// Event is the window that allows (nil when only deny is set and no
	// freeze is on) or the freeze that forbids (nil when outside any window).
	Event *Occurrence
	// Until is when starting batches stops being allowed (the window's end,
	// or a freeze that starts inside it); zero when none is known within
	// Horizon. Set when Allowed.
	Until time.Time
	// Next is the window that opens next, NextStart when rollouts may start
	// again (zero when not within Horizon). Set when not Allowed.
	Next      *Occurrence
	NextStart time.Time
	// Reason is one line in now's zone.
	Reason string
}

// TimeLayout is how times are shown: "Mon 2026-12-07 10:00 JST".
const TimeLayout = "Mon 2006-01-02 15:04 MST"

// Decide says whether a rollout may start at now. Reasons are in now's
// zone. A calendar that cannot be expanded forbids (the reason says why).
func (s *Schedule) Decide(now time.Time) Decision {
	occ, err := s.between(now, now.Add(Horizon))
	if err != nil {
		return Decision{Reason: s.calendarError(err).Error()}
	}
	t := timeline{occ: occ, allowAll: !s.hasAllow}
	loc := now.Location()
	if t.allowed(now) {
		d := Decision{Allowed: true, Event: t.covering(now, Allow), Until: t.firstWhere(now, false)}
		d.Reason = allowedReason(d, loc)
		return d
	}
	d := Decision{Event: t.covering(now, Deny), NextStart: t.firstWhere(now, true)}
	if !d.NextStart.IsZero() {
		d.Next = t.covering(d.NextStart, Allow)
	}
	d.Reason = refusedReason(d, loc)
	return d
}

// StopStartingAt is when a rollout allowed by d must stop starting new
// batches: the window's end (or a freeze inside it), or zero with
// finish_after_window or when no end is known within Horizon.
func (o Options) StopStartingAt(d Decision) time.Time {
	if !d.Allowed || o.FinishAfterWindow {
		return time.Time{}
	}
	return d.Until
}

// Location is the calendar's own zone (X-WR-TIMEZONE, else
// Options.Location), for showing times as the calendar's owners see them.
func (s *Schedule) Location() *time.Location { return s.loc }

func (s *Schedule) calendarError(err error) error {
	if s.Source == "" {
		return fmt.Errorf("calendar: %w", err)
	}
	return fmt.Errorf("calendar %s: %w", Redact(s.Source), err)
}

func show(t time.Time, loc *time.Location) string { return t.In(loc).Format(TimeLayout) }

func allowedReason(d Decision, loc *time.Location) string {
	until := "no end within the next 400 days"
	if !d.Until.IsZero() {
		until = "until " + show(d.Until, loc)
	}
	if d.Event == nil {
		return "no freeze now (" + until + ")"
	}
	return fmt.Sprintf("inside deploy window %q (%s)", d.Event.Summary, until)
}

func refusedReason(d Decision, loc *time.Location) string {
	var next string
	switch {
	case d.NextStart.IsZero():
	case d.Next != nil && d.NextStart.Equal(d.Next.Start):
		next = fmt.Sprintf("next %q starts %s", d.Next.Summary, show(d.NextStart, loc))
	case d.Next != nil:
		next = fmt.Sprintf("rollouts may start again %s (inside %q)", show(d.NextStart, loc), d.Next.Summary)
	default:
		next = "rollouts may start again " + show(d.NextStart, loc)
	}
	if d.Event == nil {
		if next == "" {
			return "outside any deploy window, and none in the next 400 days"
		}
		return "outside any deploy window: " + next
	}
	freeze := fmt.Sprintf("inside freeze %q (until %s)", d.Event.Summary, show(d.Event.End, loc))
	switch {
	case next == "":
		return freeze + "; no deploy window in the next 400 days"
	case d.Next == nil && d.NextStart.Equal(d.Event.End):
		return freeze
	}
	return freeze + "; " + next
}

// timeline answers questions about the occurrences of one horizon.
type timeline struct {
	occ      []Occurrence
	allowAll bool // no allow pattern: allowed outside freezes
}

func (t timeline) allowed(at time.Time) bool {
	return (t.allowAll || t.covering(at, Allow) != nil) && t.covering(at, Deny) == nil
}

// covering is the occurrence of that kind in force at at that ends last.
func (t timeline) covering(at time.Time, k Kind) *Occurrence {
	var best *Occurrence
	for i := range t.occ {
		o := &t.occ[i]
		if o.Kind == k && !at.Before(o.Start) && at.Before(o.End) && (best == nil || o.End.After(best.End)) {
			best = o
		}
	}
	return best
}

// firstWhere is the first start or end after at where allowed becomes
// want; zero when there is none. One sweep over the edges, counting the
// windows and freezes in force.
func (t timeline) firstWhere(at time.Time, want bool) time.Time {
	type edge struct {
		t             time.Time
		allow, freeze int
	}
	var edges []edge
	allow, freeze := 0, 0
	for _, o := range t.occ {
		a, f := 1, 0
		if o.Kind == Deny {
			a, f = 0, 1
		}
		if !o.End.After(at) {
			continue
		}
		if o.Start.After(at) {
			edges = append(edges, edge{o.Start, a, f})
		} else {
			allow, freeze = allow+a, freeze+f
		}
		edges = append(edges, edge{o.End, -a, -f})
	}
	sort.Slice(edges, func(i, j int) bool { return edges[i].t.Before(edges[j].t) })
	for i := 0; i < len(edges); {
		at := edges[i].t
		for ; i < len(edges) && edges[i].t.Equal(at); i++ {
			allow, freeze = allow+edges[i].allow, freeze+edges[i].freeze
		}
		if ((t.allowAll || allow > 0) && freeze == 0) == want {
			return at
		}
	}
	return time.Time{}
}

// Entry is one line of Upcoming: a window, and the freezes that overlap it.
// With deny only, Window is a freeze and Denies is empty.
type Entry struct {
	Window Occurrence
	Denies []Occurrence
}

// Upcoming lists the window in force at now (if any) and the next ones, n
// in all, each with the freezes that overlap it. With no allow pattern, it
// lists the next n freezes.
func (s *Schedule) Upcoming(now time.Time, n int) ([]Entry, error) {
	occ, err := s.between(now, now.Add(Horizon))
	if err != nil {
		return nil, s.calendarError(err)
	}
	want := Allow
	if !s.hasAllow {
		want = Deny
	}
	var out []Entry
	for _, o := range occ {
		if o.Kind != want || len(out) == n {
			continue
		}
		e := Entry{Window: o}
		for _, d := range occ {
			if want == Allow && d.Kind == Deny && d.Start.Before(o.End) && d.End.After(o.Start) {
				e.Denies = append(e.Denies, d)
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// Render writes what `deploy-tool window` prints: the decision at now,
// where the calendar came from, and the entries, in now's zone.
func (s *Schedule) Render(w io.Writer, now time.Time, d Decision, entries []Entry) error {
	loc := now.Location()
	verdict := "rollouts may start: "
	if !d.Allowed {
		verdict = "rollouts refused: "
	}
	fmt.Fprintf(w, "now %s: %s%s\n", show(now, loc), verdict, d.Reason)
	if s.Source != "" {
		fmt.Fprintf(w, "calendar %s, fetched %s\n", Redact(s.Source), show(s.Fetched, loc))
	}
	if s.Warning != "" {
		fmt.Fprintf(w, "warning: %s\n", s.Warning)
	}
	if len(entries) == 0 {
		_, err := fmt.Fprintln(w, "no window or freeze in the next 400 days")
		return err
	}
	for _, e := range entries {
		fmt.Fprintf(w, "%-7s %s  %s\n", kindWord(e.Window.Kind), span(e.Window, loc), e.Window.Summary)
		for _, d := range e.Denies {
			fmt.Fprintf(w, "  %-7s %s  %s\n", kindWord(d.Kind), span(d, loc), d.Summary)
		}
	}
	return nil
}

func kindWord(k Kind) string {
	if k == Deny {
		return "freeze"
	}
	return "window"
}

// span shows an occurrence's start and end, the end's date only when it
// differs.
func span(o Occurrence, loc *time.Location) string {
	s, e := o.Start.In(loc), o.End.In(loc)
	if s.Format(time.DateOnly) == e.Format(time.DateOnly) {
		return s.Format(TimeLayout) + " – " + e.Format("15:04 MST")
	}
	return s.Format(TimeLayout) + " – " + e.Format(TimeLayout)
}
