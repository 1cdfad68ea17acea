package main

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"strings"
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
	f.Add([]byte(strings.Repeat("x", 63) + "\tstatus:200\t" + strings.Repeat("y", 70) + "\treqtime:1.5"))
	f.Add([]byte("status:200\treqtime:0.1\tstatus:201\r"))
	f.Fuzz(func(t *testing.T, line []byte) {
		for _, p := range parsers {
			fuzzParser(t, p, line)
			sameAsReference(t, p.(*ltsvParser), line)
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

// referenceLTSVParse is the plain parser the fast one must agree with: split
// at tabs, label up to the field's first colon, looked up by name.
func referenceLTSVParse(p *ltsvParser, line []byte, r *Record) error {
	line = trimCR(line)
	var fd found
	fd.init(p.wanted)
	for field := range bytes.SplitSeq(line, []byte("\t")) {
		colon := bytes.IndexByte(field, ':')
		if colon < 0 {
			continue
		}
		if fn := p.labels.lookup(field[:colon]); fn != nil {
			fd.offer(fn, field[colon+1:])
			if fd.pending == 0 {
				break
			}
		}
	}
	return fd.fill(r, p.fracDigits)
}

func sameAsReference(t *testing.T, p *ltsvParser, line []byte) {
	t.Helper()
	var got, want Record
	gotErr := p.Parse(append([]byte(nil), line...), &got)
	wantErr := referenceLTSVParse(p, append([]byte(nil), line...), &want)
	if gotErr != wantErr || !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\n got %v %+v\nwant %v %+v", line, gotErr, got, wantErr, want)
	}
}

// Lines of every length around the 64-byte blocks, with tabs and labels at
// every offset, parse as the reference parser does; among them labels
// shorter and longer than a word, keys with a colon or a tab (never
// matched), and lines shorter than a block.
func TestParseLTSVMatchesReference(t *testing.T) {
	parsers := mustParsers(t, "ltsv", Fields{}, Fields{GroupBy: "vhost", TimeUnit: "us"},
		Fields{Times: []string{"ptime", "reqtime"}, Path: "req", GroupBy: "status"},
		Fields{Status: "s", Times: []string{"a_very_long_time_label_beyond_eight"}, GroupBy: "x:y"},
		Fields{Status: "st\tatus", Bytes: "b"})
	pieces := []string{"status:200", "status:404", "status:", "reqtime:0.123", "reqtime:-", "apptime:0.5",
		"upstream_response_time:0.1, 0.2", "size:123", "vhost:a", "req:GET /x?y HTTP/1.1", "s:201",
		"a_very_long_time_label_beyond_eight:7", "x:y:z", "st", "status", ":", "", "b:9", "statusx:500",
		strings.Repeat("u", 40), strings.Repeat("v", 70), "\r"}
	rng := rand.New(rand.NewPCG(12, 34))
	for range 20000 {
		var b []byte
		for n := rng.IntN(12); n >= 0; n-- {
			if len(b) > 0 {
				b = append(b, '\t')
			}
			b = append(b, pieces[rng.IntN(len(pieces))]...)
		}
		for _, p := range parsers {
			sameAsReference(t, p.(*ltsvParser), b)
		}
	}
}

// tabBits64 (SSE2 on amd64) and the portable versions find exactly the tabs of a 64-byte block at
// every offset, next to bytes one away from a tab.
func TestTabBits64(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	buf := make([]byte, 200)
	alphabet := []byte{'\t', '\t' - 1, '\t' + 1, 0x89, 0x88, 0x8a, 0, 0xff, 'a', ':'}
	for range 20000 {
		for i := range buf {
			buf[i] = alphabet[rng.IntN(len(alphabet))]
		}
		off := rng.IntN(len(buf) - 64)
		var want uint64
		for i, c := range buf[off : off+64] {
			if c == '\t' {
				want |= 1 << i
			}
		}
		if got := tabBits64(&buf[off]); got != want {
			t.Fatalf("% x: got %064b, want %064b", buf[off:off+64], got, want)
		}
		if got := tabBits(buf[off : off+64]); got != want {
			t.Fatalf("tabBits % x: got %064b, want %064b", buf[off:off+64], got, want)
		}
		if got := tabBitsWords(buf[off : off+64]); got != want {
			t.Fatalf("tabBitsWords % x: got %064b, want %064b", buf[off:off+64], got, want)
		}
	}
}
