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
		"redis//:s3cret@10.0.0.1:6379/0":        "REDACTED@10.0.0.1:6379/0",
		"redis://:s3c/ret@10.0.0.1:6379/0":      "redis://REDACTED@10.0.0.1:6379/0",
		":s3cret@10.0.0.1":                      "REDACTED@10.0.0.1",
	} {
		got := RedactURL(in)
		if got != want || strings.Contains(got, "s3c") || strings.Contains(got, "p@ss") {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCheckRedisURL: the URLs of issue 20 that go-redis cannot read are
// refused in one line that names the fault and holds no password; good ones
// pass.
func TestCheckRedisURL(t *testing.T) {
	for _, good := range []string{
		"redis://127.0.0.1:6379/0", "rediss://redis.example:6380", "redis://:pw@[::1]:6379/1", "redis://u:p%40w@h:1/0?dial_timeout=3s",
		"unix://:pw@/run/redis.sock?db=1", "redis://h", "redis://h:6379/",
	} {
		if err := CheckRedisURL(good); err != nil {
			t.Errorf("%s: %v", good, err)
		}
	}
	for in, want := range map[string]string{
		"redis://:WRONGpw-abc@127.0.0.1:63x79/0": `port "63x79"`,
		"redis://:WRONGpw-abc@127.0.0.1:99999/0": `port "99999"`,
		"redis://:WRONG%zzpw-abc@127.0.0.1:1/0":  "not a %XX escape",
		"redis://:WRONGpw-abc@127.0.0.1:1/%zz":   `"%zz" is not a %XX escape`,
		"redis://:WRONG pw-abc@127.0.0.1:1/0":    "a space",
		"redis://:WRONGpw-abc@[::1:6379/0":       "without its closing ']'",
		"redis//:WRONGpw-abc@127.0.0.1:1/0":      "not a URL",
		"http://:WRONGpw-abc@127.0.0.1:1/0":      `scheme "http"`,
		"redis://:WRONG/pw-abc@127.0.0.1:1/0":    "holds '/'",
		"redis://:WRONG#pw-abc@127.0.0.1:1/0":    "holds '#'",
		"redis://:WRONGpw-abc@127.0.0.1:1/db":    `database "db"`,
		"redis://:WRONG[pw-abc@127.0.0.1:1/0":    "a character a URL cannot",
	} {
		err := CheckRedisURL(in)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "WRONG") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want one line with %q and no password", in, err, want)
		}
	}
}

// FuzzRedactURL: whatever surrounds it, a secret before a URL's last '@'
// appears neither in RedactURL's output nor in CheckRedisURL's message. The
// secret is marked with a rune that nothing else may hold, so that a piece
// of it quoted anywhere is seen.
func FuzzRedactURL(f *testing.F) {
	f.Add("redis://:", "s3cret", "127.0.0.1:6379/0")
	f.Add("redis//:", "pw", "h:1/0")
	f.Add("redis://", "a/b:c", "h:x/0")
	f.Add("rediss://u:", "%zz", "[::1")
	f.Add("", "a b", "h")
	f.Add("unix://", "x?y", "/s")
	f.Fuzz(func(t *testing.T, prefix, pw, suffix string) {
		const mark = "☃"
		secret := mark + strings.ReplaceAll(pw, "@", "") + mark
		prefix, suffix = strings.ReplaceAll(prefix, mark, ""), strings.ReplaceAll(strings.ReplaceAll(suffix, mark, ""), "@", "")
		u := prefix + secret + "@" + suffix
		if out := RedactURL(u); strings.Contains(out, mark) {
			t.Fatalf("RedactURL(%q) = %q", u, out)
		}
		if err := CheckRedisURL(u); err != nil && strings.Contains(err.Error(), mark) {
			t.Fatalf("CheckRedisURL(%q): %v", u, err)
		}
	})
}
