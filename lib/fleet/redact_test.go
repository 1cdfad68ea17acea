package fleet

import (
	"strings"
	"testing"
)

// A password in a Redis URL never reaches a message; the rest stays, so the
// operator sees which server is meant.
func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"redis://:s3cret@10.0.0.1:6379/0":       "redis://REDACTED@10.0.0.1:6379/0",
		"rediss://user:p@ss@redis.example:6380": "rediss://REDACTED@redis.example:6380",
		"redis://10.0.0.1:6379/2":               "redis://10.0.0.1:6379/2",
		"not a url":                             "not a url",
	} {
		got := RedactURL(in)
		if got != want || strings.Contains(got, "s3cret") || strings.Contains(got, "p@ss") {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
