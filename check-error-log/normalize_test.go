package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sre-suite/mackerel-plugins/lib/check"
)

func TestNormalize(t *testing.T) {
	n, err := newNormalizer(false, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ in, want string }{
		{"[01-Dec-2026 11:00:03 UTC] PHP Fatal error:  Uncaught Exception: boom in /app/a.php:42", "PHP Fatal error: Uncaught Exception: boom in /app/a.php:42"},
		{"[01-Dec-2026 11:00:03 Asia/Tokyo] PHP Warning:  x", "PHP Warning: x"},
		{"2026/12/01 11:00:02 [error] 812#812: *10231 open() failed", "[error] open() failed"},
		{"2026/12/01 11:00:02 [emerg] 1#1: bind() to 0.0.0.0:80 failed", "[emerg] bind() to <ip> failed"},
		{"2026-12-01T11:00:02.123Z ERROR job 550e8400-e29b-41d4-a716-446655440000 failed", "ERROR job <uuid> failed"},
		{"2026/12/01 11:00:02.123456 db: retry at 2026-12-01 11:00:05", "db: retry at <time>"},
		{"panic: bad pointer 0xc000128f00", "panic: bad pointer <hex>"},
		{"error: request 4f9c1e2a8b7d6e5f failed", "error: request <id> failed"},
		{"error: token req_8Fk2mQ9xL3vZ7pW1nB4c expired", "error: token <id> expired"},
		{"error: SomeVeryLongClassNameWithoutDigits failed", "error: SomeVeryLongClassNameWithoutDigits failed"},
		{"GET /a?x=1&y=2 failed", "GET /a?<query> failed"},
		// Numbers stay unless asked: a line number tells two errors apart.
		{"PHP Fatal error: x on line 42", "PHP Fatal error: x on line 42"},
	} {
		if got := n.key(c.in); got != c.want {
			t.Errorf("key(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

func TestNormalizeFlags(t *testing.T) {
	n, err := newNormalizer(true, []string{`user=\w+`})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := n.key("error: user=alice failed after 3 tries on line 42"), "error: <*> failed after <n> tries on line <n>"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if _, err := newNormalizer(false, []string{`(`}); err == nil || !strings.Contains(err.Error(), `--mask "("`) {
		t.Errorf("bad --mask: %v", err)
	}
	if _, err := newNormalizer(false, []string{`x*`}); err == nil {
		t.Error("a --mask matching the empty string was accepted")
	}
}

// The message Mackerel keeps is 1,024 characters: the line, its status word
// included, fits, and says how many groups it left out.
func TestMessageFits(t *testing.T) {
	c := newTestConfig(t, nil, "-f", "x.log", "-p", "E")
	ck := check.New("ErrorLog", binaryName, "test")
	for _, keyLen := range []int{10, 200, 2000} {
		f := &findings{}
		for i := range 40 {
			f.groups = append(f.groups, &group{Key: fmt.Sprintf("%02d %s", i, strings.Repeat("é", keyLen)), Count: 40 - i})
			f.total += 40 - i
		}
		f.problems = []string{"log file does not exist: /var/log/app/other.log"}
		r := c.result(f, "Slack: 2 posts not delivered (HTTP 500), kept for the next run")
		line := ck.Line(r)
		if len(line) > maxMessage {
			t.Errorf("key length %d: line of %d bytes", keyLen, len(line))
		}
		if !strings.HasPrefix(line, "ErrorLog CRITICAL: 820 errors in 40 groups on web-1; 1 log not read\nlog file does not exist") ||
			!strings.Contains(line, "more groups not shown)") || !strings.Contains(line, "\n40× 00 ") {
			t.Errorf("key length %d:\n%s", keyLen, line)
		}
	}
}

func TestStatusThresholds(t *testing.T) {
	for _, c := range []struct {
		args  []string
		total int
		want  check.Status
	}{
		{nil, 0, check.OK},
		{nil, 1, check.Critical},
		{[]string{"--critical", "10", "--warning", "3"}, 2, check.OK},
		{[]string{"--critical", "10", "--warning", "3"}, 3, check.Warning},
		{[]string{"--critical", "10", "--warning", "3"}, 10, check.Critical},
		{[]string{"--status", "warning"}, 5, check.Warning},
		{[]string{"--critical", "0", "--warning", "1"}, 500, check.Warning},
	} {
		cfg := newTestConfig(t, nil, append([]string{"-f", "x.log", "-p", "E"}, c.args...)...)
		r := cfg.result(&findings{total: c.total}, "")
		if r.Status != c.want {
			t.Errorf("%v with %d errors: %v, want %v", c.args, c.total, r.Status, c.want)
		}
	}
}

// splitLine ends on any bytes: a run of UTF-8 continuation bytes once made
// it loop forever.
func TestSplitLineInvalidUTF8(t *testing.T) {
	s := strings.Repeat("\x80", 50) + "ok"
	parts := splitLine(s, 10)
	if strings.Join(parts, "") != s {
		t.Errorf("parts %q", parts)
	}
	for _, p := range parts {
		if len(p) > 10 {
			t.Errorf("part of %d bytes", len(p))
		}
	}
	if got := splitLine("aé"+strings.Repeat("é", 10), 6); strings.Join(got, "") != "aé"+strings.Repeat("é", 10) || got[0] != "aéé" {
		t.Errorf("%q", got)
	}
}
