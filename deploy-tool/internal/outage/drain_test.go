package outage

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sre-suite/mackerel-plugins/deploy-tool/internal/config"
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
	for _, c := range []struct {
		r    drainResult
		want string
	}{
		{drainResult{took: 300 * time.Millisecond, bound: 300 * time.Millisecond, timeout: true,
			left: inflight{n: 2, where: []string{"2 on haproxy for 10.0.0.1:80"}}},
			"NOT drained: drain_timeout 300ms reached after 0.30s with 2 requests still in flight (2 on haproxy for 10.0.0.1:80)"},
		{drainResult{took: 300 * time.Millisecond, bound: 300 * time.Millisecond, timeout: true,
			left: inflight{unknown: []string{"in-flight figure of 10.0.0.1:80 (http://x/): HTTP 500, want 200"}}},
			"NOT drained: drain_timeout 300ms reached after 0.30s with requests in flight unknown (in-flight figure of 10.0.0.1:80 (http://x/): HTTP 500, want 200)"},
		// Issue 19 fix 4: stopped for 10 s during a drain of 5 s at most.
		{drainResult{took: 11110 * time.Millisecond, bound: 5 * time.Second, timeout: true, past: true, timed: []string{"nginx"}},
			"NOT drained: the drain ran 11.11s, past drain_timeout 5s (was deploy-tool stopped, or a read hung?); 0 requests counted in flight at the end"},
	} {
		if got := c.r.String(); got != c.want {
			t.Errorf("%q, want %q", got, c.want)
		}
	}
}

// Issue 19 fix 4: a round that began more than a poll after the bound (a
// stop between rounds), or whose reads took over a second and ended past
// it, is past the bound; the poll's own granularity is not.
func TestPastBound(t *testing.T) {
	const s = time.Second
	for _, c := range []struct {
		start, took time.Duration
		want        bool
	}{
		{5*s + 50*time.Millisecond, 5*s + 60*time.Millisecond, false}, // drain_wait = drain_timeout, polled
		{4 * s, 5*s + 90*time.Millisecond, false},                     // within a poll
		{11 * s, 11*s + 10*time.Millisecond, true},                    // stopped between rounds
		{3 * s, 13 * s, true},                                         // stopped (or hung) during a read
		{300 * time.Millisecond, 400 * time.Millisecond, false},
	} {
		if got := pastBound(c.start, c.took, 5*s); got != c.want {
			t.Errorf("round from %v to %v: %v, want %v", c.start, c.took, got, c.want)
		}
	}
}

// Issue 19 fix 2: a figure that could not be read (garbage, HTTP 500, -1,
// a hang) is unknown with its reason, never counted as a number.
func TestUnreadFigureIsUnknown(t *testing.T) {
	t.Parallel()
	hang := make(chan struct{})
	answers := map[string]func(w http.ResponseWriter){
		"garbage": func(w http.ResponseWriter) { io.WriteString(w, "ready\n") },
		"500":     func(w http.ResponseWriter) { http.Error(w, "oops", http.StatusInternalServerError) },
		"minus":   func(w http.ResponseWriter) { io.WriteString(w, "-1\n") },
		"hang":    func(w http.ResponseWriter) { <-hang },
		"two":     func(w http.ResponseWriter) { io.WriteString(w, "2\n") },
	}
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answers[r.URL.Query().Get("port")](w)
	}))
	defer app.Close()
	defer close(hang) // before Close, which waits for the handlers
	var servers []config.Server
	for name := range answers {
		servers = append(servers, config.Server{Addr: name + ":1", Host: name, Port: 1})
	}
	o := &Outage{times: Timings{Inflight: config.Drain{InflightURL: app.URL + "/inflight?port={host}", Timeout: config.Duration(200 * time.Millisecond)}}}
	got := o.appInflight(servers, map[string]int{})
	if got.n != 2 || len(got.unknown) != 4 {
		t.Fatalf("read %+v, want 2 in flight and 4 unknown", got)
	}
	line := drainResult{took: time.Second, bound: time.Second, timeout: true, left: got}.String()
	for _, want := range []string{"2 requests still in flight (2 in the app of two:1)", "requests in flight unknown (", "want one number", "HTTP 500", "-1 is negative", "deadline exceeded"} {
		if !strings.Contains(line, want) {
			t.Errorf("%q lacks %q", line, want)
		}
	}
	if strings.Contains(line, "6 requests") || strings.Contains(line, "3 requests") {
		t.Errorf("a figure not read was counted: %q", line)
	}
}
