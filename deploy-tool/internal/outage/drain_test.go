package outage

import (
	"strings"
	"testing"
	"time"
)

func TestParseInflight(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
		err  string
	}{
		{"0", 0, ""},
		{" 7\n", 7, ""},
		{"pool:                 www\nprocess manager:      dynamic\nactive processes:     3\nidle processes:       2\n", 2, ""},
		{"active processes: 1\n", 0, ""},
		{"active processes: 0\n", 0, "not a count of 1 or more"},
		{"-1", 0, "negative"},
		{"busy", 0, "want one number"},
		{"", 0, "want one number"},
	} {
		got, err := parseInflight([]byte(c.in))
		switch {
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("%q: %d, %v; want %d", c.in, got, err, c.want)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%q: error %v, want one with %q", c.in, err, c.err)
		}
	}
}

// The drain's report never says "drained" where it only waited.
func TestDrainReportIsTrue(t *testing.T) {
	for _, c := range []struct {
		r    drainResult
		want string
	}{
		{drainResult{took: 3 * time.Second, timed: []string{"nginx"}}, "waited 3.00s (no in-flight count) on nginx"},
		{drainResult{took: time.Second, timed: []string{"nginx"}, counted: []string{"haproxy"}}, "waited 1.00s (no in-flight count) on nginx; in flight 0 on haproxy"},
		{drainResult{took: 500 * time.Millisecond, counted: []string{"haproxy"}}, "drained in 0.50s (in flight 0 on haproxy)"},
		{drainResult{took: 4 * time.Second, timed: []string{"nginx"}, retaken: 1}, "waited 4.00s (no in-flight count) on nginx; taken down again 1 times during it"},
	} {
		if got := c.r.String(); got != c.want {
			t.Errorf("%q, want %q", got, c.want)
		}
	}
}
func TestDrainReportAtTimeout(t *testing.T) {
	r := drainResult{took: 300 * time.Millisecond, counted: []string{"haproxy"}, timeout: true, left: 2}
	if got, want := r.String(), "NOT drained: drain_timeout reached after 0.30s with 2 requests still in flight"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}
