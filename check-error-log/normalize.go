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
}

// prefixRules strip the writer's own line prefix (its timestamp, pid and
// connection number); the first that matches is applied, once, at the start.
var prefixRules = []rule{
	// PHP's error_log: "[01-Dec-2026 11:00:00 UTC] PHP Fatal error: …"
	{"php-time", regexp.MustCompile(`^\[\d{2}-[A-Za-z]{3}-\d{4} \d{2}:\d{2}:\d{2}(?: [^\]]*)?\] `), "", nil},
	// nginx's error_log: "2026/12/01 11:00:00 [error] 1234#1234: *5678 …"; the level is kept.
	{"nginx", regexp.MustCompile(`^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} (\[[a-z]+\]) \d+#\d+: (?:\*\d+ )?`), "$1 ", nil},
	// Go's log package and most others: "2026/12/01 11:00:00.123456 …", "2026-12-01T11:00:00Z …"
	{"timestamp", regexp.MustCompile(`^\d{4}[-/]\d{2}[-/]\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})? *`), "", nil},
}

// maskRules replace varying parts anywhere in the message, in this order.
var maskRules = []rule{
	{"time", regexp.MustCompile(`\d{4}[-/]\d{2}[-/]\d{2}(?:[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)?|\b\d{2}:\d{2}:\d{2}(?:[.,]\d+)?\b`), "<time>", nil},
	{"uuid", regexp.MustCompile(`\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b`), "<uuid>", nil},
	{"hex", regexp.MustCompile(`\b0x[0-9a-fA-F]+\b`), "<hex>", nil},
	{"ip", regexp.MustCompile(`\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?::\d{1,5})?\b`), "<ip>", nil},
	{"id", regexp.MustCompile(`\b[0-9a-fA-F]{16,}\b`), "<id>", nil},
	{"token", regexp.MustCompile(`[0-9A-Za-z_-]{20,}`), "", maskMixedToken},
	{"query", regexp.MustCompile(`\?[^\s"'<>]+`), "?<query>", nil},
}

var numberRule = rule{"number", regexp.MustCompile(`\d+`), "<n>", nil}

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
		n.rules = append(n.rules, rule{"mask", re, "<*>", nil})
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
		if r.fn != nil {
			s = r.re.ReplaceAllStringFunc(s, r.fn)
		} else {
			s = r.re.ReplaceAllLiteralString(s, r.repl)
		}
	}
	s = spaces.ReplaceAllLiteralString(s, " ")
	return strings.TrimSpace(s)
}
