package cli

import (
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/jessevdk/go-flags"
)

// go-flags' error messages, matched to be said again in the user's words:
// without Go type names or strconv's prose, with the flag as typed on the
// command line and a way out. They are compiled at the first error, not at
// start-up: compiling them cost every run of every binary about 0.2 ms and
// 1,000 allocations (GODEBUG=inittrace=1), a sixth of a metrics plugin's
// run with nothing to read.
var (
	reUnknown  = lazyRegexp("^unknown flag `(.*)'$")
	reExpected = lazyRegexp("^expected argument for flag `(.*?)'(?:, but got (?:option|double dash) `(.*)')?$")
	reMarshal  = lazyRegexp("(?s)^invalid argument for flag `(.*?)'(?: \\(expected [^)]*\\))?: (.*)$")
	reChoice   = lazyRegexp("^Invalid value `(.*)' for option `(.*?)'\\. Allowed values are: (.*)$")
	reBool     = lazyRegexp("^bool flag `(.*)' cannot have an argument$")
	reRequired = lazyRegexp("^the required flags? (.*) (?:was|were) not specified$")
	reStrconv  = lazyRegexp(`^strconv\.Parse(Int|Uint|Float|Bool): parsing "(.*)": (invalid syntax|value out of range)$`)
	reQuoted   = lazyRegexp("`([^']*)'")
)

// lazyRegexp returns a function that compiles expr at its first call.
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

// reword turns a go-flags parse error into one line in the user's words.
func (p Program) reword(parser *flags.Parser, err error) string {
	msg := err.Error()
	if m := reUnknown().FindStringSubmatch(msg); m != nil {
		return p.unknownFlag(parser, m[1])
	}
	if m := reExpected().FindStringSubmatch(msg); m != nil {
		if m[2] != "" {
			return fmt.Sprintf("%s needs a value, but %s follows it", longForm(m[1]), m[2])
		}
		return fmt.Sprintf("%s needs a value", longForm(m[1]))
	}
	if m := reMarshal().FindStringSubmatch(msg); m != nil {
		return badValue(parser, longForm(m[1]), m[2])
	}
	if m := reChoice().FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("%s %q: want %s", longForm(m[2]), m[1], m[3])
	}
	if m := reBool().FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("%s takes no value: give it alone to turn it on", longForm(m[1]))
	}
	if m := reRequired().FindStringSubmatch(msg); m != nil {
		var names []string
		for _, q := range reQuoted().FindAllStringSubmatch(m[1], -1) {
			names = append(names, longForm(q[1]))
		}
		return strings.Join(names, " and ") + " is required"
	}
	return strings.ReplaceAll(strings.ReplaceAll(msg, "`", ""), "'", "")
}

// longForm picks "--warning" out of go-flags' "-w, --warning".
func longForm(opt string) string {
	if i := strings.LastIndex(opt, ", "); i >= 0 {
		return opt[i+2:]
	}
	return opt
}

func (p Program) unknownFlag(parser *flags.Parser, name string) string {
	typed := "--" + name
	if len([]rune(name)) == 1 {
		typed = "-" + name
	}
	msg := "unknown flag " + typed
	if hint, ok := p.Hints[name]; ok {
		return msg + ": " + hint
	}
	if near := nearestFlag(parser, name); near != "" {
		return msg + ": did you mean --" + near + "?"
	}
	return msg
}

// nearestFlag is the long flag within two edits of name, for typos.
func nearestFlag(parser *flags.Parser, name string) string {
	if len(name) < 3 {
		return ""
	}
	best, bestDist := "", 3
	for _, g := range parser.Groups() {
		for _, o := range g.Options() {
			if o.LongName == "" || o.Hidden {
				continue
			}
			if d := editDistance(name, o.LongName); d < bestDist {
				best, bestDist = o.LongName, d
			}
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// badValue words a value that did not convert: strconv's errors become
// "want a whole number"; the suite's own types already speak plainly.
func badValue(parser *flags.Parser, flag, inner string) string {
	unit := ""
	if o := parser.FindOptionByLongName(strings.TrimPrefix(flag, "--")); o != nil && o.ValueName != "" {
		unit = " (" + o.ValueName + ")"
	}
	if m := reStrconv().FindStringSubmatch(inner); m != nil {
		kind, value, why := m[1], m[2], m[3]
		want := "a whole number"
		switch kind {
		case "Uint":
			want = "a whole number, 0 or more"
		case "Float":
			want = "a number"
		case "Bool":
			want = "true or false"
		}
		if why == "value out of range" {
			return fmt.Sprintf("%s %q is out of range: want %s that fits%s", flag, value, want, unit)
		}
		return fmt.Sprintf("%s %q: want %s%s", flag, value, want, unit)
	}
	return flag + ": " + inner
}
