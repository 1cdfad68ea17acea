package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sre-suite/mackerel-plugins/lib/tail"
)

// A log's NUL, ESC and other control bytes reach the check's message escaped.
func TestMessageEscapesControlBytes(t *testing.T) {
	log := filepath.Join(t.TempDir(), "app.log")
	appendFile(t, log, "ERROR a\x00b \x1b[31mred\x1b[0m \x7f\x08 caf\xc3\xa9 \xff \xc2\x9b end\n")
	c := newTestConfig(t, nil, "-f", log, "-p", "ERROR", "--from-start")
	f, err := c.read(&savedState{Logs: map[string]*tail.State{}}, time.Now(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	msg := c.result(f, "Slack: line one\nline two").Message
	want := `1× ERROR a\x00b \x1b[31mred\x1b[0m \x7f\x08 café \xff \u009b end`
	if !strings.Contains(msg, "\n"+want) {
		t.Errorf("message:\n%q\nwant a line %q", msg, want)
	}
	if !strings.Contains(msg, "\nSlack: line one\nline two") {
		t.Errorf("the message's own line breaks were escaped: %q", msg)
	}
	checkPrintable(t, msg)
}

func checkPrintable(t *testing.T, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Errorf("not UTF-8: %q", s)
	}
	for _, r := range s {
		if r < 0x20 && r != '\t' && r != '\n' || r >= 0x7f && r <= 0x9f {
			t.Errorf("control %U in %q", r, s)
			return
		}
	}
}

// FuzzPrintable: the output holds no control byte but tab and is UTF-8;
// text without any is left as it is.
func FuzzPrintable(f *testing.F) {
	f.Add("plain text, café")
	f.Add("a\x00b\x1b[0m\x7f\xff\xc2\x9b\n\t")
	f.Fuzz(func(t *testing.T, s string) {
		out := printable(s)
		checkPrintable(t, out)
		if strings.Contains(out, "\n") {
			t.Errorf("newline kept: %q", out)
		}
		if !needsEscape(s) && out != s {
			t.Errorf("%q changed to %q", s, out)
		}
		if needsEscape(s) == (out == s) {
			t.Errorf("%q: needsEscape %v, output %q", s, needsEscape(s), out)
		}
	})
}
