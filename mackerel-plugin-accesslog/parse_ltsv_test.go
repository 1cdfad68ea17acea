package main

import (
	"bytes"
	"testing"
)

// The early exit must not change what is found: the same line with the
// wanted labels first, last, or repeated gives the same record.
func TestParseLTSVEarlyExit(t *testing.T) {
	p, err := NewParser("ltsv", "", Fields{UpstreamTime: "upstream_response_time"})
	if err != nil {
		t.Fatal(err)
	}
	wanted := "status:200\treqtime:0.5\tupstream_response_time:0.4\tsize:10\turi:/x"
	var first, last Record
	if err := p.Parse([]byte(wanted+"\tstatus:500\tgarbage\xff"), &first); err != nil {
		t.Fatal(err)
	}
	if err := p.Parse([]byte("ua:x\tapptime:9\treq:GET /y HTTP/1.1\t"+wanted), &last); err != nil {
		t.Fatal(err)
	}
	if first.Status != 200 || first.ReqTimeUS != 500000 || first.UpstreamTimeUS != 400000 ||
		first.BytesSent != 10 || string(first.Path) != "/x" {
		t.Errorf("first: %+v", first)
	}
	if last.Status != first.Status || last.ReqTimeUS != first.ReqTimeUS || last.UpstreamTimeUS != first.UpstreamTimeUS ||
		last.BytesSent != first.BytesSent || !bytes.Equal(last.Path, first.Path) {
		t.Errorf("last: %+v", last)
	}
}

func FuzzParseLTSV(f *testing.F) {
	for _, l := range fixtureLines(f, "ltsv.txt") {
		f.Add(l)
	}
	f.Add(benchLTSV)
	parsers := mustParsers(f, "ltsv", Fields{}, Fields{GroupBy: "vhost", TimeUnit: "us"},
		Fields{Times: []string{"ptime", "reqtime"}, Path: "req", GroupBy: "status"})
	f.Fuzz(func(t *testing.T, line []byte) {
		for _, p := range parsers {
			fuzzParser(t, p, line)
		}
		// Every parsed status must come from a status label holding it.
		var r Record
		if parsers[0].Parse(line, &r) == nil {
			if !bytes.HasPrefix(line, []byte("status:")) && !bytes.Contains(line, []byte("\tstatus:")) {
				t.Fatalf("status %d without a status label in %q", r.Status, line)
			}
		}
	})
}
