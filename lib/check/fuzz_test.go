package check

import (
	"strconv"
	"testing"
)

// FuzzSplitHostPort: any accepted --host must yield a host and a valid port.
func FuzzSplitHostPort(f *testing.F) {
	for _, s := range []string{"example.com", "example.com:8443", "::1", "[::1]:993", "[::1]", "a:b:c", ":1", "[x]:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, p, err := SplitHostPort(s, "443")
		if err != nil {
			return
		}
		if n, perr := strconv.Atoi(p); h == "" || perr != nil || n < 1 || n > 65535 {
			t.Fatalf("%q: accepted as host %q port %q", s, h, p)
		}
	})
}
