package main

import (
	"fmt"
	"testing"
)

// Lines shaped like the benchmark log (cmd/genlog) and real nginx output.
var (
	benchLTSV = []byte("time:25/Nov/2026:12:00:01 +0900\thost:192.0.2.117\tforwardedfor:-\treq:GET /api/v1/users/42/orders HTTP/1.1\t" +
		"status:200\tsize:14523\treferer:-\tua:Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) " +
		"Chrome/120.0.0.0 Safari/537.36\treqtime:0.123\tapptime:0.120\tvhost:api.example.com")
	benchJSON = []byte(`{"time":"25/Nov/2026:12:00:01 +0900","remote_addr":"192.0.2.117","request":"GET /api/v1/users/42/orders HTTP/1.1",` +
		`"status":200,"body_bytes_sent":14523,"http_user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 ` +
		`(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36","request_time":"0.123","upstream_response_time":"0.120","host":"api.example.com"}`)
	benchCombined = []byte(`192.0.2.117 - - [25/Nov/2026:12:00:01 +0900] "GET /api/v1/users/42/orders HTTP/1.1" 200 14523 "-" ` +
		`"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36" 0.123 0.120`)
	benchNginxFormat = `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time $upstream_response_time`
)

type benchCase struct {
	name, format, nginx string
	fields              Fields
	line                []byte
}

var benchCases = []benchCase{
	{"LTSV", "ltsv", "", Fields{}, benchLTSV},
	{"LTSVGroup", "ltsv", "", Fields{GroupBy: "vhost", UpstreamTime: "upstream_response_time"}, benchLTSV},
	{"JSON", "json", "", Fields{}, benchJSON},
	{"Combined", "combined", "", Fields{}, benchCombined},
	{"Nginx", "nginx", benchNginxFormat, Fields{}, benchCombined},
}

func benchParse(b *testing.B, c benchCase) {
	p, err := NewParser(c.format, c.nginx, c.fields)
	if err != nil {
		b.Fatal(err)
	}
	var r Record
	if err := p.Parse(c.line, &r); err != nil || !r.HasReqTime {
		b.Fatalf("%s: %v %+v", c.name, err, r)
	}
	b.SetBytes(int64(len(c.line)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset()
		_ = p.Parse(c.line, &r)
	}
}

func BenchmarkParseLTSV(b *testing.B)      { benchParse(b, benchCases[0]) }
func BenchmarkParseLTSVGroup(b *testing.B) { benchParse(b, benchCases[1]) }
func BenchmarkParseJSON(b *testing.B)      { benchParse(b, benchCases[2]) }
func BenchmarkParseCombined(b *testing.B)  { benchParse(b, benchCases[3]) }
func BenchmarkParseNginx(b *testing.B)     { benchParse(b, benchCases[4]) }

// TestParseAllocs holds every parser to no allocation per line, good lines
// and malformed ones alike.
func TestParseAllocs(t *testing.T) {
	bad := [][]byte{nil, []byte("\x00\xff garbage"), []byte("status:999\treqtime:x"), []byte(`{"status":"x"}`)}
	for _, c := range benchCases {
		p, err := NewParser(c.format, c.nginx, c.fields)
		if err != nil {
			t.Fatal(err)
		}
		lines := append([][]byte{c.line}, bad...)
		var r Record
		allocs := testing.AllocsPerRun(200, func() {
			for _, l := range lines {
				r.Reset()
				_ = p.Parse(l, &r)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %.1f allocations per run of %d lines", c.name, allocs, len(lines))
		}
	}
	// A JSON key with escapes is decoded on the stack and a path with
	// escapes in place, also without allocating.
	p, _ := NewParser("json", "", Fields{GroupBy: "k"})
	line := []byte(`{"st\u0061tus":200,"uri":"/a\u00e9\"b","k":"\u0041"}`)
	buf := make([]byte, len(line))
	var r Record
	allocs := testing.AllocsPerRun(200, func() {
		copy(buf, line)
		r.Reset()
		_ = p.Parse(buf, &r)
	})
	if allocs != 0 || string(r.Path) != "/aé\"b" || string(r.GroupValue) != "A" {
		t.Errorf("JSON with escapes: %.1f allocations, path %q group %q", allocs, r.Path, r.GroupValue)
	}
}

// One parser serves every worker goroutine: it must hold no per-line
// state. Run with -race to make this test mean something.
func TestParsersAreSharedSafely(t *testing.T) {
	for _, c := range benchCases {
		p, err := NewParser(c.format, c.nginx, c.fields)
		if err != nil {
			t.Fatal(err)
		}
		var want Record
		if err := p.Parse(c.line, &want); err != nil {
			t.Fatal(err)
		}
		done := make(chan string, 4)
		for range 4 {
			go func() {
				var r Record
				for range 500 {
					r.Reset()
					if err := p.Parse(c.line, &r); err != nil || describeRecord(r, nil) != describeRecord(want, nil) {
						done <- fmt.Sprintf("%s: %v %+v", c.name, err, r)
						return
					}
				}
				done <- ""
			}()
		}
		for range 4 {
			if msg := <-done; msg != "" {
				t.Error(msg)
			}
		}
	}
}
