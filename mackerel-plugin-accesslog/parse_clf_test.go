package main

import (
	"bytes"
	"testing"
)

func FuzzParseCombined(f *testing.F) {
	for _, l := range fixtureLines(f, "combined.txt") {
		f.Add(l)
	}
	f.Add(benchCombined)
	parsers := append(mustParsers(f, "combined", Fields{}, Fields{GroupBy: "http_user_agent"}),
		mustParsers(f, "common", Fields{TimeUnit: "us", GroupBy: "remote_user"}, Fields{GroupBy: "request_method"})...)
	f.Fuzz(func(t *testing.T, line []byte) {
		for _, p := range parsers {
			fuzzParser(t, p, line)
		}
		var r Record
		if parsers[0].Parse(line, &r) == nil {
			// A parsed line has a [time] and a quoted request before the status.
			tm := bytes.IndexByte(line, '[')
			if tm < 0 || bytes.IndexByte(line[tm:], ']') < 0 || bytes.IndexByte(line[tm:], '"') < 0 {
				t.Fatalf("status %d from %q", r.Status, line)
			}
		}
	})
}
