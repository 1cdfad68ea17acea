package main

import (
	"errors"
	"os"
	"strings"
	"testing"
	"testing/iotest"
)

func TestParseStatsRealReply(t *testing.T) {
	f, err := os.Open("testdata/stats-1.6.18.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := parseStats(f)
	if err != nil {
		t.Fatal(err)
	}
	if st.Uptime != 2 || st.Version != "1.6.18" || !st.hasConnections || st.CurrConnections != 1 {
		t.Fatalf("%+v", st)
	}
}

func TestParseStatsOneByteAtATime(t *testing.T) {
	st, err := parseStats(iotest.OneByteReader(strings.NewReader("STAT uptime 42\r\nSTAT version 1.6.9\r\nEND\r\n")))
	if err != nil || st.Uptime != 42 || st.Version != "1.6.9" || st.hasConnections {
		t.Fatalf("%+v %v", st, err)
	}
}

func TestParseStatsErrors(t *testing.T) {
	cases := map[string]string{
		"":                                              "the connection was closed without a reply to stats",
		"HTTP/1.0 400 Bad Request\r\n\r\n":              `an HTTP server answered: "HTTP/1.0 400 Bad Request"`,
		"HTTP/1.1 200 OK":                               `an HTTP server answered: "HTTP/1.1 200 OK", then the connection was closed`,
		"ERROR\r\n":                                     `the server answered stats with "ERROR"`,
		"SERVER_ERROR busy\r\n":                         `the server answered stats with "SERVER_ERROR busy"`,
		"ERROR Too many open connections\r\n":           `the server answered stats with "ERROR Too many open connections"`,
		"STAT uptime 5\r\n":                             "the connection was closed before the end of the stats reply (after 1 lines)",
		"STAT uptime 5\r\nbogus\r\nEND\r\n":             `unexpected line 2 in the stats reply: "bogus"`,
		"STAT uptime five\r\nEND\r\n":                   `uptime "five" is not a number of seconds`,
		"STAT uptime -1\r\nEND\r\n":                     `uptime "-1" is not a number of seconds`,
		"STAT curr_connections x\r\nEND\r\n":            `curr_connections "x" is not a number`,
		"STAT pid 1\r\nEND\r\n":                         "the stats reply has no uptime",
		"STAT\r\nEND\r\n":                               `not a memcached reply: "STAT"`,
		strings.Repeat("STAT a b\r\n", maxStatsLines+1): "stats reply longer than 2000 lines",
		"STAT a " + strings.Repeat("b", maxStatsReply) + "\r\n": "stats reply larger than 262144 bytes",
	}
	for in, want := range cases {
		_, err := parseStats(strings.NewReader(in))
		var re *replyError
		if err == nil || err.Error() != want || !errors.As(err, &re) {
			t.Errorf("%.40q: error %v, want %q", in, err, want)
		}
	}
}

func FuzzParseStats(f *testing.F) {
	if b, err := os.ReadFile("testdata/stats-1.6.18.txt"); err == nil {
		f.Add(b)
	}
	for _, s := range []string{"STAT uptime 1\r\nEND\r\n", "ERROR\r\n", "HTTP/1.1 400 Bad Request\r\n", "", "STAT uptime 9\r\nSTAT\r\n", "END\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := parseStats(strings.NewReader(string(data)))
		if err != nil {
			// A finite reply that is not memcached's is always a replyError,
			// never a timeout or "uptime not found" in disguise.
			var re *replyError
			if !errors.As(err, &re) {
				t.Fatalf("%q: %T %v", data, err, err)
			}
			if len(err.Error()) > 400 { // 60 quoted bytes of up to 4 characters, and the words
				t.Fatalf("message of %d bytes: %q", len(err.Error()), err)
			}
			return
		}
		if !st.hasUptime || st.Uptime < 0 {
			t.Fatalf("%q accepted without a valid uptime: %+v", data, st)
		}
	})
}
