package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"
)

// FuzzGroup feeds arbitrary log text through the entry assembler, the
// grouping and the Slack composer: every matching entry is counted once, a
// key is already normal (grouping it again changes nothing), and every post
// fits and closes its code blocks; the check's message fits and carries no
// control byte.
func FuzzGroup(f *testing.F) {
	for _, name := range []string{"php_error.log", "php_xdebug_error.log", "nginx_error.log", "go_panic.log", "java_error.log", "python_error.log"} {
		f.Add([]byte(readTestdata(f, name)))
	}
	f.Add([]byte("panic: x\n\n\npanic: y\n\tgoroutine\nerror ```\x00\xff<&>\n"))
	f.Add([]byte("Traceback (most recent call last):\n  x\nError: a\nTraceback (most recent call last):\nok\nERROR\na.BException\nCaused by: c.D\n... 1 more\n"))
	pattern := regexp.MustCompile(`(?i)error|panic|fatal`)
	c := newTestConfig(f, nil, "-f", "x.log", "-p", "E")
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := newNormalizer(false, nil)
		if err != nil {
			t.Fatal(err)
		}
		g := newGrouper(n, 50)
		heads := 0
		asm := &assembler{match: func(l []byte) bool {
			if pattern.Match(l) {
				heads++
				return true
			}
			return false
		}, emit: g.add, maxTraceLines: 20, maxLineBytes: 300}
		for _, line := range bytes.Split(data, []byte("\n")) {
			asm.feed(line)
		}
		asm.flush()
		sum := 0
		for _, gr := range g.sorted() {
			sum += gr.Count
			if gr.Key != otherKey {
				if again := n.key(gr.Key); again != gr.Key {
					t.Errorf("key %q normalises again to %q", gr.Key, again)
				}
				if len(gr.Example) > 21 {
					t.Errorf("example of %d lines", len(gr.Example))
				}
			}
		}
		if sum != g.total || g.total != heads {
			t.Errorf("groups sum to %d, total %d, %d matching heads", sum, g.total, heads)
		}
		if g.total == 0 {
			return
		}
		msg := c.result(&findings{groups: g.sorted(), total: g.total}, "").Message
		checkPrintable(t, msg)
		if len(msg) > maxMessage {
			t.Errorf("message of %d bytes", len(msg))
		}
		for i, p := range composeReport("web-1", g.sorted(), g.total, time.Unix(0, 0)) {
			if len(p) > maxPostBytes {
				t.Errorf("post %d: %d bytes", i, len(p))
			}
			if strings.Count(p, "```")%2 != 0 {
				t.Errorf("post %d leaves a code block open:\n%s", i, p)
			}
		}
	})
}
