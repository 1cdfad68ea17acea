package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// The summary of what was held back counts every message, not only the
// maxHeldGroups it lists: 1,000 groups held were "1000 errors in 100 groups".
func TestSummaryCountsAllGroups(t *testing.T) {
	r := newSlackRig(t, "--max-posts-per-hour", "1")
	thousand := func() {
		var b strings.Builder
		for i := range 1000 {
			fmt.Fprintf(&b, "[01-Dec-2026 11:00:00 UTC] PHP Fatal error:  message %d\n", i)
		}
		appendFile(t, r.log, b.String())
	}
	// The report of 1,000 groups needs many posts: it is held back.
	thousand()
	if res := r.run(); !strings.Contains(res.Message, "held back") {
		t.Fatalf("not held: %q", res.Message)
	}
	// The same messages again: still 1,000 groups, now 2,000 errors.
	thousand()
	r.run()
	r.now = r.now.Add(time.Hour)
	r.run()
	posts, _ := r.slack.got()
	if len(posts) != 1 {
		t.Fatalf("%d posts, want the summary alone", len(posts))
	}
	if want := "[web-1] held back since 11:01 UTC by --max-posts-per-hour 1: 2000 errors in 1000 groups"; !strings.HasPrefix(posts[0], want) {
		t.Errorf("summary begins %q\nwant %q", posts[0][:min(len(posts[0]), 120)], want)
	}
}

// Messages that cannot be told apart (a run's overflow group) make the count
// a lower bound, said as such.
func TestSummaryGroupsLowerBound(t *testing.T) {
	h := &held{}
	gs := []*group{{Key: "a", Count: 2}, {Key: otherKey, Count: 5}}
	h.add(gs, 7, time.Unix(0, 0))
	if got := h.groups(); got != "at least 1 group" {
		t.Errorf("%q", got)
	}
	h = &held{}
	for i := range maxHeldGroups + maxUnlistedKeys + 10 {
		h.add([]*group{{Key: fmt.Sprint(i), Count: 1}}, 1, time.Unix(0, 0))
	}
	if got, want := h.groups(), fmt.Sprintf("at least %d groups", maxHeldGroups+maxUnlistedKeys); got != want {
		t.Errorf("%q, want %q", got, want)
	}
	h = &held{}
	for range 3 {
		for i := range maxHeldGroups + 50 {
			h.add([]*group{{Key: fmt.Sprint(i), Count: 1}}, 1, time.Unix(0, 0))
		}
	}
	if got, want := h.groups(), fmt.Sprintf("%d groups", maxHeldGroups+50); got != want {
		t.Errorf("%q, want %q", got, want)
	}
}
