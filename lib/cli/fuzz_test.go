package cli

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzParseDuration: whatever the input, a value is accepted only within
// [0, a year], and a refusal names the input.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"10", "1.5", "10s", "1h30m", "-1", "NaN", "inf", "1e11", "0x1p4", "1_0", ".5s", "9223372036s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			if !strings.Contains(err.Error(), strconv.Quote(s)) {
				t.Fatalf("%q: error does not name the input: %v", s, err)
			}
			return
		}
		if d < 0 || d > maxDuration {
			t.Fatalf("%q accepted as %v", s, d)
		}
	})
}
