package redisstore

import (
	"strings"
	"testing"

	"github.com/sre-suite/mackerel-plugins/lib/fleet"
)

// FuzzDecodeData: whatever a window's data hash holds, decoding it returns
// an error or counts whose histograms agree with their declared n and
// max, and computing values from them does not panic.
func FuzzDecodeData(f *testing.F) {
	f.Add("total", "3", "req/v/1000", "3")
	f.Add("g/api/total", "1", "g/api/req/n", "1")
	f.Add("class/2", "5", "code/503", "1")
	f.Add("bytes", "1.8446744073709552e+19", "g/api/bytes", "18446744073709551614")
	f.Add("req/n", "2", "req/v/-1", "2")
	f.Add("g//x", "1", "up/max", "9")
	f.Add("req/b/c1", "\x01\x02\x02\x01\x04", "req/n", "3")
	f.Add("g/api/up/b/c", "\x01\x01\x00\x01", "g/api/up/v/0", "2")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		all, groups, err := decodeData(map[string]string{k1: v1, k2: v2})
		if err != nil {
			return
		}
		fr := &fleet.Frozen{Window: fleet.Window{Start: 0, Len: 60}, All: all, Groups: groups, Hosts: map[string]int64{"h": 1}}
		fr.Values(2)
	})
}

// FuzzOpenHidesThePassword: whatever URL Open is given, its error holds no
// piece of what stands before the URL's last '@' (marked with a rune nothing
// else holds). Open dials nothing: it only reads the URL.
func FuzzOpenHidesThePassword(f *testing.F) {
	f.Add("redis://:", "s3cret", "127.0.0.1:6x79/0")
	f.Add("redis://:", "%zz", "127.0.0.1:1/0?dial_timeout=x")
	f.Add("redis//:", "pw", "h:1/0")
	f.Add("rediss://u:", "a b", "[::1")
	f.Fuzz(func(t *testing.T, prefix, pw, suffix string) {
		const mark = "☃"
		secret := mark + strings.ReplaceAll(pw, "@", "") + mark
		prefix, suffix = strings.ReplaceAll(prefix, mark, ""), strings.ReplaceAll(strings.ReplaceAll(suffix, mark, ""), "@", "")
		u := prefix + secret + "@" + suffix
		st, err := Open(Config{URL: u}, "web")
		if err == nil {
			st.Close()
			return
		}
		if strings.Contains(err.Error(), mark) {
			t.Fatalf("Open(%q): %v", u, err)
		}
	})
}

// FuzzDecodeErrors: whatever error-group fields a data hash holds,
// decoding returns an error or groups whose hosts add up to their count.
func FuzzDecodeErrors(f *testing.F) {
	f.Add("e/ab/n", "3", "e/ab/h/web-1", "3", "x")
	f.Add("e/ab/n", "3", "e/ab/h/web/1", "2", "m")
	f.Add("e//msg", "", "e/ab", "1", "")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, msg string) {
		id, _, _ := strings.Cut(strings.TrimPrefix(k1, "e/"), "/")
		got, err := decodeErrors(map[string]string{k1: v1, k2: v2, "e/" + id + "/msg": msg})
		if err != nil {
			return
		}
		for id, e := range got {
			var sum uint64
			for _, n := range e.Hosts {
				sum += n
			}
			if sum != e.Count || e.Message == "" {
				t.Fatalf("group %s: count %d, hosts %v, message %q", id, e.Count, e.Hosts, e.Message)
			}
		}
	})
}
