package main

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// printable writes the bytes of a log line that a terminal or a web page
// would act on (NUL, ESC and the other C0 controls but tab, DEL, C1
// controls) and bytes that are not UTF-8 as Go escapes (\x00, \x1b, \u009b),
// so that the check's message shows them instead of carrying them.
func printable(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x20 && r != '\t', r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r >= 0x80 && r <= 0x9f:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func needsEscape(s string) bool {
	nonASCII := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 && c != '\t', c == 0x7f:
			return true
		case c >= 0x80:
			nonASCII = true
		}
	}
	return nonASCII && (!utf8.ValidString(s) || hasC1(s))
}

// hasC1 reports whether s (valid UTF-8) holds a C1 control.
func hasC1(s string) bool {
	for _, r := range s {
		if r >= 0x80 && r <= 0x9f {
			return true
		}
	}
	return false
}
