package main

import (
	"fmt"
	"regexp"
	"strings"
)

// A rule takes out of a message what varies from one occurrence of the same
// error to the next, so that occurrences group together.
type rule struct {
	name string
	re   *regexp.Regexp
	repl string
	// fn, when set, replaces each match instead of repl.
	fn func(string) string
	// need, when set, is a cheap test without which the rule cannot match:
	// most lines skip most regexps.
	need func(string) bool
}

// prefixRules strip the writer's own line prefix (its timestamp, pid and
// connection number); the first that matches is applied, once, at the start.
var prefixRules = []rule{
	// PHP's error_log: "[01-Dec-2026 11:00:00 UTC] PHP Fatal error: …"
	{"php-time", regexp.MustCompile(`^\[\d{2}-[A-Za-z]{3}-\d{4} \d{2}:\d{2}:\d{2}(?: [^\]]*)?\] `), "", nil, nil},
	// nginx's error_log: "2026/12/01 11:00:00 [error] 1234#1234: *5678 …"; the level is kept.
	{"nginx", regexp.MustCompile(`^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} (\[[a-z]+\]) \d+#\d+: (?:\*\d+ )?`), "$1 ", nil, nil},
	// Go's log package and most others: "2026/12/01 11:00:00.123456 …", "2026-12-01T11:00:00Z …"
	{"timestamp", regexp.MustCompile(`^\d{4}[-/]\d{2}[-/]\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})? *`), "", nil, nil},
}

// maskRules replace varying parts anywhere in the message, in this order.
var maskRules = []rule{
	{"time", regexp.MustCompile(`\d{4}[-/]\d{2}[-/]\d{2}(?:[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)?|\b\d{2}:\d{2}:\d{2}(?:[.,]\d+)?\b`), "<time>", nil,
		func(s string) bool { return digitBefore(s, ':') || digitBefore(s, '-') || digitBefore(s, '/') }},
	{"uuid", regexp.MustCompile(`\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b`), "<uuid>", nil,
		func(s string) bool { return strings.Count(s, "-") >= 4 }},
	{"hex", regexp.MustCompile(`\b0x[0-9a-fA-F]+\b`), "<hex>", nil,
		func(s string) bool { return strings.Contains(s, "0x") }},
	{"ip", regexp.MustCompile(`\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?::\d{1,5})?\b`), "<ip>", nil,
		func(s string) bool { return digitBefore(s, '.') && strings.Count(s, ".") >= 3 }},
	{"id", regexp.MustCompile(`\b[0-9a-fA-F]{16,}\b`), "<id>", nil,
		func(s string) bool { return hasRun(s, 16, isHex) }},
	{"token", regexp.MustCompile(`[0-9A-Za-z_-]{20,}`), "", maskMixedToken,
		func(s string) bool { return hasRun(s, 20, isTokenByte) }},
	{"query", regexp.MustCompile(`\?[^\s"'<>]+`), "?<query>", nil,
		func(s string) bool { return strings.IndexByte(s, '?') >= 0 }},
}

// digitBefore reports whether c occurs right after a digit in s.
func digitBefore(s string, c byte) bool {
	for i := 1; i < len(s); i++ {
		if s[i] == c && s[i-1] >= '0' && s[i-1] <= '9' {
			return true
		}
	}
	return false
}

// hasRun reports whether s holds n or more bytes in a row that are all in.
func hasRun(s string, n int, in func(byte) bool) bool {
	run := 0
	for i := 0; i < len(s); i++ {
		if !in(s[i]) {
			run = 0
		} else if run++; run >= n {
			return true
		}
	}
	return false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isTokenByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-'
}

var numberRule = rule{"number", regexp.MustCompile(`\d+`), "<n>", nil, nil}

// maskMixedToken masks a request id or token: a run of 20 or more letters,
// digits, '_' and '-' that mixes letters and digits.
func maskMixedToken(t string) string {
	if strings.ContainsAny(t, "0123456789") && strings.IndexFunc(t, func(r rune) bool {
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
	}) >= 0 {
		return "<id>"
	}
	return t
}

var spaces = regexp.MustCompile(`[ \t]{2,}`)

// normalizer turns a log line (the first line of an entry) into the message
// it is grouped by, and the message as shown (its prefix stripped).
type normalizer struct {
	rules []rule // maskRules, then --mask-numbers, then --mask
}

func newNormalizer(maskNumbers bool, masks []string) (*normalizer, error) {
	n := &normalizer{rules: append([]rule(nil), maskRules...)}
	if maskNumbers {
		n.rules = append(n.rules, numberRule)
	}
	for _, m := range masks {
		re, err := regexp.Compile(m)
		if err != nil {
			return nil, fmt.Errorf("--mask %q: %v", m, err)
		}
		if re.MatchString("") {
			return nil, fmt.Errorf("--mask %q matches the empty string", m)
		}
		n.rules = append(n.rules, rule{"mask", re, "<*>", nil, nil})
	}
	return n, nil
}

// stripPrefix removes the writer's timestamp prefix from a line.
func stripPrefix(line string) string {
	for _, r := range prefixRules {
		if loc := r.re.FindStringSubmatchIndex(line); loc != nil {
			var b []byte
			b = r.re.ExpandString(b, r.repl, line, loc)
			return string(b) + line[loc[1]:]
		}
	}
	return line
}

// key is the message a line is grouped by. The rules are applied until
// nothing changes (a mask can join what another then matches), so that a key
// is its own key.
func (n *normalizer) key(line string) string {
	s := stripPrefix(line)
	for range 4 {
		next := n.mask(s)
		if next == s {
			break
		}
		s = next
	}
	return s
}

func (n *normalizer) mask(s string) string {
	for _, r := range n.rules {
		if r.need != nil && !r.need(s) {
			continue
		}
		if r.fn != nil {
			s = r.re.ReplaceAllStringFunc(s, r.fn)
		} else {
			s = r.re.ReplaceAllLiteralString(s, r.repl)
		}
	}
	if strings.Contains(s, "  ") || strings.IndexByte(s, '\t') >= 0 {
		s = spaces.ReplaceAllLiteralString(s, " ")
	}
	return strings.TrimSpace(s)
}
